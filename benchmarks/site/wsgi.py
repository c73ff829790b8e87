"""The WSGI application gunicorn serves, plain or guarded by RUPT_BENCH_VARIANT."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.site.settings")
application = get_wsgi_application()
