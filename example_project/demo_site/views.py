from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from rupt_guard.models import Device


def home(request):
    return render(request, "demo_site/home.html")


@login_required
def private(request):
    devices = Device.objects.filter(user=request.user).order_by("-last_seen_at")[:10]
    return render(request, "demo_site/private.html", {"devices": devices})
