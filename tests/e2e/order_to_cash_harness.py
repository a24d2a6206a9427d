"""A hub wired for order-to-cash from settings, the canonical messages a test sends it, and the invariants of issue 3
checked against its stores. Shared by the end-to-end proof, the parallel reservation test and the property test.

Owns: building such hubs and reading their business state. Must not: reach into handler internals; it only sends
messages and reads what the stores and the log say.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from crossdock import bootstrap, config
from crossdock.domain import catalog, documents
from crossdock.domain.accounting import JournalEntry
from crossdock.domain.workflows import order_to_cash as otc
from crossdock.hub.ports import ExceptionFilter, MessageStatus, OrderFilter, StoredEvent, UnitOfWork
from crossdock.storage.sql import migrate

START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
WAREHOUSE = "wms"  # the canonical source receipts, shipments and cancellations come from
BANK = "bank"  # the canonical source payments come from
ORDERS = bootstrap.ORDERS_API_SOURCE
CURRENCY = "EUR"
LEDGER = "main"
ACCOUNTS = {
    "receivable": "1200",
    "revenue": "4000",
    "tax_payable": "2200",
    "cogs": "5000",
    "inventory": "1400",
    "cash": "1000",
    "customer_credit": "2300",
}
ZERO = Decimal(0)


class SteppingClock:
    """Time stands still until the test moves it."""

    def __init__(self, start: datetime = START) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)


def settings_for(
    data_dir: Path,
    database_url: str | None,
    *,
    unit_costs: Mapping[str, str],
    tax_rate: str = "0",
    storage: Mapping[str, Any] | None = None,
    **more: Any,
) -> config.Settings:
    """Two canonical sources (the warehouse, the bank) and the API, a chart of accounts, and `more` settings."""
    overrides: dict[str, Any] = {
        "data_dir": str(data_dir),
        "sources": {WAREHOUSE: {"kind": "canonical"}, BANK: {"kind": "canonical"}},
        "accounting": {"accounts": ACCOUNTS, "unit_costs": dict(unit_costs), "ledger": LEDGER},
        "orders": {"tax_rate": tax_rate},
        **more,
    }
    if database_url is not None or storage:
        overrides["storage"] = {**(storage or {}), **({"url": database_url} if database_url else {})}
    return config.load(None, environ={}, overrides=overrides)


def build_runtime(settings: config.Settings, clock: SteppingClock) -> bootstrap.Runtime:
    """A hub on the settings' database, its schema migrated."""
    runtime = bootstrap.build(settings, clock=clock)
    migrate.upgrade(runtime.engine)
    return runtime


# ---- the messages ----------------------------------------------------------------------------------------------


def quantity(value: Decimal | int) -> dict[str, str]:
    return {"value": str(value), "unit": "EA"}


def cloudevent(payload: catalog.Payload, event_id: str, source: str = WAREHOUSE) -> bytes:
    """A catalogue payload as the CloudEvent a system that speaks the catalogue posts."""
    body = {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": catalog.type_of(payload),
        "data": catalog.data_of(payload),
    }
    return json.dumps(body, sort_keys=True).encode()


def receipt(sku: str, location: str, units: int, reference: str) -> catalog.InventoryAdjusted:
    return catalog.InventoryAdjusted(
        sku=sku,
        location=location,
        change=documents.Quantity(value=Decimal(units), unit="EA"),
        reason=catalog.AdjustmentReason.RECEIPT,
        reference=reference,
    )


@dataclass(frozen=True)
class Line:
    line: int
    sku: str
    units: int
    price: Decimal


def sales_order(number: str, customer: str, channel: str, lines: Sequence[Line]) -> bytes:
    """The bare canonical order the experience API takes."""
    order = {
        "number": number,
        "customer": customer,
        "channel": channel,
        "currency": CURRENCY,
        "lines": [
            {"line": ln.line, "sku": ln.sku, "quantity": quantity(ln.units), "unit_price": str(ln.price)}
            for ln in lines
        ],
    }
    return json.dumps(order, sort_keys=True).encode()


