"""The baseline webhook receiver: the least a correct receiver can do.

HMAC check of the raw body (same algorithm and header as Shopify), one INSERT of the body into
a bare table, 200. No channel lookup, no headers stored, no dedupe, no task enqueued. It runs
in the same gunicorn workers and behind the same middleware as Fenicia's receiver, so the
difference between the two is what Fenicia's receiver itself adds.
"""

import base64
import hashlib
import hmac

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST


def ping(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


@csrf_exempt
@require_POST
def baseline_webhook(request: HttpRequest) -> HttpResponse:
    body = request.body
    signature = request.headers.get("X-Shopify-Hmac-Sha256") or ""
    expected = base64.b64encode(hmac.new(settings.BENCH_WEBHOOK_SECRET.encode(), body, hashlib.sha256).digest())
    if not signature or not hmac.compare_digest(expected, signature.strip().encode()):
        return JsonResponse({"error": "invalid signature"}, status=401)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {settings.BENCH_RAW_TABLE} (body) VALUES (%s)", [body])
    return JsonResponse({"ok": True, "duplicate": False}, status=200)
