"""The API views: thin; the check, the policy and the challenge are the HTML flow's own."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, NoReturn

from django.contrib.auth import authenticate, get_user_model, login, logout
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import ensure_csrf_cookie
from rest_framework import generics, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import APIException, PermissionDenied, Throttled, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from rupt_guard.api.permissions import IsDeviceVerified
from rupt_guard.api.schema import describe
from rupt_guard.api.serializers import (
    INVALID_CREDENTIALS,
    ChallengeSendSerializer,
    ChallengeVerifySerializer,
    ClientConfigSerializer,
    DeviceSerializer,
    ErrorSerializer,
    LoginSerializer,
    SentSerializer,
    SignInResultSerializer,
    StatusSerializer,
    user_summary,
)
from rupt_guard.api.throttling import ChallengeThrottle, LoginAccountThrottle, LoginThrottle
from rupt_guard.choices import CheckSource, Decision
from rupt_guard.conf import guard_settings
from rupt_guard.gate import codes, lifecycle, sign_in
from rupt_guard.gate.check import ERROR_FIELD_SUFFIX
from rupt_guard.gate.consent import consent_given
from rupt_guard.gate.delivery import Delivery, Sent, send_code
from rupt_guard.gate.limits import Limited
from rupt_guard.gate.mark import read_mark
from rupt_guard.models import Device
from rupt_guard.providers import get_provider
from rupt_guard.trust import devices as device_actions
from rupt_guard.trust.factors import challenge_devices, method_for, sends_code
from rupt_guard.views.challenge import Method, methods_of
from rupt_guard.views.forms import ChallengeForm

logger = logging.getLogger(__name__)


class CsrfSessionAuthentication(SessionAuthentication):
    """Session authentication that checks CSRF for anonymous callers too.

    DRF checks CSRF only once a user is authenticated; a sign-in endpoint that skipped it
    would let another site sign a victim's browser into the attacker's account.
    """

    def authenticate(self, request: Request) -> Any:
        self.enforce_csrf(request)
        return super().authenticate(request)


def signed_in(request: Request, user: Any) -> Response:
    """The answer once the gate is passed; the site's hook may add its own token."""
    body: dict[str, Any] = {"status": "ok", "user": user_summary(user)}
    hook = guard_settings.LOGIN_RESPONSE
    if hook is not None:
        body.update(hook(request, user))
    return Response(body, status=status.HTTP_200_OK)


def challenge_method(method: Method) -> dict[str, Any]:
    device = method.device
    body: dict[str, Any] = {
        "device": device.persistent_id,
        "type": method_for(device).value,
        "name": device.name,
        "label": method.label,
        "sends_code": sends_code(device),
    }
    if method.is_passkey:
        # A passkey: its ceremony's JSON endpoints (rupt_guard.passkeys), same session.
        body["begin_url"] = reverse("rupt_guard:passkey_challenge_begin")
        body["complete_url"] = reverse("rupt_guard:passkey_challenge_complete")
    return body


def challenge_body(user: Any, expires_at: float | None) -> dict[str, Any]:
    return {
        "status": "challenge_required",
        "challenge": {
            "methods": [
                challenge_method(method) for method in methods_of(user, challenge_devices(user))
            ],
            "expires_at": datetime.fromtimestamp(expires_at, UTC).isoformat()
            if expires_at
            else None,
        },
    }


def code_form(request: Request, user: Any) -> ChallengeForm:
    """The challenge form (django-otp's), bound to a ``ChallengeVerifySerializer`` body."""
    serializer = ChallengeVerifySerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = {
        "otp_device": serializer.validated_data["device"],
        "otp_token": serializer.validated_data["token"],
    }
    return ChallengeForm(user, request._request, data=data)


