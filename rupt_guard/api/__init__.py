"""A JSON API for single-page and mobile sign-ins, on Django REST framework.

Mount it with ``path("api/rupt-guard/", include("rupt_guard.api.urls"))``. The same
check, policy and challenge as the HTML flow hold here: nothing is issued before the gate.
Django REST framework comes with the ``api`` extra (``pip install "rupt-guard[api]"``);
the rest of rupt_guard never imports this package, so a site without the API needs no DRF.
"""

from django.core.exceptions import ImproperlyConfigured

# Said here, where a URLconf's include() first imports the package, rather than as the
# ModuleNotFoundError of whichever submodule happens to import rest_framework first.
try:
    import rest_framework  # noqa: F401
except ImportError as exc:
    raise ImproperlyConfigured(
        "rupt_guard.api needs Django REST framework, which is not installed. Install the "
        'api extra (pip install "rupt-guard[api]"), or remove include("rupt_guard.api.urls") '
        "from your URLconf: the rest of rupt_guard works without it."
    ) from exc
