"""The allauth site's URLs: allauth's own pages at accounts/, rupt_guard's, a private page."""

from django.urls import include, path

from tests.urls import home, private

urlpatterns = [
    path("", home, name="home"),
    path("accounts/", include("allauth.urls")),
    path("_allauth/", include("allauth.headless.urls")),
    path("rupt-guard/", include("rupt_guard.urls")),
    path("api/rupt-guard/", include("rupt_guard.api.urls")),
    path("private/", private, name="private"),
]
