"""The periodic safety net of stock pushes: every 15 minutes, enqueue a push batch for any
channel with products still waiting in the outbox (a lost task, a reconnected channel)."""

from datetime import timedelta

from django.db import migrations
from django.utils import timezone

NAME = "inventory-push-sweep"


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=NAME,
        defaults={
            "func": "inventory.tasks.push_sweep",
            "schedule_type": "I",  # Schedule.MINUTES
            "minutes": 15,
            "repeats": -1,
            "next_run": timezone.now() + timedelta(minutes=15),
        },
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create, remove)]
