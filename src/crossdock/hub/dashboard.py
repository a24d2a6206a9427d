"""The operator's overview in business terms: what is stuck where and for how long, what is shipped but not billed or
received but not matched, where stock drifted, which invoices wait for a person, and how fast changes reach targets.

Owns: the KPI queries over one unit of work (bounded: each scans at most a few thousand rows and says when it stopped
short) and the health of each connector. Must not: write anything, read the clock or format for a screen.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from crossdock.domain.money import round_money
from crossdock.domain.workflows import order_to_cash as otc
from crossdock.domain.workflows import procure_to_pay as p2p
from crossdock.hub.ports import (
    BreakerState,
    BusinessException,
    Delivery,
    DeliveryFilter,
    DeliveryStatus,
    EndpointState,
    ExceptionFilter,
    ExceptionStatus,
    MessageStatus,
    OrderFilter,
    PurchaseOrderFilter,
    UnitOfWork,
)

ZERO = Decimal(0)
SCAN_LIMIT = 5000  # rows one KPI reads at most; past it the figure is a lower bound (`capped`)
INVOICE_LINK = "invoice"  # the order desk links each invoice number to its order under this kind
SUPPLIERS = "suppliers"  # where supplier-invoice exceptions are counted: they belong to no sales channel
NO_CHANNEL = "unknown"
FINISHED_ORDERS = frozenset({otc.OrderStatus.CLOSED.value, otc.OrderStatus.CANCELLED.value})
FINISHED_POS = frozenset({p2p.POStatus.CLOSED.value, p2p.POStatus.CANCELLED.value})
SHIPPING_STATUSES = (otc.OrderStatus.PARTIALLY_SHIPPED.value, otc.OrderStatus.SHIPPED.value)
RECEIVING_STATUSES = (p2p.POStatus.PARTIALLY_RECEIVED.value, p2p.POStatus.RECEIVED.value)
# Bisecting for the oldest row stops within this: an age on a dashboard needs no finer grain.
OLDEST_RESOLUTION = timedelta(seconds=1)


# ---- answers ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """Open documents in one status and how long the one untouched longest has been waiting."""

    status: str
    count: int
    oldest_update: datetime | None
    stuck_for: timedelta | None


@dataclass(frozen=True)
class Backlog:
    """Documents with goods moved but money not yet matched to them: how many, how many units, their value per
    currency, and the longest wait. `capped`: the scan stopped at SCAN_LIMIT, so the figures are lower bounds."""

    documents: int = 0
    units: Decimal = ZERO
    value: dict[str, Decimal] = field(default_factory=dict)
    oldest_update: datetime | None = None
    capped: bool = False
    keys: tuple[str, ...] = ()  # the first few, to link to


@dataclass(frozen=True)
class LocationDivergence:
    location: str
    drifted: int  # sku positions at this location the reconciliation raised for a person to decide
    open: int  # ... of which still undecided
    positions: int = 0  # sku positions at this location whose count differed from the ledger, whatever was done
    adjusted: int = 0  # ... of which corrected by an adjustment
    unexplained: Decimal = ZERO  # the drift no pending movement explains, summed as sizes (never negative)


@dataclass(frozen=True)
class Reconciliation:
    """The last inventory reconciliation run kept, with its drifts per location."""

    reconciliation: str
    at: datetime
    actor: str
    source: str
    checked: int
    drifts: int
    adjustments: int
    by_location: tuple[LocationDivergence, ...]


@dataclass(frozen=True)
class DeadLetters:
    total: int
    by_destination: dict[str, int]
    capped: bool = False


@dataclass(frozen=True)
class LatencyBucket:
    """Deliveries queued in [start, end) and delivered: milliseconds from queued (or replayed) to delivered.
    `sampled` is how many were measured; at the sample limit the bucket held more."""

    start: datetime
    end: datetime
    sampled: int
    p50_ms: float | None
    p95_ms: float | None
    max_ms: float | None


@dataclass(frozen=True)
class Overview:
    as_of: datetime
    order_stages: tuple[Stage, ...]
    purchase_order_stages: tuple[Stage, ...]
    shipped_not_invoiced: Backlog
    receipts_not_matched: Backlog
    reconciliation: Reconciliation | None
    invoice_exceptions: dict[str, int]  # open exceptions about invoices, per sales channel
    open_exceptions: dict[str, int]  # per owner
    dead_letters: DeadLetters
    latency: tuple[LatencyBucket, ...]
    oldest_pending_delivery: timedelta | None  # how long the longest-waiting pending delivery has been queued


@dataclass(frozen=True)
class SourceHealth:
    name: str
    health: str  # ok, failing (failed messages kept), idle (nothing received yet)
    last_message_at: datetime | None
    failed: int
    capped: bool
    pending: int = 0  # messages received and not yet processed: the source's backlog


@dataclass(frozen=True)
class DestinationHealth:
    name: str
    health: str  # ok, degraded (failures or dead letters), down (breaker open)
    breaker: str
    failures: int
    open_until: datetime | None
    pending: int
    dead: int
    last_delivered_at: datetime | None  # the latest delivery seen in `since` .. now
    capped: bool


@dataclass(frozen=True)
class Connectors:
    sources: tuple[SourceHealth, ...]
    destinations: tuple[DestinationHealth, ...]
    watermarks: tuple[tuple[str, str, str, datetime], ...]  # connector, stream, value, when it last moved


# ---- the overview ----------------------------------------------------------------------------------------------


def overview(
    uow: UnitOfWork, now: datetime, *, window: timedelta = timedelta(hours=1), buckets: int = 12, sample: int = 500
) -> Overview:
    """Every KPI of the overview page, read in the caller's unit of work. The latency chart covers `window` before
    `now` in `buckets` equal slices, measuring at most `sample` deliveries per slice."""
    return Overview(
        as_of=now,
        order_stages=order_stages(uow, now),
        purchase_order_stages=purchase_order_stages(uow, now),
        shipped_not_invoiced=shipped_not_invoiced(uow),
        receipts_not_matched=receipts_not_matched(uow),
        reconciliation=last_reconciliation(uow),
        invoice_exceptions=invoice_exceptions_by_channel(uow),
        open_exceptions=dict(sorted(uow.exceptions.counts().items())),
        dead_letters=dead_letters(uow),
        latency=sync_latency(uow, now, window=window, buckets=buckets, sample=sample),
        oldest_pending_delivery=oldest_pending_delivery(uow, now),
    )


def order_stages(uow: UnitOfWork, now: datetime, *, page: int = SCAN_LIMIT) -> tuple[Stage, ...]:
    """Open orders per status (closed and cancelled left out) in the workflow's order of stages."""
    counts = uow.orders.counts()
    order = [s.value for s in otc.OrderStatus]

    def updates(status: str) -> Callable[[datetime | None, int], list[datetime]]:
        def find(before: datetime | None, limit: int) -> list[datetime]:
            found = uow.orders.find(OrderFilter(status=status, updated_before=before, limit=limit))
            return [r.updated_at for r in found if r.updated_at is not None]

        return find

    return tuple(
        _stage(status, counts[status], updates(status), now, page)
        for status in sorted(counts, key=lambda s: (order.index(s) if s in order else len(order), s))
        if status not in FINISHED_ORDERS and counts[status] > 0
    )


