"""The order-to-cash proof through the runtime: a thousand orders with random cancellations, partial shipments from
several warehouses, hub-posted invoices, payments (partial, over, early, missing), duplicate and out-of-order
messages, on SQLite and PostgreSQL; then the invariants of the issue, each assertion naming its business rule.

How an order must end (the rule the proof holds every order to): everything it still wants cancelled -> CANCELLED;
everything still wanted shipped and invoices paid in full or more -> CLOSED (an overpayment also opens one
`customer_credit` exception for finance); otherwise it is not finished and `open_reasons` says why, and the test
knows the cause: it held goods back, never shipped, paid in part or not at all, or the stock never came. A well-formed
history opens no other exception.
"""

from __future__ import annotations

import itertools
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossdock import bootstrap
from crossdock.domain import catalog
from crossdock.domain.workflows import order_to_cash as otc
from crossdock.hub.ports import IntakeStatus, NewMessage
from crossdock.hub.runtime import Hub
from crossdock.storage.memory import MemoryUnitOfWorkFactory
from tests.e2e import order_to_cash_harness as h

ORDER_COUNT = 1_000
SEED = 20250303
SKUS = tuple(f"S{n}" for n in range(1, 11))
SHORT, NEVER_ENOUGH = "S9", "S10"  # both received short at first; S9 is restocked in full later, S10 only in part
LOCATIONS = ("WH1", "WH2", "WH3")
CUSTOMERS = tuple(f"C{n:02}" for n in range(1, 13))
CHANNELS = ("web", "edi", "rep")
UNIT_COSTS = {sku: f"{n + 1}.25" for n, sku in enumerate(SKUS)}
TAX_RATE = Decimal("0.19")
CHUNK = 500  # messages sent between drains
BATCH_SIZE = 1_000  # messages per processing round


@dataclass
class Order:
    number: str
    customer: str
    channel: str
    lines: list[h.Line]
    cancel: str  # none | whole | lines
    cancel_early: bool  # the cancellation is sent before the order itself
    ship: str  # all | hold_back (one unit is never shipped) | never
    pay: str  # full | over | partial | never
    pay_early: bool  # the first invoice is paid before its shipment is sent
    cancelled: Counter[int] = field(default_factory=Counter)
    shipped: Counter[int] = field(default_factory=Counter)
    invoiced: Decimal = Decimal(0)
    paid: Decimal = Decimal(0)
    paid_early: set[str] = field(default_factory=set)  # invoice numbers

    def open(self, line: h.Line) -> int:
        return line.units - self.cancelled[line.line]

    @property
    def price(self) -> dict[int, Decimal]:
        return {line.line: line.price for line in self.lines}


