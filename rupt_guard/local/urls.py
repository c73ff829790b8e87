"""URLs of the local provider: the browser SDK and its identification endpoint."""

from django.urls import path

from rupt_guard.local import views

# Included by rupt_guard.urls (namespace "rupt_guard") when this app is installed.
urlpatterns = [
    path("local/sdk.js", views.sdk, name="local_sdk"),
    path("local/identify/", views.identify, name="local_identify"),
]
