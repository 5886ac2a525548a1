"""REST endpoints for orders, their timeline, the sync actions (one order, a bulk re-sync, a
channel's "Sync orders") and the actions that flow back to the channel (ship, add tracking,
cancel, re-sync shipments, download a shipping label).

Each view checks access (authentication and IsAuthenticated come from settings.REST_FRAMEWORK),
validates its input with an explicit serializer, calls one selector or service, and renders an
output serializer. Writes go only through orders.sync and orders.actions; the work that reaches
a channel runs in tasks, so those endpoints answer 201/202 with what was recorded and queued.

A refused action (orders.actions.ActionRefused) is a 400 naming the field when the input is at
fault, and a 409 with the reason otherwise (the channel can't do it, or the order's state
forbids it: cancelling a shipped order).
"""

from __future__ import annotations

import posixpath

from django.db.models import Prefetch, prefetch_related_objects
from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, renderers, status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from channels.adapters import supported_kinds
from channels.models import SyncRun
from channels.selectors import get_channel_for_user
from channels.serializers import SyncRunSerializer, SyncStartInputSerializer

from . import actions, sync
from .models import Order, Shipment, ShipmentLine
from .selectors import order_detail, order_list, order_timeline
from .serializers import (
    ActionAcceptedSerializer,
    CancelInputSerializer,
    OrderDetailQuerySerializer,
    OrderDetailSerializer,
    OrderListFilterSerializer,
    OrderListSerializer,
    OrderResyncInputSerializer,
    OrderSyncAcceptedSerializer,
    RunsAcceptedSerializer,
    ShipInputSerializer,
    ShipmentSerializer,
    ShipmentsSyncAcceptedSerializer,
    ShipmentsSyncInputSerializer,
    ShipmentSyncAcceptedSerializer,
    SyncEventSerializer,
    TrackingAcceptedSerializer,
    TrackingInputSerializer,
)

INVALID_INPUT = OpenApiResponse(description="Invalid input: messages keyed by field name.")
NOT_FOUND = OpenApiResponse(description="No such order, or no such shipment of this order.")
REFUSED = OpenApiResponse(
    description="Refused: the channel does not support the action, or the order's state forbids it. `detail` says why."
)


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class OrderPagination(PageNumberPagination):
    """Page numbers with the settings' page size; clients may ask for up to 200 per page."""

    page_size_query_param = "page_size"
    max_page_size = 200


def _shipment_lines():
    return Prefetch("lines", queryset=ShipmentLine.objects.select_related("order_line").order_by("order_line", "id"))


def order_for_user(user, order_id: int, *, detail: bool = False) -> Order:
    """The access helper for orders: every authenticated staff user may see every order of
    the hub. With `detail`, lines and shipments (with their lines and pushes) come prefetched.
    Unknown ids are a 404."""
    try:
        if not detail:
            return Order.objects.select_related("channel").defer("raw").get(pk=order_id)
        order = order_detail(order_id)
    except Order.DoesNotExist:
        raise NotFound("No order with this id.") from None
    shipments = list(order.shipments.all())
    prefetch_related_objects(shipments, _shipment_lines(), "operations")
    return order


def shipment_for_order(order: Order, shipment_id: int) -> Shipment:
    """A shipment of this order, ready for ShipmentSerializer; another order's shipment is a 404."""
    shipment = (
        Shipment.objects.filter(order=order, pk=shipment_id)
        .select_related("order__channel")
        .prefetch_related(_shipment_lines(), "operations")
        .first()
    )
    if shipment is None:
        raise NotFound("This order has no shipment with this id.")
    return shipment


def refused(exc: actions.ActionRefused) -> APIException:
    """The API's answer to a refused action: 400 naming the field at fault, else 409."""
    if exc.field and not exc.conflict:
        return ValidationError({exc.field: [exc.message]})
    return Conflict(exc.message)


def _timeline(order_id: int) -> str:
    return reverse("api-order-timeline", args=[order_id])


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


# -- actions that flow back to the channel -------------------------------------------------------
@extend_schema(tags=["orders"])
class OrderShipApi(APIView):
    @extend_schema(
        operation_id="orders_ship",
        request=ShipInputSerializer,
        responses={201: ShipmentSerializer, 400: INVALID_INPUT, 404: NOT_FOUND, 409: REFUSED},
        description='"Mark as shipped": creates a shipment of the given lines (default: everything not yet '
        "shipped) and queues its push to the channel. The shipment starts `pending` and becomes `accepted` "
        "once the channel takes it, or `failed` (the order then requires shipment synchronization).",
    )
    def post(self, request: Request, order_id: int) -> Response:
        order = order_for_user(request.user, order_id)
        data = ShipInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            shipment = actions.order_ship(order=order, user=request.user, **data.service_kwargs())
        except actions.ActionRefused as exc:
            raise refused(exc) from exc
        shipment = shipment_for_order(order, shipment.pk)
        return Response(ShipmentSerializer(shipment).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["orders"])
