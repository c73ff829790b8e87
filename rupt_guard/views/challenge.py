"""The challenge page, and a logout a pending session may use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import LogoutView, redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import render, resolve_url
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from rupt_guard.choices import VerificationMethod
from rupt_guard.gate.codes import CodeResult, submit_code
from rupt_guard.gate.delivery import Delivery, code_address, masked_address, send_code
from rupt_guard.gate.lifecycle import pending_user_or_end
from rupt_guard.gate.mark import SENT_KEY, read_mark
from rupt_guard.trust.factors import kind_of, method_for, sends_code, takes_code
from rupt_guard.views.forms import ChallengeForm


def safe_next(request: HttpRequest) -> str:
    """``next`` when it points at this site, else ``LOGIN_REDIRECT_URL``."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


@dataclass(frozen=True)
class Method:
    """One way to confirm, as the page offers it."""

    device: Any
    label: str

    @property
    def id(self) -> str:
        return str(self.device.persistent_id)

    @property
    def is_passkey(self) -> bool:
        return not takes_code(self.device)

    @property
    def sends_code(self) -> bool:
        return sends_code(self.device)

    @property
    def digits(self) -> bool:
        """Its codes are digits only (a numeric keypad); backup codes have letters."""
        return method_for(self.device) in (VerificationMethod.TOTP, VerificationMethod.EMAIL)


def methods_of(user: Any, devices: list[Any]) -> list[Method]:
    """The factors in words people know, strongest first (``devices`` is in that order)."""
    kinds = [kind_of(device).method for device in devices]
    methods = []
    for device, kind in zip(devices, kinds, strict=True):
        if sends_code(device) and kind == VerificationMethod.EMAIL:
            label = _("Email to %(address)s") % {
                "address": masked_address(code_address(user, device))
            }
        else:
            label = str(kind.label)
            if kinds.count(kind) > 1:  # two apps, two passkeys: say which
                label = f"{label} ({device.name})"
        methods.append(Method(device, label))
    return methods


class CodeFormMixin:
    """The page of a code form (the challenge, a step-up): which method is shown, sending
    its code, and what the templates read. ``auto_send``: a method that needs a code sent
    gets it on arrival, once."""

    auto_send = False
    offer_trust = False

    def methods(self, user: Any, form: ChallengeForm) -> list[Method]:
        return methods_of(user, form.devices)

    @staticmethod
    def chosen(request: HttpRequest, methods: list[Method]) -> Method | None:
        wanted = request.POST.get("otp_device") or request.GET.get("method")
        return next((m for m in methods if m.id == wanted), methods[0] if methods else None)

    @staticmethod
    def sent(request: HttpRequest) -> list[str]:
        value = request.session.get(SENT_KEY)
        return [str(v) for v in value] if isinstance(value, list) else []

    def send(self, request: HttpRequest, user: Any, method: Method) -> Delivery:
        mark = read_mark(request.session)
        check_pk = mark.check if mark is not None and mark.pending else None
        delivery = send_code(request, user, method.device, check_pk=check_pk)
        if delivery.sent and method.id not in self.sent(request):
            request.session[SENT_KEY] = [*self.sent(request), method.id]
        return delivery

    def arrive(self, request: HttpRequest, user: Any, method: Method | None) -> Delivery | None:
        if not self.auto_send or method is None or not method.sends_code:
            return None
        if method.id in self.sent(request):
            return None  # once per pending sign-in: a reload does not send another
        return self.send(request, user, method)

    def code_context(
        self,
        request: HttpRequest,
        user: Any,
        form: ChallengeForm,
        *,
        method: Method | None = None,
        delivery: Delivery | None = None,
    ) -> dict[str, Any]:
        """What ``includes/code_form.html`` and ``includes/passkey_verify.html`` read."""
        methods = self.methods(user, form)
        method = method or self.chosen(request, methods)
        return {
            "form": form,
            "devices": form.devices,
            "code_devices": form.code_devices,
            "passkeys": form.passkeys,
            "email_devices": [d for d in form.code_devices if sends_code(d)],
            "methods": methods,
            "method": method,
            "other_methods": [m for m in methods if method is None or m.id != method.id],
            "code_sent": method is not None and method.id in self.sent(request),
            "delivery": delivery,
            "offer_trust": self.offer_trust,
            "next": safe_next(request),
        }

    def code_post(self, request: HttpRequest, user: Any, form: ChallengeForm) -> Any:
        """A POST asking for a code to be sent: the page again, saying what happened."""
        method = self.chosen(request, self.methods(user, form))
        delivery = self.send(request, user, method) if method and method.sends_code else None
        blank = ChallengeForm(user, request)
        return self.code_context(request, user, blank, method=method, delivery=delivery)


def trust_browser(request: HttpRequest) -> bool:
    """The "Trust this browser" box: an unticked box posts nothing, so the form says it
    showed one; a client that never showed it (the API before it) trusts, as before."""
    if "trust_browser_shown" not in request.POST:
        return True
    return request.POST.get("trust_browser") == "1"


@method_decorator([never_cache, sensitive_post_parameters("otp_token")], name="dispatch")
class ChallengeView(CodeFormMixin, View):
    """The second factor of a pending sign-in. The session is anonymous here: the pending
    user comes from the lifecycle, never from ``request.user``."""

    template_name = "rupt_guard/challenge.html"
    auto_send = True
    offer_trust = True

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        self.user = pending_user_or_end(request)
        if self.user is None:
            if request.user.is_authenticated:
                return HttpResponseRedirect(safe_next(request))  # nothing (left) to confirm
            return redirect_to_login(request.get_full_path())
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        form = ChallengeForm(self.user, request)
        method = self.chosen(request, self.methods(self.user, form))
        delivery = self.arrive(request, self.user, method)
        return self.render(request, self.code_context(request, self.user, form, delivery=delivery))

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ChallengeForm(self.user, request, data=request.POST)
        if "otp_challenge" in request.POST:
            return self.render(request, self.code_post(request, self.user, form))
        result = submit_code(request, self.user, form, trust_browser=trust_browser(request))
        if result == CodeResult.PASSED:
            return HttpResponseRedirect(safe_next(request))
        if result == CodeResult.ENDED:
            message = _("This sign-in can no longer be confirmed. Please sign in again.")
            messages.info(request, message, fail_silently=True)
            return redirect_to_login(safe_next(request))
        return self.render(request, self.code_context(request, self.user, form))

    def render(self, request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
        context["pending_user"] = self.user
        return render(request, self.template_name, context)


class GuardLogoutView(LogoutView):
    """Django's logout (POST only), reachable while a challenge is pending."""
