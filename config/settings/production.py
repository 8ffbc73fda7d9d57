"""Production: secrets must come from the environment; fail loudly when one is missing."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F401,F403
from .base import KEY_ENCRYPTION_KEYS, SECRET_KEY, env

if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set in production.")
if not KEY_ENCRYPTION_KEYS:
    raise ImproperlyConfigured(
        "KEY_ENCRYPTION_KEYS must be set in production (id:base64-32-bytes, newest first); "
        "make one with: python -c 'import base64,os; print(\"k1:\" + base64.b64encode(os.urandom(32)).decode())'"
    )

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# Behind a TLS-terminating proxy (X-Forwarded-Proto: https). `make stack` serves plain http on the
# loopback and turns the https-only parts off in .env.stack; `check --deploy` runs with the defaults.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# /healthz and /readyz answer over plain http too (probes inside the host or container).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
