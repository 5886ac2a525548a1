"""REST endpoints for channels and their sync runs.

Each view checks access (authentication comes from settings.REST_FRAMEWORK), validates its
input with an explicit serializer, calls one service and renders an output serializer. Writes
go only through channels.services. "Sync orders" (POST /api/channels/{id}/sync/) lives in
orders/api.py: it starts an orders.sync run, and channels never imports orders.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import services
from .models import SyncRun
from .selectors import channel_list, channel_runs, get_channel_for_user
from .serializers import ChannelCreateInputSerializer, ChannelSerializer, SyncRunSerializer

RECENT_RUNS = 100


def sync_run_for_user(user, run_id: int) -> SyncRun:
    """The access helper for runs, as get_channel_for_user is for channels: any signed-in
    user sees every run of the hub (the view's permission class has checked that)."""
    try:
        return SyncRun.objects.get(pk=run_id)
    except SyncRun.DoesNotExist:
        raise NotFound("No sync run with this id.") from None


@extend_schema(tags=["channels"])
class ChannelListCreateApi(generics.GenericAPIView):
    serializer_class = ChannelSerializer
    filter_backends: list = []

    def get_queryset(self):
        return channel_list()

    @extend_schema(operation_id="channels_list", responses=ChannelSerializer(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ChannelSerializer(page, many=True).data)

    @extend_schema(
        operation_id="channels_create",
        request=ChannelCreateInputSerializer,
        responses={201: ChannelSerializer, 400: OpenApiResponse(description="Invalid input, by field.")},
        description="Connect a channel. The answer carries the webhook URL to register at the channel; "
        "credentials and the webhook secret are stored encrypted and never returned.",
    )
    def post(self, request: Request) -> Response:
        data = ChannelCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        channel = services.channel_create(**data.validated_data)
        return Response(
            ChannelSerializer(channel).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": f"{request.path.rstrip('/')}/{channel.pk}/"},
        )


@extend_schema(tags=["channels"])
class ChannelDetailApi(APIView):
    @extend_schema(operation_id="channels_retrieve", responses=ChannelSerializer)
    def get(self, request: Request, channel_id: int) -> Response:
        return Response(ChannelSerializer(get_channel_for_user(request.user, channel_id)).data)


@extend_schema(tags=["channels"])
class ChannelRunListApi(generics.GenericAPIView):
    serializer_class = SyncRunSerializer
    filter_backends: list = []

    @extend_schema(
        operation_id="channels_runs_list",
        responses=SyncRunSerializer(many=True),
        description=f"The channel's most recent runs (at most {RECENT_RUNS}), newest first.",
    )
    def get(self, request: Request, channel_id: int) -> Response:
        channel = get_channel_for_user(request.user, channel_id)
        runs = channel_runs(channel, limit=RECENT_RUNS)
        page = self.paginate_queryset(runs)
        return self.get_paginated_response(SyncRunSerializer(page, many=True).data)


@extend_schema(tags=["runs"])
class SyncRunDetailApi(APIView):
    @extend_schema(
        operation_id="runs_retrieve",
        responses=SyncRunSerializer,
        description="A run's progress: poll until `is_active` is false.",
    )
    def get(self, request: Request, run_id: int) -> Response:
        return Response(SyncRunSerializer(sync_run_for_user(request.user, run_id)).data)
