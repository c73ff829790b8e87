from django.urls import path

from . import views

app_name = "rupt_guard"

urlpatterns = [
    path("challenge/", views.ChallengeView.as_view(), name="challenge"),
    path("logout/", views.GuardLogoutView.as_view(), name="logout"),
]
