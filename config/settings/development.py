"""Local development: the embedded default (SQLite, local memory, eager Celery), safe defaults."""

from .base import *  # noqa: F401,F403
from .base import KEY_ENCRYPTION_KEYS, LOCAL_MASTER_KEY_FILE, SECRET_KEY, env, read_master_keys

DEBUG = env.bool("DJANGO_DEBUG", default=True)
# A fixed key is fine on a developer's machine; production refuses to start without one.
SECRET_KEY = SECRET_KEY or "dev-only-insecure-secret-key-change-me"
WHITENOISE_USE_FINDERS = True

# `make run` writes a local master key (git-ignored) on first run; the environment wins.
if not KEY_ENCRYPTION_KEYS and LOCAL_MASTER_KEY_FILE.exists():
    KEY_ENCRYPTION_KEYS = read_master_keys(LOCAL_MASTER_KEY_FILE.read_text().strip(), str(LOCAL_MASTER_KEY_FILE))
