"""`manage.py sandbox` serves, seeds and stops."""

from io import StringIO

from django.core.management import call_command


def test_the_sandbox_command_serves_a_demo_shop_and_stops():
    out = StringIO()
    call_command("sandbox", port=0, orders=3, interval=0.01, run_for=0.2, seed=1, token="shpat_cmd", stdout=out)
    text = out.getvalue()
    assert "Sandbox marketplace serving Shopify at http://127.0.0.1:" in text
    assert "shpat_cmd" in text and "/admin/api/2026-10/graphql.json" in text
    assert " created #" in text  # the generator's activity
    assert "Sandbox stopped" in text