@dataclass
class Outbound:
    """One message to send: a body for a source, maybe with headers."""

    source: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class Proof:
    """Drives one hub through the script and keeps what it sent as the yardstick."""

    def __init__(self, hub: Hub, clock: h.SteppingClock, rnd: random.Random) -> None:
        self.hub = hub
        self.clock = clock
        self.rnd = rnd
        self.expected = h.Expected()
        self.intake: Counter[IntakeStatus] = Counter()
        self.injected: Counter[str] = Counter()
        self.orders: dict[str, Order] = {}

    # ---- sending -----------------------------------------------------------------------------------------------

    def send(self, messages: Sequence[Outbound]) -> None:
        """Store a chunk durably, then work until nothing is due, as a worker would."""
        for start in range(0, len(messages), CHUNK):
            now = self.clock.now()
            prepared: list[NewMessage] = [
                self.hub.intake.prepare(m.source, m.body, m.headers, now) for m in messages[start : start + CHUNK]
            ]
            for result in self.hub.accept(prepared):
                self.intake[result.status] += 1
            self.hub.drain("proof")
            self.clock.advance(1)

    def event(self, payload: catalog.Payload, event_id: str, source: str = h.WAREHOUSE) -> list[Outbound]:
        """The CloudEvent, and sometimes a duplicate of it: the very same message again, or the same event id with
        a different body (a conflict the intake refuses)."""
        sent = [Outbound(source, h.cloudevent(payload, event_id, source))]
        roll = self.rnd.random()
        if roll < 0.05:
            self.injected["same message again"] += 1
            sent.append(Outbound(source, sent[0].body))
        elif roll < 0.08:
            self.injected["same event id, other body"] += 1
            sent.append(Outbound(source, sent[0].body.replace(b'"specversion"', b'"comment": "resent", "specversion"')))
        return sent

    # ---- the script --------------------------------------------------------------------------------------------

    def make_orders(self) -> None:
        rnd = self.rnd
        for n in range(1, ORDER_COUNT + 1):
            skus = rnd.sample(SKUS, rnd.choice((1, 1, 2, 2, 3)))
            lines = [
                h.Line(line=i, sku=sku, units=rnd.randint(1, 5), price=Decimal(rnd.randint(100, 9_999)) / 100)
                for i, sku in enumerate(skus, start=1)
            ]
            cancel = rnd.choices(("none", "whole", "lines"), (80, 7, 13))[0]
            pay = rnd.choices(("full", "over", "partial", "never"), (75, 8, 10, 7))[0]
            self.orders[f"SO-{n:04}"] = Order(
                number=f"SO-{n:04}",
                customer=rnd.choice(CUSTOMERS),
                channel=rnd.choice(CHANNELS),
                lines=lines,
                cancel=cancel,
                cancel_early=cancel != "none" and rnd.random() < 0.25,
                ship=rnd.choices(("all", "hold_back", "never"), (90, 5, 5))[0],
                pay=pay,
                pay_early=pay == "full" and rnd.random() < 0.15,
            )

    def receive_stock(self, share: dict[str, float], reference: str) -> None:
        """Receipts of `share` of each sku's demand, spread over two or three warehouses."""
        demand: Counter[str] = Counter()
        for order in self.orders.values():
            for line in order.lines:
                demand[line.sku] += line.units
        messages: list[Outbound] = []
        for sku in SKUS:
            units = int(demand[sku] * share.get(sku, 0))
            if units == 0:
                continue
            where = self.rnd.sample(LOCATIONS, self.rnd.choice((2, 3)))
            cuts = sorted(self.rnd.sample(range(1, units), len(where) - 1)) if units > len(where) else []
            for location, part in zip(where, _parts(units, cuts), strict=True):
                if part <= 0:
                    continue
                self.expected.received[(sku, location)] += part
                payload = h.receipt(sku, location, part, f"{reference}-{sku}-{location}")
                messages.extend(self.event(payload, f"rcv-{reference}-{sku}-{location}"))
        self.send(messages)

    def place_orders(self) -> None:
        messages: list[Outbound] = []
        for order in self.orders.values():
            if order.cancel_early:
                self.injected["cancellation before its order"] += 1
                messages.extend(self._cancellation(order))
            key = {"idempotency-key": f"order-{order.number}"}
            body = h.sales_order(order.number, order.customer, order.channel, order.lines)
            messages.append(Outbound(h.ORDERS, body, key))
            roll = self.rnd.random()
            if roll < 0.05:
                self.injected["same order, same idempotency key"] += 1
                messages.append(Outbound(h.ORDERS, body, key))
            elif roll < 0.08:
                # The channel retried with a new key: the intake takes it, the order's state absorbs it.
                self.injected["same order, new idempotency key"] += 1
                messages.append(Outbound(h.ORDERS, body, {"idempotency-key": f"order-{order.number}-retry"}))
        self.send(messages)

    def cancel_orders(self) -> None:
        messages: list[Outbound] = []
        for order in self.orders.values():
            if order.cancel != "none" and not order.cancel_early:
                messages.extend(self._cancellation(order))
        self.rnd.shuffle(messages)
        self.send(messages)

    def _cancellation(self, order: Order) -> list[Outbound]:
        request = f"X-{order.number}"
        if order.cancel == "whole":
            for line in order.lines:
                order.cancelled[line.line] = line.units
            payload = h.cancellation(order.number, request, None)
        else:
            chosen = self.rnd.sample(order.lines, self.rnd.randint(1, len(order.lines)))
            units = {line.line: self.rnd.randint(1, line.units) for line in chosen}
            order.cancelled.update(units)
            payload = h.cancellation(order.number, request, units)
        return self.event(payload, f"cx-{order.number}")

    def ship(self, wave: int) -> int:
        """Ship what the stock ledger holds for each order (never more than the test still means to ship), from the
        locations its releases named, in one to three partial shipments; payments sent before their invoice go
        first in the same chunk. Returns how many shipments went out."""
        with self.hub.begin() as uow:
            ledger = uow.inventory.load(list(SKUS))
            holds: dict[str, list[tuple[str, int, str, int]]] = defaultdict(list)
            for reservation in ledger.reservations():
                for allocation in reservation.allocations:
                    held = (allocation.location, int(reservation.line_id), reservation.sku, int(allocation.quantity))
                    holds[reservation.order_id].append(held)
            asked = {number: h.released_at(uow, number) for number in holds}
        early: list[Outbound] = []
        shipments: list[Outbound] = []
        for number in sorted(holds):
            order = self.orders[number]
            if order.ship == "never" or (order.ship == "hold_back" and wave > 1):
                continue
            pieces = self._shippable(order, sorted(holds[number]))
            for location, line, _sku, _units in pieces:
                assert location in asked[number].get(line, set()), (
                    f"stock is held only where the warehouse was asked to ship from: {number} line {line} is held "
                    f"at {location}, released from {sorted(asked[number].get(line, set()))}"
                )
            if order.ship == "hold_back" and pieces:
                self.injected["order deliberately shipped short"] += 1
                location, line, sku, units = pieces.pop()
                if units > 1:
                    pieces.append((location, line, sku, units - 1))
            for index, (location, lines) in enumerate(self._split(pieces)):
                shipment = f"SH-{number}-{wave}{index}"
                messages = self._shipment(order, shipment, location, lines)
                if order.pay_early and wave == 1 and index == 0:
                    self.injected["payment before its invoice"] += 1
                    early.extend(self._payment(order, h.invoice_number(shipment), self._billed(order, lines), "early"))
                    order.paid_early.add(h.invoice_number(shipment))
                shipments.extend(messages)
        self.rnd.shuffle(shipments)  # partial shipments of one order arrive in any order
        self.send(early + shipments)
        return len(self.expected.shipments)

    def _shippable(self, order: Order, holds: list[tuple[str, int, str, int]]) -> list[tuple[str, int, str, int]]:
        left = {line.line: order.open(line) - order.shipped[line.line] for line in order.lines}
        pieces = []
        for location, line, sku, units in holds:
            take = min(units, left[line])
            if take > 0:
                left[line] -= take
                pieces.append((location, line, sku, take))
        return pieces

    def _split(self, pieces: list[tuple[str, int, str, int]]) -> Iterator[tuple[str, list[tuple[int, str, int]]]]:
        """One shipment per location; with luck one more, splitting a line's units between two boxes."""
        by_location: dict[str, list[tuple[int, str, int]]] = defaultdict(list)
        for location, line, sku, units in pieces:
            by_location[location].append((line, sku, units))
        spare = 3 - len(by_location)  # shipments left to split boxes into, keeping one to three in all
        for location, lines in sorted(by_location.items()):
            first = lines[0]
            if spare > 0 and first[2] > 1 and self.rnd.random() < 0.5:
                spare -= 1
                half = first[2] // 2
                yield location, [(first[0], first[1], half)]
                yield location, [(first[0], first[1], first[2] - half), *lines[1:]]
            else:
                yield location, lines

    def _shipment(self, order: Order, number: str, location: str, lines: list[tuple[int, str, int]]) -> list[Outbound]:
        for line, sku, units in lines:
            order.shipped[line] += units
            self.expected.shipped_from[(sku, location)] += units
        self.expected.shipments[number] = order.number
        order.invoiced += self._billed(order, lines)
        return self.event(h.shipment(number, order.number, location, lines), f"ship-{number}")

    def _billed(self, order: Order, lines: list[tuple[int, str, int]]) -> Decimal:
        return h.invoice_total(((line, sku, units, order.price[line]) for line, sku, units in lines), TAX_RATE)

    def _payment(self, order: Order, invoice: str, amount: Decimal, tag: str) -> list[Outbound]:
        reference = f"PAY-{order.number}-{tag}-{invoice}"
        self.expected.payments[reference] = order.number
        order.paid += amount
        payload = h.payment(reference, order.customer, invoice, amount, h.START.date())
        return self.event(payload, f"pay-{reference}", source=h.BANK)

    def pay(self) -> None:
        """Pay the invoices the hub posted, as each order's plan says."""
        messages: list[Outbound] = []
        with self.hub.begin() as uow:
            for number, order in self.orders.items():
                invoices = [
                    catalog.payload_as(stored.envelope, catalog.InvoicePosted).invoice
                    for stored in uow.log.for_subject(number, limit=1_000)
                    if stored.envelope.type == catalog.InvoicePosted.event_type
                ]
                billed = sum((invoice.total().amount for invoice in invoices), Decimal(0))
                assert billed == order.invoiced, (
                    f"invoices bill what shipped at the order's prices: {number} billed {billed}, "
                    f"shipped worth {order.invoiced}"
                )
                for index, invoice in enumerate(sorted(invoices, key=lambda i: i.number)):
                    total = invoice.total().amount
                    if invoice.number in order.paid_early or order.pay == "never":
                        continue
                    if order.pay == "partial":
                        if index == 0:
                            messages.extend(
                                self._payment(order, invoice.number, (total / 2).quantize(Decimal("0.01")), "part")
                            )
                        continue
                    extra = Decimal("5.00") if order.pay == "over" and index == len(invoices) - 1 else Decimal(0)
                    messages.extend(self._payment(order, invoice.number, total + extra, "full"))
        self.rnd.shuffle(messages)
        self.send(messages)


