"""django-q2 task functions: take ids, call one service. Safe to run twice."""

from . import actions, sync


def drain_inbox(channel_id: int) -> int:
    return sync.inbox_drain(channel_id=channel_id)


def poll_channel(channel_id: int) -> None:
    sync.channel_poll(channel_id=channel_id)


def sync_run_step(run_id: int) -> None:
    sync.sync_run_step(run_id=run_id)


def sync_order(order_id: int, source: str = "manual") -> str:
    return sync.order_sync(order_id=order_id, source=source)


def push_operation(operation_id: int) -> str:
    return actions.operation_push(operation_id=operation_id)


def push_operations(operation_ids: list[int]) -> dict[str, int]:
    return actions.operations_push(operation_ids=operation_ids)
