"""Deployment choices come from the environment: the task broker is the ORM or Redis."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_python(code: str, **env) -> str:
    """Run `code` with Fenicia's settings in a fresh interpreter, on a throwaway SQLite file
    (the test database of the running suite isn't visible to another process)."""
    env.setdefault("DATABASE_URL", "sqlite:////tmp/fenicia-settings-test.sqlite3")
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "fenicia.settings", **env},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_the_default_broker_is_the_database():
    out = run_python(
        "import django; django.setup(); from django_q.brokers import get_broker; print(type(get_broker()).__name__)"
    )
    assert out == "ORM"


def test_redis_becomes_the_broker_when_configured_and_carries_tasks():
    try:
        import redis

        redis.Redis.from_url("redis://127.0.0.1:6379/15", socket_connect_timeout=1).ping()
    except Exception:
        pytest.skip("no Redis server on 127.0.0.1:6379")
    code = (
        "import django, json; django.setup(); from django_q.brokers import get_broker; "
        "b = get_broker(); b.purge_queue(); b.enqueue('payload'); task = b.dequeue(); "
        "print(json.dumps([type(b).__name__, task[0][1].decode() if task else None]))"
    )
    out = json.loads(run_python(code, FENICIA_REDIS_URL="redis://127.0.0.1:6379/15"))
    assert out == ["Redis", "payload"]


def test_sqlite_runs_in_wal_mode(db):
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        mode = cursor.fetchone()[0]
    # The test database is in memory, where SQLite reports "memory"; files get "wal".
    assert mode in ("wal", "memory")
    from django.conf import settings

    assert "journal_mode=WAL" in settings.DATABASES["default"]["OPTIONS"]["init_command"]
