"""Settings shared by every environment; the only module family that reads the environment."""

from __future__ import annotations

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from apps.core.redis_failfast import FailFastConnection, FailFastSSLConnection
from apps.keys.keyring import KeyringConfigError, parse_master_keys

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# A .env file is a convenience for local runs; the real environment always wins.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from our static files, pinned (no CDN)
    "django_celery_beat",
    "csp",
    "apps.core",
    "apps.audit",
    "apps.providers",
    "apps.limits",
    "apps.keys",
    "apps.todos",
    "apps.chat",
    "apps.mcp_tools",
    "apps.web",
    "oauth2_provider",
    "apps.oauth",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.core.request_context.RequestContextMiddleware",
    "apps.core.observability.RequestLogMiddleware",
    "apps.core.middleware.ApiJsonErrorMiddleware",
    "apps.core.middleware.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apps.limits.middleware.RateLimitHeadersMiddleware",
    "csp.middleware.CSPMiddleware",
]

# Content-Security-Policy (django-csp) on every response: scripts and styles from this server only,
# no inline script anywhere; the Swagger UI and ReDoc pages alone add inline styles (config/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.todos.context_processors.notifications",
            ],
        },
    },
]

# Database: PostgreSQL when DATABASE_URL is set, else the embedded SQLite file.
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default serves threads (ASGI + MCP workers): WAL lets readers run beside a
    # writer, IMMEDIATE transactions take the write lock up front instead of failing with
    # "database is locked" mid-transaction. synchronous=NORMAL is durable across app crashes;
    # only a power cut can lose the last commits (production uses PostgreSQL).
    # apps.core.sqlite: Django's backend, with a process's writers queued on a lock (see there).
    # DATABASE_BUSY_TIMEOUT_SECONDS: how long a writer waits for the others (the process's queue,
    # then SQLite's busy handler, each up to this long) before its request is answered 503.
    DATABASES["default"]["ENGINE"] = "apps.core.sqlite"
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": env.float("DATABASE_BUSY_TIMEOUT_SECONDS", default=5.0),
        }
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # apps.core.postgresql: Django's backend, failing fast for DATABASE_RETRY_AFTER_SECONDS after a
    # connection timed out, and answering a database outage with a 503 (see there).
    DATABASES["default"]["ENGINE"] = "apps.core.postgresql"
    # A database that accepts connections but never answers must not hold a request forever.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT_SECONDS", default=5)
    )
    # A connection pool per process (psycopg_pool; 0 = off, a connection per request). With it a
    # process never holds more than this many connections: under load, requests wait (at most
    # DATABASE_POOL_TIMEOUT_SECONDS) instead of failing with "too many clients" at the server.
    # Size it so processes x pool size stays under PostgreSQL's max_connections.
    if DATABASE_POOL_MAX_SIZE := env.int("DATABASE_POOL_MAX_SIZE", default=0):
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": 1,
            "max_size": DATABASE_POOL_MAX_SIZE,
            "timeout": env.float("DATABASE_POOL_TIMEOUT_SECONDS", default=10.0),
        }
