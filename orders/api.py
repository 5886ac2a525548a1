"""REST endpoints for orders, their timeline and the sync actions (one order, a bulk re-sync,
a channel's "Sync orders").

Each view checks access (authentication and IsAuthenticated come from settings.REST_FRAMEWORK),
validates its input with an explicit serializer, calls one selector or service, and renders an
output serializer. Writes go only through orders.sync; sync work itself runs in tasks, so the
sync endpoints answer 202 with what was queued.
"""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from channels.adapters import supported_kinds
from channels.models import SyncRun
from channels.selectors import get_channel_for_user
from channels.serializers import SyncRunSerializer, SyncStartInputSerializer

from . import sync
from .models import Order
from .selectors import order_detail, order_list, order_timeline
from .serializers import (
    OrderDetailQuerySerializer,
    OrderDetailSerializer,
    OrderListFilterSerializer,
    OrderListSerializer,
    OrderResyncInputSerializer,
    OrderSyncAcceptedSerializer,
    RunsAcceptedSerializer,
    SyncEventSerializer,
)

INVALID_INPUT = OpenApiResponse(description="Invalid input: messages keyed by field name.")


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class OrderPagination(PageNumberPagination):
    """Page numbers with the settings' page size; clients may ask for up to 200 per page."""

    page_size_query_param = "page_size"
    max_page_size = 200


def order_for_user(user, order_id: int, *, detail: bool = False) -> Order:
    """The access helper for orders: every authenticated staff user may see every order of
    the hub. With `detail`, lines and shipments come prefetched. Unknown ids are a 404."""
    try:
        if detail:
            return order_detail(order_id)
        return Order.objects.select_related("channel").defer("raw").get(pk=order_id)
    except Order.DoesNotExist:
        raise NotFound("No order with this id.") from None


@extend_schema(tags=["orders"])
class OrderListApi(generics.GenericAPIView):
    serializer_class = OrderListSerializer
    pagination_class = OrderPagination
    filter_backends: list = []  # filters are validated by OrderListFilterSerializer instead

    @extend_schema(
        operation_id="orders_list",
        parameters=[OrderListFilterSerializer],
        responses={200: OrderListSerializer(many=True), 400: INVALID_INPUT},
        description="Orders newest first. Lines are not included: fetch an order for them.",
    )
    def get(self, request: Request) -> Response:
        filters = OrderListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        page = self.paginate_queryset(order_list(filters.to_filters()))
        return self.get_paginated_response(OrderListSerializer(page, many=True).data)


@extend_schema(tags=["orders"])
class OrderDetailApi(APIView):
    @extend_schema(
        operation_id="orders_retrieve",
        parameters=[OrderDetailQuerySerializer],
        responses={200: OrderDetailSerializer, 400: INVALID_INPUT},
    )
    def get(self, request: Request, order_id: int) -> Response:
        query = OrderDetailQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        order = order_for_user(request.user, order_id, detail=True)
        context = {"include_raw": query.validated_data.get("include") == "raw"}
        return Response(OrderDetailSerializer(order, context=context).data)


@extend_schema(tags=["orders"])
class OrderSyncApi(APIView):
    @extend_schema(
        operation_id="orders_sync",
        request=None,
        responses={202: OrderSyncAcceptedSerializer},
        description="Re-read the order from its channel. The outcome appears on the order's timeline.",
    )
    def post(self, request: Request, order_id: int) -> Response:
        order = order_for_user(request.user, order_id)
        sync.order_sync_request(order=order, source="api")
        body = {
            "order": order.pk,
            "detail": "Sync requested.",
            "timeline": reverse("api-order-timeline", args=[order.pk]),
        }
        return Response(OrderSyncAcceptedSerializer(body).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["orders"])
class OrderTimelineApi(generics.GenericAPIView):
    serializer_class = SyncEventSerializer
    pagination_class = OrderPagination
    filter_backends: list = []

    @extend_schema(
        operation_id="orders_timeline",
        responses=SyncEventSerializer(many=True),
        description="Everything that happened to the order's sync, newest first.",
    )
    def get(self, request: Request, order_id: int) -> Response:
        order = order_for_user(request.user, order_id)
        page = self.paginate_queryset(order_timeline(order, limit=None))
        return self.get_paginated_response(SyncEventSerializer(page, many=True).data)


@extend_schema(tags=["orders"])
class OrderResyncApi(APIView):
    @extend_schema(
        operation_id="orders_resync",
        request=OrderResyncInputSerializer,
        responses={202: RunsAcceptedSerializer, 400: INVALID_INPUT},
        description="Bulk re-sync: one run per channel, carried out 100 orders per step.",
    )
    def post(self, request: Request) -> Response:
        data = OrderResyncInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        runs = sync.orders_resync_start(order_ids=data.validated_data["ids"], user=request.user)
        return Response(RunsAcceptedSerializer({"runs": runs}).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["channels"])
class ChannelSyncApi(APIView):
    """Here rather than in channels/api.py: it starts an orders.sync run, and the channels app
    sits below orders."""

    @extend_schema(
        operation_id="channels_sync",
        request=SyncStartInputSerializer,
        responses={
            202: SyncRunSerializer,
            400: INVALID_INPUT,
            409: OpenApiResponse(description="The channel is paused or has no adapter yet."),
        },
        description='"Sync orders": import the channel\'s orders updated since `since` (default: 30 days). '
        "Poll GET /api/runs/{id}/ for progress.",
    )
    def post(self, request: Request, channel_id: int) -> Response:
        channel = get_channel_for_user(request.user, channel_id)
        data = SyncStartInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if not channel.is_active:
            raise Conflict("The channel is paused: resume it before syncing.")
        if channel.kind not in supported_kinds():
            raise Conflict(f"Fenicia has no adapter for {channel.get_kind_display()} yet.")
        run = sync.sync_run_start(
            channel=channel, kind=SyncRun.Kind.IMPORT, since=data.validated_data["since"], user=request.user
        )
        return Response(SyncRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)
