"""django-q2 task functions: take ids, call one service. Safe to run twice (runs are claimed
with a conditional UPDATE, push rows with a lease)."""

from . import push, services


def run_sync(run_id: int) -> None:
    services.run_execute(run_id=run_id)


def scheduled_sync(source_id: int) -> None:
    services.source_scheduled_sync(source_id=source_id)


def retry_sync(source_id: int) -> None:
    services.source_retry_due(source_id=source_id)


def push_stock(channel_id: int) -> None:
    push.stock_push_batch(channel_id=channel_id)


def push_sweep() -> None:
    push.stock_push_sweep()
