"""Settings for the benchmarks: Fenicia's own settings, plus the baseline views' URLs.

Everything else (database from DATABASE_URL, middleware, SQLite pragmas, django-q2 on the ORM
broker) is exactly what a deployment gets, so the receiver is measured as it really runs.
"""

import os

from fenicia.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
WSGI_APPLICATION = "bench.wsgi.application"
DEBUG = False  # DEBUG would record every query in memory

# The secret the baseline view checks; the benchmark gives the Fenicia channel the same one.
BENCH_WEBHOOK_SECRET = os.environ.get("BENCH_WEBHOOK_SECRET", "shpss_bench_webhook_secret")
# The baseline's bare table. Created with raw SQL by the benchmark, never by a migration.
BENCH_RAW_TABLE = "bench_raw_webhook"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# What-if knob, unset by default: override CONN_MAX_AGE on SQLite. fenicia.settings keeps
# connections for 60 s since 9cbf03f; BENCH_SQLITE_CONN_MAX_AGE=0 brings back the old
# connection-per-request behaviour for comparison. See README "findings".
if os.environ.get("BENCH_SQLITE_CONN_MAX_AGE") and DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ["BENCH_SQLITE_CONN_MAX_AGE"])  # noqa: F405
