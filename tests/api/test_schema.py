"""The OpenAPI schema is valid and generated without warnings (ambiguous enum names included)."""

from django.core.management import call_command


def test_the_schema_is_valid_and_free_of_warnings(tmp_path, db):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    text = target.read_text()
    assert "/api/orders/{order_id}/ship/" in text
    assert "InventorySyncStatusEnum" in text and "ChannelKindEnum" in text