# Connections are kept between requests (health-checked when a request first uses one): a
# request no longer pays a connect (PostgreSQL) or a file open plus WAL checkpoint (SQLite).
# Under ASGI, Django's sync code runs on REQUEST_THREADS long-lived threads per process
# (apps.core.asgi_lanes), so a web process keeps at most that many connections for requests;
# requests beyond that get a thread of their own whose connections close with the request.
# With the pool on, Django manages reuse itself (persistent connections are not allowed then).
REQUEST_THREADS = env.int("REQUEST_THREADS", default=16)
# How long a request that finds every request thread busy waits for one before it gets a
# thread (and connections) of its own.
REQUEST_THREAD_WAIT_SECONDS = env.float("REQUEST_THREAD_WAIT_SECONDS", default=0.5)
if not DATABASES["default"].get("OPTIONS", {}).get("pool"):
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE_SECONDS", default=600)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache (also rate limits and breaker state later): Redis when REDIS_URL is set, else local memory.
# Every cache call is bounded (connect and each operation); after a failure the process stops
# trying Redis for REDIS_RETRY_AFTER_SECONDS, so a black-holed Redis costs one timeout per
# window, not one per cache call (apps.core.redis_failfast). Outages are logged once per
# OUTAGE_LOG_INTERVAL_SECONDS per process.
REDIS_URL = env.str("REDIS_URL", default="")
# Every key this app writes to Redis starts with this (processes sharing state must agree on it).
CACHE_KEY_PREFIX = env.str("CACHE_KEY_PREFIX", default="todoassist")
REDIS_SOCKET_CONNECT_TIMEOUT_SECONDS = env.float("REDIS_SOCKET_CONNECT_TIMEOUT_SECONDS", default=1.0)
REDIS_SOCKET_TIMEOUT_SECONDS = env.float("REDIS_SOCKET_TIMEOUT_SECONDS", default=1.0)
REDIS_RETRY_AFTER_SECONDS = env.float("REDIS_RETRY_AFTER_SECONDS", default=5.0)
OUTAGE_LOG_INTERVAL_SECONDS = env.float("OUTAGE_LOG_INTERVAL_SECONDS", default=60.0)
# /mcp reads its checks' generations from Redis on the event loop (apps.core.loop_cache), not in a
# worker-thread hop; off: the hop, as before.
CACHE_LOOP_READS = env.bool("CACHE_LOOP_READS", default=True)
# After a PostgreSQL connection timed out, new connections fail at once (a 503) for this long
# before one probes the database again (apps.core.postgresql).
DATABASE_RETRY_AFTER_SECONDS = env.float("DATABASE_RETRY_AFTER_SECONDS", default=5.0)
# The longest wait for PostgreSQL on an open connection (a query, a fetch, a commit); past it the
# connection is closed and the request answered 503 (apps.core.postgresql). 0 = no bound.
DATABASE_QUERY_TIMEOUT_SECONDS = env.float("DATABASE_QUERY_TIMEOUT_SECONDS", default=30.0)


def redis_cache(url: str) -> dict:
    """The django-redis cache configuration for one Redis URL (also used by tests)."""
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": url,
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": REDIS_SOCKET_CONNECT_TIMEOUT_SECONDS,
            "SOCKET_TIMEOUT": REDIS_SOCKET_TIMEOUT_SECONDS,
            "CONNECTION_POOL_KWARGS": {
                "connection_class": FailFastSSLConnection if url.startswith("rediss:") else FailFastConnection,
            },
        },
        "KEY_PREFIX": CACHE_KEY_PREFIX,
    }


if REDIS_URL:
    CACHES = {"default": redis_cache(REDIS_URL)}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/chat/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

# Uploads and request bodies: the API never needs more than this.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)
# JSON bodies nested deeper than this are a 400 (the API's own payloads nest a few levels).
API_JSON_MAX_DEPTH = env.int("API_JSON_MAX_DEPTH", default=32)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Bearer first: its authenticate_header makes unauthenticated API calls 401, not 403.
        "apps.keys.authentication.AccessTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "apps.core.negotiation.DisregardUnmatchedAccept",
    "DEFAULT_PARSER_CLASSES": ["apps.core.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.DefaultPagination",
    "EXCEPTION_HANDLER": "apps.core.exception_handler.api_exception_handler",
    # Per-user REST write limit from the user's limit policy (apps/limits), with RateLimit headers.
    "DEFAULT_THROTTLE_CLASSES": ["apps.limits.throttles.UserWriteThrottle"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Todo Assistant API",
    "DESCRIPTION": "Todos, provider keys, chat and MCP tool discovery for the todo assistant.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Security schemes come from the authentication classes (apps/keys/authentication.py's
    # extension and drf-spectacular's own for sessions): a global SECURITY here would list them twice.
    # The docs pages load nothing from outside the server: assets from drf-spectacular-sidecar,
    # no online validator badge (Swagger UI would fetch validator.swagger.io for it).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.core.schema.add_rate_limit_responses",
    ],
}

