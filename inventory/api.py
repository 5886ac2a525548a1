"""REST endpoints for inventory sources, their runs, products and stock levels.

Same shape as orders/api.py: each view checks access (authentication and IsAuthenticated come
from settings.REST_FRAMEWORK), validates input with an explicit serializer, calls one selector
or service and renders an output serializer. "Sync now" answers 202 with the run to poll.
"""

from __future__ import annotations

from django.db.models import Prefetch
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors, services
from .models import Product, RunTrigger, SourceKind, StockLevel
from .serializers import (
    ProductCreateInputSerializer,
    ProductFilterSerializer,
    ProductSerializer,
    RunSerializer,
    SourceCreateInputSerializer,
    SourceSerializer,
    StockLevelFilterSerializer,
    StockLevelSerializer,
)

INVALID_INPUT = OpenApiResponse(description="Invalid input: messages keyed by field name.")
RECENT_RUNS = 100


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class InventoryPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


def source_for_user(user, source_id: int):
    try:
        return selectors.get_source_for_user(user, source_id)
    except Http404:
        raise NotFound("No inventory source with this id.") from None


def _products_with_levels():
    return Product.objects.prefetch_related(
        Prefetch("stock_levels", queryset=StockLevel.objects.order_by("source_id"))
    ).order_by("sku")


@extend_schema(tags=["inventory"])
class SourceListCreateApi(generics.GenericAPIView):
    serializer_class = SourceSerializer
    pagination_class = InventoryPagination
    filter_backends: list = []

    @extend_schema(operation_id="inventory_sources_list", responses=SourceSerializer(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.source_list())
        return self.get_paginated_response(SourceSerializer(page, many=True).data)

    @extend_schema(
        operation_id="inventory_sources_create",
        request=SourceCreateInputSerializer,
        responses={201: SourceSerializer, 400: INVALID_INPUT},
        description="Add a source. Secrets (auth token, password, private key, webhook secret) are stored "
        "encrypted and never returned.",
    )
    def post(self, request: Request) -> Response:
        data = SourceCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        source = services.source_create(**data.validated_data)
        return Response(
            SourceSerializer(source).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": f"{request.path.rstrip('/')}/{source.pk}/"},
        )


@extend_schema(tags=["inventory"])
class SourceDetailApi(APIView):
    @extend_schema(operation_id="inventory_sources_retrieve", responses=SourceSerializer)
    def get(self, request: Request, source_id: int) -> Response:
        return Response(SourceSerializer(source_for_user(request.user, source_id)).data)


@extend_schema(tags=["inventory"])
class SourceSyncApi(APIView):
    @extend_schema(
        operation_id="inventory_sources_sync",
        request=None,
        responses={202: RunSerializer, 409: OpenApiResponse(description="A webhook source has nothing to pull.")},
        description='"Sync now": start a run (or get the one already going). Poll GET /api/inventory/runs/{id}/.',
    )
    def post(self, request: Request, source_id: int) -> Response:
        source = source_for_user(request.user, source_id)
        if source.kind == SourceKind.WEBHOOK:
            raise Conflict("This source pushes its stock to Fenicia: there is nothing to pull.")
        run = services.source_sync_start(source=source, trigger=RunTrigger.API, user=request.user)
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["inventory"])
class SourceRunListApi(generics.GenericAPIView):
    serializer_class = RunSerializer
    pagination_class = InventoryPagination
    filter_backends: list = []

    @extend_schema(
        operation_id="inventory_sources_runs_list",
        responses=RunSerializer(many=True),
        description=f"The source's most recent runs (at most {RECENT_RUNS}), newest first.",
    )
    def get(self, request: Request, source_id: int) -> Response:
        source = source_for_user(request.user, source_id)
        page = self.paginate_queryset(selectors.source_runs(source, limit=RECENT_RUNS))
        return self.get_paginated_response(RunSerializer(page, many=True).data)


@extend_schema(tags=["inventory"])
class RunDetailApi(APIView):
    @extend_schema(operation_id="inventory_runs_retrieve", responses=RunSerializer)
    def get(self, request: Request, run_id: int) -> Response:
        try:
            run = selectors.run_for_user(request.user, run_id)
        except Http404:
            raise NotFound("No inventory run with this id.") from None
        return Response(RunSerializer(run).data)


@extend_schema(tags=["inventory"])
class ProductListCreateApi(generics.GenericAPIView):
    serializer_class = ProductSerializer
    pagination_class = InventoryPagination
    filter_backends: list = []

    @extend_schema(
        operation_id="inventory_products_list",
        parameters=[ProductFilterSerializer],
        responses=ProductSerializer(many=True),
        description="Products by SKU with their stock per source and total available.",
    )
    def get(self, request: Request) -> Response:
        filters = ProductFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        ids = selectors.product_list(q=filters.validated_data["q"]).values("id")
        page = self.paginate_queryset(_products_with_levels().filter(id__in=ids))
        return self.get_paginated_response(ProductSerializer(page, many=True).data)

    @extend_schema(
        operation_id="inventory_products_create",
        request=ProductCreateInputSerializer,
        responses={201: ProductSerializer, 400: INVALID_INPUT},
    )
    def post(self, request: Request) -> Response:
        data = ProductCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        product = services.product_create(**data.validated_data)
        return Response(ProductSerializer(product).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["inventory"])
class ProductDetailApi(APIView):
    @extend_schema(operation_id="inventory_products_retrieve", responses=ProductSerializer)
    def get(self, request: Request, product_id: int) -> Response:
        try:
            product = _products_with_levels().get(pk=product_id)
        except Product.DoesNotExist:
            raise NotFound("No product with this id.") from None
        return Response(ProductSerializer(product).data)


@extend_schema(tags=["inventory"])
class StockLevelListApi(generics.GenericAPIView):
    serializer_class = StockLevelSerializer
    pagination_class = InventoryPagination
    filter_backends: list = []

    @extend_schema(
        operation_id="inventory_stock_levels_list",
        parameters=[StockLevelFilterSerializer],
        responses=StockLevelSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        filters = StockLevelFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        qs = selectors.stock_levels(
            product_id=filters.validated_data.get("product"), source_id=filters.validated_data.get("source")
        )
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(StockLevelSerializer(page, many=True).data)
