"""The parts of a real site that read the signed-in user without asking rupt_guard.

A site middleware, a context processor, a signup view that calls ``login()``, async views
that sign in with ``aauthenticate()``/``alogin()`` and ask ``await request.auser()``, a
public API view on DRF's default authentication, and a Channels consumer behind
``AuthMiddlewareStack``. None of them knows about the gate: a pending sign-in has to look
anonymous to each of them by itself (tests/test_security_model.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.routing import URLRouter
from django import forms
from django.contrib.auth import aauthenticate, alogin, alogout, login
from django.contrib.auth.forms import UserCreationForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_POST
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from rupt_guard.middleware import pending_allowed

ANONYMOUS = "anonymous"


def seen_as(user: Any) -> str:
    """How the site's own code names the user it was given."""
    if user is None or not user.is_authenticated:
        return ANONYMOUS
    return user.get_username()


class SiteUserMiddleware:
    """A site's audit middleware: it reads ``request.user`` on the way in and on the way out
    (where a site might set an "is signed in" cookie or hand its SPA a token), and says whom."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        seen = seen_as(request.user)
        response = self.get_response(request)
        response["X-Site-User"] = seen
        response["X-Site-User-After"] = seen_as(request.user)
        return response


def site_user(request: HttpRequest) -> dict[str, str]:
    """A site's context processor: every page rendered with a request can show the user."""
    return {"site_user": seen_as(getattr(request, "user", None))}


class SignupForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")

    email = forms.EmailField()


def signup(request: HttpRequest) -> HttpResponse:
    """A site's own signup: the new account is signed in at once with ``login()``."""
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="rupt_guard.backends.RuptGuardBackend")
        return redirect("private")
    return render(request, "registration/signup.html", {"form": form})


@require_POST
async def async_sign_in(request: HttpRequest) -> JsonResponse:
    """A site's async sign-in: ``aauthenticate()``, ``alogin()``, then whoever it now serves."""
    user = await aauthenticate(
        request,
        username=request.POST.get("username", ""),
        password=request.POST.get("password", ""),
    )
    if user is None:
        return JsonResponse({"signed_in": False, "user": ANONYMOUS}, status=401)
    await alogin(request, user)
    return JsonResponse({"signed_in": True, "user": seen_as(await request.auser())})


async def async_whoami(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"user": seen_as(await request.auser())})


@pending_allowed
@require_POST
async def async_sign_out(request: HttpRequest) -> JsonResponse:
    """A site's async sign-out, open to a pending session as a logout page should be."""
    await alogout(request)
    return JsonResponse({"user": seen_as(await request.auser())})


@extend_schema(exclude=True)
@api_view(["GET"])
@permission_classes([AllowAny])
def api_whoami(request: Any) -> Response:
    """A public API view on DRF's default authentication classes (Session, then Basic)."""
    return Response({"user": seen_as(request.user)})


class WhoAmIConsumer(AsyncJsonWebsocketConsumer):
    """A site's live feed: signed-in users only, told whom the socket serves."""

    async def connect(self) -> None:
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close(code=4401)
            return
        await self.accept()
        await self.send_json({"user": seen_as(user)})


# What a site's asgi.py routes its WebSockets through: Django's session cookie and auth.
websocket_application = AuthMiddlewareStack(
    URLRouter([path("ws/whoami/", WhoAmIConsumer.as_asgi())])
)
