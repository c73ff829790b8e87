"""The test site with a login page that answers a server error, as one whose template
reverses a URL the site does not route does."""

from django.urls import NoReverseMatch, path

from tests.urls import urlpatterns as site_urlpatterns


def broken_login(request):
    raise NoReverseMatch("Reverse for 'local_sdk' not found.")


urlpatterns = [path("accounts/login/", broken_login, name="login"), *site_urlpatterns]
