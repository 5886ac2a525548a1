"""Writes for channels: connections, their health, their tokens, the webhook inbox."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django_q.models import Schedule

from fenicia.notifications import notification_send
from fenicia.tasks import enqueue

from .adapters import adapter_for
from .adapters.base import AuthExpired, ChannelAdapter, ChannelError
from .models import Channel, ChannelStatus, WebhookEvent

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Repeated transient failures before a channel shows Error (degraded) and staff hear of it.
FAILURES_BEFORE_ERROR = 3
TOKEN_REFRESH_MARGIN = timedelta(minutes=5)
DRAIN_TASK = "orders.tasks.drain_inbox"
POLL_TASK = "orders.tasks.poll_channel"


@transaction.atomic
def channel_create(
    *,
    kind: str,
    name: str,
    credentials: Mapping[str, Any] | None = None,
    webhook_secret: str = "",
    api_base_url: str = "",
    poll_interval_minutes: int = 15,
) -> Channel:
    channel = Channel.objects.create(
        kind=kind,
        name=name,
        credentials=dict(credentials or {}),
        webhook_secret=webhook_secret,
        api_base_url=api_base_url,
        poll_interval_minutes=poll_interval_minutes,
    )
    channel_schedule_sync(channel=channel)
    return channel


def channel_schedule_sync(*, channel: Channel) -> None:
    """Keep the channel's django-q2 poll schedule in step with its settings. Webhook channels
    get it too: it is the reconciliation poll that catches deliveries the channel dropped."""
    name = f"poll-channel-{channel.pk}"
    if not channel.is_active:
        Schedule.objects.filter(name=name).delete()
        return
    Schedule.objects.update_or_create(
        name=name,
        defaults={
            "func": POLL_TASK,
            "args": repr((channel.pk,)),
            "schedule_type": Schedule.MINUTES,
            "minutes": channel.poll_interval_minutes,
            "repeats": -1,
            "next_run": timezone.now() + timedelta(minutes=channel.poll_interval_minutes),
            "intended_date_kwarg": None,
        },
    )


def channel_set_status(*, channel: Channel, status: str) -> None:
    """Only a person pauses (disables) or resumes a channel."""
    Channel.objects.filter(pk=channel.pk).update(
        status=status, status_changed_at=timezone.now(), consecutive_failures=0
    )
    channel.refresh_from_db()
    channel_schedule_sync(channel=channel)


@transaction.atomic
def channel_update_credentials(*, channel: Channel, credentials: Mapping[str, str], webhook_secret: str = "") -> None:
    """Merge new credentials (empty values keep the stored ones) and, when the channel was
    failing, mark it connected again so polling resumes. A paused channel stays paused."""
    locked = Channel.objects.select_for_update().get(pk=channel.pk)
    locked.credentials = {**locked.credentials, **{k: v for k, v in credentials.items() if v}}
    fields = ["credentials", "updated_at"]
    if webhook_secret:
        locked.webhook_secret = webhook_secret
        fields.append("webhook_secret")
    locked.save(update_fields=fields)
    if locked.status in (ChannelStatus.NEEDS_RECONNECT, ChannelStatus.ERROR):
        channel_set_status(channel=locked, status=ChannelStatus.CONNECTED)
    channel.refresh_from_db()


def channel_record_success(*, channel_id: int) -> None:
    now = timezone.now()
    Channel.objects.filter(pk=channel_id).exclude(status=ChannelStatus.DISABLED).update(
        status=ChannelStatus.CONNECTED, last_successful_sync_at=now, consecutive_failures=0
    )


def channel_record_failure(*, channel_id: int, error: ChannelError | Exception) -> None:
    """Auth failures ask for reconnection at once; transient ones degrade the channel after a
    few in a row. Either way staff hear of it once (deduplicated), and nothing is switched off."""
    now = timezone.now()
    message = getattr(error, "message", None) or str(error)
    channel = Channel.objects.get(pk=channel_id)
    link = channel.get_absolute_url()
    if isinstance(error, AuthExpired):
        Channel.objects.filter(pk=channel_id).exclude(status=ChannelStatus.DISABLED).update(
            status=ChannelStatus.NEEDS_RECONNECT,
            status_changed_at=now,
            last_error=message,
            last_error_at=now,
        )
        notification_send(
            title=f"{channel.name} needs reconnecting",
            message=f"The channel refused our credentials: {message}. Update the credentials on the channel page.",
            link=link,
            dedupe_key=f"channel-auth-{channel_id}",
        )
        return
    Channel.objects.filter(pk=channel_id).update(
        consecutive_failures=F("consecutive_failures") + 1, last_error=message, last_error_at=now
    )
    channel.refresh_from_db()
    if channel.consecutive_failures >= FAILURES_BEFORE_ERROR and channel.status == ChannelStatus.CONNECTED:
        Channel.objects.filter(pk=channel_id, status=ChannelStatus.CONNECTED).update(
            status=ChannelStatus.ERROR, status_changed_at=now
        )
    if channel.consecutive_failures >= FAILURES_BEFORE_ERROR:
        notification_send(
            title=f"{channel.name}: sync failing",
            message=f"{channel.consecutive_failures} failures in a row. Last: {message}",
            link=link,
            dedupe_key=f"channel-failing-{channel_id}",
        )


def channel_refresh_credentials(*, channel_id: int, stale_access_token: str) -> bool:
    """Refresh the access token under the channel's row lock. Whoever gets the lock second sees
    a different access token than the one that failed and uses it instead of refreshing
    again: channels whose refresh tokens are single-use would otherwise disconnect us."""
    with transaction.atomic():
        channel = Channel.objects.select_for_update().get(pk=channel_id)
        if channel.credentials.get("access_token") != stale_access_token:
            return True
        refreshed = adapter_for(channel).refresh_credentials()
        if refreshed is None:
            return False
        channel.credentials = refreshed.credentials
        channel.save(update_fields=["credentials", "updated_at"])
        return True


def channel_call(channel: Channel, call: Callable[[ChannelAdapter], T], **adapter_options: Any) -> T:
    """Run `call` with a ready adapter: refresh an expiring token first, and on an auth failure
    refresh once and try again; if that fails too, the channel needs reconnecting.
    `adapter_options` go to the adapter (e.g. an HttpClient with a single attempt)."""
    adapter = adapter_for(channel, **adapter_options)
    if adapter.credentials_expiring(within=TOKEN_REFRESH_MARGIN):
        channel_refresh_credentials(
            channel_id=channel.pk, stale_access_token=channel.credentials.get("access_token", "")
        )
        channel.refresh_from_db(fields=["credentials"])
        adapter = adapter_for(channel, **adapter_options)
    try:
        return call(adapter)
    except AuthExpired:
        if not channel.credentials.get("refresh_token"):
            raise
        try:
            refreshed = channel_refresh_credentials(
                channel_id=channel.pk, stale_access_token=channel.credentials.get("access_token", "")
            )
        except ChannelError as exc:
            raise AuthExpired(f"Token refresh failed: {exc.message}") from exc
        if not refreshed:
            raise
        channel.refresh_from_db(fields=["credentials"])
        return call(adapter_for(channel, **adapter_options))


@dataclass
class WebhookReceipt:
    status_code: int
    event_id: int | None = None
    duplicate: bool = False
    reason: str = ""


def webhook_receive(*, channel: Channel, headers: Mapping[str, str], body: bytes) -> WebhookReceipt:
    """Verify, store, enqueue — and nothing else, so the channel gets its 200 in milliseconds.

    A forged or unsigned delivery stores nothing. A repeat of a stored delivery is acknowledged
    and not processed again. The body is not parsed here: a malformed one is kept for the drain
    to report and for replay after a fix."""
    adapter = adapter_for(channel)
    if not adapter.verify_webhook(headers=headers, body=body):
        return WebhookReceipt(status_code=401, reason="invalid signature")
    delivery_id = adapter.webhook_delivery_id(headers, body)
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(
                channel=channel,
                delivery_id=delivery_id[:255],
                topic=adapter.webhook_topic(headers)[:100],
                headers=_storable_headers(headers),
                body=body,
            )
            webhook_request_drain(channel_id=channel.pk)
    except IntegrityError:
        return WebhookReceipt(status_code=200, duplicate=True, reason="duplicate delivery")
    return WebhookReceipt(status_code=200, event_id=event.pk)


def webhook_request_drain(*, channel_id: int) -> None:
    """Enqueue one drain for a burst of deliveries: only the delivery that flips the flag
    enqueues; the drain clears the flag before it reads the inbox, so nothing is stranded."""
    if Channel.objects.filter(pk=channel_id, inbox_drain_pending=False).update(inbox_drain_pending=True):
        enqueue(DRAIN_TASK, channel_id)


def webhook_replay(*, event: WebhookEvent) -> None:
    """Put a failed or ignored delivery back in the queue (after a fix, say)."""
    WebhookEvent.objects.filter(pk=event.pk).update(status=WebhookEvent.Status.RECEIVED, error="")
    webhook_request_drain(channel_id=event.channel_id)


def _storable_headers(headers: Mapping[str, str]) -> dict[str, str]:
    keep = {}
    for key, value in headers.items():
        lowered = key.lower()
        if lowered.startswith("x-") or lowered in ("content-type", "user-agent"):
            keep[key] = value
    json.dumps(keep)  # headers are always strings; fail here rather than at save
    return keep