def _parts(total: int, cuts: list[int]) -> list[int]:
    bounds = [0, *cuts, total]
    return [b - a for a, b in itertools.pairwise(bounds)]


def _run(proof: Proof) -> None:
    proof.make_orders()
    full = {sku: 1.0 for sku in SKUS}
    proof.receive_stock({**full, SHORT: 0.45, NEVER_ENOUGH: 0.4}, "first")
    proof.place_orders()
    proof.cancel_orders()
    proof.ship(1)
    # Stock for the backorders: in full for one sku, only in part for the other (some of its lines wait for ever).
    proof.receive_stock({SKUS[0]: 0.1, SHORT: 0.6, NEVER_ENOUGH: 0.3}, "restock")
    # Shipments give back what a line no longer needs, which fills other backorders: ship until nothing is held.
    shipped, wave = len(proof.expected.shipments), 2
    while (more := proof.ship(wave)) > shipped and wave < 6:
        shipped, wave = more, wave + 1
    proof.pay()


def _check(proof: Proof) -> tuple[list[str], Counter[str]]:
    """The invariants: the rules found broken, and why the unfinished orders are unfinished."""
    waiting: Counter[str] = Counter()
    with proof.hub.begin() as uow:
        broken = [f"no well-formed message fails: {failure}" for failure in h.failed_messages(uow)]
        broken += h.check_stock(uow, SKUS, proof.expected)
        states = h.all_orders(uow)
        broken += [f"every order sent is stored: {n} is missing" for n in sorted(set(proof.orders) - set(states))]
        broken += h.check_order_lines(states)
        broken += h.check_no_stranded_holds(uow, SKUS, states)
        entries, unbalanced = h.check_journal(uow)
        broken += unbalanced
        broken += h.check_once_in_effect(uow, entries, proof.expected)
        broken += h.check_every_order_ends_well(uow, states)
        exceptions = h.open_exceptions(uow)
    overpaid = {number for number, order in proof.orders.items() if order.pay == "over"}
    broken += [
        f"a well-formed history opens no exception but overpayment credit: {about} {code}: {message}"
        for about, code, message in exceptions
        if not (code == "customer_credit" and about in overpaid and message)
    ]
    credited = {about for about, code, _ in exceptions if code == "customer_credit"}
    for number, order in proof.orders.items():
        state = states.get(number)
        if state is None:
            continue
        broken += _check_order(order, state, credited, waiting)
    return broken, waiting


