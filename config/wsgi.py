"""WSGI entry point (the ASGI one in asgi.py is what `make run` serves)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.development")
application = get_wsgi_application()

from apps.providers.adapters import warm_adapters  # noqa: E402  (needs Django set up)

warm_adapters()  # the first turn's deadline is not spent importing provider SDKs
