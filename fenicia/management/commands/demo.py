"""`python manage.py demo`: the whole product on one machine, for trying it out.

Migrates the database, creates a staff login, connects a Shopify channel to the sandbox
marketplace, then runs three processes until Ctrl-C: the web server (gunicorn), the django-q2
cluster, and the sandbox (which seeds orders and keeps sending new ones as signed webhooks).
"""

import os
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from channels.models import Channel, ChannelStatus, SyncRun
from channels.services import channel_create, channel_schedule_sync

SHOP = "demo-store.myshopify.com"
TOKEN = "shpat_sandbox_demo_token"
WEBHOOK_SECRET = "shpss_sandbox_demo_secret"
CHANNEL_NAME = "Demo store (sandbox Shopify)"
ERP_SOURCE_NAME = "Demo ERP (sandbox stock feed)"


def wait_for_port(port: int, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


class Command(BaseCommand):
    help = "Run Fenicia with a sandbox marketplace and demo data (web server + worker + sandbox)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--sandbox-port", type=int, default=8787)
        parser.add_argument("--orders", type=int, default=40, help="Orders the sandbox starts with")
        parser.add_argument("--interval", type=float, default=5.0, help="Seconds between new sandbox orders")
        parser.add_argument("--password", default="fenicia-demo")

    def handle(self, *args, port, sandbox_port, orders, interval, password, **options):
        for busy in (port, sandbox_port):
            if wait_for_port(busy, seconds=0.1):
                raise CommandError(f"Port {busy} is already in use; pass --port/--sandbox-port")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        user, _ = get_user_model().objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True}
        )
        user.set_password(password)
        user.is_staff = user.is_superuser = True
        user.save()
        channel = self._channel(sandbox_port)
        webhook_url = f"http://127.0.0.1:{port}{channel.webhook_path}"

        python = sys.executable
        manage = str(settings.BASE_DIR / "manage.py")
        env = {**os.environ, "FENICIA_PUBLIC_URL": f"http://127.0.0.1:{port}"}
        processes = {
            "web": subprocess.Popen(
                [
                    python,
                    "-m",
                    "gunicorn",
                    "fenicia.wsgi",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    "2",
                    "--threads",
                    "4",
                    "--access-logfile",
                    "-",
                    "--log-level",
                    "warning",
                ],
                env=env,
                cwd=settings.BASE_DIR,
            ),
            "worker": subprocess.Popen([python, manage, "qcluster"], env=env, cwd=settings.BASE_DIR),
        }
        if not wait_for_port(port):
            self._stop(processes)
            raise CommandError("The web server did not start")
        processes["sandbox"] = subprocess.Popen(
            [
                python,
                manage,
                "sandbox",
                "--port",
                str(sandbox_port),
                "--shop",
                SHOP,
                "--token",
                TOKEN,
                "--webhook-secret",
                WEBHOOK_SECRET,
                "--webhook-url",
                webhook_url,
                "--orders",
                str(orders),
                "--interval",
                str(interval),
                "--seed",
                "7",
            ],
            env=env,
            cwd=settings.BASE_DIR,
        )
        if not wait_for_port(sandbox_port):
            self._stop(processes)
            raise CommandError("The sandbox marketplace did not start")
        # The seeded orders arrive through "Sync orders", later ones through webhooks.
        from orders.sync import sync_run_start

        sync_run_start(channel=channel, kind=SyncRun.Kind.IMPORT)
        self._inventory(sandbox_port)
        self.stdout.write(
            self.style.SUCCESS(
                "\nFenicia is running.\n"
                f"  Open        http://127.0.0.1:{port}/\n"
                f"  Log in as   admin / {password}\n"
                f"  Sandbox     http://127.0.0.1:{sandbox_port}/ (Shopify API, new order every {interval:g}s)\n"
                f"  API schema  http://127.0.0.1:{port}/api/schema/\n"
                "Press Ctrl-C to stop.\n"
            )
        )
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
        try:
            while all(p.poll() is None for p in processes.values()):
                time.sleep(0.5)
            dead = [name for name, p in processes.items() if p.poll() is not None]
            raise CommandError(f"{', '.join(dead)} stopped unexpectedly")
        except KeyboardInterrupt:
            self.stdout.write("Stopping…")
        finally:
            self._stop(processes)

    def _channel(self, sandbox_port: int) -> Channel:
        values = {
            "api_base_url": f"http://127.0.0.1:{sandbox_port}",
            "credentials": {"shop": SHOP, "access_token": TOKEN},
            "webhook_secret": WEBHOOK_SECRET,
        }
        channel = Channel.objects.filter(name=CHANNEL_NAME, kind="shopify").first()
        if channel is None:
            return channel_create(kind="shopify", name=CHANNEL_NAME, poll_interval_minutes=5, **values)
        for key, value in values.items():
            setattr(channel, key, value)
        channel.status = ChannelStatus.CONNECTED
        channel.save()
        channel_schedule_sync(channel=channel)
        return channel

    @staticmethod
    def _inventory(sandbox_port: int) -> None:
        """A catalogue of the sandbox's SKUs and its ERP's stock feed, read every 5 minutes;
        stock changes are pushed to the sandbox shop."""
        from channels.sandbox.data import CATALOGUE
        from inventory.models import Frequency, InventorySource, Product, SourceKind
        from inventory.services import product_create, source_create, source_sync_start

        for sku, title, variant, *_ in CATALOGUE:
            if not Product.objects.filter(sku=sku).exists():
                product_create(sku=sku, name=f"{title} {variant or ''}".strip())
        source = InventorySource.objects.filter(name=ERP_SOURCE_NAME).first()
        url = f"http://127.0.0.1:{sandbox_port}/_sandbox/erp/stock"
        if source is None:
            source = source_create(
                name=ERP_SOURCE_NAME,
                kind=SourceKind.REST_API,
                url=url,
                data_format="json",
                json_list_path="items",
                sku_field="sku",
                quantity_field="qty",
                frequency_minutes=Frequency.EVERY_5_MIN,
            )
        elif source.url != url:
            source.url = url
            source.save(update_fields=["url"])
        source_sync_start(source=source)

    @staticmethod
    def _stop(processes: dict) -> None:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