# Celery: a real broker when CELERY_BROKER_URL is set, else tasks run eagerly in-process.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
# Eager mode stands in for a worker: a task failing (or retrying) must not become an error
# of the request that queued it, and eager retries only loop when nothing propagates.
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The queue tasks go to and the worker reads (web processes and workers must agree on it).
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# A broker that is down or black-holed (accepts, never answers) must fail an enqueue in a few
# seconds, never hang the request that queues the task: the connection (TCP and, for AMQP, the
# handshake) is bounded by BROKER_CONNECT_TIMEOUT_SECONDS, each Redis-broker command by
# BROKER_SOCKET_TIMEOUT_SECONDS (longer than the worker's 1 s BRPOP), and a publish is retried
# once at most, at once (a pooled connection the broker closed), then raises
# kombu.exceptions.OperationalError. Worst case for one enqueue: 2 x (connect + socket timeout).
BROKER_CONNECT_TIMEOUT_SECONDS = env.float("BROKER_CONNECT_TIMEOUT_SECONDS", default=2.0)
BROKER_SOCKET_TIMEOUT_SECONDS = env.float("BROKER_SOCKET_TIMEOUT_SECONDS", default=2.0)
# After an enqueue failed (broker down or black-holed), the next ones in this process fail at once
# for this long (apps.core.outage.broker_outage) instead of each waiting out the timeouts above:
# an on-time reminder is left to beat's sweep, a key validation answers 503 at once.
BROKER_RETRY_AFTER_SECONDS = env.float("BROKER_RETRY_AFTER_SECONDS", default=5.0)
CELERY_BROKER_CONNECTION_TIMEOUT = BROKER_CONNECT_TIMEOUT_SECONDS
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "socket_connect_timeout": BROKER_CONNECT_TIMEOUT_SECONDS,
        "socket_timeout": BROKER_SOCKET_TIMEOUT_SECONDS,
        "retry_on_timeout": False,
    }
    if CELERY_BROKER_URL.startswith(("redis:", "rediss:"))
    else {}  # py-amqp: the handshake is bounded by the connect timeout; writes need no reply
)
# `make run` sets CELERY_BROKER_URL=filesystem:// so its worker and beat need no server: messages
# are files under .local/celery (kombu's filesystem transport).
if CELERY_BROKER_URL.startswith("filesystem:"):
    _celery_dir = Path(env.str("CELERY_FILESYSTEM_DIR", default=str(BASE_DIR / ".local" / "celery")))
    for _sub in ("queue", "processed", "control"):
        (_celery_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_dir / "queue"),
        "data_folder_out": str(_celery_dir / "queue"),
        "processed_folder": str(_celery_dir / "processed"),
        "control_folder": str(_celery_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0, "interval_max": 0}
# A reminder due within this many seconds of being set gets a task of its own at its moment
# (apps.todos.services._deliver_on_time); later ones wait for beat's sweep. 0: the sweep only.
REMINDER_ON_TIME_SECONDS = env.int("REMINDER_ON_TIME_SECONDS", default=600)
# /readyz runs its checks in parallel and answers within this many seconds whatever they do.
READYZ_TIMEOUT_SECONDS = env.float("READYZ_TIMEOUT_SECONDS", default=3.0)

# Master keys that seal provider API keys: `id:base64-32-bytes`, comma-separated, newest first.
# The newest encrypts; all of them decrypt (so an old one can be removed after `rotate_keys`).
LOCAL_MASTER_KEY_FILE = BASE_DIR / ".local" / "master-keys"


def read_master_keys(raw: str, source: str = "KEY_ENCRYPTION_KEYS"):
    try:
        return parse_master_keys(raw)
    except KeyringConfigError as exc:
        raise ImproperlyConfigured(f"{exc} (from {source})") from None


KEY_ENCRYPTION_KEYS = read_master_keys(env.str("KEY_ENCRYPTION_KEYS", default=""))

