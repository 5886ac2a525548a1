"""Inventory pages: sources (list, add, edit, detail with Sync now, live run, history, unmapped
SKUs, invalid rows, mapping table), products (stock per source, push log), channel stock
settings, and the webhook receiver that sources push to."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from channels.models import Channel
from channels.selectors import get_channel_for_user
from fenicia.crypto import mask

from . import selectors, services
from .forms import KIND_FIELDS, ChannelStockForm, CsvUploadForm, ListingForm, MappingForm, ProductForm, SourceForm
from .models import InventorySource, InventorySyncRun, RunTrigger, SourceKind
from .push import can_push

PAGE_SIZE = 50
WEBHOOK_MAX_BYTES = 20 * 1024 * 1024


# -- sources ------------------------------------------------------------------------------------
@login_required
@require_GET
def source_list(request: HttpRequest) -> HttpResponse:
    return render(request, "inventory/source_list.html", {"sources": selectors.source_list()})


def _form_sections(form: SourceForm) -> list[tuple[str, str, list]]:
    """(kind, title, bound fields) so the page can show each kind's settings together."""
    titles = {
        SourceKind.REST_API: "REST API",
        SourceKind.WEBHOOK: "Webhook push",
        SourceKind.FTP: "FTP",
        SourceKind.SFTP: "SFTP",
    }
    sections = []
    for kind, names in KIND_FIELDS.items():
        if kind == SourceKind.FTP:
            continue  # FTP's fields are SFTP's minus the key ones: one "FTP / SFTP" section
        title = "FTP / SFTP" if kind == SourceKind.SFTP else titles[kind]
        sections.append((str(kind), title, [form[name] for name in names]))
    return sections