def _check_order(order: Order, state: otc.OrderState, credited: set[str], waiting: Counter[str]) -> list[str]:
    number, broken = order.number, []
    for line in order.lines:
        stored = state.line(str(line.line))
        if stored is None:
            broken.append(f"every order line is stored: {number} line {line.line} is missing")
            continue
        if stored.cancelled != order.cancelled[line.line]:
            broken.append(
                f"a cancellation counts once: {number} line {line.line} cancelled {stored.cancelled}, "
                f"asked {order.cancelled[line.line]}"
            )
        if stored.shipped != order.shipped[line.line]:
            broken.append(
                f"a shipment counts once: {number} line {line.line} shipped {stored.shipped}, "
                f"sent {order.shipped[line.line]}"
            )
        if stored.invoiced != stored.shipped:
            broken.append(f"every shipment is invoiced: {number} line {line.line}")
    if state.invoiced_amount != order.invoiced:
        broken.append(f"an invoice counts once: {number} invoiced {state.invoiced_amount}, billed {order.invoiced}")
    if state.paid != order.paid:
        broken.append(f"a payment counts once, parked ones too: {number} paid {state.paid}, sent {order.paid}")
    everything_cancelled = all(order.open(line) == 0 for line in order.lines)
    everything_shipped = all(order.shipped[line.line] == order.open(line) for line in order.lines)
    status = state.status
    if everything_cancelled:
        if status is not otc.OrderStatus.CANCELLED:
            broken.append(f"all cancelled -> CANCELLED: {number} is {status.value}")
    elif everything_shipped and order.paid >= order.invoiced:
        if status is not otc.OrderStatus.CLOSED:
            broken.append(f"shipped and paid -> CLOSED: {number} is {status.value}")
        if order.paid > order.invoiced and number not in credited:
            broken.append(f"an overpayment is handed to finance as credit: {number}")
    elif status not in otc.FULFILMENT or not otc.open_reasons(state):
        broken.append(f"an unfinished order stays open and says why: {number} is {status.value}")
    elif order.ship == "never":
        waiting["never shipped by the test"] += 1
    elif order.ship == "hold_back" and not everything_shipped:
        waiting["shipped short by the test"] += 1
    elif not everything_shipped:
        if not any(line.backordered > 0 for line in state.lines):
            broken.append(f"an order shipped as far as stock allowed is short only of stock that never came: {number}")
        waiting["stock never came"] += 1
    elif order.pay in ("partial", "never"):
        waiting[f"paid {order.pay}"] += 1
    else:
        broken.append(f"an order paid in full closes: {number} is {status.value}")
    return broken


