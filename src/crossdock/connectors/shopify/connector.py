"""The `shopify` connector kind as the registry knows it: what it reaches, what the shop takes, and its two sides.
Must not: build anything at import time; the factories run when bootstrap builds a hub."""

from __future__ import annotations

from crossdock.connectors.registry import Connector, Limits, Reach, Setup
from crossdock.connectors.shopify.client import ShopifyClient
from crossdock.connectors.shopify.inbound import ShopifyInbound
from crossdock.connectors.shopify.options import shop_options
from crossdock.connectors.shopify.outbound import ShopifySender
from crossdock.hub.ports import InboundAdapter, Sender


def _inbound(setup: Setup) -> InboundAdapter:
    return ShopifyInbound(setup.name, shop_options(f"sources.{setup.name}", setup.options))


def _sender(setup: Setup) -> Sender:
    rules = shop_options(f"destinations.{setup.name}", setup.options)
    # The cross-reference reader is handed over once the hub exists (wiring.wire): the Setup has no store.
    return ShopifySender(setup.name, rules, ShopifyClient(rules), resolve=None)


SHOPIFY = Connector(
    kind="shopify",
    reaches=(Reach.WEBHOOK, Reach.POLL, Reach.API),
    inbound=_inbound,
    sender=_sender,
    # The REST leaky bucket of a standard shop: 40 calls, 2 a second. One call at a time keeps the pacing exact.
    limits=Limits(rate_per_second=2.0, burst=40.0, concurrency=1),
    summary="Shopify webhooks and an order poll in; inventory levels, fulfillments and cancellations out",
)
