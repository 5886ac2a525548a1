"""PostgreSQL only: leave 20% of each page of products and stock levels free, so the columns a
sync rewrites (quantity, available, their timestamps — none indexed) are updated in place
(HOT updates) instead of touching every index of the table for every changed row."""

from django.db import migrations

TABLES = ("inventory_product", "inventory_stocklevel")


def set_fillfactor(apps, schema_editor, value=80):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(table)} SET (fillfactor = {int(value)})")


def reset_fillfactor(apps, schema_editor):
    set_fillfactor(apps, schema_editor, value=100)


class Migration(migrations.Migration):
    dependencies = [("inventory", "0002_push_sweep_schedule")]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor)]
