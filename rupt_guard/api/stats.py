"""The admin dashboard's figures as JSON, for monitoring (``GET stats/``): the same dict
as ``manage.py rupt_guard_stats --json``, behind the dashboard's own permission."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from rupt_guard.api.permissions import IsDeviceVerified
from rupt_guard.api.schema import describe
from rupt_guard.api.serializers import ErrorSerializer
from rupt_guard.stats import figures


class CanViewLoginChecks(BasePermission):
    """``rupt_guard.view_logincheck``, as the admin's dashboard and login-check list."""

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request.user.has_perm(figures.PERMISSION))


class StatsSerializer(serializers.Serializer[Any]):
    """The figures' shape, for the schema (documented key by key in docs/operations.md)."""

    generated_at = serializers.DateTimeField()
    periods = serializers.DictField(child=serializers.DictField())
    breaker = serializers.DictField(allow_null=True)


class StatsView(APIView):
    permission_classes = [IsAuthenticated, IsDeviceVerified, CanViewLoginChecks]

    @describe(responses={200: StatsSerializer, 403: ErrorSerializer, 503: ErrorSerializer})
    def get(self, request: Request) -> Response:
        """Sign-ins by decision and reason, tokens missing, provider errors and latency,
        challenge outcomes and new devices over the last 24 hours, 7 and 30 days."""
        if (why := figures.unavailable()) is not None:
            return Response({"detail": why, "code": "unavailable"}, status=503)
        response = Response(figures.as_json())
        response["Cache-Control"] = "no-store"
        return response
