"""URLs of the HTML pages, namespace ``rupt_guard``; their names are stable."""

from django.apps import apps
from django.contrib.auth.decorators import login_not_required
from django.urls import URLPattern, URLResolver, include, path

from rupt_guard import views
from rupt_guard.views import security
from rupt_guard.views.webhooks import webhook

app_name = "rupt_guard"

urlpatterns: list[URLPattern | URLResolver] = [
    # A pending session is anonymous: under Django's LoginRequiredMiddleware the pages it
    # needs to finish or abandon its sign-in must stay open to it.
    path("challenge/", login_not_required(views.ChallengeView.as_view()), name="challenge"),
    path("logout/", login_not_required(views.GuardLogoutView.as_view()), name="logout"),
    path("devices/", views.DeviceListView.as_view(), name="devices"),
    path("devices/<int:pk>/rename/", views.DeviceRenameView.as_view(), name="device_rename"),
    path("devices/<int:pk>/revoke/", views.DeviceRevokeView.as_view(), name="device_revoke"),
    path("devices/<int:pk>/block/", views.devices.DeviceBlockView.as_view(), name="device_block"),
    path(
        "devices/<int:pk>/unblock/",
        views.devices.DeviceUnblockView.as_view(),
        name="device_unblock",
    ),
    path(
        "devices/sign-out-others/",
        views.devices.SignOutOthersView.as_view(),
        name="sign_out_others",
    ),
    path("not-me/<str:token>/", login_not_required(views.NotMeView.as_view()), name="not_me"),
    path("confirm/", views.StepUpView.as_view(), name="step_up"),
    path("security/", security.SecurityView.as_view(), name="security"),
    path("security/confirm/", security.ReauthenticateView.as_view(), name="reauthenticate"),
    path("security/app/", security.TotpSetupView.as_view(), name="totp_setup"),
    path("security/data/", security.PersonalDataView.as_view(), name="personal_data"),
    path("security/backup-codes/", security.BackupCodesView.as_view(), name="backup_codes"),
    path(
        "security/factors/<path:persistent_id>/remove/",
        security.FactorRemoveView.as_view(),
        name="factor_remove",
    ),
    path("webhook/", webhook, name="webhook"),
]

if apps.is_installed("django_otp_webauthn"):
    urlpatterns += [path("passkeys/", include("rupt_guard.passkeys.urls"))]

if apps.is_installed("rupt_guard.local"):
    urlpatterns += [path("", include("rupt_guard.local.urls"))]
