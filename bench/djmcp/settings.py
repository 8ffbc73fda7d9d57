"""A minimal Django project serving django-mcp-server 0.5.7 (mcp 1.x) for bench/mcp_bench.py.

Runs only in its own virtualenv (.bench-venv/django-mcp-server, made by bench/djmcp/run.py).
"""

import os

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "mcp_server",
    "djmcp.benchapp",
]
MIDDLEWARE = []
ROOT_URLCONF = "djmcp.urls"
# The project's own SQLite settings (config/settings/base.py) unless DJMCP_SQLITE_DEFAULTS=1: the same
# database work means the same journal too (Django's default journal fsyncs every commit).
_PROJECT_SQLITE = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
    "transaction_mode": "IMMEDIATE",
}
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["DJMCP_DATABASE"],
        "OPTIONS": {} if os.environ.get("DJMCP_SQLITE_DEFAULTS") == "1" else _PROJECT_SQLITE,
    }
}
if (_url := os.environ.get("DJMCP_DATABASE_URL", "")).startswith("postgres"):
    # The same database as the project in a PostgreSQL run (its own database on that server).
    from urllib.parse import urlsplit

    _parts = urlsplit(_url)
    DATABASES["default"] = {
        "ENGINE": "django.db.backends.postgresql", "NAME": _parts.path.lstrip("/"), "USER": _parts.username or "",
        "PASSWORD": _parts.password or "", "HOST": _parts.hostname or "", "PORT": str(_parts.port or ""),
        "CONN_MAX_AGE": 600,  # as the project: a connection kept per thread
    }  # fmt: skip
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
DJANGO_MCP_GLOBAL_SERVER_CONFIG = {"name": "djmcp-bench", "stateless": True}
DJANGO_MCP_GET_SERVER_INSTRUCTIONS_TOOL = False
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
