"""The `shopify` connector kind as the registry knows it: what it reaches, what the shop takes, its two sides and the
order poll that catches missed webhooks. Must not: build anything at import time; the factories run when bootstrap
builds a hub."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from crossdock.connectors.registry import Connector, Feed, Limits, Reach, Setup
from crossdock.connectors.shopify.client import ShopifyClient
from crossdock.connectors.shopify.inbound import ShopifyInbound
from crossdock.connectors.shopify.options import shop_options
from crossdock.connectors.shopify.outbound import ShopifySender
from crossdock.connectors.shopify.poller import CONNECTOR, STREAM, OrderPoller
from crossdock.hub.ports import InboundAdapter, IntakeResult, NewMessage, Polled, Poller, Sender, UnitOfWorkFactory


def _inbound(setup: Setup) -> InboundAdapter:
    return ShopifyInbound(setup.name, shop_options(f"sources.{setup.name}", setup.options))


def _sender(setup: Setup) -> Sender:
    rules = shop_options(f"destinations.{setup.name}", setup.options)
    # The cross-reference reader is handed over once the hub exists (wiring.wire): the Setup has no store.
    return ShopifySender(setup.name, rules, ShopifyClient(rules), resolve=None)


@dataclass
class ShopOrders:
    """A shop's order poll as the worker runs it. The shop's own interval holds even when the worker is told to poll
    everything more often: each poll is a page-by-page read of the shop's Admin API, paid from its call limit."""

    orders: OrderPoller

    @property
    def source(self) -> str:
        return self.orders.source

    @property
    def every(self) -> float:
        return self.orders.every.total_seconds()

    def poll(self) -> Polled:
        done = self.orders.poll_once()
        return Polled(taken_in=done.taken_in, already_had=done.already_had, error=done.error)

    def close(self) -> None:
        self.orders.transport.close()


def taker(
    begin: UnitOfWorkFactory, now: Callable[[], datetime], source: str
) -> Callable[[Sequence[NewMessage], str], list[IntakeResult]]:
    """Store a page of polled orders and move the watermark past them in one transaction: a crash re-reads the
    page, and intake answers duplicate for what was stored."""

    def take_in(messages: Sequence[NewMessage], watermark: str) -> list[IntakeResult]:
        with begin() as uow:
            results = uow.inbox.add(messages) if messages else []
            uow.watermarks.advance(CONNECTOR, f"{source}:{STREAM}", watermark, now())
            uow.commit()
        return results

    return take_in


def _poller(setup: Setup, feed: Feed) -> Poller | None:
    """A shop with `options.poll_minutes` (or the source's `poll_seconds`) is polled for orders updated since the
    watermark; a shop without either relies on its webhooks alone."""
    rules = shop_options(f"sources.{setup.name}", setup.options)
    minutes = rules.poll_minutes
    if minutes is None and setup.settings.get("poll_seconds") is None:
        return None
    every = setup.poll_every(minutes * 60 if minutes is not None else 0.0)

    def read_watermark() -> str | None:
        with feed.begin() as uow:
            return uow.watermarks.get(CONNECTOR, f"{setup.name}:{STREAM}")

    return ShopOrders(
        OrderPoller(
            source=setup.name,
            shop=rules.shop,
            transport=ShopifyClient(rules),
            prepare=feed.prepare,
            take_in=taker(feed.begin, feed.now, setup.name),
            read_watermark=read_watermark,
            now=feed.now,
            every=timedelta(seconds=every),
        )
    )


SHOPIFY = Connector(
    kind="shopify",
    reaches=(Reach.WEBHOOK, Reach.POLL, Reach.API),
    inbound=_inbound,
    sender=_sender,
    poller=_poller,
    # The REST leaky bucket of a standard shop: 40 calls, 2 a second. One call at a time keeps the pacing exact.
    limits=Limits(rate_per_second=2.0, burst=40.0, concurrency=1),
    summary="Shopify webhooks and an order poll in; inventory levels, fulfillments and cancellations out",
)