# Provider gateway: the policies run around every attempt, in this order (see README "Provider gateway").
PROVIDER_GATEWAY_POLICIES = env.list(
    "PROVIDER_GATEWAY_POLICIES",
    default=[
        "apps.providers.policies.AnswerCachePolicy",
        "apps.providers.policies.CooldownPolicy",
        "apps.providers.policies.CircuitBreakerPolicy",
        "apps.limits.policies.ProviderRateLimitPolicy",
        "apps.limits.policies.QuotaPolicy",
        "apps.providers.policies.RetryPolicy",
    ],
)
# Retries per provider (after the first try), exponential backoff with full jitter from this base,
# and the longest wait (a Retry-After longer than this fails over instead of waiting).
PROVIDER_MAX_RETRIES = env.int("PROVIDER_MAX_RETRIES", default=2)
PROVIDER_RETRY_BASE_SECONDS = env.float("PROVIDER_RETRY_BASE_SECONDS", default=0.5)
PROVIDER_MAX_RETRY_WAIT_SECONDS = env.float("PROVIDER_MAX_RETRY_WAIT_SECONDS", default=5.0)
# A retry is only worth waiting for if at least this long is left for it before the deadline.
PROVIDER_RETRY_MIN_ATTEMPT_SECONDS = env.float("PROVIDER_RETRY_MIN_ATTEMPT_SECONDS", default=1.0)
# Time kept back from remote providers at the end of a turn, for the offline answer.
PROVIDER_OFFLINE_RESERVE_SECONDS = env.float("PROVIDER_OFFLINE_RESERVE_SECONDS", default=1.0)
# Provider HTTP: one shared client (pool, SSL context) per base URL and process.
PROVIDER_HTTP_MAX_CONNECTIONS = env.int("PROVIDER_HTTP_MAX_CONNECTIONS", default=32)
PROVIDER_HTTP_MAX_KEEPALIVE = env.int("PROVIDER_HTTP_MAX_KEEPALIVE", default=8)
# While a streamed turn waits to retry, a keep-alive comment goes out at least this often.
PROVIDER_STREAM_KEEPALIVE_SECONDS = env.float("PROVIDER_STREAM_KEEPALIVE_SECONDS", default=5.0)
# Circuit breaker per provider: opens after this many failures in a row, lets one probe through
# after the cool-down; a probe that never reports back frees the slot after the probe timeout.
PROVIDER_BREAKER_FAILURE_THRESHOLD = env.int("PROVIDER_BREAKER_FAILURE_THRESHOLD", default=5)
PROVIDER_BREAKER_COOLDOWN_SECONDS = env.float("PROVIDER_BREAKER_COOLDOWN_SECONDS", default=30.0)
PROVIDER_BREAKER_PROBE_TIMEOUT_SECONDS = env.float("PROVIDER_BREAKER_PROBE_TIMEOUT_SECONDS", default=60.0)
# Redis key prefix of breaker and cool-down state (blank: the cache's KEY_PREFIX).
PROVIDER_STATE_PREFIX = env.str("PROVIDER_STATE_PREFIX", default="")
# Health (success rate, p50 latency) is computed over this many latest attempts per provider.
PROVIDER_HEALTH_WINDOW = env.int("PROVIDER_HEALTH_WINDOW", default=50)

# Checking a provider key without a worker (no CELERY_BROKER_URL): one call in the request, cut
# off after this many seconds and never retried there ("try again after …" is recorded instead).
KEY_VALIDATION_INLINE_TIMEOUT_SECONDS = env.float("KEY_VALIDATION_INLINE_TIMEOUT_SECONDS", default=5.0)

# Provider base URLs must be https (plain http only to a loopback host) unless this allows http anywhere.
PROVIDER_BASE_URL_ALLOW_HTTP = env.bool("PROVIDER_BASE_URL_ALLOW_HTTP", default=False)

# Chat: the largest message accepted, model calls per turn, reply size, history sent to the model.
CHAT_MESSAGE_MAX_CHARS = env.int("CHAT_MESSAGE_MAX_CHARS", default=4000)
CHAT_MAX_MODEL_CALLS_PER_TURN = 8
CHAT_MAX_OUTPUT_TOKENS = env.int("CHAT_MAX_OUTPUT_TOKENS", default=1024)
CHAT_HISTORY_MESSAGES = 60
# A turn holds its conversation (a second turn meanwhile is a 409) until its answer is stored;
# the hold is renewed before every model call and lapses this long after, should the server die.
CHAT_TURN_LEASE_SECONDS = env.int("CHAT_TURN_LEASE_SECONDS", default=300)
# A whole turn (every model call, retry wait and tool call) ends within this many seconds.
CHAT_TURN_DEADLINE_SECONDS = env.float("CHAT_TURN_DEADLINE_SECONDS", default=60.0)

# Limits and quotas (apps/limits): the policies are edited in the admin (User limit policies, and the
# provider limits on each provider). Warnings in the chat answer and on /usage/ at these fractions.
LIMITS_WARNING_THRESHOLDS = (0.8, 0.95)
# Redis key prefix of limit state (blank: the cache's KEY_PREFIX).
LIMITS_KEY_PREFIX = env.str("LIMITS_KEY_PREFIX", default="")
# django-ratelimit (fixed window) on the login form and on key creation; refused requests are a 429.
LOGIN_RATE_LIMIT = env.str("LOGIN_RATE_LIMIT", default="10/m")
KEY_CREATE_RATE_LIMIT = env.str("KEY_CREATE_RATE_LIMIT", default="20/m")
# OAuth dynamic client registrations (open to anyone) per client address.
OAUTH_REGISTER_RATE_LIMIT = env.str("OAUTH_REGISTER_RATE_LIMIT", default="20/m")
RATELIMIT_VIEW = "apps.limits.views.ratelimited"
RATELIMIT_FAIL_OPEN = True
# django-ratelimit refuses the local-memory cache (E003): on the embedded default (one process) it is fine.
# oauth2_provider.W008 warns that http redirect URIs are allowed: on purpose, for native MCP clients'
# loopback callbacks (RFC 8252); apps.oauth.redirects refuses http to any other host.
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001", "oauth2_provider.W008"]