@pytest.mark.slow
def test_a_thousand_orders_keep_every_order_to_cash_invariant(database_url: str, tmp_path: Path) -> None:
    clock = h.SteppingClock()
    settings = h.settings_for(
        tmp_path,
        database_url,
        unit_costs=UNIT_COSTS,
        tax_rate=str(TAX_RATE),
        worker={"batch_size": BATCH_SIZE},
        storage={"sqlite_synchronous": "NORMAL"},
    )
    runtime = h.build_runtime(settings, clock)
    proof = Proof(runtime.hub, clock, random.Random(SEED))
    started = time.perf_counter()
    try:
        _run(proof)
        driven = time.perf_counter() - started
        broken, waiting = _check(proof)
    finally:
        runtime.close()
    backend = database_url.split(":", 1)[0]
    print(
        f"\n{backend}: {ORDER_COUNT} orders, {sum(proof.intake.values())} messages "
        f"({dict((str(k), v) for k, v in proof.intake.items())}) driven in {driven:.1f}s, "
        f"checked in {time.perf_counter() - started - driven:.1f}s; injected {dict(proof.injected)}; "
        f"left open on purpose {dict(waiting)}"
    )
    assert not broken, "order-to-cash rules broken:\n" + h.summary(broken)
    assert (
        proof.intake[IntakeStatus.DUPLICATE]
        == proof.injected["same message again"] + proof.injected["same order, same idempotency key"]
    ), "the very same message again is a duplicate at intake"
    assert proof.intake[IntakeStatus.CONFLICT] == proof.injected["same event id, other body"], (
        "the same event id with another body is refused as a conflict"
    )
    assert sum(waiting.values()) > 0 and proof.injected["payment before its invoice"] > 0, "the script exercised both"


# ---- the smallest histories that break a rule ---------------------------------------------------------------------
# Found by the proof above; each is the minimal message sequence, kept as its own specification.


