"""The challenge page, and a logout a pending session may use."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import LogoutView, redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from rupt_guard.gate.codes import CodeResult, submit_code
from rupt_guard.gate.lifecycle import pending_user_or_end
from rupt_guard.trust.factors import sends_code
from rupt_guard.views.forms import ChallengeForm


def safe_next(request: HttpRequest) -> str:
    """``next`` when it points at this site, else ``LOGIN_REDIRECT_URL``."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def code_form_context(request: HttpRequest, form: ChallengeForm) -> dict[str, Any]:
    """What ``includes/code_form.html`` and ``includes/passkey_verify.html`` read."""
    return {
        "form": form,
        "devices": form.devices,
        "code_devices": form.code_devices,
        "passkeys": form.passkeys,
        "email_devices": [d for d in form.code_devices if sends_code(d)],
        "next": safe_next(request),
    }


@method_decorator([never_cache, sensitive_post_parameters("otp_token")], name="dispatch")
class ChallengeView(View):
    """The second factor of a pending sign-in. The session is anonymous here: the pending
    user comes from the lifecycle, never from ``request.user``."""

    template_name = "rupt_guard/challenge.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.user = pending_user_or_end(request)
        if self.user is None:
            if request.user.is_authenticated:
                return HttpResponseRedirect(safe_next(request))  # nothing (left) to confirm
            return redirect_to_login(request.get_full_path())
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.render(request, ChallengeForm(self.user, request))

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ChallengeForm(self.user, request, data=request.POST)
        result = submit_code(request, self.user, form)
        if result == CodeResult.PASSED:
            return HttpResponseRedirect(safe_next(request))
        if result == CodeResult.ENDED:
            message = _("This sign-in can no longer be confirmed. Please sign in again.")
            messages.info(request, message, fail_silently=True)
            return redirect_to_login(safe_next(request))
        return self.render(request, form)

    def render(self, request: HttpRequest, form: ChallengeForm) -> HttpResponse:
        context = {**code_form_context(request, form), "pending_user": self.user}
        return render(request, self.template_name, context)


class GuardLogoutView(LogoutView):
    """Django's logout (POST only), reachable while a challenge is pending."""
