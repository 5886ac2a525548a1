from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from channels.models import Channel, ChannelStatus, SyncRun
from channels.services import channel_create
from fenicia.models import Notification
from fenicia.notifications import notification_send
from orders.models import SyncEvent
from orders.services import channel_event, order_mark_not_found
from tests.orders.factories import make_order, make_orders


@pytest.fixture
def client_in(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(
    "method,name", [("get", "dashboard"), ("get", "notifications"), ("post", "notifications-read")]
)
def test_it_requires_login(client, method, name):
    response = getattr(client, method)(reverse(name))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


# -- login / logout -------------------------------------------------------------------------------
def test_login_page_signs_in_and_lands_on_the_dashboard(client, staff_user):
    page = client.get(reverse("login"))
    assert page.status_code == 200 and "csrfmiddlewaretoken" in page.content.decode()
    response = client.post(reverse("login"), {"username": "staff", "password": "correct-horse"})
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    assert client.get(reverse("dashboard")).status_code == 200


def test_wrong_password_is_refused(client, staff_user):
    response = client.post(reverse("login"), {"username": "staff", "password": "nope"})
    assert response.status_code == 200 and "errorlist" in response.content.decode()


def test_logout_is_a_post_form(client_in):
    body = client_in.get(reverse("dashboard")).content.decode()
    assert f'method="post" action="{reverse("logout")}"' in body
    response = client_in.post(reverse("logout"))
    assert response.status_code == 302
    assert client_in.get(reverse("dashboard")).status_code == 302


# -- dashboard ------------------------------------------------------------------------------------
def test_dashboard_shows_channel_health_counts_and_problems(client_in, shopify_channel):
    failing = channel_create(kind="shopify", name="Outlet", credentials={"shop": "outlet.myshopify.com"})
    Channel.objects.filter(pk=failing.pk).update(
        status=ChannelStatus.NEEDS_RECONNECT, last_error="Shopify denied access", last_error_at=timezone.now()
    )
    now = timezone.now()
    make_orders(shopify_channel, 3, placed_at=now)
    make_orders(shopify_channel, 2, placed_at=now - timedelta(days=3))
    make_orders(shopify_channel, 1, placed_at=now - timedelta(days=10))
    lost = make_order(failing, number="#LOST", placed_at=now)
    order_mark_not_found(order=lost, source="manual", message="The channel answered 404")
    channel_event(
        channel=failing,
        kind=SyncEvent.Kind.AUTH,
        outcome=SyncEvent.Outcome.FAILURE,
        source="poll",
        message="Scheduled poll failed: Shopify denied access",
    )
    notification_send(title="Outlet needs reconnecting")
    SyncRun.objects.create(
        channel=shopify_channel, kind=SyncRun.Kind.IMPORT, status=SyncRun.Status.RUNNING, total=10, processed=4
    )

    response = client_in.get(reverse("dashboard"))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'class="pill pill-needs_reconnect"' in body and 'class="pill pill-connected"' in body
    assert "Shopify denied access" in body
    channels = {c.name: c for c in response.context["channels"]}
    assert (channels["Test Shop"].orders_today, channels["Test Shop"].orders_week) == (3, 5)
    assert (channels["Outlet"].orders_today, channels["Outlet"].orders_week) == (1, 1)
    assert response.context["attention_count"] == 1 and "#LOST" in body
    assert f'href="{reverse("orders:list")}?errors_only=on"' in body
    assert "Scheduled poll failed: Shopify denied access" in body
    assert "Running now" in body and "4 / 10 orders" in body
    chart = response.context["chart"]
    assert len(chart["days"]) == 14 and chart["total"] == 7 and chart["peak"] == 4
    assert chart["days"][-1].total == 4
    assert 'class="seg series-0"' in body
    assert '<span class="badge"' in body  # unread notification in the nav


def test_dashboard_without_anything_yet(client_in):
    body = client_in.get(reverse("dashboard")).content.decode()
    assert "No channels yet" in body and "Every order is in sync" in body


def test_dashboard_query_count_does_not_grow_with_data(client_in, shopify_channel):
    make_orders(shopify_channel, 2, placed_at=timezone.now())
    with CaptureQueriesContext(connection) as few:
        client_in.get(reverse("dashboard"))
    for index in range(3):
        channel = channel_create(kind="shopify", name=f"Shop {index}", credentials={"shop": f"s{index}.example"})
        for order in make_orders(channel, 5, placed_at=timezone.now() - timedelta(days=index)):
            order_mark_not_found(order=order, source="manual")
    with CaptureQueriesContext(connection) as many:
        client_in.get(reverse("dashboard"))
    assert len(many) == len(few)


# -- notifications --------------------------------------------------------------------------------
def test_notifications_list_and_mark_all_read(client_in):
    notification_send(title="Outlet: sync failing", message="3 failures in a row", link="/channels/1/", dedupe_key="k")
    notification_send(title="Outlet: sync failing", message="4 failures in a row", link="/channels/1/", dedupe_key="k")
    notification_send(title="Heads up", level=Notification.Level.INFO)
    body = client_in.get(reverse("notifications")).content.decode()
    assert "Outlet: sync failing" in body and "4 failures in a row" in body and "×2" in body
    assert 'href="/channels/1/"' in body and 'class="pill pill-info"' in body
    assert '<span class="badge" title="2 unread">2</span>' in body
    assert "Mark all read" in body

    response = client_in.post(reverse("notifications-read"), follow=True)
    assert "2 notifications marked as read." in response.content.decode()
    assert not Notification.objects.filter(read_at__isnull=True).exists()
    assert '<span class="badge" title=' not in client_in.get(reverse("notifications")).content.decode()


def test_mark_read_rejects_get(client_in):
    assert client_in.get(reverse("notifications-read")).status_code == 405
