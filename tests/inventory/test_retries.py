"""The retry policy with the clock mocked (time-machine) and django-q2's own scheduler deciding
what is due: a failing source is retried after 5 min, 15 min and 1 h, then it is Error and
staff are notified; the next success clears both."""

from __future__ import annotations

import importlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django_q import scheduler as q_scheduler
from django_q.models import Schedule

from fenicia.models import Notification
from inventory import services
from inventory.models import InventorySyncRun, RunStatus, RunTrigger, SourceStatus

from .factories import make_products, make_source
from .servers import stock_csv

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def run_scheduler(monkeypatch, run_tasks):
    """django-q2's real scheduler pass, with the tasks it creates run in this process."""

    def run_now(func, *args, q_options=None, **kwargs):
        module, _, name = func.rpartition(".")
        getattr(importlib.import_module(module), name)(*args, **kwargs)
        return uuid.uuid4().hex

    monkeypatch.setattr(q_scheduler, "async_task", run_now)
    monkeypatch.setattr(q_scheduler, "close_old_django_connections", lambda: None)

    def tick():
        with run_tasks():
            q_scheduler.scheduler(broker=object())

    return tick


def test_failing_rest_source_is_retried_at_5_15_60_minutes_then_error_and_notification(
    http_server, time_machine, run_tasks, run_scheduler, staff_user
):
    make_products("A")
    http_server.fail("/stock", 503)
    source = make_source(url=http_server.url + "/stock", data_format="csv")
    time_machine.move_to(T0, tick=False)

    with run_tasks():
        services.source_sync_start(source=source)
    source.refresh_from_db()
    assert source.status == SourceStatus.PENDING
    assert source.consecutive_failures == 1
    assert source.next_retry_at == T0 + timedelta(minutes=5)
    attempts = [len(http_server.requests)]

    expected_delays = [timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1)]
    now = T0
    for retry, delay in enumerate(expected_delays, start=1):
        time_machine.move_to(now + delay - timedelta(seconds=1), tick=False)
        run_scheduler()
        assert len(http_server.requests) == attempts[-1], f"retry {retry} ran before {delay}"
        now = now + delay
        time_machine.move_to(now + timedelta(seconds=1), tick=False)
        run_scheduler()
        attempts.append(len(http_server.requests))
        assert attempts[-1] > attempts[-2], f"retry {retry} did not run at {delay}"
        source.refresh_from_db()
        assert source.consecutive_failures == retry + 1
        latest = source.runs.order_by("-id").first()
        assert (latest.trigger, latest.attempt, latest.status) == (RunTrigger.RETRY, retry, RunStatus.ERROR)
        if retry < 3:
            assert source.status == SourceStatus.PENDING
            assert source.next_retry_at == now + timedelta(seconds=1) + expected_delays[retry]
            assert not Notification.objects.exists()
        now = now + timedelta(seconds=1)

    assert source.status == SourceStatus.ERROR
    assert source.next_retry_at is None
    assert "HTTP 503" in source.last_error
    notification = Notification.objects.get()
    assert notification.title == f"Inventory source {source.name}: sync failing"
    assert "4 times in a row" in notification.message and notification.link == source.get_absolute_url()
    assert [m.to for m in mail.outbox] == [[staff_user.email]]

    # No fourth retry: a day later nothing has run by itself.
    time_machine.move_to(now + timedelta(days=1), tick=False)
    run_scheduler()
    assert len(http_server.requests) == attempts[-1]
    assert InventorySyncRun.objects.filter(source=source).count() == 4

    # The next success clears the error and the alert.
    http_server.csv("/stock", stock_csv([("A", 3)]))
    with run_tasks():
        services.source_sync_start(source=source)
    source.refresh_from_db()
    assert source.status == SourceStatus.COMPLETED
    assert (source.consecutive_failures, source.next_retry_at, source.last_error) == (0, None, "")
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_a_success_between_retries_cancels_the_rest(http_server, time_machine, run_tasks, run_scheduler):
    make_products("A")
    http_server.fail("/stock", 500)
    source = make_source(url=http_server.url + "/stock")
    time_machine.move_to(T0, tick=False)
    with run_tasks():
        services.source_sync_start(source=source)
    http_server.csv("/stock", stock_csv([("A", 1)]))
    time_machine.move_to(T0 + timedelta(minutes=2), tick=False)
    with run_tasks():
        services.source_sync_start(source=source)  # "Sync now" succeeds
    source.refresh_from_db()
    assert source.status == SourceStatus.COMPLETED and source.next_retry_at is None
    assert not Schedule.objects.filter(name=services.retry_schedule_name(source.pk)).exists()
    requests = len(http_server.requests)
    time_machine.move_to(T0 + timedelta(minutes=6), tick=False)
    run_scheduler()
    assert len(http_server.requests) == requests


def test_the_frequency_schedule_waits_for_a_pending_retry(http_server, time_machine, run_tasks, run_scheduler):
    make_products("A")
    http_server.fail("/stock", 503)
    time_machine.move_to(T0, tick=False)
    source = make_source(url=http_server.url + "/stock", frequency_minutes=5)
    time_machine.move_to(T0 + timedelta(minutes=5, seconds=1), tick=False)
    run_scheduler()  # the frequency schedule's first tick fails: retry in 5 min
    source.refresh_from_db()
    assert source.consecutive_failures == 1
    retry_at = source.next_retry_at
    time_machine.move_to(T0 + timedelta(minutes=10, seconds=2), tick=False)
    run_scheduler()  # both due: one attempt, the retry
    source.refresh_from_db()
    assert source.consecutive_failures == 2
    assert retry_at == T0 + timedelta(minutes=10, seconds=1)
    assert [r.trigger for r in source.runs.order_by("id")] == [RunTrigger.SCHEDULE, RunTrigger.RETRY]
    # Ten minutes later the frequency tick comes, but the next retry is 15 minutes out: it waits.
    time_machine.move_to(T0 + timedelta(minutes=20, seconds=3), tick=False)
    run_scheduler()
    source.refresh_from_db()
    assert source.consecutive_failures == 2


def test_a_bad_webhook_body_is_error_at_once(db, run_tasks):
    source = make_source(kind="webhook", webhook_secret="s3cret", webhook_auth="token", webhook_header="X-Token")
    with run_tasks():
        receipt = services.webhook_receive(
            source=source, headers={"X-Token": "s3cret"}, body=b"not,a\nstock,file", content_type="text/csv"
        )
    assert receipt.status_code == 202
    source.refresh_from_db()
    assert source.status == SourceStatus.ERROR and source.next_retry_at is None
    assert Notification.objects.filter(link=source.get_absolute_url()).exists()
