"""Operator's sync: `python manage.py sync_orders --channel ID [--since ISO_DATE] [--order EXTERNAL_ID]`.

Runs in this process (no worker needed) through the same services as the pages and the API,
one step of at most FENICIA_SYNC_BATCH_SIZE orders at a time, with a progress bar.
"""

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime
from tqdm import tqdm

from channels.adapters.base import ChannelError
from channels.models import Channel, SyncRun
from channels.services import channel_call
from orders.models import Order
from orders.services import orders_upsert
from orders.sync import order_sync, sync_run_start, sync_run_step


def parse_since(value: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"--since must be an ISO date or datetime, not {value!r}")
        parsed = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Import or update a channel's orders now (or one order with --order)."

    def add_arguments(self, parser):
        parser.add_argument("--channel", type=int, required=True, help="Channel id")
        parser.add_argument("--since", help="Orders updated since this ISO date/datetime (default: 30 days)")
        parser.add_argument("--order", help="Sync only this order (the channel's order id)")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for logs)")

    def handle(self, *args, channel, since, order, no_progress, **options):
        try:
            channel_obj = Channel.objects.get(pk=channel)
        except Channel.DoesNotExist:
            raise CommandError(f"No channel with id {channel}") from None
        if order:
            return self._one(channel_obj, order)
        run = sync_run_start(
            channel=channel_obj,
            kind=SyncRun.Kind.IMPORT,
            since=parse_since(since) if since else None,
            enqueue_first=False,
        )
        with tqdm(total=None, unit="order", disable=no_progress, desc=channel_obj.name) as bar:
            done = False
            while not done:
                done = sync_run_step(run_id=run.pk, enqueue_next=False)
                run.refresh_from_db()
                bar.total = run.total
                bar.n = run.processed
                bar.refresh()
                if run.status == SyncRun.Status.FAILED:
                    raise CommandError(f"Run {run.pk} failed: {run.error}")
                if not done and run.status == SyncRun.Status.RUNNING and run.step_retries:
                    raise CommandError(f"Run {run.pk} hit a transient error and will retry in the worker: {run.error}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Run {run.pk}: {run.processed} orders read, {run.created_count} new, {run.updated_count} updated, "
                f"{run.stale_count} older updates ignored, in {run.steps} steps."
            )
        )

    def _one(self, channel: Channel, external_id: str) -> None:
        held = Order.objects.filter(channel=channel, external_id=external_id).first()
        if held is not None:
            outcome = order_sync(order_id=held.pk, source="manual")
            if outcome == "failed":
                raise CommandError(f"Order {external_id}: sync failed, see its timeline")
            self.stdout.write(f"Order {external_id}: {outcome}")
            return
        try:
            normalized = channel_call(channel, lambda a: a.fetch_order(external_id))
        except ChannelError as exc:
            raise CommandError(f"Order {external_id}: {exc.message}") from exc
        orders_upsert(channel=channel, orders=[normalized], source="manual")
        self.stdout.write(self.style.SUCCESS(f"Order {external_id}: imported"))
