"""The order pages' actions: ship (partial, with a label), add tracking, cancel, shipment sync,
the list's shipment filters and bulk actions, and the dashboard's "requires shipment
synchronization". The channel is replaced at the adapter's push methods, as in test_actions."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from channels.adapters.base import Capability, PushResult, TransientError
from channels.adapters.shopify import ShopifyAdapter
from orders.actions import ShipLine, operation_push, order_ship
from orders.models import Order, OutboundOperation, PushAttempt, Shipment
from orders.services import orders_upsert
from tests.factories import normalized_order

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF"


@pytest.fixture
def client_in(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def make(channel, external_id="501", *, lines=2, **overrides) -> Order:
    orders_upsert(channel=channel, orders=[normalized_order(external_id, lines=lines, **overrides)], source="webhook")
    return channel.orders.get(external_id=external_id)


@pytest.fixture
def order(shopify_channel):
    return make(shopify_channel)


def lines_of(order):
    return list(order.lines.order_by("position"))


def ship_data(order, carrier="UPS", tracking_number="1Z999", **extra):
    """The ship form as the page renders it: every line at its remaining quantity."""
    data = {"carrier": carrier, "tracking_number": tracking_number, "tracking_url": ""}
    for line in lines_of(order):
        data[f"qty_{line.pk}"] = str(line.quantity)
    data.update(extra)
    return data


def body_of(response) -> str:
    return response.content.decode()


def section(body: str, element_id: str) -> str:
    """The HTML of the element with this id, up to the next card-level section."""
    start = body.index(f'id="{element_id}"')
    end = body.find("<section", start + 1)
    return body[start : end if end != -1 else None]


# -- access ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "method,name,args",
    [
        ("post", "orders:ship", [1]),
        ("post", "orders:cancel", [1]),
        ("get", "orders:shipments", [1]),
        ("post", "orders:shipments-sync", [1]),
        ("post", "orders:shipment-tracking", [1, 1]),
        ("post", "orders:shipment-sync", [1, 1]),
        ("get", "orders:shipment-label", [1, 1]),
        ("post", "orders:bulk-ship", []),
        ("post", "orders:bulk-sync-shipments", []),
        ("post", "orders:sync-pending-shipments", []),
    ],
)
def test_every_action_requires_login(client, method, name, args):
    url = reverse(name, args=args)
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize("name", ["orders:ship", "orders:cancel", "orders:shipments-sync"])
def test_actions_are_post_only_and_csrf_protected(client_in, staff_user, order, name):
    url = reverse(name, args=[order.pk])
    assert client_in.get(url).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff_user)
    assert strict.post(url, ship_data(order) | {"reason": "customer"}).status_code == 403
    order.refresh_from_db()
    assert order.status == "accepted" and not Shipment.objects.exists()


def test_a_shipment_of_another_order_is_not_found(client_in, shopify_channel, channel_pushes):
    channel_pushes(PushResult(external_id="9001"))
    first = make(shopify_channel, "601")
    other = make(shopify_channel, "602")
    shipment = order_ship(order=first, carrier="UPS")
    for name in ("orders:shipment-sync", "orders:shipment-tracking"):
        assert client_in.post(reverse(name, args=[other.pk, shipment.pk])).status_code == 404
    assert client_in.get(reverse("orders:shipment-label", args=[other.pk, shipment.pk])).status_code == 404


# -- the Actions card -----------------------------------------------------------------------------
def test_detail_offers_ship_with_remaining_quantities_and_cancel_with_reasons(client_in, order, channel_pushes):
    body = body_of(client_in.get(order.get_absolute_url()))
    actions = section(body, "order-actions")
    first, second = lines_of(order)
    assert "Mark as shipped" in actions and 'enctype="multipart/form-data"' in actions
    assert f'name="qty_{first.pk}" value="1"' in actions and f'name="qty_{second.pk}" value="2"' in actions
    assert (
        'list="carriers"' in actions and '<datalist id="carriers">' in body and '<option value="DHL Express">' in body
    )
    assert 'name="tracking_url"' in actions and 'name="notify_customer"' in actions and 'type="file"' in actions
    for reason in ("customer", "inventory", "fraud", "declined", "staff", "other"):
        assert f'<option value="{reason}"' in actions
    assert 'name="restock" id="id_restock" checked' in actions and 'name="staff_note"' in actions
    assert "hx-confirm=" in actions  # cancelling asks first
    assert "disabled>" not in actions


def test_a_channel_without_the_capabilities_disables_the_actions_and_says_why(
    client_in, order, monkeypatch, channel_pushes
):
    monkeypatch.setattr(ShopifyAdapter, "capabilities", frozenset({Capability.WEBHOOKS}))
    actions = section(body_of(client_in.get(order.get_absolute_url())), "order-actions")
    assert "Shopify does not support marking orders shipped through its API." in actions
    assert "Shopify does not support cancelling orders through its API." in actions
    assert actions.count("disabled>") == 2 and 'name="carrier"' not in actions

    response = client_in.post(reverse("orders:ship", args=[order.pk]), ship_data(order))
    assert response.status_code == 409
    assert "Shopify does not support marking orders shipped" in section(body_of(response), "order-actions")
    assert not Shipment.objects.exists()


# -- Mark as shipped ------------------------------------------------------------------------------
def test_ship_without_js_creates_a_shipment_the_channel_accepts(client_in, order, channel_pushes, run_tasks):
    channel = channel_pushes(PushResult(external_id="9001"))
    with run_tasks():
        response = client_in.post(
            reverse("orders:ship", args=[order.pk]),
            ship_data(order, tracking_url="https://www.ups.com/track?tracknum=1Z999", notify_customer="on"),
        )
    assert response.status_code == 302 and response["Location"] == order.get_absolute_url()
    shipment = Shipment.objects.get()
    assert (shipment.source, shipment.push_state, shipment.external_id) == ("fenicia", "accepted", "9001")
    assert (shipment.carrier, shipment.tracking_number, shipment.notify_customer) == ("UPS", "1Z999", True)
    (push,) = channel.calls
    assert [(line.line_external_id, line.quantity) for line in push.lines] == [("501-0", 1), ("501-1", 2)]

    body = body_of(client_in.get(response["Location"]))
    assert "Marked 3 units shipped with UPS (1Z999)" in body  # the flash message
    shipments = section(body, "order-shipments")
    assert '<span class="pill pill-push-accepted" data-push-badge>Prepared</span>' in shipments
    assert 'href="https://www.ups.com/track?tracknum=1Z999"' in shipments
    assert "1 × <code>SKU-0</code>" in shipments and "2 × <code>SKU-1</code>" in shipments
    assert "hx-trigger" not in shipments  # nothing pending: no polling
    assert "Sync shipment" not in shipments
    assert "Push attempts (1)" in shipments and "Accepted" in shipments
    assert "Shipment accepted by Shopify, fulfilment 9001" in section(body, "timeline")
    state = section(body, "order-state")
    assert 'class="pill pill-shipped"' in state and 'class="pill pill-fulfilled"' in state
    actions = section(body, "order-actions")
    assert "Every line has already been shipped." in actions
    assert "The order has shipped (in full or in part); it can no longer be cancelled." in actions


def test_ship_with_htmx_shows_fulfillment_pending_and_polls_until_prepared(client_in, order, channel_pushes):
    channel_pushes(PushResult(external_id="9001"))
    response = client_in.post(reverse("orders:ship", args=[order.pk]), ship_data(order), **HTMX)
    body = body_of(response)
    assert response.status_code == 200 and "<html" not in body
    for element in ("order-actions", "order-state", "order-shipments", "timeline"):
        assert re.search(rf'id="{element}"[^>]*hx-swap-oob="true"', body), element
    assert "Marked 3 units shipped with UPS (1Z999). Pushing the shipment to Shopify…" in body
    shipments = section(body, "order-shipments")
    assert "Fulfillment pending" in shipments and "pill-push-pending" in shipments
    poll = reverse("orders:shipments", args=[order.pk])
    assert f'hx-get="{poll}" hx-trigger="every 2s" hx-swap="none"' in shipments
    assert "Waiting for Shopify…" in shipments and "Sync shipment" in shipments

    # No worker yet (this test's transaction never commits): the poll keeps polling.
    still = body_of(client_in.get(poll, **HTMX))
    assert "Fulfillment pending" in still and 'hx-trigger="every 2s"' in still
    assert 'id="timeline"' not in still  # the rest of the page waits for the outcome

    operation_push(operation_id=OutboundOperation.objects.get().pk)  # the worker
    done = body_of(client_in.get(poll, **HTMX))
    assert "Prepared" in done and "Fulfillment pending" not in done and "hx-trigger" not in done
    assert re.search(r'id="timeline"[^>]*hx-swap-oob="true"', done)
    assert "Shipment accepted by Shopify" in done
    assert re.search(r'id="order-state" hx-swap-oob="true"', done) and "pill-fulfilled" in done


def test_partial_shipments_ship_the_chosen_quantities(client_in, order, channel_pushes):
    channel_pushes(PushResult(external_id="9001"))
    first, second = lines_of(order)
    url = reverse("orders:ship", args=[order.pk])
    response = client_in.post(url, ship_data(order) | {f"qty_{first.pk}": "0", f"qty_{second.pk}": "1"})
    assert response.status_code == 302
    shipment = Shipment.objects.get()
    assert list(shipment.lines.values_list("order_line_id", "quantity")) == [(second.pk, 1)]
    order.refresh_from_db()
    assert (order.status, order.fulfillment_status) == ("accepted", "partially_fulfilled")

    # The form now offers what is left: one of each.
    actions = section(body_of(client_in.get(order.get_absolute_url())), "order-actions")
    assert f'name="qty_{first.pk}" value="1"' in actions and f'name="qty_{second.pk}" value="1"' in actions
    assert "Mark as shipped" in actions and "pill-partially_fulfilled" in body_of(
        client_in.get(order.get_absolute_url())
    )

    response = client_in.post(url, ship_data(order) | {f"qty_{first.pk}": "1", f"qty_{second.pk}": "1"})
    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.fulfillment_status) == ("shipped", "fulfilled")
    assert Shipment.objects.count() == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"carrier": ""}, "Say which carrier carries the shipment."),
        ({"qty_first": "5"}, "Only 1 left to ship."),
        ({"qty_first": "-1"}, "Can&#x27;t be negative."),
        ({"qty_first": "0", "qty_second": "0"}, "A shipment must contain at least one line."),
        ({"tracking_url": "not a url"}, "Enter a valid URL."),
    ],
)
def test_invalid_shipments_are_refused_next_to_the_form(client_in, order, channel_pushes, change, message):
    channel_pushes(PushResult(external_id="9001"))
    first, second = lines_of(order)
    names = {"qty_first": f"qty_{first.pk}", "qty_second": f"qty_{second.pk}"}
    data = ship_data(order) | {names.get(k, k): v for k, v in change.items()}
    response = client_in.post(reverse("orders:ship", args=[order.pk]), data)
    assert response.status_code == 400
    actions = section(body_of(response), "order-actions")
    assert message in actions
    assert 'value="1Z999"' in actions  # what was typed is kept
    htmx = body_of(client_in.post(reverse("orders:ship", args=[order.pk]), data, **HTMX))
    assert message in section(htmx, "order-actions")
    assert not Shipment.objects.exists() and not OutboundOperation.objects.exists()


def test_a_line_shipped_meanwhile_is_refused_with_the_remaining_quantity(client_in, order, channel_pushes):
    channel_pushes(PushResult(external_id="9001"))
    data = ship_data(order)  # the page as it was rendered
    first, _ = lines_of(order)
    order_ship(order=order, carrier="DHL", lines=[ShipLine(first.pk, 1)])  # someone else, meanwhile
    response = client_in.post(reverse("orders:ship", args=[order.pk]), data)
    assert response.status_code == 400
    assert "Nothing is left to ship of SKU-0: it has shipped meanwhile." in section(body_of(response), "order-actions")
    assert Shipment.objects.count() == 1


# -- labels ---------------------------------------------------------------------------------------
def test_a_pdf_label_is_uploaded_and_downloaded_by_signed_in_staff_only(client_in, order, channel_pushes, media):
    channel_pushes(PushResult(external_id="9001"))
    label = SimpleUploadedFile("ups-label.pdf", PDF, content_type="application/pdf")
    response = client_in.post(reverse("orders:ship", args=[order.pk]), ship_data(order, label=label))
    assert response.status_code == 302
    shipment = Shipment.objects.get()
    url = reverse("orders:shipment-label", args=[order.pk, shipment.pk])
    body = body_of(client_in.get(order.get_absolute_url()))
    assert f'href="{url}"' in section(body, "order-shipments")
    assert "Shipping label ups-label.pdf attached" in section(body, "timeline")
    assert "/media/" not in body  # never a public media URL

    download = client_in.get(url)
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PDF
    assert download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"].startswith("attachment;")

    anonymous = Client()
    assert anonymous.get(url).status_code == 302


def test_an_html_label_is_converted_and_other_files_refused(client_in, order, channel_pushes, media):
    channel_pushes(PushResult(external_id="9001"))
    gif = SimpleUploadedFile("label.gif", b"GIF89a....", content_type="image/gif")
    response = client_in.post(reverse("orders:ship", args=[order.pk]), ship_data(order, label=gif))
    assert response.status_code == 400
    assert "A label must be a PDF or an HTML document." in section(body_of(response), "order-actions")
    assert not Shipment.objects.exists()

    html = SimpleUploadedFile("label.html", b"<html><body><h1>UPS</h1><p>1Z999</p></body></html>", "text/html")
    client_in.post(reverse("orders:ship", args=[order.pk]), ship_data(order, label=html))
    shipment = Shipment.objects.get()
    download = client_in.get(reverse("orders:shipment-label", args=[order.pk, shipment.pk]))
    assert b"".join(download.streaming_content).startswith(b"%PDF-")


def test_a_shipment_without_a_label_has_no_download(client_in, order, channel_pushes):
    channel_pushes(PushResult(external_id="9001"))
    shipment = order_ship(order=order, carrier="UPS")
    assert client_in.get(reverse("orders:shipment-label", args=[order.pk, shipment.pk])).status_code == 404


# -- tracking -------------------------------------------------------------------------------------
def test_add_tracking_to_an_accepted_shipment_pushes_it(client_in, order, channel_pushes, run_tasks):
    channel_pushes(PushResult(external_id="9001"))
    tracking = channel_pushes(PushResult(external_id="9001"), method="push_tracking")
    with run_tasks():
        shipment = order_ship(order=order, carrier="UPS")
    url = reverse("orders:shipment-tracking", args=[order.pk, shipment.pk])
    prefix = f"s{shipment.pk}-"
    with run_tasks():
        response = client_in.post(url, {prefix + "carrier": "UPS", prefix + "tracking_number": "1Z777"}, **HTMX)
    shipments = section(body_of(response), "order-shipments")
    assert "Tracking 1Z777 added to the UPS shipment; pushing it to the channel." in shipments
    assert "<code>1Z777</code>" in shipments and "Fulfillment pending" in shipments
    shipments = section(body_of(client_in.get(order.get_absolute_url())), "order-shipments")
    assert "<code>1Z777</code>" in shipments and "data-push-badge>Prepared</span>" in shipments
    assert "Push attempts (2)" in shipments
    (push,) = tracking.calls
    assert (push.shipment_external_id, push.tracking_number) == ("9001", "1Z777")
    assert OutboundOperation.objects.filter(kind="tracking", state="succeeded").exists()


def test_add_tracking_without_a_number_is_refused_next_to_its_form(client_in, order, channel_pushes):
    channel_pushes(PushResult(external_id="9001"))
    shipment = order_ship(order=order, carrier="UPS")
    url = reverse("orders:shipment-tracking", args=[order.pk, shipment.pk])
    response = client_in.post(url, {f"s{shipment.pk}-carrier": "UPS", f"s{shipment.pk}-tracking_number": ""})
    assert response.status_code == 400
    shipments = section(body_of(response), "order-shipments")
    assert "A tracking number is required." in shipments
    assert '<details class="tracking" open>' in shipments


def test_tracking_on_a_pending_shipment_travels_with_it(client_in, order, channel_pushes):
    channel_pushes(PushResult(external_id="9001"))
    shipment = order_ship(order=order, carrier="UPS", tracking_number="")
    url = reverse("orders:shipment-tracking", args=[order.pk, shipment.pk])
    response = client_in.post(url, {f"s{shipment.pk}-carrier": "UPS", f"s{shipment.pk}-tracking_number": "1Z5"})
    assert response.status_code == 302
    assert "it goes with the shipment&#x27;s pending push" in body_of(client_in.get(response["Location"]))
    assert OutboundOperation.objects.count() == 1


# -- cancel ---------------------------------------------------------------------------------------
def test_cancel_changes_the_order_and_pushes(client_in, order, channel_pushes, run_tasks):
    channel = channel_pushes(PushResult(), method="cancel_order")
    data = {"reason": "customer", "notify_customer": "on", "restock": "on", "staff_note": "Asked by phone"}
    with run_tasks():
        response = client_in.post(reverse("orders:cancel", args=[order.pk]), data)
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == "cancelled"
    (push,) = channel.calls
    assert (push.reason, push.notify_customer, push.restock, push.staff_note) == (
        "customer",
        True,
        True,
        "Asked by phone",
    )
    body = body_of(client_in.get(order.get_absolute_url()))
    assert "Order cancelled. Pushing the cancellation to Shopify…" in body
    actions = section(body, "order-actions")
    assert "The order is already cancelled." in actions and "The order is cancelled." in actions
    shipments = section(body, "order-shipments")
    assert "Cancel:" in shipments and "pill-op-succeeded" in shipments  # the cancellation's push attempts


def test_cancel_after_ship_is_refused_with_the_reason(client_in, order, channel_pushes):
    channel_pushes(PushResult(external_id="9001"))
    order_ship(order=order, carrier="UPS")
    refusal = "The order has shipped (in full or in part); it can no longer be cancelled."
    actions = section(body_of(client_in.get(order.get_absolute_url())), "order-actions")
    assert refusal in actions and "Cancel order</button>" in actions and 'name="reason"' not in actions

    url = reverse("orders:cancel", args=[order.pk])
    response = client_in.post(url, {"reason": "customer", "restock": "on"})  # from a page opened earlier
    assert response.status_code == 409
    assert 'class="flash flash-error card-flash" role="alert">' + refusal in body_of(response)
    htmx = client_in.post(url, {"reason": "customer"}, **HTMX)
    assert htmx.status_code == 200 and refusal in section(body_of(htmx), "order-actions")
    order.refresh_from_db()
    assert order.status != "cancelled"


def test_shipping_an_order_with_nothing_left_says_why(client_in, order, channel_pushes):
    channel_pushes(PushResult(external_id="9001"))
    data = ship_data(order)
    order_ship(order=order, carrier="UPS")
    response = client_in.post(reverse("orders:ship", args=[order.pk]), data)
    assert response.status_code == 409
    assert 'role="alert">Every line has already been shipped.' in section(body_of(response), "order-actions")
    assert Shipment.objects.count() == 1


def test_tracking_refused_by_the_capability_is_shown_on_the_shipments_card(
    client_in, order, channel_pushes, monkeypatch
):
    channel_pushes(PushResult(external_id="9001"))
    shipment = order_ship(order=order, carrier="UPS")
    monkeypatch.setattr(ShopifyAdapter, "capabilities", frozenset({Capability.SHIP}))
    shipments = section(body_of(client_in.get(order.get_absolute_url())), "order-shipments")
    reason = "Shopify does not support adding tracking to a shipment through its API."
    assert reason in shipments and "tracking-form" not in shipments
    url = reverse("orders:shipment-tracking", args=[order.pk, shipment.pk])
    response = client_in.post(url, {f"s{shipment.pk}-tracking_number": "1Z5"}, **HTMX)
    assert f'role="alert">{reason}' in section(body_of(response), "order-shipments")


def test_cancel_needs_a_known_reason(client_in, order, channel_pushes):
    response = client_in.post(reverse("orders:cancel", args=[order.pk]), {"reason": "bored"})
    assert response.status_code == 400
    assert "Select a valid choice." in section(body_of(response), "order-actions")
    assert '<details class="action" id="action-cancel" open>' in body_of(response)


# -- failed pushes and shipment sync --------------------------------------------------------------
def test_a_failed_push_shows_the_banner_every_attempt_and_sync_shipment_fixes_it(
    client_in, order, channel_pushes, run_tasks
):
    channel_pushes(TransientError("HTTP 503 from POST /admin/api/2026-10/graphql.json", status=503))
    with run_tasks():
        shipment = order_ship(order=order, carrier="UPS", tracking_number="1Z999")
    body = body_of(client_in.get(order.get_absolute_url()))
    state = section(body, "order-state")
    assert "Requires shipment synchronization" in state and "HTTP 503 from POST" in state
    assert reverse("orders:shipments-sync", args=[order.pk]) in state
    shipments = section(body, "order-shipments")
    assert '<span class="pill pill-push-failed" data-push-badge>Requires shipment synchronization</span>' in shipments
    assert "Sync shipment" in shipments and "Push attempts (3)" in shipments
    assert '<details class="attempts" open>' in shipments  # failed: the attempts are shown
    assert shipments.count("<td>503</td>") == 3
    assert "1.5 s" in shipments and "3.0 s" in shipments  # the documented waits
    assert list(PushAttempt.objects.values_list("http_status", flat=True)) == [503, 503, 503]

    channel_pushes(PushResult(external_id="9001"))
    with run_tasks():
        response = client_in.post(reverse("orders:shipment-sync", args=[order.pk, shipment.pk]), **HTMX)
    body = body_of(response)  # rendered before the worker ran: pending, and polling
    assert "Shipment queued again for the channel." in body
    assert "data-push-badge>Fulfillment pending</span>" in body and 'hx-trigger="every 2s"' in body
    body = body_of(client_in.get(reverse("orders:shipments", args=[order.pk]), **HTMX))  # the next poll
    assert "Requires shipment synchronization" not in section(body, "order-state")
    assert "data-push-badge>Prepared</span>" in section(body, "order-shipments")
    assert "Push attempts (4)" in body
    order.refresh_from_db()
    assert not order.requires_shipment_sync


def test_the_banner_button_syncs_every_failed_push_of_the_order(client_in, order, channel_pushes, run_tasks):
    channel_pushes(TransientError("HTTP 503", status=503), method="cancel_order")
    with run_tasks():
        client_in.post(reverse("orders:cancel", args=[order.pk]), {"reason": "other"})
    order.refresh_from_db()
    assert order.requires_shipment_sync
    channel_pushes(PushResult(), method="cancel_order")
    with run_tasks():
        response = client_in.post(reverse("orders:shipments-sync", args=[order.pk]))
    assert response.status_code == 302
    assert "1 push queued again for the channel." in body_of(client_in.get(response["Location"]))
    order.refresh_from_db()
    assert not order.requires_shipment_sync
    nothing = client_in.post(reverse("orders:shipments-sync", args=[order.pk]))
    assert nothing.status_code == 400 and "Nothing to sync" in body_of(nothing)


# -- the list -------------------------------------------------------------------------------------
def _numbers(response) -> set[str]:
    return {o.number for o in response.context["page"].object_list}


@pytest.fixture
def shipped_orders(shopify_channel, channel_pushes):
    """#P: fulfilment pending; #A: prepared; #F: requires shipment synchronization; #N: nothing."""
    channel_pushes(PushResult(external_id="9001"))
    pending, accepted, failed, _ = (make(shopify_channel, n) for n in ("P", "A", "F", "N"))
    for o in (pending, accepted, failed):
        order_ship(order=o, carrier="UPS")
    Shipment.objects.filter(order=accepted).update(push_state="accepted")
    Shipment.objects.filter(order=failed).update(push_state="failed")
    OutboundOperation.objects.filter(order=failed).update(state="failed", last_error="HTTP 503")
    Order.objects.filter(pk=failed.pk).update(requires_shipment_sync=True)
    OutboundOperation.objects.filter(order=accepted).update(state="succeeded")
    return pending, accepted, failed


