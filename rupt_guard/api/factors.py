"""The API's second factors: list, step up, add an authenticator app, backup codes, remove.

The same rules as the security page (``views.security``): the session must have passed
the gate, and every change needs a factor verified within ``STEP_UP_TIMEOUT``, which
``reauthenticate/`` gives. A step-up lives in the session, so a client signed in with a
token (``TOKEN_AUTHENTICATION_CLASSES``) manages factors through the session API.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from rupt_guard.api.permissions import IsDeviceVerified
from rupt_guard.api.schema import describe
from rupt_guard.api.serializers import (
    BackupCodesSerializer,
    ChallengeSendSerializer,
    ChallengeVerifySerializer,
    ErrorSerializer,
    FactorListSerializer,
    FactorSerializer,
    RecentSerializer,
    SentSerializer,
    TotpConfirmSerializer,
    TotpEnrolmentSerializer,
)
from rupt_guard.api.throttling import ChallengeThrottle
from rupt_guard.api.views import code_form, refuse, send_code_to
from rupt_guard.gate import codes
from rupt_guard.gate.reauth import (
    forget_totp_key,
    offer_totp_key,
    offered_totp_key,
    recent_until,
    recently_verified,
)
from rupt_guard.trust import enrolment
from rupt_guard.trust.factors import challenge_devices, sends_code


class StepUpRequired(PermissionDenied):
    default_detail = gettext_lazy("Confirm it is you with a second factor first.")
    default_code = "step_up_required"

    def __init__(self) -> None:
        super().__init__({"detail": self.default_detail, "code": self.default_code})


class SessionOnly(BasePermission):
    """A step-up lives in the session: only a request authenticated by it may give one or
    use one (not a token, even one the site trusts, sent beside someone's cookie)."""

    def has_permission(self, request: Any, view: Any) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        if not isinstance(request.successful_authenticator, SessionAuthentication):
            detail = _("Second factors are changed through a signed-in session, not a token.")
            raise PermissionDenied({"detail": detail, "code": "session_required"})
        return True


class HasRecentFactor(BasePermission):
    """A second factor verified in this session within ``STEP_UP_TIMEOUT``."""

    def has_permission(self, request: Any, view: Any) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        if not recently_verified(request._request):
            raise StepUpRequired()
        return True


def _when(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp is not None else None


class FactorView(APIView):
    permission_classes = [IsAuthenticated, IsDeviceVerified, SessionOnly, HasRecentFactor]


class FactorListView(FactorView):
    @describe(responses={200: FactorListSerializer, 403: ErrorSerializer})
    def get(self, request: Request) -> Response:
        """The caller's second factors, and until when changes need no step-up."""
        factors = enrolment.user_factors(request.user)
        fallback = not factors and any(sends_code(d) for d in challenge_devices(request.user))
        until = recent_until(request._request) if recently_verified(request._request) else None
        body = {
            "factors": factors,
            "email_fallback": fallback,
            "recent_until": _when(until),
        }
        return Response(FactorListSerializer(body).data)


class ReauthenticateView(APIView):
    """A step-up: verify one of the caller's factors again (codes count against the same
    account limit as the challenge's)."""

    permission_classes = [IsAuthenticated, IsDeviceVerified, SessionOnly]
    throttle_classes = [ChallengeThrottle]

    @describe(
        request=ChallengeVerifySerializer,
        responses={200: RecentSerializer, 400: ErrorSerializer, 429: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        form = code_form(request, request.user)
        if codes.submit_step_up(request._request, request.user, form) != codes.CodeResult.PASSED:
            refuse(form)
        return Response({"status": "ok", "recent_until": _when(recent_until(request._request))})


class ReauthenticateSendView(APIView):
    permission_classes = [IsAuthenticated, IsDeviceVerified, SessionOnly]
    throttle_classes = [ChallengeThrottle]

    @describe(
        request=ChallengeSendSerializer,
        responses={200: SentSerializer, 400: ErrorSerializer, 503: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        """Send a code (email) for a step-up."""
        return send_code_to(request, request.user)


class TotpEnrolView(FactorView):
    @describe(request=None, responses={200: TotpEnrolmentSerializer, 403: ErrorSerializer})
    def post(self, request: Request) -> Response:
        """Offer an authenticator-app secret (the same one until it is confirmed)."""
        session = request._request.session
        enrol = enrolment.totp_enrolment(request.user, offered_totp_key(session, request.user))
        offer_totp_key(session, request.user, enrol.key)
        return Response(
            {"secret": enrol.secret, "otpauth_url": enrol.config_url, "qr_svg": enrol.qr_svg()}
        )


class TotpConfirmView(FactorView):
    @describe(
        request=TotpConfirmSerializer,
        responses={201: FactorSerializer, 400: ErrorSerializer, 403: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        """The first code of the offered secret: the authenticator app becomes a factor."""
        serializer = TotpConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        session = request._request.session
        key = offered_totp_key(session, request.user)
        if key is None:
            raise ValidationError({"non_field_errors": [_("Ask for a secret first.")]})
        device = enrolment.confirm_totp(
            request.user, key, serializer.validated_data["token"], serializer.validated_data["name"]
        )
        if device is None:
            raise ValidationError(
                {"token": [_("That code does not match. Check the app's clock and try again.")]}
            )
        forget_totp_key(session)
        factor = enrolment.find_factor(request.user, device.persistent_id)
        return Response(FactorSerializer(factor).data, status=status.HTTP_201_CREATED)


class BackupCodesView(FactorView):
    @describe(request=None, responses={201: BackupCodesSerializer, 403: ErrorSerializer})
    def post(self, request: Request) -> Response:
        """A new set of backup codes, returned once; the old set stops working."""
        codes_ = enrolment.regenerate_backup_codes(request.user)
        return Response({"codes": codes_}, status=status.HTTP_201_CREATED)


class FactorDetailView(FactorView):
    def factor(self, request: Request, persistent_id: str) -> enrolment.Factor:
        factor = enrolment.find_factor(request.user, persistent_id)
        if factor is None:
            raise NotFound()
        return factor

    @describe(responses={200: FactorSerializer, 404: ErrorSerializer})
    def get(self, request: Request, persistent_id: str) -> Response:
        return Response(FactorSerializer(self.factor(request, persistent_id)).data)

    @describe(responses={204: None, 403: ErrorSerializer, 404: ErrorSerializer})
    def delete(self, request: Request, persistent_id: str) -> Response:
        if not enrolment.remove_factor(request.user, self.factor(request, persistent_id)):
            raise NotFound()
        return Response(status=status.HTTP_204_NO_CONTENT)