def purchase_order_stages(uow: UnitOfWork, now: datetime, *, page: int = SCAN_LIMIT) -> tuple[Stage, ...]:
    counts = uow.purchase_orders.counts()
    order = [s.value for s in p2p.POStatus]

    def updates(status: str) -> Callable[[datetime | None, int], list[datetime]]:
        def find(before: datetime | None, limit: int) -> list[datetime]:
            found = uow.purchase_orders.find(PurchaseOrderFilter(status=status, updated_before=before, limit=limit))
            return [r.updated_at for r in found if r.updated_at is not None]

        return find

    return tuple(
        _stage(status, counts[status], updates(status), now, page)
        for status in sorted(counts, key=lambda s: (order.index(s) if s in order else len(order), s))
        if status not in FINISHED_POS and counts[status] > 0
    )


def _stage(
    status: str, count: int, find: Callable[[datetime | None, int], list[datetime]], now: datetime, page: int
) -> Stage:
    oldest = oldest_update(find, page)
    return Stage(status, count, oldest, now - oldest if oldest is not None else None)


def oldest_update(find: Callable[[datetime | None, int], list[datetime]], page: int = SCAN_LIMIT) -> datetime | None:
    """The earliest update time among rows that `find(before, limit)` pages through newest first (`before`: only
    rows updated strictly before it). One page answers exactly when it holds them all; beyond it, single-row probes
    gallop back in time and then bisect, so a status with a million orders costs a few dozen indexed reads. The
    answer is a real row's time, at most OLDEST_RESOLUTION later than the true oldest."""
    first = find(None, page)
    if not first:
        return None
    oldest = min(first)
    if len(first) < page:
        return oldest
    step, floor = OLDEST_RESOLUTION, None
    for _ in range(64):  # gallop: double the step back until nothing is older
        older = find(oldest - step, 1)
        if not older:
            floor = oldest - step
            break
        oldest, step = older[0], step * 2
    if floor is None:
        return oldest
    for _ in range(64):  # bisect [floor, oldest]: nothing before floor, a row at oldest
        if oldest - floor <= OLDEST_RESOLUTION:
            break
        middle = floor + (oldest - floor) / 2
        older = find(middle, 1)
        if older:
            oldest = older[0]
        else:
            floor = middle
    return oldest