def test_list_filters_by_shipments_and_shows_fulfilment(client_in, shipped_orders):
    url = reverse("orders:list")
    assert _numbers(client_in.get(url)) == {"#P", "#A", "#F", "#N"}
    assert _numbers(client_in.get(url, {"shipments": "pending"})) == {"#P", "#F"}  # not yet accepted
    assert _numbers(client_in.get(url, {"shipments": "prepared"})) == {"#A"}
    response = client_in.get(url, {"shipments": "requires_sync"})
    assert _numbers(response) == {"#F"}
    body = body_of(response)
    assert '<option value="requires_sync" selected>Requires shipment synchronization</option>' in body
    assert "Clear" in body
    everything = body_of(client_in.get(url))
    for badge in ("Fulfillment pending", "Prepared", "Requires shipment synchronization", "Fulfilled", "Unfulfilled"):
        assert badge in everything, badge
    assert _numbers(client_in.get(url, {"shipments": "bogus"})) == {"#P", "#A", "#F", "#N"}


def test_the_shipments_filter_stays_in_pagination_links(client_in, shopify_channel, channel_pushes):
    channel_pushes(PushResult(external_id="1"))
    orders_upsert(channel=shopify_channel, source="poll", orders=[normalized_order(str(n)) for n in range(55)])
    for o in shopify_channel.orders.all():
        order_ship(order=o, carrier="UPS")
    response = client_in.get(reverse("orders:list"), {"shipments": "pending"})
    assert response.context["page"].paginator.count == 55
    assert "?shipments=pending&amp;page=2" in body_of(response)


