"""A URLconf that forgot ``include("rupt_guard.urls")`` (rupt_guard.E016)."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