def shipped_not_invoiced(uow: UnitOfWork, *, limit: int = SCAN_LIMIT) -> Backlog:
    """Orders with units shipped that no invoice covers yet, valued at the order's prices."""
    tally = _Tally()
    for status in SHIPPING_STATUSES:
        records = uow.orders.find(OrderFilter(status=status, limit=limit))
        tally.capped = tally.capped or len(records) >= limit
        for record in records:
            state = otc.OrderState.model_validate(record.state)
            waiting = [(max(ZERO, ln.shipped - ln.invoiced), ln.unit_price) for ln in state.lines]
            tally.add(record.order_id, 1, waiting, state.currency, record.updated_at)
    return tally.backlog()


def receipts_not_matched(uow: UnitOfWork, *, limit: int = SCAN_LIMIT) -> Backlog:
    """Purchase orders with goods received in good condition that no approved supplier invoice covers yet (the open
    GR/IR), valued at the PO's current prices; `documents` counts their receipts."""
    tally = _Tally()
    for status in RECEIVING_STATUSES:
        records = uow.purchase_orders.find(PurchaseOrderFilter(status=status, limit=limit))
        tally.capped = tally.capped or len(records) >= limit
        for record in records:
            state = p2p.POState.model_validate(record.state)
            waiting = [(max(ZERO, ln.received - ln.invoiced), ln.unit_price) for ln in state.lines]
            tally.add(record.po_id, max(1, len(state.receipts)), waiting, state.currency, record.updated_at)
    return tally.backlog()


@dataclass
class _Tally:
    documents: int = 0
    units: Decimal = ZERO
    value: dict[str, Decimal] = field(default_factory=dict)
    oldest: datetime | None = None
    capped: bool = False
    keys: list[str] = field(default_factory=list)

    def add(
        self,
        key: str,
        documents: int,
        waiting: Sequence[tuple[Decimal, Decimal]],
        currency: str | None,
        updated_at: datetime | None,
    ) -> None:
        """One document's units waiting (quantity, unit price); nothing waiting leaves the tally as it was."""
        owed = sum((quantity for quantity, _ in waiting), ZERO)
        if owed <= 0:
            return
        self.documents += documents
        self.units += owed
        if currency is not None:
            worth = sum((round_money(q * price, currency) for q, price in waiting), ZERO)
            self.value[currency] = self.value.get(currency, ZERO) + worth
        self.keys.append(key)
        self.oldest = _earlier(self.oldest, updated_at)

    def backlog(self) -> Backlog:
        value = dict(sorted(self.value.items()))
        return Backlog(self.documents, self.units, value, self.oldest, self.capped, tuple(self.keys[:10]))