def test_list_query_count_stays_constant_with_shipments(client_in, shopify_channel, channel_pushes):
    channel_pushes(PushResult(external_id="1"))
    orders_upsert(channel=shopify_channel, source="poll", orders=[normalized_order(f"a{n}") for n in range(2)])
    with CaptureQueriesContext(connection) as few:
        client_in.get(reverse("orders:list"))
    orders_upsert(channel=shopify_channel, source="poll", orders=[normalized_order(f"b{n}") for n in range(60)])
    for o in shopify_channel.orders.all()[:40]:
        order_ship(order=o, carrier="UPS")
    Shipment.objects.filter(pk__in=Shipment.objects.values("pk")[:10]).update(push_state="accepted")
    Order.objects.filter(pk__in=Order.objects.values("pk")[:5]).update(requires_shipment_sync=True)
    with CaptureQueriesContext(connection) as many:
        response = client_in.get(reverse("orders:list"))
    assert len(response.context["page"].object_list) == 50
    assert len(many) == len(few)
    for shipments in ("pending", "prepared", "requires_sync"):
        with CaptureQueriesContext(connection) as filtered:
            client_in.get(reverse("orders:list"), {"shipments": shipments, "page": 1})
        assert len(filtered) == len(few), shipments


def test_bulk_mark_shipped_ships_each_order_and_lists_refusals(client_in, shopify_channel, channel_pushes, run_tasks):
    channel = channel_pushes(PushResult(external_id="9001"))
    one, two, cancelled, done = (make(shopify_channel, n) for n in ("701", "702", "703", "704"))
    Order.objects.filter(pk=cancelled.pk).update(status="cancelled")
    order_ship(order=done, carrier="DHL")
    back = reverse("orders:list") + "?status=accepted"
    ids = [o.pk for o in (one, two, cancelled, done)]
    with run_tasks():
        response = client_in.post(reverse("orders:bulk-ship"), {"order_ids": ids, "carrier": "FedEx", "next": back})
    assert response.status_code == 302 and response["Location"] == back
    assert len(channel.calls) == 2 and {push.carrier for push in channel.calls} == {"FedEx"}
    for o in (one, two):
        shipment = o.shipments.get()
        assert (shipment.carrier, shipment.tracking_number, shipment.push_state) == ("FedEx", "", "accepted")
        assert sum(shipment.lines.values_list("quantity", flat=True)) == 3  # every remaining line
    body = body_of(client_in.get(back))
    assert "Marked 2 orders shipped with FedEx." in body
    assert "Order #703 was not shipped: The order is cancelled." in body
    assert "Order #704 was not shipped: Every line has already been shipped." in body


