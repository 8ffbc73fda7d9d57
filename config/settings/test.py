"""Test settings: the embedded default, or PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set."""

from apps.keys.keyring import parse_master_keys

from .base import *  # noqa: F401,F403
from .base import env

DEBUG = False
SECRET_KEY = "test-only-secret-key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = ""
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Fixed test master keys (never used anywhere else): t2 is newest, t1 an older one still accepted.
KEY_ENCRYPTION_KEYS = parse_master_keys(
    "t2:" + "Mg" * 21 + "M=,t1:" + "MQ" * 21 + "M="
)
PROVIDER_MAX_RETRY_WAIT_SECONDS = 0.01
PROVIDER_RETRY_BASE_SECONDS = 0.005
PROVIDER_RETRY_MIN_ATTEMPT_SECONDS = 0.05
PROVIDER_OFFLINE_RESERVE_SECONDS = 0.2
PROVIDER_STREAM_KEEPALIVE_SECONDS = 0.05
REQUIRE_SERVICES = env.bool("REQUIRE_SERVICES", default=False)

if REDIS_URL := env.str("REDIS_URL", default=""):
    import uuid

    # Each test run gets its own key space, so parallel or repeated runs never see each other's keys.
    CACHES["default"]["KEY_PREFIX"] = f"test-{uuid.uuid4().hex[:8]}"  # noqa: F405
