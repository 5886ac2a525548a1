"""Channel pages: list, detail (Sync orders, run history, webhook inbox), add, reconnect, pause."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fenicia.crypto import mask
from orders.sync import sync_run_start

from . import selectors
from .forms import ChannelCreateForm, ChannelCredentialsForm, SyncOrdersForm
from .models import Channel, ChannelStatus, SyncRun, WebhookEvent
from .services import channel_create as channel_create_service
from .services import channel_set_status, channel_update_credentials, webhook_replay

REPLAYABLE = (WebhookEvent.Status.FAILED, WebhookEvent.Status.IGNORED)


@login_required
@require_GET
def channel_list(request: HttpRequest) -> HttpResponse:
    channels = [(channel, selectors.channel_capabilities(channel)) for channel in selectors.channel_list()]
    return render(request, "channels/channel_list.html", {"channels": channels})


@login_required
@require_GET
def channel_detail(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = selectors.get_channel_for_user(request.user, channel_id)
    return render(
        request,
        "channels/channel_detail.html",
        {
            **_channel_context(channel),
            "run": selectors.channel_active_run(channel),
            "runs": selectors.channel_runs(channel),
            "webhook_events": selectors.channel_webhook_events(channel),
            "sync_form": SyncOrdersForm(),
        },
    )


def _channel_context(channel: Channel) -> dict:
    """The channel's state as the page shows it: connection card and channel-level timeline."""
    events = list(selectors.channel_timeline(channel))
    for event in events:
        event.details_json = json.dumps(event.details, indent=2, sort_keys=True, default=str) if event.details else ""
    return {
        "channel": channel,
        "capabilities": selectors.channel_capabilities(channel),
        "events": events,
        # Secrets are write-only: the page shows a masked hint, never the value.
        "shop": channel.credentials.get("shop", ""),
        "token_hint": mask(channel.credentials.get("access_token")),
        "has_webhook_secret": bool(channel.webhook_secret),
    }


@login_required
@require_http_methods(["GET", "POST"])
def channel_create(request: HttpRequest) -> HttpResponse:
    form = ChannelCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        channel = channel_create_service(
            kind=data["kind"],
            name=data["name"],
            credentials=form.credentials(),
            webhook_secret=data["webhook_secret"],
            api_base_url=data["api_base_url"],
            poll_interval_minutes=data["poll_interval_minutes"],
        )
        messages.success(
            request,
            f"{channel.name} added. Register the webhook URL below at the channel, "
            "then run “Sync orders” to import recent orders.",
        )
        return redirect(channel)
    return render(request, "channels/channel_form.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def channel_reconnect(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = selectors.get_channel_for_user(request.user, channel_id)
    form = ChannelCredentialsForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        channel_update_credentials(
            channel=channel,
            credentials={"shop": data["shop"], "access_token": data["access_token"]},
            webhook_secret=data["webhook_secret"],
        )
        messages.success(request, f"Credentials of {channel.name} updated.")
        return redirect(channel)
    return render(request, "channels/channel_reconnect.html", {"channel": channel, "form": form})


@login_required
@require_POST
def channel_sync(request: HttpRequest, channel_id: int) -> HttpResponse:
    """ "Sync orders": an import run over a window; htmx gets the run's live progress."""
    channel = selectors.get_channel_for_user(request.user, channel_id)
    form = SyncOrdersForm(request.POST)
    error = ""
    if channel.status == ChannelStatus.DISABLED:
        error = "The channel is paused. Resume it before syncing."
    elif not form.is_valid():
        error = " ".join(form.errors.get("since", ["Invalid date."]))
    if error:
        if request.htmx:
            return render(
                request, "channels/channel_detail.html#active-run", {"channel": channel, "run": None, "error": error}
            )
        messages.error(request, error)
        return redirect(channel)
    run = sync_run_start(channel=channel, kind=SyncRun.Kind.IMPORT, since=form.since_datetime(), user=request.user)
    if request.htmx:
        return _run_response(request, channel, selectors.channel_run(channel, run.pk))
    messages.success(request, "Sync started. The run's progress is shown below.")
    return redirect(channel)


@login_required
@require_GET
def channel_run(request: HttpRequest, channel_id: int, run_id: int) -> HttpResponse:
    """The active-run partial; it polls itself every 2 s until the run has finished."""
    channel = selectors.get_channel_for_user(request.user, channel_id)
    return _run_response(request, channel, selectors.channel_run(channel, run_id))


def _run_response(request: HttpRequest, channel: Channel, run: SyncRun) -> HttpResponse:
    """The run panel, plus out-of-band swaps: the history table always, and once the run has
    finished the channel's status, connection card and timeline, which the run has changed."""
    context = {"channel": channel, "run": run, "runs": selectors.channel_runs(channel), "oob": True}
    if not run.is_active:
        channel.refresh_from_db()
        context.update(_channel_context(channel))
    return render(request, "channels/channel_detail.html#run-update", context)


@login_required
@require_POST
def channel_pause(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = selectors.get_channel_for_user(request.user, channel_id)
    channel_set_status(channel=channel, status=ChannelStatus.DISABLED)
    messages.success(request, f"{channel.name} paused: no polling until it is resumed. Webhooks are still stored.")
    return redirect(channel)


@login_required
@require_POST
def channel_resume(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = selectors.get_channel_for_user(request.user, channel_id)
    channel_set_status(channel=channel, status=ChannelStatus.CONNECTED)
    messages.success(request, f"{channel.name} resumed.")
    return redirect(channel)


@login_required
@require_POST
def channel_webhook_replay(request: HttpRequest, channel_id: int, event_id: int) -> HttpResponse:
    channel = selectors.get_channel_for_user(request.user, channel_id)
    event = selectors.channel_webhook_event(channel, event_id)
    if event.status not in REPLAYABLE:
        messages.error(request, "Only failed or ignored deliveries can be replayed.")
    else:
        webhook_replay(event=event)
        messages.success(request, f"Delivery {event.delivery_id} queued again.")
    return redirect(channel)
