"""URLs of the local provider: the browser SDK and its identification endpoint."""

from django.contrib.auth.decorators import login_not_required
from django.urls import path

from rupt_guard.local import views

# Included by rupt_guard.urls (namespace "rupt_guard") when this app is installed.
urlpatterns = [
    # Used on the login page, before anyone is signed in.
    path("local/sdk.js", login_not_required(views.sdk), name="local_sdk"),
    path("local/identify/", login_not_required(views.identify), name="local_identify"),
]
