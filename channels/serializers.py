"""API shapes for channels and sync runs: explicit input serializers that only validate, and
output serializers that only render. Neither writes: the views hand validated data to services.

Secrets never leave in full: credentials are rendered masked and the webhook secret only as
`has_webhook_secret` (design.md invariant 8)."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from fenicia.crypto import mask

from .adapters import ADAPTERS, supported_kinds
from .adapters.base import Capability
from .models import Channel, ChannelKind, ChannelStatus, SyncRun


def capability_codes(kind: str) -> list[str]:
    """What the kind's adapter can do, sorted; empty for a kind without an adapter yet."""
    adapter_class = ADAPTERS.get(kind)
    return sorted(str(c) for c in getattr(adapter_class, "capabilities", ()))


class ChannelCreateInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[], help_text="A channel kind Fenicia has an adapter for.")
    name = serializers.CharField(max_length=120)
    api_base_url = serializers.URLField(
        required=False,
        allow_blank=True,
        default="",
        max_length=200,
        help_text="Overrides the channel's API host (the sandbox marketplace, a proxy).",
    )
    credentials = serializers.DictField(
        allow_empty=False,
        help_text="Adapter-specific connection values, e.g. for Shopify: shop, access_token, api_version. "
        "Stored encrypted and never returned.",
    )
    webhook_secret = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=True,
        help_text="The secret the channel signs webhooks with. Required for kinds that receive webhooks.",
    )
    poll_interval_minutes = serializers.IntegerField(required=False, default=15, min_value=1, max_value=24 * 60)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Read the registry when the serializer is built, not at import: only kinds with an
        # adapter can be connected, and the choices (and the schema's enum) follow the registry.
        labels = dict(ChannelKind.choices)
        self.fields["kind"].choices = [(kind, labels.get(kind, kind)) for kind in supported_kinds()]

    def validate(self, attrs):
        if Capability.WEBHOOKS in capability_codes(attrs["kind"]) and not attrs.get("webhook_secret"):
            raise serializers.ValidationError(
                {"webhook_secret": "This channel sends webhooks: its signing secret is required."}
            )
        return attrs


class SyncStartInputSerializer(serializers.Serializer):
    since = serializers.DateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Import orders updated since this moment (ISO 8601). Defaults to the last 30 days.",
    )

    def validate_since(self, value):
        if value is not None and value > timezone.now():
            raise serializers.ValidationError("Must not be in the future.")
        return value


class ChannelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=ChannelKind.choices)
    kind_display = serializers.CharField(source="get_kind_display")
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=ChannelStatus.choices)
    status_changed_at = serializers.DateTimeField()
    api_base_url = serializers.CharField()
    webhook_url = serializers.CharField(help_text="Where the channel must send its webhooks.")
    has_webhook_secret = serializers.SerializerMethodField()
    credentials_masked = serializers.SerializerMethodField(
        help_text="Each stored credential, masked: enough to recognise it, never enough to use it."
    )
    capabilities = serializers.SerializerMethodField()
    poll_interval_minutes = serializers.IntegerField()
    last_successful_sync_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()
    last_error_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_has_webhook_secret(self, channel: Channel) -> bool:
        return bool(channel.webhook_secret)

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
    def get_credentials_masked(self, channel: Channel) -> dict[str, str]:
        return {key: mask(str(value)) for key, value in sorted((channel.credentials or {}).items())}

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=list(Capability))))
    def get_capabilities(self, channel: Channel) -> list[str]:
        return capability_codes(channel.kind)


class SyncRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    channel = serializers.IntegerField(source="channel_id")
    kind = serializers.ChoiceField(choices=SyncRun.Kind.choices)
    status = serializers.ChoiceField(choices=SyncRun.Status.choices)
    is_active = serializers.BooleanField(help_text="Queued or running: poll this run until it is false.")
    window_start = serializers.DateTimeField(allow_null=True)
    window_end = serializers.DateTimeField(allow_null=True)
    total = serializers.IntegerField(allow_null=True, help_text="Orders expected, when the channel can tell.")
    processed = serializers.IntegerField()
    progress_percent = serializers.IntegerField(allow_null=True)
    created_count = serializers.IntegerField()
    updated_count = serializers.IntegerField()
    stale_count = serializers.IntegerField()
    failed_count = serializers.IntegerField()
    steps = serializers.IntegerField()
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