def cancellation(order: str, request: str, lines: Mapping[int, int] | None) -> catalog.OrderCancellationRequested:
    """Whole order (lines None) or so many units of some lines."""
    cancelled = None
    if lines is not None:
        cancelled = tuple(
            catalog.LineCancellation(line_id=documents.line_id(line), quantity=Decimal(units))
            for line, units in sorted(lines.items())
        )
    return catalog.OrderCancellationRequested(order=order, cancellation=request, lines=cancelled, reason="customer")


def shipment(
    number: str, order: str, location: str, lines: Sequence[tuple[int, str, int]]
) -> catalog.ShipmentConfirmed:
    """Lines as (order line, sku, units)."""
    return catalog.ShipmentConfirmed(
        shipment=documents.Shipment(
            number=number,
            order=order,
            from_location=location,
            lines=tuple(
                documents.ShipmentLine(line=line, sku=sku, quantity=documents.Quantity(value=Decimal(units), unit="EA"))
                for line, sku, units in lines
            ),
        )
    )


def payment(reference: str, customer: str, invoice: str, amount: Decimal, day: date) -> catalog.PaymentApplied:
    return catalog.PaymentApplied(
        payment=documents.Payment(
            reference=reference,
            customer=customer,
            amount=amount,
            currency=CURRENCY,
            received_on=day,
            applications=(documents.PaymentApplication(invoice=invoice, amount=amount),),
        )
    )


def invoice_number(shipment_number: str) -> str:
    return f"INV-{shipment_number}"  # the hub's default invoice prefix: one invoice per shipment


def invoice_total(lines: Iterable[tuple[int, str, int, Decimal]], tax_rate: Decimal) -> Decimal:
    """What the hub bills for a shipment: lines as (order line, sku, units, unit price)."""
    invoice = documents.Invoice(
        number="INV-X",
        order="X",
        shipment="X",
        customer="X",
        currency=CURRENCY,
        issued_on=START.date(),
        lines=tuple(
            documents.InvoiceLine(
                line=line,
                sku=sku,
                quantity=documents.Quantity(value=Decimal(units), unit="EA"),
                unit_price=price,
                tax_rate=tax_rate,
            )
            for line, sku, units, price in lines
        ),
    )
    return invoice.total().amount


# ---- reading the stores ------------------------------------------------------------------------------------------


def all_events(uow: UnitOfWork, page: int = 5_000) -> list[StoredEvent]:
    events: list[StoredEvent] = []
    after = 0
    while True:
        chunk = uow.log.read(after, page)
        events.extend(chunk)
        if len(chunk) < page:
            return events
        after = chunk[-1].position


def all_entries(uow: UnitOfWork, page: int = 1_000) -> list[JournalEntry]:
    entries: list[JournalEntry] = []
    after = 0
    while True:
        chunk = uow.journal.entries(LEDGER, after_sequence=after, limit=page)
        entries.extend(chunk)
        if len(chunk) < page:
            return entries
        after = max(entry.sequence or 0 for entry in chunk)


def all_orders(uow: UnitOfWork, limit: int = 100_000) -> dict[str, otc.OrderState]:
    records = uow.orders.find(OrderFilter(limit=limit))
    return {record.order_id: otc.OrderState.model_validate(record.state) for record in records}


def failed_messages(uow: UnitOfWork) -> list[str]:
    return [f"{m.source} {m.key}: {m.error}" for m in uow.inbox.find(status=MessageStatus.FAILED, limit=1_000)]


def released_at(uow: UnitOfWork, order: str) -> dict[int, set[str]]:
    """Per order line, the locations the order's shipment.released events asked the warehouse to ship from."""
    asked: dict[int, set[str]] = defaultdict(set)
    for stored in uow.log.for_subject(order, limit=1_000):
        if stored.envelope.type == catalog.ShipmentReleased.event_type:
            released = catalog.payload_as(stored.envelope, catalog.ShipmentReleased)
            for line in released.lines:
                asked[line.line].add(released.from_location)
    return asked


