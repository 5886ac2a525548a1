"""Shared fixtures. Tests use the real database (SQLite or PostgreSQL per DATABASE_URL)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
import responses as responses_lib
from django.contrib.auth import get_user_model

FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture(autouse=True)
def _fast_and_offline(settings, monkeypatch):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # Never really wait between HTTP retries; tests that care record the waits instead.
    monkeypatch.setattr("channels.http._sleep", lambda seconds: None)


def _run_task_now(func, *args, **kwargs):
    """Stand-in for django-q2's async_task: run the task function in-process, letting its
    exceptions propagate so a failing task fails the test."""
    module_name, _, attr = func.rpartition(".")
    kwargs.pop("group", None)
    return getattr(importlib.import_module(module_name), attr)(*args)


@pytest.fixture(autouse=True)
def _tasks_run_in_process(monkeypatch):
    monkeypatch.setattr("fenicia.tasks.async_task", _run_task_now)


@pytest.fixture
def run_tasks(django_capture_on_commit_callbacks):
    """`with run_tasks(): ...` runs the tasks enqueued inside the block when it exits, the way
    a worker would after the commit (nested enqueues included)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def mocked_responses():
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def staff_user(db):
    return get_user_model().objects.create_user(
        username="staff", email="staff@example.com", password="correct-horse", is_staff=True
    )


@pytest.fixture
def shopify_channel(db):
    from channels.services import channel_create

    return channel_create(
        kind="shopify",
        name="Test Shop",
        credentials={"shop": "test-shop.myshopify.com", "access_token": "shpat_test_token", "api_version": "2026-10"},
        webhook_secret="shpss_webhook_secret",
    )


class ScriptedChannel:
    """Answers each push with the next scripted outcome, an exception or a PushResult (the last
    one repeats), and keeps what it was sent."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.calls = []

    def __call__(self, push):
        self.calls.append(push)
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


@pytest.fixture
def channel_pushes(monkeypatch):
    """`channel_pushes(outcome, ..., method="push_shipment")`: what the channel answers to our
    pushes, replacing the adapter's push method (our own seam); the channel supports every action."""
    from channels.adapters.base import Capability
    from channels.adapters.shopify import ShopifyAdapter

    monkeypatch.setattr(ShopifyAdapter, "capabilities", frozenset(Capability))

    def install(*outcomes, method="push_shipment"):
        scripted = ScriptedChannel(*outcomes)
        monkeypatch.setattr(ShopifyAdapter, method, lambda adapter, push: scripted(push), raising=False)
        return scripted

    return install
