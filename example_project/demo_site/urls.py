from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("private/", views.private, name="private"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("rupt-guard/", include("rupt_guard.urls")),
    path("api/rupt-guard/", include("rupt_guard.api.urls")),
    path("admin/", admin.site.urls),
]