# ---- the invariants ----------------------------------------------------------------------------------------------
# Each check returns the rules it found broken, as "rule: detail", so that one run reports every broken rule.


@dataclass
class Expected:
    """What the test sent, as it knows it: the yardstick the stores are held against."""

    received: Counter[tuple[str, str]] = field(default_factory=Counter)  # (sku, location) -> units received
    shipped_from: Counter[tuple[str, str]] = field(default_factory=Counter)  # (sku, location) -> units shipped
    shipments: dict[str, str] = field(default_factory=dict)  # distinct shipment number -> order
    payments: dict[str, str] = field(default_factory=dict)  # distinct payment reference -> order


def summary(broken: Sequence[str], examples: int = 3) -> str:
    """Broken rules grouped by rule, with how often and a few examples each."""
    by_rule: dict[str, list[str]] = defaultdict(list)
    for item in broken:
        rule, _, detail = item.partition(": ")
        by_rule[rule].append(detail)
    return "\n".join(
        f"{rule} (broken {len(details)} times): " + " | ".join(details[:examples]) for rule, details in by_rule.items()
    )


def check_stock(
    uow: UnitOfWork, skus: Sequence[str], expected: Expected | None = None, *, shipped_as_held: bool = True
) -> list[str]:
    """No oversell, and on-hand as the movements sent say. `shipped_as_held`: the test shipped only what the hub
    held for its orders, so nothing may have shipped beyond what was received (a history that ships blind, as a
    warehouse reporting what it did, cannot promise that)."""
    broken: list[str] = []
    ledger = uow.inventory.load(sorted(skus))
    for position in ledger.positions():
        where = f"{position.sku}@{position.location}"
        if position.reserved > max(ZERO, position.on_hand):
            broken.append(f"no oversell: {where} holds {position.reserved} reserved against {position.on_hand} on hand")
        if position.reserved < 0:
            broken.append(f"a reservation never goes below zero: {where} has {position.reserved}")
        if expected is not None:
            key = (position.sku, position.location)
            if position.on_hand != expected.received[key] - expected.shipped_from[key]:
                broken.append(
                    f"on hand is what was received less what shipped: {where} has {position.on_hand}, receipts "
                    f"{expected.received[key]} less shipments {expected.shipped_from[key]}"
                )
    if expected is not None and shipped_as_held:
        for sku in skus:
            received = sum((n for (s, _), n in expected.received.items() if s == sku), 0)
            shipped = sum((n for (s, _), n in expected.shipped_from.items() if s == sku), 0)
            if shipped > received:
                broken.append(f"nothing ships that was never received: {sku} shipped {shipped} of {received}")
    return broken


def check_order_lines(orders: Mapping[str, otc.OrderState]) -> list[str]:
    broken: list[str] = []
    for order_id, state in orders.items():
        for line in state.lines:
            where = f"{order_id} line {line.line_id}"
            if line.invoiced > line.shipped:
                broken.append(f"invoiced <= shipped: {where} invoiced {line.invoiced} of {line.shipped} shipped")
            if line.shipped > line.ordered - line.cancelled:
                broken.append(
                    f"shipped <= ordered - cancelled: {where} shipped {line.shipped} of {line.ordered} ordered, "
                    f"{line.cancelled} cancelled"
                )
    return broken