@pytest.fixture
def small(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    settings = h.settings_for(tmp_path, database_url, unit_costs={"A": "2.50"})
    runtime = h.build_runtime(settings, h.SteppingClock())
    yield runtime.hub
    runtime.close()


def _send(hub: Hub, *messages: Outbound) -> None:
    for message in messages:
        hub.receive(message.source, message.body, message.headers)
        hub.drain("proof")


def _order(number: str, units: int) -> Outbound:
    body = h.sales_order(number, "C1", "web", [h.Line(line=1, sku="A", units=units, price=Decimal("10.00"))])
    return Outbound(h.ORDERS, body, {"idempotency-key": number})


def _stock(units: int, ref: str) -> Outbound:
    return Outbound(h.WAREHOUSE, h.cloudevent(h.receipt("A", "WH1", units, ref), ref))


def _broken_after(hub: Hub, expected: h.Expected) -> list[str]:
    with hub.begin() as uow:
        states = h.all_orders(uow)
        entries, broken = h.check_journal(uow)
        broken += h.check_stock(uow, ["A"], expected)
        broken += h.check_order_lines(states)
        broken += h.check_no_stranded_holds(uow, ["A"], states)
        broken += h.check_once_in_effect(uow, entries, expected)
        broken += [f"a well-formed history opens no exception: {x}" for x in h.open_exceptions(uow)]
    return broken


def test_an_order_whose_cancellation_arrived_first_is_received_and_cancelled(small: Hub) -> None:
    early = h.cancellation("SO-1", "X-1", None)
    _send(small, Outbound(h.WAREHOUSE, h.cloudevent(early, "cx-1")), _order("SO-1", 3))
    with small.begin() as uow:
        record = uow.orders.load("SO-1")
        exceptions = h.open_exceptions(uow)
    assert exceptions == [], "a cancellation that overtook its order cancels it quietly, not as a refused order"
    assert record is not None and record.status == otc.OrderStatus.CANCELLED.value, (
        "a whole-order cancellation held for its order cancels the order once it arrives"
    )


def test_cancelling_backordered_units_leaves_no_stock_held_for_them(small: Hub) -> None:
    # Three units backordered, two of them cancelled, then two units arrive: the line wants one, holds two.
    cancel = h.cancellation("SO-1", "X-1", {1: 2})
    _send(small, _order("SO-1", 3), Outbound(h.WAREHOUSE, h.cloudevent(cancel, "cx-1")), _stock(2, "rcv-1"))
    expected = h.Expected(received=Counter({("A", "WH1"): 2}))
    assert _broken_after(small, expected) == []


def test_a_shipment_confirmed_before_its_order_leaves_no_stock_held_and_is_costed(small: Hub) -> None:
    shipped = h.shipment("SH-1", "SO-1", "WH1", [(1, "A", 4)])
    _send(small, _stock(10, "rcv-1"), Outbound(h.WAREHOUSE, h.cloudevent(shipped, "ship-1")), _order("SO-1", 4))
    expected = h.Expected(
        received=Counter({("A", "WH1"): 10}), shipped_from=Counter({("A", "WH1"): 4}), shipments={"SH-1": "SO-1"}
    )
    assert _broken_after(small, expected) == []


def test_a_shipment_and_a_payment_sent_again_under_a_new_event_id_post_once(small: Hub) -> None:
    shipped = h.shipment("SH-1", "SO-1", "WH1", [(1, "A", 2)])
    paid = h.payment("P1", "C1", "INV-SH-1", Decimal("20.00"), h.START.date())
    _send(
        small,
        _stock(10, "rcv-1"),
        _order("SO-1", 2),
        Outbound(h.WAREHOUSE, h.cloudevent(shipped, "ship-1")),
        Outbound(h.WAREHOUSE, h.cloudevent(shipped, "ship-1-resent")),
        Outbound(h.BANK, h.cloudevent(paid, "pay-1", h.BANK)),
        Outbound(h.BANK, h.cloudevent(paid, "pay-1-resent", h.BANK)),
    )
    expected = h.Expected(
        received=Counter({("A", "WH1"): 10}),
        shipped_from=Counter({("A", "WH1"): 2}),
        shipments={"SH-1": "SO-1"},
        payments={"P1": "SO-1"},
    )
    # The second shipment.confirmed is a new message, so the log holds two; the journal must still hold one each.
    broken = [b for b in _broken_after(small, expected) if not b.startswith("one shipment.confirmed")]
    assert broken == []


# ---- every interleaving of a small history --------------------------------------------------------------------------
# A small fixed cast (two skus, two warehouses, three orders) and a random history over it: receipts, orders,
# cancellations, shipments from either warehouse (some ahead of their release, some beyond it) and payments, sent in
# a random order and drained at random points, on the in-memory twin.

_ORDERS = {
    "SO-A": (("A", 3), ("B", 2)),
    "SO-B": (("A", 2),),
    "SO-C": (("B", 4), ("A", 1)),
}


@st.composite
def _histories(draw: st.DrawFn) -> tuple[list[Outbound], list[int], h.Expected]:
    expected = h.Expected()
    messages: list[Outbound] = []
    for n in range(draw(st.integers(1, 4))):
        sku, location, units = (
            draw(st.sampled_from("AB")),
            draw(st.sampled_from(("WH1", "WH2"))),
            draw(st.integers(1, 4)),
        )
        expected.received[(sku, location)] += units
        messages.append(Outbound(h.WAREHOUSE, h.cloudevent(h.receipt(sku, location, units, f"r{n}"), f"rcv-{n}")))
    for number, lines in _ORDERS.items():
        order_lines = [
            h.Line(line=i, sku=sku, units=units, price=Decimal("7.50")) for i, (sku, units) in enumerate(lines, 1)
        ]
        messages.append(
            Outbound(h.ORDERS, h.sales_order(number, "C1", "web", order_lines), {"idempotency-key": number})
        )
        if draw(st.booleans()):
            line = draw(st.integers(1, len(lines)))
            cancel = h.cancellation(number, f"X-{number}", {line: draw(st.integers(1, lines[line - 1][1]))})
            messages.append(Outbound(h.WAREHOUSE, h.cloudevent(cancel, f"cx-{number}")))
        for s in range(draw(st.integers(0, 2))):
            line = draw(st.integers(1, len(lines)))
            sku, location = lines[line - 1][0], draw(st.sampled_from(("WH1", "WH2")))
            units = draw(st.integers(1, 2))
            shipment = f"SH-{number}-{s}"
            shipped = h.shipment(shipment, number, location, [(line, sku, units)])
            messages.append(Outbound(h.WAREHOUSE, h.cloudevent(shipped, f"ship-{shipment}")))
            expected.shipped_from[(sku, location)] += units
            if draw(st.booleans()):
                amount = Decimal(draw(st.integers(1, 3_000))) / 100
                paid = h.payment(f"P-{shipment}", "C1", h.invoice_number(shipment), amount, h.START.date())
                messages.append(Outbound(h.BANK, h.cloudevent(paid, f"pay-{shipment}", h.BANK)))
    order = draw(st.permutations(messages))
    drains = draw(st.lists(st.integers(0, len(messages)), max_size=4))
    return list(order), sorted(set(drains)), expected


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=_histories())
def test_no_interleaving_of_a_small_history_oversells_or_invoices_unshipped_goods(
    history: tuple[list[Outbound], list[int], h.Expected], tmp_path: Path
) -> None:
    messages, drain_points, expected = history
    clock = h.SteppingClock()
    runtime = bootstrap.build(h.settings_for(tmp_path, None, unit_costs={"A": "1.00", "B": "2.00"}), clock=clock)
    runtime.hub.begin = MemoryUnitOfWorkFactory(clock.now)
    hub = runtime.hub
    try:
        for index, message in enumerate(messages):
            hub.receive(message.source, message.body, message.headers)
            if index in drain_points:
                hub.drain("proof")
                clock.advance(1)
        hub.drain("proof")
        with hub.begin() as uow:
            states = h.all_orders(uow)
            broken = h.check_stock(uow, ["A", "B"], expected, shipped_as_held=False)
            broken += h.check_order_lines(states)
            broken += h.check_journal(uow)[1]
            broken += h.check_every_order_ends_well(uow, states)
            broken += [f"a blind but well-formed message never fails: {f}" for f in h.failed_messages(uow)]
    finally:
        runtime.close()
    assert not broken, h.summary(broken)
