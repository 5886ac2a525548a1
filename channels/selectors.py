"""Reads for channels: what the channel pages and the dashboard show. Nothing here writes."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet
from django.http import Http404

from .adapters import ADAPTERS
from .adapters.base import Capability
from .models import Channel, SyncRun, WebhookEvent

CAPABILITY_LABELS = {
    Capability.WEBHOOKS: "Webhooks",
    Capability.POLLING: "Polling",
    Capability.FETCH_ONE: "Fetch one order",
    Capability.SHIP: "Mark shipped",
    Capability.ADD_TRACKING: "Add tracking",
    Capability.CANCEL: "Cancel",
    Capability.PUSH_STOCK: "Push stock",
    Capability.LABELS: "Shipping labels",
}


@dataclass(frozen=True)
class CapabilityRow:
    code: str
    label: str
    supported: bool


def get_channel_for_user(user: AbstractBaseUser | AnonymousUser, channel_id: int) -> Channel:
    """The one way views fetch a channel. Fenicia is single-merchant: every active signed-in
    user sees every channel. Raises Http404 when the channel doesn't exist or the user may not
    see it."""
    if not user.is_authenticated or not user.is_active:
        raise Http404("No such channel")
    try:
        return Channel.objects.get(pk=channel_id)
    except Channel.DoesNotExist:
        raise Http404("No such channel") from None


def channel_list() -> QuerySet[Channel]:
    return Channel.objects.order_by("name", "id")


def channel_capabilities(channel: Channel) -> list[CapabilityRow]:
    """Every capability Fenicia knows, marked supported or not for the channel's adapter (an
    unknown kind supports nothing)."""
    adapter_class = ADAPTERS.get(channel.kind)
    supported = getattr(adapter_class, "capabilities", frozenset())
    return [
        CapabilityRow(code=str(cap), label=CAPABILITY_LABELS.get(cap, str(cap)), supported=cap in supported)
        for cap in Capability
    ]


def channel_runs(channel: Channel, *, limit: int = 20) -> QuerySet[SyncRun]:
    return channel.sync_runs.select_related("requested_by").order_by("-created_at", "-id")[:limit]


def channel_active_run(channel: Channel) -> SyncRun | None:
    """The newest queued or running run that a person started (imports, re-syncs), else the
    newest active poll."""
    active = channel.sync_runs.filter(status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING])
    return (
        active.exclude(kind=SyncRun.Kind.POLL).order_by("-created_at", "-id").first()
        or active.order_by("-created_at", "-id").first()
    )


def channel_run(channel: Channel, run_id: int) -> SyncRun:
    try:
        return channel.sync_runs.select_related("requested_by").get(pk=run_id)
    except SyncRun.DoesNotExist:
        raise Http404("No such run") from None


def channel_webhook_events(channel: Channel, *, limit: int = 20) -> QuerySet[WebhookEvent]:
    # The body can be large and the list never shows it.
    return channel.webhook_events.defer("body", "headers").order_by("-id")[:limit]


def channel_webhook_event(channel: Channel, event_id: int) -> WebhookEvent:
    try:
        return channel.webhook_events.defer("body").get(pk=event_id)
    except WebhookEvent.DoesNotExist:
        raise Http404("No such webhook delivery") from None


def channel_timeline(channel: Channel, *, limit: int = 20) -> QuerySet:
    """Channel-level timeline entries (polls, runs, auth and webhook failures), newest first.
    Read through the reverse relation so this app still doesn't import orders."""
    return channel.events.filter(order__isnull=True).order_by("-created_at", "-id")[:limit]


def runs_by_ids(run_ids: list[int]) -> list[SyncRun]:
    return list(SyncRun.objects.filter(pk__in=run_ids).select_related("channel").order_by("channel__name", "id"))
