"""Local development: the embedded default (SQLite, local memory, eager Celery), safe defaults."""

from .base import *  # noqa: F401,F403
from .base import SECRET_KEY, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
# A fixed key is fine on a developer's machine; production refuses to start without one.
SECRET_KEY = SECRET_KEY or "dev-only-insecure-secret-key-change-me"
WHITENOISE_USE_FINDERS = True
