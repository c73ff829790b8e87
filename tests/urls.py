"""A small site for the tests: a login, pages behind it, an API-ish view, a factor setup page."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.urls import include, path


def home(request):
    return HttpResponse("home")


@login_required
def private(request):
    return HttpResponse(f"private page of {request.user.get_username()}")


@login_required
def private_json(request):
    return JsonResponse({"user": request.user.get_username()})


@login_required
def setup_second_factor(request):
    # Stands for a site's own enrolment page: a pending session must never reach it.
    return HttpResponse("enrol a new factor")


def media_file(request, name):
    return HttpResponse(b"file", content_type="application/octet-stream")


urlpatterns = [
    path("", home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("private/", private, name="private"),
    path("private/data.json", private_json, name="private-json"),
    path("account/2fa/setup/", setup_second_factor, name="otp-setup"),
    path("media/<str:name>", media_file, name="media"),
    path("rupt-guard/", include("rupt_guard.urls")),
    path("admin/", admin.site.urls),
]
