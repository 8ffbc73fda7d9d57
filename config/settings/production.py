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
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
