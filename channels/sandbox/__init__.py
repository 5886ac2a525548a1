"""The sandbox marketplace (design.md §6): a local HTTP server speaking Shopify's Admin GraphQL
API closely enough for `channels.adapters.shopify.ShopifyAdapter`, with signed webhooks and
fault injection. Standard library only; `python manage.py sandbox` runs it for a demo.

    with SandboxServer(seed=7) as server:
        server.state.add_shop("demo.myshopify.com", token="shpat_x", webhook_secret="s")
        server.state.create_orders("demo.myshopify.com", 25)
        server.state.faults.inject(status=503, count=2)
        ...  # a ChannelConnection with api_base_url=server.url
"""

from .recorder import WebhookRecorder
from .server import OrderGenerator, SandboxServer
from .state import (
    Fault,
    Faults,
    InvalidChange,
    SandboxError,
    SandboxState,
    ShopState,
    UnknownOrder,
    UnknownShop,
    UserError,
    WebhookEvent,
)

__all__ = [
    "Fault",
    "Faults",
    "InvalidChange",
    "OrderGenerator",
    "SandboxError",
    "SandboxServer",
    "SandboxState",
    "ShopState",
    "UnknownOrder",
    "UnknownShop",
    "UserError",
    "WebhookEvent",
    "WebhookRecorder",
]
