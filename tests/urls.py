"""A small site for the tests: a login, pages behind it, API views, a factor setup page,
and what real sites add around a login (signup, password reset with auto-login, DRF's
authtoken, async views; see tests/realistic_site.py)."""

from pathlib import Path

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.urls import include, path
from django.views.static import serve
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework.authentication import BasicAuthentication, SessionAuthentication
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from rupt_guard.api.permissions import IsDeviceVerified

from . import realistic_site

MEDIA_ROOT = Path(__file__).resolve().parent / "media"


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


@extend_schema(exclude=True)
@api_view(["GET", "POST"])
@authentication_classes([SessionAuthentication, BasicAuthentication])
@permission_classes([IsAuthenticated])
def api_profile(request):
    """A site's own API view, as a site would write it (no rupt_guard permission)."""
    return Response({"user": request.user.get_username()})


@extend_schema(exclude=True)
@api_view(["GET"])
# Basic first, as in DRF's docs: the riskier order for a session-based permission.
@authentication_classes([BasicAuthentication, SessionAuthentication])
@permission_classes([IsDeviceVerified])
def api_verified_only(request):
    return Response({"user": request.user.get_username()})


@login_required
def protected_download(request, name):
    # A site's own protected download under MEDIA_URL: not a file view, so it is gated.
    return HttpResponse(f"private file of {request.user.get_username()}")


urlpatterns = [
    path("", home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("accounts/signup/", realistic_site.signup, name="signup"),
    path(
        "accounts/password/reset/",
        auth_views.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "accounts/password/reset/done/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        # Signed in straight after the new password is set.
        auth_views.PasswordResetConfirmView.as_view(post_reset_login=True),
        name="password_reset_confirm",
    ),
    path(
        "accounts/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("async/sign-in/", realistic_site.async_sign_in, name="async-sign-in"),
    path("async/whoami/", realistic_site.async_whoami, name="async-whoami"),
    path("async/sign-out/", realistic_site.async_sign_out, name="async-sign-out"),
    path("private/", private, name="private"),
    path("private/data.json", private_json, name="private-json"),
    path("account/2fa/setup/", setup_second_factor, name="otp-setup"),
    path("media/private/<str:name>", protected_download, name="protected-download"),
    path("media/<path:path>", serve, {"document_root": MEDIA_ROOT}, name="media"),
    path("rupt-guard/", include("rupt_guard.urls")),
    path("api/rupt-guard/", include("rupt_guard.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/profile/", api_profile, name="api-profile"),
    path("api/verified-only/", api_verified_only, name="api-verified-only"),
    path("api/whoami/", realistic_site.api_whoami, name="api-whoami"),
    # DRF's own token view, routed as its docs show.
    path("api/token/", obtain_auth_token, name="api-token"),
    path("admin/", admin.site.urls),
]
