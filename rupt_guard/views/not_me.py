"""The "this wasn't me" link from the new-device and unconfirmed sign-in emails."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache

from rupt_guard.gate.notifications import read_not_me_token
from rupt_guard.models import LoginCheck
from rupt_guard.trust import devices as device_actions


@method_decorator(never_cache, name="dispatch")
class NotMeView(View):
    """GET only shows what will happen: mail scanners follow links, and must not block
    devices. The POST blocks the device, ends its sessions and is accepted once."""

    template_name = "rupt_guard/not_me.html"

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        check, state = self._check(token)
        return self._render(request, check, state, status=200 if check else 400)

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        check, state = self._check(token)
        if check is None or state != "ready":
            return self._render(request, check, state, status=400 if check is None else 200)
        claimed = LoginCheck.objects.filter(pk=check.pk, reported_at__isnull=True).update(
            reported_at=timezone.now()
        )
        if claimed != 1:
            return self._render(request, check, "used")
        if check.device is not None and check.device.blocked_at is None:
            device_actions.block(
                check.device, by=None, request=request, reason="reported from the email link"
            )
        # Also the sessions of a sign-in whose device is unknown (it sent no token).
        device_actions.end_sign_in_sessions(check)
        return self._render(request, check, "done")

    @staticmethod
    def _check(token: str) -> tuple[LoginCheck | None, str]:
        pk = read_not_me_token(token)
        check = (
            LoginCheck.objects.select_related("user", "device").filter(pk=pk).first()
            if pk is not None
            else None
        )
        if check is None:
            return None, "invalid"
        return check, "used" if check.reported_at is not None else "ready"

    def _render(
        self, request: HttpRequest, check: LoginCheck | None, state: str, status: int = 200
    ) -> HttpResponse:
        try:
            password_url = reverse("password_reset")
        except NoReverseMatch:
            password_url = ""
        context = {"check": check, "state": state, "password_url": password_url}
        return render(request, self.template_name, context, status=status)
