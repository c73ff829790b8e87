"""The "this wasn't me" link from the new-device and unconfirmed sign-in emails."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render, resolve_url
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache

from rupt_guard.choices import ChallengeResult, Decision
from rupt_guard.conf import guard_settings
from rupt_guard.gate.notifications import read_not_me_token
from rupt_guard.models import LoginCheck
from rupt_guard.trust import devices as device_actions
from rupt_guard.trust.user_agents import parse

# The button of "it was me"; any other POST is the report.
IT_WAS_ME = "it_was_me"


def reverse_or_empty(name: str) -> str:
    try:
        return reverse(name)
    except NoReverseMatch:
        return ""


@method_decorator(never_cache, name="dispatch")
class NotMeView(View):
    """GET only shows what will happen: mail scanners follow links, and must not block
    devices. The POST blocks the device, ends its sessions and is accepted once; "it was
    me" is a POST too, and changes nothing."""

    template_name = "rupt_guard/not_me.html"

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        check, state = self._check(token)
        return self._render(request, check, state, status=200 if check else 400)

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        check, state = self._check(token)
        if check is None or state != "ready":
            return self._render(request, check, state, status=400 if check is None else 200)
        if request.POST.get("answer") == IT_WAS_ME:
            # Nothing is recorded or changed: the sign-in stands as it was, and the link
            # keeps working until it expires, for the owner who later thinks again.
            return self._render(request, check, "kept")
        now = timezone.now()
        claimed = LoginCheck.objects.filter(pk=check.pk, reported_at__isnull=True).update(
            reported_at=now
        )
        if claimed != 1:
            return self._render(request, check, "used")
        # A challenge still waiting ends here, and its owner, who reported it, is not told
        # later that it went unanswered.
        LoginCheck.objects.filter(pk=check.pk, challenge_result=ChallengeResult.PENDING).update(
            challenge_result=ChallengeResult.ENDED, challenge_ended_at=now
        )
        LoginCheck.objects.filter(pk=check.pk, owner_notified_at__isnull=True).update(
            owner_notified_at=now
        )
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
        change = reverse_or_empty("password_change")
        reset = reverse_or_empty("password_reset")
        render_context: dict[str, Any] = {
            "check": check,
            "state": state,
            "it_was_me": IT_WAS_ME,
            # The site's own password pages, when it has them: a change (the owner still
            # knows the password) first, a reset for the owner who no longer can sign in.
            "password_change_url": change,
            "password_reset_url": reset,
            # Templates overridden before the two were told apart read this one.
            "password_url": change or reset,
            "sign_in_url": resolve_url(settings.LOGIN_URL),
            # What a blocked device meets at its next sign-in, as the policy is set.
            "blocked_are_refused": guard_settings.ON_BLOCKED_DEVICE == Decision.BLOCK,
            "blocked_are_challenged": guard_settings.ON_BLOCKED_DEVICE == Decision.CHALLENGE,
        }
        if check is not None:
            place_for_ip = guard_settings.PLACE_FOR_IP
            agent = parse(check.user_agent)
            label = check.device.label if check.device is not None else ""
            render_context |= {
                # The name the owner gave the device (if they renamed it), then what its
                # browser said at that sign-in, with the version.
                "device_name": label if label and label != agent.label else "",
                "agent": agent.description,
                "place": (place_for_ip(check.ip) or "") if place_for_ip and check.ip else "",
                # The owner, signed in here: their devices page is one click away.
                "is_owner": request.user.is_authenticated and request.user.pk == check.user_id,
            }
        return render(request, self.template_name, render_context, status=status)
