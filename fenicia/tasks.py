"""Enqueueing django-q2 tasks the way Fenicia needs them."""

from functools import partial

from django.db import transaction
from django_q.tasks import async_task


def enqueue(func: str, *args, group: str | None = None) -> None:
    """Enqueue by dotted name once the current transaction commits, so the worker never runs
    before the rows it needs exist. Arguments are ids, never model instances."""
    options = {"group": group} if group else {}
    transaction.on_commit(partial(async_task, func, *args, **options))
