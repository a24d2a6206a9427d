"""A 3PL source's folder as the worker polls it, and what the warehouse connectors need from a built hub, handed
over by bootstrap: the stock desk's reconciliation (with the watermark of the latest snapshot reconciled) for the
pollers, a reader of who an order ships to for the WMS and 3PL senders, and of an order's events for the 3PL senders'
cancel files. Must not: run at import time, or write anything but intake's messages and that watermark."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from crossdock.connectors.files.poller import FilePoller, PassReport
from crossdock.connectors.threepl.outbound import OrderEventsOf, ThreePlSender
from crossdock.connectors.threepl.snapshots import SnapshotPoller
from crossdock.connectors.wms import wiring as wms_wiring
from crossdock.connectors.wms.outbound import WmsSender
from crossdock.domain.documents import Customer
from crossdock.domain.events import Envelope
from crossdock.domain.inventory import ReconciliationReport
from crossdock.hub.ports import Polled, Sender, UnitOfWorkFactory

CONNECTOR = "3pl"
STREAM = "snapshot"
ORDER_HISTORY = 10_000  # events of one order read for its cancel files; far more than any order has

# reconcile(counts, source, reconciliation_id) -> the report: the stock desk's, in its own unit of work.
Reconcile = Callable[[dict[tuple[str, str], Decimal], str, str], ReconciliationReport]


@dataclass(frozen=True)
class HubBooks:
    """The reconciliation and its watermark: the as_of of the latest snapshot reconciled, per source."""

    begin: UnitOfWorkFactory
    now: Callable[[], datetime]
    reconcile_with: Reconcile

    def last_as_of(self, source: str) -> datetime | None:
        with self.begin() as uow:
            found = uow.watermarks.get(CONNECTOR, f"{source}:{STREAM}")
        return datetime.fromisoformat(found) if found else None

    def reconcile(
        self, source: str, counts: dict[tuple[str, str], Decimal], reconciliation_id: str, as_of: datetime
    ) -> ReconciliationReport:
        report = self.reconcile_with(counts, source, reconciliation_id)
        # After the reconciliation: a crash in between reconciles the same file again, which posts nothing new.
        with self.begin() as uow:
            last = uow.watermarks.get(CONNECTOR, f"{source}:{STREAM}")
            if last is None or datetime.fromisoformat(last) < as_of:
                uow.watermarks.advance(CONNECTOR, f"{source}:{STREAM}", as_of.isoformat(), self.now())
            uow.commit()
        return report


@dataclass
class ThreePlFolder:
    """A 3PL's inbound folder (or SFTP account) as the worker polls it: confirmations and acknowledgements into
    intake, stock snapshots into the reconciliation; one poll is a pass of each."""

    files: FilePoller
    snapshots: SnapshotPoller
    every: float

    @property
    def source(self) -> str:
        return self.files.source

    def poll(self) -> Polled:
        passes = [self.files.poll_once(), self.snapshots.poll_once()]
        return _polled(passes)

    def close(self) -> None:
        self.files.transport.close()
        self.snapshots.transport.close()


def _polled(passes: Iterable[PassReport]) -> Polled:
    done = list(passes)
    troubles = [p.listing_error for p in done if p.listing_error]
    troubles += [f"{name}: {why}" for p in done for name, why in p.failed.items()]
    return Polled(
        taken_in=sum(len(p.archived) for p in done),
        refused=sum(len(p.rejected) for p in done),
        error="; ".join(troubles) or None,
    )


def order_events_reader(begin: UnitOfWorkFactory) -> OrderEventsOf:
    """An order's events in log order."""

    def order_events(order_id: str) -> list[Envelope]:
        with begin() as uow:
            found = uow.log.for_subject(order_id, limit=ORDER_HISTORY)
        return [stored.envelope for stored in sorted(found, key=lambda stored: stored.position)]

    return order_events


def wire(
    begin: UnitOfWorkFactory,
    now: Callable[[], datetime],
    reconcile: Reconcile,
    customers: Mapping[str, Customer],
    senders: Mapping[str, Sender],
    pollers: Iterable[object],
) -> None:
    """Hand the WMS and 3PL senders the order readers, and the 3PL folders the reconciliation."""
    ship_to = wms_wiring.ship_to_reader(begin, customers)
    order_events = order_events_reader(begin)
    for sender in senders.values():
        inner = getattr(sender, "inner", sender)  # batched senders wrap the connector's own
        if isinstance(inner, WmsSender | ThreePlSender):
            inner.ship_to_with(ship_to)
        if isinstance(inner, ThreePlSender):
            inner.order_events_with(order_events)
    books = HubBooks(begin, now, reconcile)
    for poller in pollers:
        if isinstance(poller, ThreePlFolder):
            poller.snapshots.books = books