def _source_form_page(request: HttpRequest, form: SourceForm, source: InventorySource | None) -> HttpResponse:
    common = ["name", "kind", "frequency_minutes", "mapping_mode"]
    record = ["data_format", "sku_field", "quantity_field", "json_list_path", "delimiter", "encoding"]
    return render(
        request,
        "inventory/source_form.html",
        {
            "form": form,
            "source": source,
            "common": [form[n] for n in common],
            "record": [form[n] for n in record],
            "sections": _form_sections(form),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def source_create(request: HttpRequest) -> HttpResponse:
    form = SourceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        source = services.source_create(**form.service_values())
        messages.success(request, f"{source.name} added.")
        return redirect(source)
    return _source_form_page(request, form, None)


@login_required
@require_http_methods(["GET", "POST"])
def source_edit(request: HttpRequest, source_id: int) -> HttpResponse:
    source = selectors.get_source_for_user(request.user, source_id)
    form = SourceForm(request.POST or None, instance=InventorySource.objects.get(pk=source.pk))
    if request.method == "POST" and form.is_valid():
        services.source_update(source=source, **form.service_values())
        messages.success(request, f"{source.name} saved.")
        return redirect(source)
    return _source_form_page(request, form, source)


def _source_context(source: InventorySource) -> dict:
    problems = selectors.source_latest_problems(source)
    return {
        "source": source,
        "problems": problems,
        "unmapped": selectors.unmapped_rows(problems),
        "secret_hints": {
            "auth_token": mask(source.auth_token),
            "password": "set" if source.password else "",
            "webhook_secret": mask(source.webhook_secret),
        },
    }


@login_required
@require_GET
def source_detail(request: HttpRequest, source_id: int) -> HttpResponse:
    source = selectors.get_source_for_user(request.user, source_id)
    return render(
        request,
        "inventory/source_detail.html",
        {
            **_source_context(source),
            "run": selectors.source_active_run(source),
            "runs": selectors.source_runs(source),
            "mappings": selectors.source_mappings(source),
            "mapping_form": MappingForm(),
            "import_form": CsvUploadForm(),
        },
    )


@login_required
@require_POST
def source_sync(request: HttpRequest, source_id: int) -> HttpResponse:
    """ "Sync now": the service creates the run and enqueues it; htmx gets the live run panel."""
    source = selectors.get_source_for_user(request.user, source_id)
    if source.kind == SourceKind.WEBHOOK:
        error = "This source pushes its stock to Fenicia: there is nothing to pull."
        if request.htmx:
            return render(
                request, "inventory/source_detail.html#active-run", {"source": source, "run": None, "error": error}
            )
        messages.error(request, error)
        return redirect(source)
    run = services.source_sync_start(source=source, trigger=RunTrigger.MANUAL, user=request.user)
    if request.htmx:
        return _run_response(request, source, selectors.source_run(source, run.pk))
    messages.success(request, "Sync started. Its progress is shown below.")
    return redirect(source)


@login_required
@require_GET
def source_run(request: HttpRequest, source_id: int, run_id: int) -> HttpResponse:
    """The live run panel; it polls itself every 2 s until the run has finished."""
    source = selectors.get_source_for_user(request.user, source_id)
    return _run_response(request, source, selectors.source_run(source, run_id))


def _run_response(request: HttpRequest, source: InventorySource, run: InventorySyncRun) -> HttpResponse:
    """The run panel plus out-of-band swaps: the history always; once the run is over, the
    source's status card and its unmapped SKUs / invalid rows, which the run has changed."""
    source.refresh_from_db()
    context = {"source": source, "run": run, "runs": selectors.source_runs(source), "oob": True}
    if not run.is_active:
        context.update(_source_context(source))
    return render(request, "inventory/source_detail.html#run-update", context)


@login_required
@require_POST
def source_delete(request: HttpRequest, source_id: int) -> HttpResponse:
    source = selectors.get_source_for_user(request.user, source_id)
    name = source.name
    services.source_delete(source=source)
    messages.success(request, f"{name} deleted; its stock levels are gone and totals were recomputed.")
    return redirect("inventory:source-list")


@login_required
@require_POST
def unmapped_create(request: HttpRequest, source_id: int) -> HttpResponse:
    """One click on an unmapped SKU: create the product (and apply the quantity last read)."""
    source = selectors.get_source_for_user(request.user, source_id)
    sku = (request.POST.get("sku") or "").strip()
    if not sku or len(sku) > 255:
        messages.error(request, "No SKU given.")
        return redirect(source)
    product = services.product_create_from_unmapped(source=source, sku=sku)
    messages.success(request, f"Product {product.sku} created; its stock from {source.name} is applied.")
    return redirect(reverse("inventory:source-detail", args=[source.pk]) + "#problems")


@login_required
@require_POST
def mapping_add(request: HttpRequest, source_id: int) -> HttpResponse:
    source = selectors.get_source_for_user(request.user, source_id)
    form = MappingForm(request.POST)
    if form.is_valid():
        services.mapping_set(source=source, external_code=form.cleaned_data["external_code"], product=form.product)
        messages.success(request, f"{form.cleaned_data['external_code']} now maps to {form.product.sku}.")
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect(reverse("inventory:source-detail", args=[source.pk]) + "#mapping")


@login_required
@require_POST
def mapping_delete(request: HttpRequest, source_id: int, mapping_id: int) -> HttpResponse:
    source = selectors.get_source_for_user(request.user, source_id)
    if services.mapping_delete(source=source, mapping_id=mapping_id):
        messages.success(request, "Mapping removed.")
    return redirect(reverse("inventory:source-detail", args=[source.pk]) + "#mapping")


@login_required
@require_POST
def mapping_import(request: HttpRequest, source_id: int) -> HttpResponse:
    source = selectors.get_source_for_user(request.user, source_id)
    form = CsvUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect(reverse("inventory:source-detail", args=[source.pk]) + "#mapping")
    result = services.mappings_import_csv(source=source, data=form.cleaned_data["file"].read())
    _report_import(request, result, "mapping")
    return redirect(reverse("inventory:source-detail", args=[source.pk]) + "#mapping")


def _report_import(request: HttpRequest, result: services.ImportResult, what: str) -> None:
    messages.success(request, f"Imported: {result.created} new {what}s, {result.updated} updated.")
    if result.errors:
        shown = "; ".join(f"line {line}: {reason}" for line, reason in result.errors[:10])
        more = f" (and {len(result.errors) - 10} more)" if len(result.errors) > 10 else ""
        messages.warning(request, f"{len(result.errors)} rows skipped — {shown}{more}")


# -- products -----------------------------------------------------------------------------------
@login_required
@require_GET
def product_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "")
    page = Paginator(selectors.product_list(q=q), PAGE_SIZE).get_page(request.GET.get("page"))
    products = list(page.object_list)
    levels = selectors.levels_by_product(products)
    pushes = selectors.last_pushes(products)
    sources = list(InventorySource.objects.order_by("name", "id"))
    rows = [
        (product, [levels.get(product.pk, {}).get(s.pk) for s in sources], pushes.get(product.pk, []))
        for product in products
    ]
    return render(
        request,
        "inventory/product_list.html",
        {
            "page": page,
            "rows": rows,
            "sources": sources,
            "q": q,
            "product_form": ProductForm(),
            "import_form": CsvUploadForm(),
            "unknown_skus": selectors.unknown_order_skus(limit=20),
        },
    )


@login_required
@require_POST
def product_create(request: HttpRequest) -> HttpResponse:
    form = ProductForm(request.POST)
    if form.is_valid():
        product = services.product_create(**form.cleaned_data)
        messages.success(request, f"Product {product.sku} created.")
        return redirect(product)
    messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect("inventory:product-list")


@login_required
@require_POST
def product_import(request: HttpRequest) -> HttpResponse:
    form = CsvUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("inventory:product-list")
    result = services.products_import_csv(data=form.cleaned_data["file"].read())
    _report_import(request, result, "product")
    return redirect("inventory:product-list")


@login_required
@require_POST
def product_from_order_sku(request: HttpRequest) -> HttpResponse:
    """An order line's SKU that no product has: create the product in one click."""
    sku = (request.POST.get("sku") or "").strip()
    if not sku or len(sku) > 255:
        messages.error(request, "No SKU given.")
        return redirect("inventory:product-list")
    form = ProductForm({"sku": sku, "name": request.POST.get("name", "")})
    if form.is_valid():
        product = services.product_create(**form.cleaned_data)
        messages.success(request, f"Product {product.sku} created.")
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect("inventory:product-list")


@login_required
@require_GET
def product_detail(request: HttpRequest, product_id: int) -> HttpResponse:
    product = selectors.get_product_for_user(request.user, product_id)
    selling = selectors.product_channels(product)
    listed = set(product.listings.values_list("channel_id", flat=True))
    return render(
        request,
        "inventory/product_detail.html",
        {
            "product": product,
            "levels": selectors.product_levels(product),
            "pushes": selectors.product_pushes(product),
            "selling": selling,
            "listed": listed,
            "listable": [c for c in Channel.objects.order_by("name") if can_push(c)],
        },
    )


@login_required
@require_POST
def product_listing(request: HttpRequest, product_id: int) -> HttpResponse:
    product = selectors.get_product_for_user(request.user, product_id)
    form = ListingForm(request.POST)
    if form.is_valid():
        channel = get_channel_for_user(request.user, form.cleaned_data["channel"])
        services.listing_set(channel=channel, product=product, listed=form.cleaned_data["listed"])
        verb = "now listed on" if form.cleaned_data["listed"] else "no longer explicitly listed on"
        messages.success(request, f"{product.sku} is {verb} {channel.name}.")
    return redirect(product)


# -- channels -----------------------------------------------------------------------------------
@login_required
@require_GET
def channel_stock(request: HttpRequest) -> HttpResponse:
    rows = selectors.channel_stock_rows()
    forms = {
        row.channel.pk: ChannelStockForm(
            initial={
                "push_enabled": row.settings.push_enabled if row.settings else True,
                "safety_buffer": row.settings.safety_buffer if row.settings else 0,
            },
            prefix=f"c{row.channel.pk}",
        )
        for row in rows
    }
    return render(request, "inventory/channel_stock.html", {"rows": [(r, forms[r.channel.pk]) for r in rows]})


@login_required
@require_POST
def channel_stock_update(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = get_channel_for_user(request.user, channel_id)
    form = ChannelStockForm(request.POST, prefix=f"c{channel.pk}")
    if form.is_valid():
        services.channel_stock_settings_update(
            channel=channel,
            push_enabled=form.cleaned_data["push_enabled"],
            safety_buffer=form.cleaned_data["safety_buffer"],
        )
        messages.success(request, f"Stock settings of {channel.name} saved.")
    else:
        messages.error(request, "The safety buffer must be a whole number, 0 or more.")
    return redirect("inventory:channels")


@login_required
@require_POST
def channel_push_all(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = get_channel_for_user(request.user, channel_id)
    queued = services.channel_push_all(channel=channel)
    messages.success(request, f"{queued} products queued for {channel.name}.")
    return redirect("inventory:channels")


# -- webhook pushes -------------------------------------------------------------------------------
@csrf_exempt
@require_POST
def webhook_receiver(request: HttpRequest, source_id: int) -> HttpResponse:
    """Sources push stock here. Verify (token or HMAC, constant time), store the body, enqueue
    its run, answer 202 — never parse or apply in the request. A forged push stores nothing.
    Unknown sources answer 401 like forged pushes, so ids can't be probed."""
    source = InventorySource.objects.filter(pk=source_id).first()
    if source is None:
        return JsonResponse({"error": "invalid token or signature"}, status=401)
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > WEBHOOK_MAX_BYTES:
        return JsonResponse({"error": "body too large"}, status=413)
    body = request.read(WEBHOOK_MAX_BYTES + 1)
    if len(body) > WEBHOOK_MAX_BYTES:
        return JsonResponse({"error": "body too large"}, status=413)
    receipt = services.webhook_receive(
        source=source, headers=dict(request.headers), body=body, content_type=request.content_type or ""
    )
    if receipt.status_code == 404:
        return JsonResponse({"error": "invalid token or signature"}, status=401)
    if receipt.status_code != 202:
        return JsonResponse({"error": receipt.reason}, status=receipt.status_code)
    return JsonResponse({"delivery": receipt.delivery_id, "run": receipt.run_id}, status=202)
