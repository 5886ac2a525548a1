"""`python manage.py sync_inventory [--source ID]`: sync pull sources now, in this process,
with a progress bar per source. The runs are the same rows "Sync now" creates (trigger
"command"), so they show in the history, and failures follow the same retry policy."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from inventory import services
from inventory.models import InventorySource, RunStatus, RunTrigger, SourceKind


class Command(BaseCommand):
    help = "Sync inventory sources now (all pull sources, or one with --source) with a progress bar."

    def add_arguments(self, parser):
        parser.add_argument("--source", type=int, help="Only this source id")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (logs, cron)")

    def handle(self, *args, source=None, no_progress=False, **options):
        sources = InventorySource.objects.order_by("name", "id")
        if source is not None:
            sources = sources.filter(pk=source)
            if not sources.exists():
                raise CommandError(f"No inventory source {source}")
            if sources.first().kind == SourceKind.WEBHOOK:
                raise CommandError("That source pushes its stock to Fenicia: there is nothing to pull")
        else:
            sources = sources.exclude(kind=SourceKind.WEBHOOK)
        failures = 0
        for item in sources:
            run = services.source_sync_start(source=item, trigger=RunTrigger.COMMAND, enqueue_task=False)
            bar = tqdm(
                desc=item.name[:30], unit=" rows", disable=no_progress, file=self.stderr, dynamic_ncols=True, leave=True
            )
            try:
                done = services.run_execute(
                    run_id=run.pk, progress=bar.update, on_total=lambda total, bar=bar: setattr(bar, "total", total)
                )
            finally:
                bar.close()
            if done is None:
                self.stdout.write(f"{item.name}: run #{run.pk} is already being carried out by a worker")
                continue
            done.refresh_from_db()
            if done.status == RunStatus.COMPLETED:
                summary = done.message or (
                    f"{done.records_processed} records, {done.products_updated} products updated, "
                    f"{done.unmapped_count} unmapped, {done.invalid_count} invalid"
                )
                self.stdout.write(self.style.SUCCESS(f"{item.name}: {summary}"))
            else:
                failures += 1
                self.stdout.write(self.style.ERROR(f"{item.name}: failed: {done.error}"))
        if failures:
            raise CommandError(f"{failures} source(s) failed")
