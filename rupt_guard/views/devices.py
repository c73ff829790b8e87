"""The signed-in user's own devices: see them, rename them, revoke them."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render, resolve_url
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from rupt_guard.conf import guard_settings
from rupt_guard.gate.lifecycle import step_up
from rupt_guard.gate.mark import read_mark
from rupt_guard.gate.middleware import challenge_url
from rupt_guard.models import Device
from rupt_guard.trust import devices as device_actions
from rupt_guard.views.challenge import safe_next


def trusted_session_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Only a session that passed the gate; one without a mark must pass a challenge first."""

    @wraps(view)
    def wrapper(self: View, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if read_mark(request.session) is None:
            # Signed in before rupt_guard was installed (or by a path we never saw): ask
            # for a second factor first, through a POST so no cross-site GET can start it.
            query = urlencode({"next": request.get_full_path()})
            return HttpResponseRedirect(f"{reverse('rupt_guard:step_up')}?{query}")
        return view(self, request, *args, **kwargs)

    return wrapper


class RenameForm(forms.ModelForm):
    class Meta:
        model = Device
        fields = ["label"]
        labels = {"label": gettext_lazy("Name")}


class DeviceListView(View):
    template_name = "rupt_guard/devices.html"

    @trusted_session_required
    def get(self, request: HttpRequest) -> HttpResponse:
        current = read_mark(request.session)
        place_for_ip = guard_settings.PLACE_FOR_IP
        rows = [
            {
                "device": device,
                "is_current": current is not None and current.device == device.pk,
                "place": place_for_ip(device.last_ip) if place_for_ip and device.last_ip else "",
                "rename_form": RenameForm(instance=device, prefix=f"d{device.pk}"),
            }
            for device in Device.objects.filter(user=request.user).order_by("-last_seen_at")
        ]
        return render(request, self.template_name, {"rows": rows})


class DeviceRenameView(View):
    @trusted_session_required
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        device = get_object_or_404(Device, pk=pk, user=request.user)
        form = RenameForm(request.POST, instance=device, prefix=f"d{device.pk}")
        if form.is_valid():
            form.save()
            messages.success(request, _("Device renamed."), fail_silently=True)
        else:
            messages.error(request, _("That name is too long."), fail_silently=True)
        return HttpResponseRedirect(reverse("rupt_guard:devices"))


class DeviceRevokeView(View):
    template_name = "rupt_guard/device_revoke.html"

    @trusted_session_required
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        device = get_object_or_404(Device, pk=pk, user=request.user)
        mark = read_mark(request.session)
        is_current = mark is not None and mark.device == device.pk
        return render(request, self.template_name, {"device": device, "is_current": is_current})

    @trusted_session_required
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        device = get_object_or_404(Device, pk=pk, user=request.user)
        mark = read_mark(request.session)
        device_actions.revoke(device, by=request.user, request=request)
        if mark is not None and mark.device == device.pk:
            # This very session was just ended: sign out cleanly rather than let the
            # response save a session that no longer exists.
            logout(request)
            return HttpResponseRedirect(resolve_url(settings.LOGIN_URL))
        messages.success(request, _("The device was signed out and forgotten."), fail_silently=True)
        return HttpResponseRedirect(reverse("rupt_guard:devices"))


class StepUpView(View):
    """A session with no rupt_guard mark asks to confirm itself with a second factor."""

    template_name = "rupt_guard/step_up.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return render(request, self.template_name, {"next": safe_next(request)})

    def post(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if read_mark(request.session) is None:
            step_up(request)
        return HttpResponseRedirect(challenge_url(safe_next(request)))
