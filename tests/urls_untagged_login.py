"""The test site with a login page that forgot ``{% rupt_guard_identify %}``."""

from django.contrib.auth import views as auth_views
from django.urls import path

from tests.urls import urlpatterns as site_urlpatterns

urlpatterns = [
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="untagged_login.html"),
        name="login",
    ),
    *site_urlpatterns,
]