def last_reconciliation(uow: UnitOfWork) -> Reconciliation | None:
    """The newest reconciliation run kept, with its drifts grouped by location: how many positions drifted, how many
    were adjusted, and how many it raised for a person and are still undecided."""
    runs = uow.reconciliations.recent(limit=1)
    if not runs:
        return None
    run = runs[0]
    places: dict[str, list[Mapping[str, Any]]] = {}
    for drift in run.drifts:
        places.setdefault(str(drift["location"]), []).append(drift)
    raised = [uow.exceptions.get(exception_id) for exception_id in run.exceptions[:SCAN_LIMIT]]
    drifted: Counter[str] = Counter()
    undecided: Counter[str] = Counter()
    for exception in raised:
        if exception is None:
            continue
        location = exception.about_key.rpartition("@")[2] or exception.about_key
        drifted[location] += 1
        if exception.status is ExceptionStatus.OPEN:
            undecided[location] += 1
    return Reconciliation(
        reconciliation=run.id,
        at=run.at,
        actor=run.actor,
        source=run.source,
        checked=run.checked,
        drifts=len(run.drifts),
        adjustments=run.adjusted,
        by_location=tuple(
            LocationDivergence(
                location,
                drifted[location],
                undecided[location],
                positions=len(places.get(location, ())),
                adjusted=sum(1 for d in places.get(location, ()) if d.get("adjustment")),
                unexplained=sum((Decimal(str(d["unexplained"])) for d in places.get(location, ())), ZERO),
            )
            for location in sorted({*places, *drifted})
        ),
    )


def is_invoice_exception(exception: BusinessException) -> bool:
    """About an invoice or credit memo, or a reason that names invoicing (a refused invoice, a shipment not invoiced
    in time, an invoice not paid in time, a supplier invoice that does not match)."""
    return exception.about_kind in {"invoice", "credit_memo"} or "invoice" in exception.reason_code


def invoice_exceptions_by_channel(uow: UnitOfWork, *, limit: int = SCAN_LIMIT) -> dict[str, int]:
    """Open invoice exceptions per sales channel of the order they concern; supplier invoices under SUPPLIERS."""
    channels: dict[str, str | None] = {}

    def channel_of(order_id: str | None) -> str:
        if order_id is None:
            return NO_CHANNEL
        if order_id not in channels:
            record = uow.orders.load(order_id)
            channels[order_id] = record.channel if record is not None else None
        return channels[order_id] or NO_CHANNEL

    counts: Counter[str] = Counter()
    for exception in uow.exceptions.find(ExceptionFilter(status=ExceptionStatus.OPEN, limit=limit)):
        if not is_invoice_exception(exception):
            continue
        if exception.about_kind == "order":
            counts[channel_of(exception.about_key)] += 1
        elif exception.about_kind in {"invoice", "credit_memo"}:
            counts[channel_of(uow.links.target(INVOICE_LINK, exception.about_key))] += 1
        elif exception.about_kind == "purchase_order":
            counts[SUPPLIERS] += 1
        else:
            counts[NO_CHANNEL] += 1
    return dict(sorted(counts.items()))


def dead_letters(uow: UnitOfWork, *, limit: int = SCAN_LIMIT) -> DeadLetters:
    total = uow.outbox.counts().get(DeliveryStatus.DEAD.value, 0)
    found = uow.outbox.find(DeliveryFilter(status=DeliveryStatus.DEAD, limit=limit))
    by_destination = Counter(d.destination for d in found)
    return DeadLetters(total, dict(sorted(by_destination.items())), capped=len(found) >= limit)


def sync_latency(
    uow: UnitOfWork, now: datetime, *, window: timedelta = timedelta(hours=1), buckets: int = 12, sample: int = 500
) -> tuple[LatencyBucket, ...]:
    """Per slice of the window, oldest first: how long deliveries queued in it took to be delivered."""
    if buckets < 1 or window <= timedelta(0):
        raise ValueError("the latency chart needs a positive window and at least one bucket")
    width = window / buckets
    slices = []
    for index in range(buckets):
        start = now - window + width * index
        end = start + width
        found = uow.outbox.find(DeliveryFilter(status=DeliveryStatus.DELIVERED, since=start, until=end, limit=sample))
        slices.append(_bucket(start, end, [_latency_ms(d) for d in found if d.delivered_at is not None]))
    return tuple(slices)