# Audit trail (apps/audit). Prompts and answers are stored in chat.turn events only with full logging.
AUDIT_FULL_LOGGING = env.bool("AUDIT_FULL_LOGGING", default=False)
# Rows younger than this wait for the next minute checkpoint (a slow transaction may still commit a lower id).
AUDIT_CHECKPOINT_GRACE_SECONDS = env.int("AUDIT_CHECKPOINT_GRACE_SECONDS", default=30)
# Events older than this many days are purged (in batches, by beat); 0 keeps them for ever.
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=365)
AUDIT_PURGE_BATCH = env.int("AUDIT_PURGE_BATCH", default=5000)
# A chat turn's usage rows and audit events that the database failed to store wait here (without
# Redis, or with Redis down too) until the spool drain writes them (apps.audit.spool).
AUDIT_SPOOL_DIR = Path(env.str("AUDIT_SPOOL_DIR", default=str(BASE_DIR / ".local" / "spool")))
# Reports are mailed to these addresses (comma-separated); none = not mailed.
AUDIT_REPORT_RECIPIENTS = env.list("AUDIT_REPORT_RECIPIENTS", default=[])
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="todoassist@localhost")

# Personal access tokens: how often last_used_at is written (a write per request would be wasteful).
ACCESS_TOKEN_TOUCH_INTERVAL_SECONDS = 60
# The same for a provider key's "last used" (every call is in the audit trail as provider.attempt).
PROVIDER_KEY_TOUCH_INTERVAL_SECONDS = env.int("PROVIDER_KEY_TOUCH_INTERVAL_SECONDS", default=60)
# How long a process may reuse a verified access token, and the MCP tool registry, without
# reading them again (apps.core.localcache). A change made through the ORM (revoking a token,
# deactivating a user, disabling a tool) applies at once in every process sharing the cache
# (Redis); the TTL only bounds changes made behind the ORM's back. 0 turns the copies off.
ACCESS_TOKEN_CACHE_SECONDS = env.int("ACCESS_TOKEN_CACHE_SECONDS", default=30)
MCP_REGISTRY_CACHE_SECONDS = env.int("MCP_REGISTRY_CACHE_SECONDS", default=30)
# The same for the limit policy a tools/call is counted under (apps.limits.selectors.user_policies).
LIMIT_POLICY_CACHE_SECONDS = env.int("LIMIT_POLICY_CACHE_SECONDS", default=30)
# Per-process copies of what a chat turn's route is made from (enabled providers, the user's
# provider and cache choices, which keys are active); bumped on every change, 0 turns them off.
PROVIDER_ROUTE_CACHE_SECONDS = env.int("PROVIDER_ROUTE_CACHE_SECONDS", default=30)
# The two-level cache (apps.core.cache, README "The cache"): L1 in each process in front of L2
# (the cache above). Answers are cached only for providers whose `answer_cache` allows it, for
# that provider's TTL; tool results until the user's next task write, at most this long.
CACHE_L1_MAX_ENTRIES = env.int("CACHE_L1_MAX_ENTRIES", default=2048)
CACHE_L1_TTL_SECONDS = env.float("CACHE_L1_TTL_SECONDS", default=5.0)
ANSWER_CACHE_ENABLED = env.bool("ANSWER_CACHE_ENABLED", default=True)
TOOL_RESULT_CACHE_SECONDS = env.int("TOOL_RESULT_CACHE_SECONDS", default=300)
TOOL_RESULT_CACHE_TOOLS = env.list("TOOL_RESULT_CACHE_TOOLS", default=["list_tasks", "get_task", "task_statistics"])
TOOL_LIST_CACHE_SECONDS = env.int("TOOL_LIST_CACHE_SECONDS", default=300)
# The chat's sampling temperature: 0 makes its calls cacheable under the default `answer_cache`.
CHAT_TEMPERATURE = env.float("CHAT_TEMPERATURE", default=0.0)
# MCP calls using the database at once per server process; 0 = 1 on SQLite, 8 otherwise.
MCP_DATABASE_THREADS = env.int("MCP_DATABASE_THREADS", default=0)
# One authenticated tools/call POST is answered through the SDK's per-request kernel without its
# HTTP transport (apps.mcp_tools.fast_path: the same answer, less CPU); false sends every request
# through the SDK's app.
MCP_FAST_PATH = env.bool("MCP_FAST_PATH", default=True)
# The interpreter's thread switch interval in the ASGI server process (config.asgi). The event
# loop and the database threads share one GIL; at Python's default (5 ms) a thread coming back
# from SQLite or PostgreSQL can wait that long for a busy loop to let go. 0 keeps the default.
PYTHON_SWITCH_INTERVAL_SECONDS = env.float("PYTHON_SWITCH_INTERVAL_SECONDS", default=0.0005)

