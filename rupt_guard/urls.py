from django.apps import apps
from django.urls import include, path

from . import views

app_name = "rupt_guard"

urlpatterns = [
    path("challenge/", views.ChallengeView.as_view(), name="challenge"),
    path("logout/", views.GuardLogoutView.as_view(), name="logout"),
]

if apps.is_installed("rupt_guard.local"):
    urlpatterns += [path("", include("rupt_guard.local.urls"))]
