"""The security page: the user's second factors (add, remove, backup codes) and a step-up.

Every change needs a factor verified in this session within ``STEP_UP_TIMEOUT``
(``gate.reauth``); the work is in ``trust.enrolment``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.apps import apps
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from rupt_guard.conf import guard_settings
from rupt_guard.gate.codes import CodeResult, submit_step_up
from rupt_guard.gate.reauth import (
    forget_totp_key,
    offer_totp_key,
    offered_totp_key,
    recently_verified,
)
from rupt_guard.models import Device
from rupt_guard.trust import enrolment
from rupt_guard.trust.factors import challenge_devices, sends_code
from rupt_guard.trust.personal_data import export_for
from rupt_guard.views.challenge import CodeFormMixin, safe_next
from rupt_guard.views.devices import trusted_session_required
from rupt_guard.views.forms import ChallengeForm

BACKUP_CODES_KEY = "_rupt_guard_backup_codes"


def recent_factor_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A step-up first: a second factor verified in this session within the last minutes."""

    @wraps(view)
    def wrapper(self: View, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not recently_verified(request):
            back = request.get_full_path() if request.method == "GET" else reverse_security()
            query = urlencode({"next": back})
            return HttpResponseRedirect(f"{reverse('rupt_guard:reauthenticate')}?{query}")
        return view(self, request, *args, **kwargs)

    return trusted_session_required(wrapper)


def reverse_security() -> str:
    return reverse("rupt_guard:security")


def totp_available() -> bool:
    return apps.is_installed(enrolment.TOTP_PLUGIN)


def backup_codes_available() -> bool:
    return apps.is_installed(enrolment.STATIC_PLUGIN)


@method_decorator(never_cache, name="dispatch")
class SecurityView(View):
    template_name = "rupt_guard/security.html"

    @trusted_session_required
    def get(self, request: HttpRequest) -> HttpResponse:
        factors = enrolment.user_factors(request.user)
        email_fallback = not factors and any(
            sends_code(device) for device in challenge_devices(request.user)
        )
        context = {
            "factors": factors,
            "email_fallback": email_fallback,
            "totp_available": totp_available(),
            "backup_codes_available": backup_codes_available(),
            "has_backup_codes": any(f.codes_left is not None for f in factors),
            # request.user is signed in here (login_required), never AnonymousUser.
            "device_count": Device.objects.filter(user=request.user).count(),  # type: ignore[misc]
            "recently_verified": recently_verified(request),
        }
        return render(request, self.template_name, context)


@method_decorator([never_cache, sensitive_post_parameters("otp_token")], name="dispatch")
class ReauthenticateView(CodeFormMixin, View):
    """Confirm it is you: a second factor for a signed-in session (a step-up). Nothing is
    sent unasked: "Send code" is the first thing offered for an emailed code."""

    template_name = "rupt_guard/reauthenticate.html"

    @trusted_session_required
    def get(self, request: HttpRequest) -> HttpResponse:
        form = ChallengeForm(request.user, request)
        return render(request, self.template_name, self.code_context(request, request.user, form))

    @trusted_session_required
    def post(self, request: HttpRequest) -> HttpResponse:
        form = ChallengeForm(request.user, request, data=request.POST)
        if "otp_challenge" in request.POST:
            context = self.code_post(request, request.user, form)
            return render(request, self.template_name, context)
        if submit_step_up(request, request.user, form) == CodeResult.PASSED:
            return HttpResponseRedirect(safe_next(request))
        return render(request, self.template_name, self.code_context(request, request.user, form))


class TotpConfirmForm(forms.Form):
    """``otp_token``: django-otp's name for a code field."""

    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=64,
        initial=gettext_lazy("Authenticator app"),
        help_text=gettext_lazy("To tell your apps apart, e.g. the phone it is on."),
    )
    otp_token = forms.CharField(
        label=gettext_lazy("Code from the app"),
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


@method_decorator([never_cache, sensitive_post_parameters("otp_token")], name="dispatch")
class TotpSetupView(View):
    """Add an authenticator app: scan (or type) the secret, then prove it with a code."""

    template_name = "rupt_guard/totp_setup.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not totp_available():
            raise Http404
        return super().dispatch(request, *args, **kwargs)

    @recent_factor_required
    def get(self, request: HttpRequest) -> HttpResponse:
        return self.render(request, TotpConfirmForm())

    @recent_factor_required
    def post(self, request: HttpRequest) -> HttpResponse:
        form = TotpConfirmForm(request.POST)
        key = offered_totp_key(request.session, request.user)
        if form.is_valid() and key is not None:
            factor = enrolment.confirm_totp(
                request.user, key, form.cleaned_data["otp_token"], form.cleaned_data["name"]
            )
            if factor is not None:
                forget_totp_key(request.session)
                messages.success(
                    request, _("Your authenticator app was added."), fail_silently=True
                )
                return HttpResponseRedirect(reverse_security())
            form.add_error(
                "otp_token", _("That code does not match. Check the app's clock and try again.")
            )
        return self.render(request, form)

    def render(self, request: HttpRequest, form: TotpConfirmForm) -> HttpResponse:
        # One secret per visit until it is confirmed: a wrong code must not change the QR
        # code the user just scanned.
        enrol = enrolment.totp_enrolment(
            request.user, offered_totp_key(request.session, request.user)
        )
        offer_totp_key(request.session, request.user, enrol.key)
        return render(request, self.template_name, {"form": form, "enrolment": enrol})


@method_decorator(never_cache, name="dispatch")
class BackupCodesView(View):
    """New backup codes, shown once (kept in the session for a few minutes so they can
    be downloaded), then only their number."""

    template_name = "rupt_guard/backup_codes.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not backup_codes_available():
            raise Http404
        return super().dispatch(request, *args, **kwargs)

    @trusted_session_required
    def get(self, request: HttpRequest) -> HttpResponse:
        codes = self.fresh_codes(request)
        if codes and request.GET.get("format") == "txt":
            return self.download(codes)
        factors = enrolment.user_factors(request.user)
        left = next((f.codes_left for f in factors if f.codes_left is not None), None)
        return render(request, self.template_name, {"codes": codes, "codes_left": left})

    @trusted_session_required
    def post(self, request: HttpRequest) -> HttpResponse:
        if request.POST.get("action") == "done":  # "I saved them": forget the shown codes
            request.session.pop(BACKUP_CODES_KEY, None)
            return HttpResponseRedirect(reverse_security())
        return self.regenerate(request)

    @recent_factor_required
    def regenerate(self, request: HttpRequest) -> HttpResponse:
        codes = enrolment.regenerate_backup_codes(request.user)
        stash = {"codes": codes, "at": time.time(), "user": str(request.user.pk)}
        request.session[BACKUP_CODES_KEY] = stash
        messages.success(
            request,
            _("New backup codes were made; the old ones no longer work."),
            fail_silently=True,
        )
        return HttpResponseRedirect(reverse("rupt_guard:backup_codes"))

    @staticmethod
    def fresh_codes(request: HttpRequest) -> list[str]:
        stash = request.session.get(BACKUP_CODES_KEY)
        if not isinstance(stash, dict) or stash.get("user") != str(request.user.pk):
            return []  # none shown, or another account's (the session changed hands)
        if time.time() - float(stash.get("at", 0)) > guard_settings.STEP_UP_TIMEOUT:
            request.session.pop(BACKUP_CODES_KEY, None)
            return []
        return [str(code) for code in stash.get("codes", [])]

    @staticmethod
    def download(codes: list[str]) -> HttpResponse:
        lines = [_("Backup codes: each works once."), "", *codes, ""]
        response = HttpResponse("\n".join(lines), content_type="text/plain; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="backup-codes.txt"'
        return response


@method_decorator(never_cache, name="dispatch")
class FactorRemoveView(View):
    template_name = "rupt_guard/factor_remove.html"

    def get_factor(self, request: HttpRequest, persistent_id: str) -> enrolment.Factor:
        factor = enrolment.find_factor(request.user, persistent_id)
        if factor is None:
            raise Http404
        return factor

    @recent_factor_required
    def get(self, request: HttpRequest, persistent_id: str) -> HttpResponse:
        factor = self.get_factor(request, persistent_id)
        context = {"factor": factor, "after": enrolment.after_removal(request.user, factor)}
        return render(request, self.template_name, context)

    @recent_factor_required
    def post(self, request: HttpRequest, persistent_id: str) -> HttpResponse:
        factor = self.get_factor(request, persistent_id)
        if not enrolment.remove_factor(request.user, factor):
            raise Http404
        message = _("%(factor)s was removed.") % {"factor": factor.name}
        messages.success(request, message, fail_silently=True)
        return HttpResponseRedirect(reverse_security())


@method_decorator(never_cache, name="dispatch")
class PersonalDataView(View):
    """The "Download your data" link: the JSON of what rupt_guard keeps about the signed-in user.

    A step-up first, like every change here: a session left open on a shared computer
    must not hand over the account's devices, addresses and sign-in history.
    """

    @recent_factor_required
    def get(self, request: HttpRequest) -> HttpResponse:
        response = JsonResponse(export_for(request.user), json_dumps_params={"indent": 2})
        response["Content-Disposition"] = 'attachment; filename="security-data.json"'
        return response
