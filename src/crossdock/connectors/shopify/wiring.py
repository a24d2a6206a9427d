"""What the Shopify senders need from a built hub, handed over by bootstrap: a reader of cross-references (the order
poll is the connector's poller side, connector.py). Must not: run at import time, or write anything but the
exceptions for missing links."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from crossdock.connectors.shopify.outbound import Resolve, ShopifySender
from crossdock.hub import xrefs
from crossdock.hub.ports import Sender, UnitOfWorkFactory
from crossdock.hub.timers import Publish


def resolver(
    begin: UnitOfWorkFactory, now: Callable[[], datetime], system: str, publish: Publish | None = None
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


def wire(
    begin: UnitOfWorkFactory,
    now: Callable[[], datetime],
    senders: Mapping[str, Sender],
    publish: Publish | None = None,
) -> None:
    """Bind each Shopify sender to the cross-reference store."""
    for name, sender in senders.items():
        inner = getattr(sender, "inner", sender)  # batched senders wrap the connector's own
        if isinstance(inner, ShopifySender):
            inner.resolve_with(resolver(begin, now, name, publish))