def _latency_ms(delivery: Delivery) -> float:
    assert delivery.delivered_at is not None
    return max(0.0, (delivery.delivered_at - delivery.queued_at).total_seconds() * 1000)


def _bucket(start: datetime, end: datetime, latencies: Sequence[float]) -> LatencyBucket:
    if not latencies:
        return LatencyBucket(start, end, 0, None, None, None)
    ordered = sorted(latencies)
    return LatencyBucket(start, end, len(ordered), _percentile(ordered, 50), _percentile(ordered, 95), ordered[-1])


def _percentile(ordered: Sequence[float], percent: int) -> float:
    """Nearest rank: a value that was measured, never an interpolation between two."""
    rank = max(1, -(-len(ordered) * percent // 100))
    return ordered[rank - 1]


def oldest_pending_delivery(uow: UnitOfWork, now: datetime) -> timedelta | None:
    # Oldest first by queue order: the first pending row is the one waiting longest (replays re-queue in place).
    found = uow.outbox.find(DeliveryFilter(status=DeliveryStatus.PENDING, limit=1))
    return max(timedelta(0), now - found[0].queued_at) if found else None


# ---- connectors ------------------------------------------------------------------------------------------------


def connectors(
    uow: UnitOfWork,
    now: datetime,
    *,
    sources: Collection[str],
    destinations: Collection[str],
    since: timedelta = timedelta(hours=1),
    limit: int = SCAN_LIMIT,
) -> Connectors:
    """Each configured source and destination with its health; breaker state comes from the endpoint rows every
    worker shares, last delivery from the deliveries queued in the `since` before now."""
    source_health = []
    for name in sorted(sources):
        last = uow.inbox.find(source=name, limit=1)
        failed = uow.inbox.find(source=name, status=MessageStatus.FAILED, limit=limit)
        backlog = uow.inbox.find(source=name, status=MessageStatus.PENDING, limit=limit)
        health = "failing" if failed else ("ok" if last else "idle")
        source_health.append(
            SourceHealth(
                name,
                health,
                last[0].received_at if last else None,
                len(failed),
                max(len(failed), len(backlog)) >= limit,
                pending=len(backlog),
            )
        )
    endpoints = {state.endpoint: state for state in uow.endpoints.all()}
    destination_health = []
    for name in sorted(destinations):
        state = endpoints.get(name, EndpointState(endpoint=name))
        pending = uow.outbox.find(DeliveryFilter(destination=name, status=DeliveryStatus.PENDING, limit=limit))
        dead = uow.outbox.find(DeliveryFilter(destination=name, status=DeliveryStatus.DEAD, limit=limit))
        delivered = uow.outbox.find(
            DeliveryFilter(destination=name, status=DeliveryStatus.DELIVERED, since=now - since, limit=limit)
        )
        last_delivered = max((d.delivered_at for d in delivered if d.delivered_at is not None), default=None)
        destination_health.append(
            DestinationHealth(
                name=name,
                health=_destination_health(state, dead=len(dead)),
                breaker=state.breaker.value,
                failures=state.failures,
                open_until=state.open_until,
                pending=len(pending),
                dead=len(dead),
                last_delivered_at=last_delivered,
                capped=max(len(pending), len(dead), len(delivered)) >= limit,
            )
        )
    marks = tuple(
        (connector, stream, value, moved)
        for (connector, stream), (value, moved) in sorted(uow.watermarks.all().items())
    )
    return Connectors(tuple(source_health), tuple(destination_health), marks)


def _destination_health(state: EndpointState, *, dead: int) -> str:
    if state.breaker is BreakerState.OPEN:
        return "down"
    if state.breaker is BreakerState.HALF_OPEN or state.failures > 0 or dead > 0:
        return "degraded"
    return "ok"


# ---- inside ----------------------------------------------------------------------------------------------------


def _earlier(current: datetime | None, candidate: datetime | None) -> datetime | None:
    if candidate is None:
        return current
    return candidate if current is None or candidate < current else current


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0