class ShipmentTrackingApi(APIView):
    @extend_schema(
        operation_id="orders_shipments_tracking",
        request=TrackingInputSerializer,
        responses={202: TrackingAcceptedSerializer, 400: INVALID_INPUT, 404: NOT_FOUND, 409: REFUSED},
        description="Add or change a shipment's tracking. While the shipment itself is still waiting for the "
        "channel the tracking travels with it (`operation` is null); otherwise a tracking update is queued.",
    )
    def post(self, request: Request, order_id: int, shipment_id: int) -> Response:
        order = order_for_user(request.user, order_id)
        shipment = shipment_for_order(order, shipment_id)
        data = TrackingInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            operation = actions.shipment_add_tracking(shipment=shipment, user=request.user, **data.validated_data)
        except actions.ActionRefused as exc:
            raise refused(exc) from exc
        body = {
            "order": order.pk,
            "detail": "Tracking update queued for the channel."
            if operation is not None
            else "Tracking added; it goes with the shipment's pending push.",
            "operation": operation,
            "shipment": shipment_for_order(order, shipment.pk),
            "timeline": _timeline(order.pk),
        }
        return Response(TrackingAcceptedSerializer(body).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["orders"])
class OrderCancelApi(APIView):
    @extend_schema(
        operation_id="orders_cancel",
        request=CancelInputSerializer,
        responses={202: ActionAcceptedSerializer, 400: INVALID_INPUT, 404: NOT_FOUND, 409: REFUSED},
        description="Cancel the order here and queue the cancellation for the channel. Refused (409) once the "
        "order has shipped, in full or in part.",
    )
    def post(self, request: Request, order_id: int) -> Response:
        order = order_for_user(request.user, order_id)
        data = CancelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            operation = actions.order_cancel(order=order, user=request.user, **data.validated_data)
        except actions.ActionRefused as exc:
            raise refused(exc) from exc
        operation.refresh_from_db()
        body = {
            "order": order.pk,
            "detail": "Order cancelled; the cancellation is queued for the channel.",
            "operation": operation,
            "timeline": _timeline(order.pk),
        }
        return Response(ActionAcceptedSerializer(body).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["orders"])
class ShipmentSyncApi(APIView):
    @extend_schema(
        operation_id="orders_shipments_sync",
        request=None,
        responses={202: ShipmentSyncAcceptedSerializer, 404: NOT_FOUND},
        description='"Sync shipment": push again whatever of this shipment the channel has not accepted '
        "(failed or still pending). `queued` is 0 when there is nothing left to push.",
    )
    def post(self, request: Request, order_id: int, shipment_id: int) -> Response:
        order = order_for_user(request.user, order_id)
        shipment = shipment_for_order(order, shipment_id)
        queued = actions.shipment_sync(shipment=shipment, user=request.user)
        body = {
            "queued": queued,
            "detail": f"{queued} push{'es' if queued != 1 else ''} queued for the channel."
            if queued
            else "Nothing to push: the channel has accepted this shipment.",
            "shipment": shipment_for_order(order, shipment.pk),
            "timeline": _timeline(order.pk),
        }
        return Response(ShipmentSyncAcceptedSerializer(body).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["orders"])
class ShipmentsSyncApi(APIView):
    @extend_schema(
        operation_id="shipments_sync",
        request=ShipmentsSyncInputSerializer,
        responses={202: ShipmentsSyncAcceptedSerializer, 400: INVALID_INPUT},
        description='"Sync my shipments": push again every shipment, tracking update and cancellation the '
        "channels have not accepted (optionally only those of `order_ids`), in runs of at most 100.",
    )
    def post(self, request: Request) -> Response:
        data = ShipmentsSyncInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        queued = actions.shipments_sync_bulk(order_ids=data.validated_data.get("order_ids"), user=request.user)
        body = {"queued": queued, "detail": f"{queued} push{'es' if queued != 1 else ''} queued for the channels."}
        return Response(ShipmentsSyncAcceptedSerializer(body).data, status=status.HTTP_202_ACCEPTED)


class PdfRenderer(renderers.BaseRenderer):
    """Lets clients ask for the label with `Accept: application/pdf`. The file itself goes out
    as a FileResponse; only an error body comes through here, and it goes out as JSON."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"
        return renderers.JSONRenderer().render(data)


@extend_schema(tags=["orders"])
class ShipmentLabelApi(APIView):
    renderer_classes = [renderers.JSONRenderer, PdfRenderer]

    @extend_schema(
        operation_id="orders_shipments_label",
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The shipping label."),
            404: OpenApiResponse(description="No such order or shipment, or the shipment has no label."),
        },
        description="Download the shipment's shipping label (PDF).",
    )
    def get(self, request: Request, order_id: int, shipment_id: int) -> FileResponse:
        order = order_for_user(request.user, order_id)
        shipment = shipment_for_order(order, shipment_id)
        if not shipment.label:
            raise NotFound("This shipment has no label.")
        try:
            handle = shipment.label.open("rb")
        except FileNotFoundError:
            raise NotFound("The label's file is missing from storage.") from None
        return FileResponse(
            handle, as_attachment=True, filename=posixpath.basename(shipment.label.name), content_type="application/pdf"
        )
