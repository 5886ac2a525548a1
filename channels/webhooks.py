"""Webhook receivers: the only views channels call. Verify, store, enqueue, answer."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .models import Channel
from .services import webhook_receive


@csrf_exempt
@require_POST
def webhook_receiver(request: HttpRequest, kind: str, channel_id: int) -> HttpResponse:
    channel = get_object_or_404(Channel, pk=channel_id, kind=kind)
    body = request.body  # the raw bytes: the signature is over exactly these
    receipt = webhook_receive(channel=channel, headers=request.headers, body=body)
    if receipt.status_code == 401:
        return JsonResponse({"error": "invalid signature"}, status=401)
    return JsonResponse({"ok": True, "duplicate": receipt.duplicate}, status=200)