def check_no_stranded_holds(uow: UnitOfWork, skus: Sequence[str], orders: Mapping[str, otc.OrderState]) -> list[str]:
    """Stock held for an order line is never more than the line still has to ship: a hold beyond that (for cancelled
    units, or for units that already left) is stock nobody can sell."""
    broken: list[str] = []
    ledger = uow.inventory.load(sorted(skus))
    for reservation in ledger.reservations():
        if reservation.reserved == 0:
            continue
        where = f"{reservation.order_id} line {reservation.line_id}"
        state = orders.get(reservation.order_id)
        line = state.line(reservation.line_id) if state is not None else None
        if state is None or line is None:
            broken.append(f"stock is held only for known order lines: {where} holds {reservation.reserved}")
            continue
        unshipped = line.ordered - line.cancelled - line.shipped
        if reservation.reserved > unshipped:
            broken.append(
                f"no stranded hold: {where} ({state.status.value}) holds {reservation.reserved} at "
                f"{','.join(a.location for a in reservation.allocations)} with {unshipped} left to ship"
            )
    return broken


def check_journal(uow: UnitOfWork) -> tuple[list[JournalEntry], list[str]]:
    broken: list[str] = []
    entries = all_entries(uow)
    for entry in entries:
        if entry.total_debit != entry.total_credit:
            broken.append(
                f"every entry balances: {entry.id} ({entry.rule}) debits {entry.total_debit}, "
                f"credits {entry.total_credit}"
            )
    debits = sum((entry.total_debit for entry in entries), ZERO)
    credits = sum((entry.total_credit for entry in entries), ZERO)
    if debits != credits:
        broken.append(f"total debits = total credits: {debits} != {credits}")
    sequences = [entry.sequence for entry in entries]
    if sequences != list(range(1, len(entries) + 1)):
        broken.append(f"journal sequences run 1..N without gaps or repeats: {sequences[:10]}...")
    return entries, broken


def check_once_in_effect(uow: UnitOfWork, entries: Sequence[JournalEntry], expected: Expected) -> list[str]:
    """Duplicates had no second effect: one shipment event, one invoice and one cost entry per distinct shipment,
    one cash entry per distinct payment."""
    broken: list[str] = []
    events = Counter(stored.envelope.type for stored in all_events(uow))
    shipments = len(expected.shipments)
    confirmed, invoiced = events[catalog.ShipmentConfirmed.event_type], events[catalog.InvoicePosted.event_type]
    if confirmed != shipments:
        broken.append(f"one shipment.confirmed per shipment: {confirmed} for {shipments}")
    if invoiced != shipments:
        broken.append(f"one invoice per shipment: {invoiced} invoices for {shipments} shipments")
    per_document = Counter((str(entry.rule), entry.source.document_number) for entry in entries)
    broken.extend(
        f"each document is posted to the journal once: {rule} {number} posted {n} times"
        for (rule, number), n in sorted(per_document.items())
        if n > 1
    )
    posted = {str(entry.source.document_number) for entry in entries if str(entry.rule) == "shipment"}
    broken.extend(
        f"every shipment's cost is posted: {number} of {order} has no cost entry"
        for number, order in sorted(expected.shipments.items())
        if number not in posted
    )
    paid = {str(entry.source.document_number) for entry in entries if str(entry.rule) == "payment"}
    broken.extend(
        f"every payment is posted: {reference} of {order} has no cash entry"
        for reference, order in sorted(expected.payments.items())
        if reference not in paid
    )
    return broken


def open_exceptions(uow: UnitOfWork) -> list[tuple[str, str, str]]:
    """(about, reason code, message) of every open exception."""
    found = uow.exceptions.find(ExceptionFilter(limit=100_000))
    return [(x.about_key, x.reason_code, x.message) for x in found]


def check_every_order_ends_well(uow: UnitOfWork, orders: Mapping[str, otc.OrderState]) -> list[str]:
    """Every order ends closed or cancelled, or has an open exception with a reason, or says why it is open."""
    excepted = {about for about, code, message in open_exceptions(uow) if code and message}
    return [
        f"an open order has an exception or says why: {order_id} is {state.status.value} with no reason"
        for order_id, state in orders.items()
        if state.status not in otc.TERMINAL and order_id not in excepted and not otc.open_reasons(state)
    ]
