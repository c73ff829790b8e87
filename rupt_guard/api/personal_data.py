"""The API's export of the caller's personal data: what the security page's "Download your
data" gives, as JSON, behind the same step-up."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from rupt_guard.api.factors import StepUpRequired
from rupt_guard.api.permissions import IsDeviceVerified
from rupt_guard.api.schema import describe
from rupt_guard.api.serializers import ErrorSerializer
from rupt_guard.gate.reauth import recently_verified
from rupt_guard.trust.personal_data import export_for


class SessionWithRecentFactor(BasePermission):
    """``factors.SessionOnly`` and ``factors.HasRecentFactor``, for reading too: the export
    holds the account's addresses and sign-in history, so it needs what a change needs (a
    session, not a token, with a second factor verified within ``STEP_UP_TIMEOUT``)."""

    def has_permission(self, request: Any, view: Any) -> bool:
        if not isinstance(request.successful_authenticator, SessionAuthentication):
            detail = _("Your data is downloaded through a signed-in session, not a token.")
            raise PermissionDenied({"detail": detail, "code": "session_required"})
        if not recently_verified(request._request):
            raise StepUpRequired()
        return True


class PersonalDataSerializer(serializers.Serializer[Any]):
    """The export's shape, for the schema (``trust.personal_data.export_for``)."""

    format = serializers.CharField()
    version = serializers.IntegerField()
    exported_at = serializers.DateTimeField()
    account = serializers.DictField()
    devices = serializers.ListField(child=serializers.DictField())
    login_checks = serializers.ListField(child=serializers.DictField())
    trust_events = serializers.ListField(child=serializers.DictField())
    sessions = serializers.IntegerField()
    factors = serializers.ListField(child=serializers.DictField())


class PersonalDataView(APIView):
    permission_classes = [IsAuthenticated, IsDeviceVerified, SessionWithRecentFactor]

    @describe(responses={200: PersonalDataSerializer, 403: ErrorSerializer})
    def get(self, request: Request) -> Response:
        """Everything rupt_guard keeps about the caller: devices, sign-in checks, trust
        events, the number of tracked sessions and a summary of the second factors."""
        response = Response(export_for(request.user))
        response["Content-Disposition"] = 'attachment; filename="security-data.json"'
        response["Cache-Control"] = "no-store"
        return response
