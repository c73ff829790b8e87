"""URLs of the passkey ceremonies, inside the ``rupt_guard`` namespace (``passkey_*``).

Included by ``rupt_guard.urls`` when ``django_otp_webauthn`` is installed. The challenge's
ceremony and the script's translations are open to a pending session, which is anonymous
(``pending_allowed``, and ``login_not_required`` for Django's ``LoginRequiredMiddleware``);
the step-up and enrolment are for signed-in sessions only.
"""

from django.contrib.auth.decorators import login_not_required
from django.urls import path

from rupt_guard.gate.middleware import pending_allowed
from rupt_guard.passkeys import views

# No app_name: these names live in the rupt_guard namespace of the including module.
urlpatterns = [
    path(
        "challenge/begin/",
        pending_allowed(login_not_required(views.ChallengeBeginView.as_view())),
        name="passkey_challenge_begin",
    ),
    path(
        "challenge/complete/",
        pending_allowed(login_not_required(views.ChallengeCompleteView.as_view())),
        name="passkey_challenge_complete",
    ),
    path("confirm/begin/", views.StepUpBeginView.as_view(), name="passkey_step_up_begin"),
    path(
        "confirm/complete/",
        views.StepUpCompleteView.as_view(),
        name="passkey_step_up_complete",
    ),
    path("add/begin/", views.RegistrationBeginView.as_view(), name="passkey_register_begin"),
    path(
        "add/complete/",
        views.RegistrationCompleteView.as_view(),
        name="passkey_register_complete",
    ),
    path(
        "jsi18n/",
        pending_allowed(login_not_required(views.javascript_catalog)),
        name="passkey_js_catalog",
    ),
]
