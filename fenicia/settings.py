"""Fenicia settings: one module, every deployment choice read from the environment.

Defaults give a working single-machine install (SQLite in WAL mode, django-q2 on the
ORM broker). Production sets DATABASE_URL (PostgreSQL), SECRET_KEY,
FENICIA_CREDENTIALS_KEY and optionally FENICIA_REDIS_URL for the task broker.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-change-me-in-production-0123456789")
# Key for channel credentials at rest (Fernet, urlsafe base64 of 32 bytes). When unset a
# key is derived from SECRET_KEY so a fresh install works; production should set its own.
FENICIA_CREDENTIALS_KEY = env.str("FENICIA_CREDENTIALS_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Where channels reach our webhook receivers; shown when a channel is created.
FENICIA_PUBLIC_URL = env.str("FENICIA_PUBLIC_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "js_lib_htmx",
    "django_filters",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_q",
    "fenicia",
    "channels",
    "inventory",
    "orders",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "fenicia.urls"
WSGI_APPLICATION = "fenicia.wsgi.application"

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
                "fenicia.context_processors.navigation",
            ],
        },
    }
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'fenicia.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while the worker writes; IMMEDIATE takes the write lock
    # at BEGIN so two writers queue on `timeout` instead of failing mid-transaction.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
    )
    # Tests run on a file, not in memory: WAL and busy timeouts then behave as in production,
    # and threads (live server, a worker thread) don't hit shared-cache table locks.
    DATABASES["default"].setdefault("TEST", {}).setdefault("NAME", str(VAR_DIR / "test-fenicia.sqlite3"))
# Persistent connections on both: on SQLite, reopening per request re-runs the PRAGMAs and
# checkpoints the WAL on close, which cost more than a webhook's own work (bench/README.md).
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = DEBUG
STATICFILES_DIRS = [BASE_DIR / "fenicia" / "static"]
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")
MEDIA_URL = "media/"

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="fenicia@localhost")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Fenicia API",
    "DESCRIPTION": "Orders and channels of a Fenicia hub.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Several models have a "kind" and a "status"; name each vocabulary after what it is.
    "ENUM_NAME_OVERRIDES": {
        "ChannelKindEnum": "channels.models.ChannelKind",
        "ChannelStatusEnum": "channels.models.ChannelStatus",
        "SyncRunKindEnum": "channels.models.SyncRun.Kind",
        "SyncRunStatusEnum": "channels.models.SyncRun.Status",
        "InventorySourceKindEnum": "inventory.models.SourceKind",
        # Sources and their runs share one vocabulary: Pending / Syncing / Completed / Error.
        "InventorySyncStatusEnum": "inventory.models.SourceStatus",
    },
}

# django-q2. Its defaults would re-run failed tasks forever and hand a slow task to a second
# worker; Fenicia keeps its own retry state, so: one attempt, failures acknowledged, and
# every task's timeout well below the redelivery lease (`retry`). See design.md §5.
FENICIA_REDIS_URL = env.str("FENICIA_REDIS_URL", default="")
Q_CLUSTER = {
    "name": "fenicia",
    "workers": env.int("FENICIA_WORKERS", default=2),
    "timeout": 120,
    "retry": 300,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 500,
    "poll": 0.2,
    "label": "Tasks",
}
if FENICIA_REDIS_URL:
    Q_CLUSTER["redis"] = FENICIA_REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# How long a webhook may sit in the inbox before the drain is considered stuck and rerun.
FENICIA_INBOX_BATCH_SIZE = env.int("FENICIA_INBOX_BATCH_SIZE", default=200)
# Orders per sync step: a django-q2 task never handles more than this many orders.
FENICIA_SYNC_BATCH_SIZE = env.int("FENICIA_SYNC_BATCH_SIZE", default=100)
# Outbound HTTP: (connect, read) timeouts in seconds and the retry policy of the product
# documents: 3 attempts waiting attempt x 1.5 s, Retry-After honoured when longer.
FENICIA_HTTP_TIMEOUT = (
    env.float("FENICIA_HTTP_CONNECT_TIMEOUT", default=5.0),
    env.float("FENICIA_HTTP_READ_TIMEOUT", default=30.0),
)
FENICIA_HTTP_ATTEMPTS = 3
FENICIA_HTTP_BACKOFF_SECONDS = 1.5
FENICIA_HTTP_MAX_WAIT_SECONDS = env.float("FENICIA_HTTP_MAX_WAIT_SECONDS", default=30.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