def test_bulk_mark_shipped_needs_a_carrier_and_a_selection(client_in, order):
    response = client_in.post(reverse("orders:bulk-ship"), {"order_ids": [order.pk], "carrier": " "}, follow=True)
    assert "Say which carrier carries the shipments." in body_of(response)
    response = client_in.post(reverse("orders:bulk-ship"), {"carrier": "UPS"}, follow=True)
    assert "Select at least one order." in body_of(response)
    assert not Shipment.objects.exists()


def test_bulk_sync_shipments_pushes_the_selected_orders_again(client_in, shipped_orders, channel_pushes, run_tasks):
    pending, _, failed = shipped_orders
    channel = channel_pushes(PushResult(external_id="9100"))
    with run_tasks():
        response = client_in.post(reverse("orders:bulk-sync-shipments"), {"order_ids": [failed.pk]}, follow=True)
    assert "1 push to the channel queued again" in body_of(response)
    assert len(channel.calls) == 1
    failed.refresh_from_db()
    assert not failed.requires_shipment_sync and failed.shipments.get().push_state == "accepted"
    assert pending.shipments.get().push_state == "pending"  # not selected: left alone

    response = client_in.post(reverse("orders:bulk-sync-shipments"), {"order_ids": [failed.pk]}, follow=True)
    assert "Nothing to sync" in body_of(response)


