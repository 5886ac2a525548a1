"""Order lines link to catalogue products by SKU; unknown SKUs are flagged once a catalogue exists."""

import pytest

from inventory.models import Product
from orders.selectors import order_detail, orders_with_unknown_skus
from orders.services import orders_upsert
from tests.factories import normalized_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(shopify_channel):
    orders_upsert(channel=shopify_channel, orders=[normalized_order("1", lines=2)], source="poll")
    return shopify_channel.orders.get()


def test_lines_carry_their_product_and_unknown_ones_are_flagged(order, client, staff_user):
    known = Product.objects.create(sku="SKU-0", name="Item 0")
    lines = {line.sku: line.product_id for line in order_detail(order.pk).lines.all()}
    assert lines == {"SKU-0": known.pk, "SKU-1": None}
    assert list(orders_with_unknown_skus()) == [order]

    client.force_login(staff_user)
    page = client.get(order.get_absolute_url()).content.decode()
    assert page.count("Unknown SKU") == 1
    assert 'name="sku" value="SKU-1"' in page
    assert "Unknown SKUs" in client.get("/").content.decode()

    Product.objects.create(sku="SKU-1", name="Item 1")
    assert not orders_with_unknown_skus().exists()
    assert "Unknown SKU" not in client.get(order.get_absolute_url()).content.decode()


def test_without_a_catalogue_nothing_is_flagged(order, client, staff_user):
    client.force_login(staff_user)
    assert "Unknown SKU" not in client.get(order.get_absolute_url()).content.decode()
    assert "Unknown SKUs" not in client.get("/").content.decode()


def test_one_click_creates_the_product_from_the_order_line(order, client, staff_user):
    Product.objects.create(sku="SKU-0", name="Item 0")
    client.force_login(staff_user)
    client.post("/inventory/products/from-order-sku/", {"sku": "SKU-1", "name": "Item 1"})
    assert Product.objects.filter(sku="SKU-1").exists()
    assert not orders_with_unknown_skus().exists()