def send_code_to(request: Request, user: Any) -> Response:
    """Send a code to the factor the body names (or the first that sends codes): the
    challenge's send and the step-up's. A pending sign-in's email carries its
    "this wasn't me" link."""
    serializer = ChallengeSendSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    wanted = serializer.validated_data.get("device")
    candidates = [
        device
        for device in challenge_devices(user)
        if sends_code(device) and (wanted is None or device.persistent_id == wanted)
    ]
    if not candidates:
        raise ValidationError({"device": [_("No device of yours can send a code.")]})
    device = candidates[0]
    mark = read_mark(request.session)
    check_pk = mark.check if mark is not None and mark.pending else None
    refuse_undelivered(send_code(request._request, user, device, check_pk=check_pk))
    return Response({"status": "sent", "device": device.persistent_id})


def refuse_undelivered(delivery: Delivery) -> None:
    """A code that did not leave: 429 with the time left, or 503 (never the mail server's
    own words)."""
    if delivery.status == Sent.COOLDOWN:
        detail = _("A code was sent a moment ago; wait before asking again.")
        raise Throttled(wait=delivery.wait, detail=detail)
    if delivery.status == Sent.FAILED:
        raise SendFailed()


class SendFailed(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = gettext_lazy(
        "We couldn't send the code; try another way or again in a minute."
    )
    default_code = "send_failed"

    def __init__(self) -> None:
        super().__init__({"detail": self.default_detail, "code": self.default_code})


def refuse(form: ChallengeForm) -> NoReturn:
    """A refused code: 429 with the time left once the account is locked, else 400."""
    if form.locked_for:
        raise Throttled(wait=form.locked_for, detail=form.non_field_errors()[0])
    raise ValidationError({"non_field_errors": form.non_field_errors()})


class LoginView(APIView):
    authentication_classes = [CsrfSessionAuthentication]
    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle, LoginAccountThrottle]

    @describe(responses={200: ClientConfigSerializer})
    @method_decorator(ensure_csrf_cookie)
    def get(self, request: Request) -> Response:
        """What a client needs before it signs in: the SDK, the client id, the field name,
        and whether to identify at all (``identify`` false: ``CONSENT`` said no, so the
        client loads no SDK and sends no token).

        Also sets the ``csrftoken`` cookie the POST needs."""
        provider = get_provider()
        return Response(
            {
                "sdk_url": provider.sdk_url(),
                "client_id": provider.client_id(),
                "token_field": guard_settings.TOKEN_FIELD,
                "username_field": get_user_model().USERNAME_FIELD,
                "identify": consent_given(request._request),
            }
        )

    @describe(
        request=LoginSerializer,
        responses={
            200: SignInResultSerializer,
            202: SignInResultSerializer,
            400: ErrorSerializer,
            403: ErrorSerializer,
            429: ErrorSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        username_field = get_user_model().USERNAME_FIELD
        user = authenticate(
            request._request,
            **{username_field: data[username_field], "password": data["password"]},
        )
        if user is None:
            raise ValidationError({"non_field_errors": [INVALID_CREDENTIALS]})
        try:
            outcome = sign_in.start(
                request._request,
                user,
                token=data.get(guard_settings.TOKEN_FIELD) or None,
                source=CheckSource.API,
                token_error=data.get(guard_settings.TOKEN_FIELD + ERROR_FIELD_SUFFIX, ""),
            )
        except Limited as exc:
            raise Throttled(wait=exc.wait, detail=sign_in.limited_message(exc.wait)) from exc
        if outcome.decision == Decision.BLOCK:
            # The same answer as a wrong password: no hint that the password was right.
            raise ValidationError({"non_field_errors": [INVALID_CREDENTIALS]})
        login(request._request, user)  # the lifecycle puts the decision in force
        mark = read_mark(request.session)
        if mark is None:  # withdrawn between the check and login(): refused after all
            raise ValidationError({"non_field_errors": [INVALID_CREDENTIALS]})
        if not mark.pending:
            return signed_in(request, user)
        return Response(
            challenge_body(user, mark.expires_at),
            status=status.HTTP_202_ACCEPTED,
        )


class PendingChallengeView(APIView):
    """The challenge of the session's pending sign-in. The session is anonymous (pending
    is not signed in): the pending user comes from the lifecycle, and CSRF is checked for
    every caller."""

    authentication_classes = [CsrfSessionAuthentication]
    permission_classes = [AllowAny]
    throttle_classes = [ChallengeThrottle]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.pending_user = lifecycle.pending_user_or_end(request._request)
        super().initial(request, *args, **kwargs)
        if self.pending_user is None:
            raise PermissionDenied(
                {"detail": _("No challenge is pending."), "code": "no_challenge_pending"}
            )


class ChallengeSendView(PendingChallengeView):
    @describe(
        request=ChallengeSendSerializer,
        responses={
            200: SentSerializer,
            400: ErrorSerializer,
            403: ErrorSerializer,
            429: ErrorSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        return send_code_to(request, self.pending_user)


class ChallengeVerifyView(PendingChallengeView):
    @staticmethod
    def trust_browser(request: Request) -> bool:
        """``trust_browser: false`` (a shared computer): the session passes, the device
        stays unverified. Read as the schema says (a boolean: false, "false", 0, "0"...);
        absent, it trusts; unreadable, it is a 400, never a guess."""
        serializer = ChallengeVerifySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return bool(serializer.validated_data["trust_browser"])

    @describe(
        request=ChallengeVerifySerializer,
        responses={
            200: SignInResultSerializer,
            400: ErrorSerializer,
            403: ErrorSerializer,
            429: ErrorSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        user = self.pending_user
        form = code_form(request, user)
        result = codes.submit_code(
            request._request, user, form, trust_browser=self.trust_browser(request)
        )
        if result == codes.CodeResult.ENDED:
            return Response(
                {
                    "detail": _("This sign-in can no longer be confirmed. Please sign in again."),
                    "code": "challenge_expired",
                },
                status=status.HTTP_401_UNAUTHORIZED,
            )
        if result == codes.CodeResult.REFUSED:
            refuse(form)
        return signed_in(request, user)


class DevicePagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def _flag(value: str | None) -> bool | None:
    return {"true": True, "1": True, "false": False, "0": False}.get((value or "").lower())


class DeviceListView(generics.ListAPIView[Device]):
    """The caller's devices; staff add ``?scope=all`` (with ``user``, ``verified``,
    ``blocked`` filters) to list every user's."""

    serializer_class = DeviceSerializer
    permission_classes = [IsAuthenticated, IsDeviceVerified]
    pagination_class = DevicePagination

    def get_queryset(self) -> QuerySet[Device]:
        params = self.request.query_params
        queryset = Device.objects.select_related("user").order_by("-last_seen_at", "-pk")
        if params.get("scope") != "all":
            return queryset.filter(user=self.request.user)  # type: ignore[misc]  # IsAuthenticated
        if not self.request.user.has_perm("rupt_guard.view_device"):
            # The same permission as the admin's device list.
            raise PermissionDenied(_("You may not list every user's devices."))
        if params.get("user", "").isdigit():
            queryset = queryset.filter(user_id=int(params["user"]))
        verified, blocked = _flag(params.get("verified")), _flag(params.get("blocked"))
        if verified is not None:
            queryset = queryset.filter(verified_at__isnull=not verified)
        if blocked is not None:
            queryset = queryset.filter(blocked_at__isnull=not blocked)
        return queryset


class DeviceDetailView(generics.RetrieveUpdateAPIView[Device]):
    """One of the caller's devices; PATCH renames it."""

    serializer_class = DeviceSerializer
    permission_classes = [IsAuthenticated, IsDeviceVerified]
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Device]:
        return Device.objects.select_related("user").filter(user=self.request.user)  # type: ignore[misc]  # IsAuthenticated


class DeviceRevokeView(APIView):
    """Sign out and forget one of the caller's devices."""

    permission_classes = [IsAuthenticated, IsDeviceVerified]

    @describe(request=None, responses={200: StatusSerializer, 403: ErrorSerializer})
    def post(self, request: Request, pk: int) -> Response:
        device = get_object_or_404(Device, pk=pk, user=request.user)
        mark = read_mark(request.session)
        device_actions.revoke(device, by=request.user, request=request._request)
        if mark is not None and mark.device == device.pk:
            logout(request._request)  # this session was just ended with its device
        return Response({"status": "revoked", "id": device.pk})