def test_sync_all_pending_shipments(client_in, shipped_orders, channel_pushes, run_tasks):
    pending, accepted, failed = shipped_orders
    channel = channel_pushes(PushResult(external_id="9100"))
    with run_tasks():
        response = client_in.post(reverse("orders:sync-pending-shipments"), follow=True)
    assert "2 pushes to the channel queued again" in body_of(response)
    assert len(channel.calls) == 2
    assert set(Shipment.objects.values_list("push_state", flat=True)) == {"accepted"}
    assert "Sync all pending shipments" in body_of(response)


def test_list_offers_the_bulk_actions(client_in, order):
    body = body_of(client_in.get(reverse("orders:list")))
    assert f'formaction="{reverse("orders:bulk-ship")}"' in body and 'name="carrier" list="carriers"' in body
    assert f'formaction="{reverse("orders:bulk-sync-shipments")}"' in body
    assert f'hx-post="{reverse("orders:resync")}"' in body  # re-sync keeps its live progress
    assert f'action="{reverse("orders:sync-pending-shipments")}"' in body


# -- detail query count ---------------------------------------------------------------------------
def test_detail_query_count_does_not_grow_with_shipments_and_attempts(
    client_in, shopify_channel, channel_pushes, run_tasks
):
    channel_pushes(TransientError("HTTP 503", status=503))
    small = make(shopify_channel, "801", lines=2)
    with run_tasks():
        order_ship(order=small, carrier="UPS", lines=[ShipLine(lines_of(small)[0].pk, 1)])
    big = make(shopify_channel, "802", lines=4)
    with run_tasks():
        for line in lines_of(big):
            order_ship(order=big, carrier="UPS", lines=[ShipLine(line.pk, 1)])
    with CaptureQueriesContext(connection) as few:
        client_in.get(small.get_absolute_url())
    with CaptureQueriesContext(connection) as many:
        response = client_in.get(big.get_absolute_url())
    assert body_of(response).count('class="shipment"') == 4
    assert len(many) == len(few)


# -- dashboard ------------------------------------------------------------------------------------
def test_dashboard_counts_and_lists_orders_requiring_shipment_sync(client_in, shipped_orders):
    response = client_in.get(reverse("dashboard"))
    body = body_of(response)
    assert response.context["push_count"] == 1
    link = f'href="{reverse("orders:list")}?shipments=requires_sync"'
    assert body.count(link) == 2  # the stat and "View all"
    card = section(body, "requires-shipment-sync")
    assert "#F" in card and "HTTP 503" in card and "#P" not in card


def test_dashboard_without_orders_requiring_sync(client_in):
    body = body_of(client_in.get(reverse("dashboard")))
    assert 'id="requires-shipment-sync"' not in body
    assert "Requires shipment sync</div>" in body  # the stat, at 0
