"""The benchmark site: a login page, one ordinary page behind it, the admin, rupt_guard."""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import include, path


@login_required
def hello(request: HttpRequest) -> HttpResponse:
    # An ordinary authenticated page: what every request of a signed-in user pays.
    return HttpResponse(f"hello {request.user.get_username()}")


# The same form; the guarded one carries the identification field, as the README says.
LOGIN_TEMPLATE = "bench/login_guarded.html" if settings.GUARDED else "bench/login_plain.html"

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name=LOGIN_TEMPLATE), name="login"),
    path("hello/", hello, name="hello"),
    path("admin/", admin.site.urls),
]

if settings.GUARDED:
    urlpatterns += [path("rupt-guard/", include("rupt_guard.urls"))]
