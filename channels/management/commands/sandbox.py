"""`python manage.py sandbox`: run the sandbox marketplace (a fake Shopify) until Ctrl-C."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from channels.sandbox import SandboxServer
from channels.sandbox.data import CATALOGUE
from channels.sandbox.inventory import sandbox_inventory


class Command(BaseCommand):
    help = (
        "Run the sandbox marketplace: a local Shopify Admin GraphQL API with demo orders, signed "
        "webhooks and fault injection. Runs until Ctrl-C."
    )
    requires_system_checks: list[str] = []  # needs no database

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8787)
        parser.add_argument("--shop", default="demo.myshopify.com")
        parser.add_argument("--token", default="shpat_sandbox", help="Static Admin API access token.")
        parser.add_argument(
            "--webhook-secret",
            default="sandbox-webhook-secret",
            help="Signs webhooks (Fenicia's channel webhook secret must match).",
        )
        parser.add_argument(
            "--webhook-url",
            action="append",
            default=[],
            help="Deliver orders/create and orders/updated here (repeatable), e.g. "
            "http://127.0.0.1:8000/webhooks/shopify/<channel id>/",
        )
        parser.add_argument("--orders", type=int, default=40, help="Orders to start with (spread over a week).")
        parser.add_argument(
            "--interval",
            type=float,
            default=5.0,
            help="Seconds between generated order changes; 0 turns the generator off.",
        )
        parser.add_argument(
            "--update-ratio",
            type=float,
            default=0.3,
            help="Share of generator ticks that update an order instead of creating one.",
        )
        parser.add_argument("--seed", type=int, default=None, help="Make the generated orders repeatable.")
        parser.add_argument("--client-id", default="sandbox-client-id")
        parser.add_argument("--client-secret", default="sandbox-client-secret")
        parser.add_argument(
            "--refresh-token", default="shprt_sandbox", help="Accepted once by /admin/oauth/access_token (it rotates)."
        )
        parser.add_argument("--run-for", type=float, default=0, help="Stop after this many seconds (0: never).")

    def handle(self, *args, **options):
        server = SandboxServer(options["host"], options["port"], options["seed"])
        try:
            server.start()
        except OSError as exc:
            raise CommandError(f"Can't listen on {options['host']}:{options['port']}: {exc}") from exc
        shop = options["shop"]
        state = server.state
        state.auto_webhooks = True  # a live demo shop tells its subscribers about every change
        try:
            state.add_shop(
                shop,
                token=options["token"],
                webhook_secret=options["webhook_secret"],
                client_id=options["client_id"],
                client_secret=options["client_secret"],
                refresh_token=options["refresh_token"],
            )
            # Every catalogue SKU exists as a tracked variant, so stock pushes have a target.
            sandbox_inventory(state).add_variants(shop, [sku for sku, *_ in CATALOGUE])
            if options["orders"] > 0:
                state.create_orders(shop, options["orders"], spread_days=7, notify=False)
            for url in options["webhook_url"]:
                state.subscribe(shop, url, options["webhook_secret"])
            if options["interval"] > 0:
                server.start_generator(
                    shop,
                    options["interval"],
                    update_ratio=options["update_ratio"],
                    on_step=self._report_step if options["verbosity"] >= 1 else None,
                )
            self._describe(server, options)
            self._serve(options["run_for"])
        finally:
            server.stop()
        self.stdout.write(f"Sandbox stopped after {state.request_counts()['total']} API calls.")

    def _serve(self, run_for: float) -> None:
        """Block until Ctrl-C, SIGTERM (how `manage.py demo` stops it) or `run_for` seconds."""
        in_main = threading.current_thread() is threading.main_thread()
        previous = signal.getsignal(signal.SIGTERM) if in_main else None

        def interrupt(signum, frame):
            raise KeyboardInterrupt

        if in_main:
            signal.signal(signal.SIGTERM, interrupt)
        try:
            if run_for:
                threading.Event().wait(run_for)
            else:
                while True:
                    threading.Event().wait(3600)
        except KeyboardInterrupt:
            self.stdout.write("")
        finally:
            if in_main:
                signal.signal(signal.SIGTERM, previous)

    def _report_step(self, action: str, order: dict) -> None:
        status = " · ".join(
            p
            for p in (
                order["financial_status"],
                order["fulfillment_status"] or "unfulfilled",
                "cancelled" if order["cancelled_at"] else "",
            )
            if p
        )
        self.stdout.write(f"{order['updated_at']:%H:%M:%S} {action} {order['name']} ({order['id']}): {status}")

    def _describe(self, server: SandboxServer, options) -> None:
        shop, url = options["shop"], server.url
        write = self.stdout.write
        write(self.style.SUCCESS(f"Sandbox marketplace serving Shopify at {url}"))
        write(f"  shop            {shop} ({options['orders']} orders to start)")
        write(f"  GraphQL         POST {url}/admin/api/2026-10/graphql.json")
        write(f"  access token    {options['token']}  (header X-Shopify-Access-Token)")
        write(
            f"  token refresh   POST {url}/admin/oauth/access_token  client_id={options['client_id']} "
            f"client_secret={options['client_secret']} refresh_token={options['refresh_token']}"
        )
        write(f"  webhook secret  {options['webhook_secret']}")
        for hook in options["webhook_url"]:
            write(f"  webhooks to     {hook}")
        if options["interval"] > 0:
            write(f"  generator       a change every {options['interval']:g}s ({options['update_ratio']:.0%} updates)")
        write(f"  control         {url}/_sandbox/  (faults, orders, webhooks, requests)")
        write(
            f"Point a Shopify channel at it: api_base_url={url}, credentials "
            f'{{"shop": "{shop}", "access_token": "{options["token"]}"}}.'
        )
        if not options["run_for"]:
            write("Ctrl-C to stop.")
