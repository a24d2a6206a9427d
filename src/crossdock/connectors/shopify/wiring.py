"""What the Shopify connector needs from a built hub, handed over by bootstrap: the senders' reader of
cross-references, and the order pollers of the shops that ask for one. Must not: run at import time, or write
anything but intake's messages, the poll's watermark and the exceptions for missing links."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from crossdock.connectors.shopify.client import ShopifyClient
from crossdock.connectors.shopify.inbound import ShopifyInbound
from crossdock.connectors.shopify.outbound import Resolve, ShopifySender
from crossdock.connectors.shopify.poller import CONNECTOR, STREAM, OrderPoller, Prepare
from crossdock.hub import xrefs
from crossdock.hub.ports import InboundAdapter, IntakeResult, NewMessage, Sender, UnitOfWorkFactory


def resolver(
    begin: UnitOfWorkFactory, now: Callable[[], datetime], system: str, publish: xrefs.Publish | None = None
) -> Resolve:
    """The other system's id of a hub id, read when a delivery is sent. A missing one opens (once) an exception
    for master data, saying what waits for it, announced through `publish` (the processor's), and answers None: the
    delivery is dead-lettered with the reason."""

    def resolve(kind: str, hub_id: str) -> str | None:
        with begin() as uow:
            found = xrefs.require_external_id(
                uow, kind, system, hub_id, at=now(), publish=publish, needed_for=f"to send to Shopify ({system})"
            )
            uow.commit()
        return found

    return resolve


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


def wire(
    begin: UnitOfWorkFactory,
    now: Callable[[], datetime],
    prepare: Prepare,
    adapters: Mapping[str, InboundAdapter],
    senders: Mapping[str, Sender],
    publish: xrefs.Publish | None = None,
) -> list[OrderPoller]:
    """Bind each Shopify sender to the cross-reference store; an order poller per Shopify source with poll_minutes."""
    for name, sender in senders.items():
        inner = getattr(sender, "inner", sender)  # batched senders wrap the connector's own
        if isinstance(inner, ShopifySender):
            inner.resolve_with(resolver(begin, now, name, publish))
    pollers = []
    for name, adapter in adapters.items():
        if not isinstance(adapter, ShopifyInbound) or adapter.rules.poll_minutes is None:
            continue

        def read_watermark(source: str = name) -> str | None:
            with begin() as uow:
                return uow.watermarks.get(CONNECTOR, f"{source}:{STREAM}")

        pollers.append(
            OrderPoller(
                source=name,
                shop=adapter.rules.shop,
                transport=ShopifyClient(adapter.rules),
                prepare=prepare,
                take_in=taker(begin, now, name),
                read_watermark=read_watermark,
                now=now,
                every=timedelta(minutes=adapter.rules.poll_minutes),
            )
        )
    return pollers
