"""Adapter registry: channel kind -> adapter class. See channels/adapters/README.md to add one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import ChannelAdapter, ChannelConnection
from .shopify import ShopifyAdapter

if TYPE_CHECKING:
    from channels.models import Channel

ADAPTERS: dict[str, type] = {
    ShopifyAdapter.kind: ShopifyAdapter,
}


def supported_kinds() -> list[str]:
    return list(ADAPTERS)


def connection_for(channel: Channel) -> ChannelConnection:
    return ChannelConnection(
        channel_id=channel.pk,
        kind=channel.kind,
        credentials=dict(channel.credentials),
        webhook_secret=channel.webhook_secret,
        api_base_url=channel.api_base_url,
        status_mappings=dict(channel.status_mappings or {}),
    )


def adapter_for(channel: Channel, **kwargs) -> ChannelAdapter:
    try:
        adapter_class = ADAPTERS[channel.kind]
    except KeyError:
        raise LookupError(f"No adapter for channel kind {channel.kind!r} yet") from None
    return adapter_class(connection_for(channel), **kwargs)