# Once the ASGI server has started (config.asgi's lifespan), move everything alive then (modules,
# settings, the registry's copies, warmed clients) out of the garbage collector's reach
# (gc.freeze): a full collection then walks only what the requests made since, instead of the
# whole heap with every request in flight stalled (at c=16, 100-220 ms pauses: the chat turn's p99).
PYTHON_GC_FREEZE = env.bool("PYTHON_GC_FREEZE", default=True)

# MCP: the externally visible base URL, named in the protected-resource metadata and in the
# WWW-Authenticate header of a 401 from /mcp. Host and Origin are checked against ALLOWED_HOSTS.
MCP_PUBLIC_URL = env.str("MCP_PUBLIC_URL", default="http://127.0.0.1:8000").rstrip("/")

# OAuth 2.1 authorization server for remote MCP clients (django-oauth-toolkit, apps.oauth).
# Access tokens are short-lived and bound to the /mcp resource (RFC 8707); refresh tokens rotate.
OAUTH_ACCESS_TOKEN_SECONDS = env.int("OAUTH_ACCESS_TOKEN_SECONDS", default=3600)
OAUTH_REFRESH_TOKEN_SECONDS = env.int("OAUTH_REFRESH_TOKEN_SECONDS", default=30 * 24 * 3600)
# The resources a client may ask a token for; /mcp only. A token for any other audience is refused at /mcp.
OAUTH_RESOURCES = [f"{MCP_PUBLIC_URL}/mcp"]
# Client ID Metadata Documents are fetched from public addresses only; development and tests
# may allow loopback/private ones (and trust a local CA file for their https).
OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES = env.bool("OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES", default=False)
OAUTH_CIMD_CA_FILE = env.str("OAUTH_CIMD_CA_FILE", default="")
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"  # named so migrations can depend on it
OAUTH2_PROVIDER = {
    "SCOPES": {
        "tasks:read": "Read your tasks",
        "tasks:write": "Add, change, complete and delete your tasks",
    },
    "DEFAULT_SCOPES": ["tasks:read"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": OAUTH_ACCESS_TOKEN_SECONDS,
    "REFRESH_TOKEN_EXPIRE_SECONDS": OAUTH_REFRESH_TOKEN_SECONDS,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "PKCE_REQUIRED": True,
    "REQUEST_APPROVAL_PROMPT": "force",
    "ACCESS_TOKEN_GENERATOR": "apps.oauth.tokens.access_token_generator",
    "REFRESH_TOKEN_GENERATOR": "apps.oauth.tokens.refresh_token_generator",
    "OAUTH2_VALIDATOR_CLASS": "apps.oauth.validators.TodoOAuth2Validator",
    "OIDC_ISS_ENDPOINT": MCP_PUBLIC_URL,
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "refresh_token"],
    "OAUTH2_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": ["none"],
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https", "http"],  # http only on loopback: apps.oauth.redirects
    "ALLOWED_SCHEMES": ["https", "http"],
    "DCR_ENABLED": True,
    "DCR_REGISTRATION_PERMISSION_CLASSES": ("oauth2_provider.dcr.AllowAllDCRPermission",),
    "CIMD_ENABLED": True,
    "CIMD_METADATA_FETCHER": "apps.oauth.cimd.MetadataFetcher",
    "CIMD_FETCH_TIMEOUT_SECONDS": 5,
    "CIMD_MAX_DOCUMENT_SIZE": 16 * 1024,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,  # S256 only
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,  # only SHA-256 checksums of tokens are stored
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
}

# Logs: LOG_FORMAT=json (make stack, the image) writes one JSON object per line (python-json-logger)
# with the request id of the request or task that logged it; "plain" is for a terminal.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "apps.core.observability.RequestIdLogFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # One line per request (apps.core.observability); uvicorn's access log is off in the Procfile.
    "loggers": {"apps.request": {"level": env.str("REQUEST_LOG_LEVEL", default="INFO")}},
}
# /metrics (Prometheus): a bearer token equal to this, or a staff session. Empty: staff only.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # the worker logs through LOGGING (JSON lines with the request id)
