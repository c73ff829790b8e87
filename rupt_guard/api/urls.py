"""URLs of the REST API, namespace ``rupt_guard_api``; their names are stable."""

from django.contrib.auth.decorators import login_not_required
from django.urls import path

from rupt_guard.api import factors, personal_data, stats, views

app_name = "rupt_guard_api"

# These names are a public interface: keep them stable.
urlpatterns = [
    # Anonymous by design (signing in, or a pending sign-in): open under LoginRequiredMiddleware.
    path("login/", login_not_required(views.LoginView.as_view()), name="login"),
    path(
        "challenge/send/",
        login_not_required(views.ChallengeSendView.as_view()),
        name="challenge-send",
    ),
    path(
        "challenge/verify/",
        login_not_required(views.ChallengeVerifyView.as_view()),
        name="challenge-verify",
    ),
    path("devices/", views.DeviceListView.as_view(), name="device-list"),
    path("devices/<int:pk>/", views.DeviceDetailView.as_view(), name="device-detail"),
    path("devices/<int:pk>/revoke/", views.DeviceRevokeView.as_view(), name="device-revoke"),
    path("reauthenticate/", factors.ReauthenticateView.as_view(), name="reauthenticate"),
    path(
        "reauthenticate/send/",
        factors.ReauthenticateSendView.as_view(),
        name="reauthenticate-send",
    ),
    path("stats/", stats.StatsView.as_view(), name="stats"),
    path("personal-data/", personal_data.PersonalDataView.as_view(), name="personal-data"),
    path("factors/", factors.FactorListView.as_view(), name="factor-list"),
    path("factors/totp/", factors.TotpEnrolView.as_view(), name="factor-totp"),
    path("factors/totp/confirm/", factors.TotpConfirmView.as_view(), name="factor-totp-confirm"),
    path("factors/backup-codes/", factors.BackupCodesView.as_view(), name="factor-backup-codes"),
    path("factors/<path:persistent_id>/", factors.FactorDetailView.as_view(), name="factor-detail"),
]
