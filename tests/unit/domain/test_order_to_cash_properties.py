"""Order-to-cash over random histories: partial shipments, cancellations, payments, out-of-order arrival and junk.

A small world model below produces only histories a real estate could produce, in the order it produces them;
the machine under test never decides what is legal here, so the two check each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from crossdock.domain import errors
from crossdock.domain.workflows import order_to_cash as o2c
from crossdock.domain.workflows.order_to_cash import OrderStatus as S
from tests.unit.factories import PROPERTY, T0

ORDER = "SO-7"
RANDOM_HISTORIES = settings(PROPERTY, max_examples=200)


# --- the world model ----------------------------------------------------------------------------------------------


@dataclass
class _Line:
    line_id: str
    sku: str
    price: Decimal
    ordered: Decimal
    cancelled: Decimal = Decimal(0)
    reserved_reported: Decimal = Decimal(0)
    released_reported: Decimal = Decimal(0)
    shipped: Decimal = Decimal(0)

    @property
    def open(self) -> Decimal:
        return self.ordered - self.cancelled

    @property
    def reserved(self) -> Decimal:
        return min(self.reserved_reported, self.open)

    @property
    def released(self) -> Decimal:
        return min(self.released_reported, self.reserved)


@dataclass
class History:
    facts: list[o2c.OrderFact] = field(default_factory=list)
    complete: bool = False  # driven to the end: everything shipped or cancelled, invoiced and paid


@dataclass
class _World:
    draw: st.DrawFn
    lines: list[_Line]
    history: History = field(default_factory=History)
    counter: int = 0
    uninvoiced: dict[str, dict[str, Decimal]] = field(default_factory=dict)  # shipment -> line -> quantity
    invoiced_amount: Decimal = Decimal(0)
    paid: Decimal = Decimal(0)

    def add(self, fact: o2c.OrderFact) -> None:
        self.history.facts.append(fact)

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def quantity(self, most: Decimal) -> Decimal:
        return Decimal(self.draw(st.sampled_from(range(int(most) + 1)))) if most > 0 else Decimal(0)

    def order_lines(self) -> tuple[o2c.OrderLine, ...]:
        return tuple(
            o2c.OrderLine(line_id=ln.line_id, sku=ln.sku, quantity=ln.ordered, unit_price=ln.price) for ln in self.lines
        )

    def reserve(self, *, everything: bool = False) -> None:
        allocations = []
        for ln in self.lines:
            want = ln.open - ln.reserved_reported
            q = want if everything else self.quantity(want)
            if q <= 0:
                continue
            # A split reservation: part at one warehouse, the rest at another.
            first = q if everything else self.quantity(q)
            for location, part in (("WH-1", first), ("WH-2", q - first)):
                if part > 0:
                    allocations.append(o2c.Allocation(line_id=ln.line_id, location=location, quantity=part))
            ln.reserved_reported += q
        if allocations or not everything:  # an empty reservation reports a full backorder
            self.add(
                o2c.StockReserved(order_id=ORDER, reservation_id=self.next_id("R"), allocations=tuple(allocations))
            )

    def _per_line(self, most: dict[str, Decimal], *, everything: bool) -> dict[str, Decimal]:
        chosen = {line: (q if everything else self.quantity(q)) for line, q in most.items() if q > 0}
        return {line: q for line, q in chosen.items() if q > 0}

    def release(self, *, everything: bool = False) -> None:
        parts = self._per_line(
            {ln.line_id: ln.reserved - ln.released_reported for ln in self.lines}, everything=everything
        )
        if parts:
            for ln in self.lines:
                ln.released_reported += parts.get(ln.line_id, Decimal(0))
            self.add(o2c.WarehouseReleased(order_id=ORDER, release_id=self.next_id("REL"), lines=_quantities(parts)))

    def ship(self, *, everything: bool = False) -> None:
        parts = self._per_line({ln.line_id: ln.released - ln.shipped for ln in self.lines}, everything=everything)
        if parts:
            ident = self.next_id("SH")
            for ln in self.lines:
                ln.shipped += parts.get(ln.line_id, Decimal(0))
            self.uninvoiced[ident] = dict(parts)
            self.add(o2c.ShipmentConfirmed(order_id=ORDER, shipment_id=ident, lines=_quantities(parts)))

    def invoice(self, *, everything: bool = False) -> None:
        for shipment in (
            sorted(self.uninvoiced) if everything else [self.draw(st.sampled_from(sorted(self.uninvoiced)))]
        ):
            parts = self._per_line(self.uninvoiced[shipment], everything=everything)
            if not parts:
                continue
            prices = {ln.line_id: ln.price for ln in self.lines}
            amount = sum((q * prices[line] for line, q in parts.items()), Decimal(0))
            for line, q in parts.items():
                self.uninvoiced[shipment][line] -= q
            if not any(self.uninvoiced[shipment].values()):
                del self.uninvoiced[shipment]
            self.invoiced_amount += amount
            self.add(
                o2c.InvoicePosted(
                    order_id=ORDER,
                    invoice_id=self.next_id("INV"),
                    shipment_id=shipment,
                    currency="EUR",
                    amount=amount,
                    lines=_quantities(parts),
                )
            )

    def pay(self, amount: Decimal | None = None) -> None:
        if amount is None:
            cents = self.draw(st.integers(1, int(max(Decimal(0), self.invoiced_amount - self.paid) * 100) + 2000))
            amount = Decimal(cents) / 100
        if amount > 0:
            self.paid += amount
            self.add(o2c.PaymentApplied(order_id=ORDER, payment_id=self.next_id("P"), currency="EUR", amount=amount))

    def cancel_lines(self, *, everything: bool = False) -> None:
        parts = self._per_line({ln.line_id: ln.open - ln.shipped for ln in self.lines}, everything=everything)
        if parts:
            for ln in self.lines:
                ln.cancelled += parts.get(ln.line_id, Decimal(0))
            self.add(o2c.OrderCancelled(order_id=ORDER, cancellation_id=self.next_id("X"), lines=_quantities(parts)))

    def cancel_whole(self) -> None:
        for ln in self.lines:
            ln.cancelled = ln.ordered
        self.add(o2c.OrderCancelled(order_id=ORDER, cancellation_id=self.next_id("X")))


def _quantities(parts: dict[str, Decimal]) -> tuple[o2c.LineQuantity, ...]:
    return tuple(o2c.LineQuantity(line_id=line, quantity=q) for line, q in sorted(parts.items()))


def _rejection(revision: int) -> o2c.OrderRejected:
    reason = o2c.RejectionReason(code=o2c.RejectionCode.PRICE_OUT_OF_TOLERANCE, text="too cheap")
    return o2c.OrderRejected(order_id=ORDER, revision=revision, reasons=(reason,))


@st.composite
def histories(draw: st.DrawFn) -> History:
    sizes = draw(st.lists(st.integers(1, 8), min_size=1, max_size=3))
    prices = [Decimal("1.00"), Decimal("2.50"), Decimal("9.99")]
    lines = [
        _Line(line_id=f"L{i}", sku=f"SKU-{i}", price=prices[i % 3], ordered=Decimal(size))
        for i, size in enumerate(sizes, 1)
    ]
    world = _World(draw=draw, lines=lines)
    world.add(o2c.OrderReceived(order_id=ORDER, customer_id="C-1", currency="EUR", lines=world.order_lines()))

    def change(revision: int) -> None:
        for ln in world.lines:
            ln.ordered = Decimal(draw(st.integers(1, 8)))
        world.add(o2c.OrderChanged(order_id=ORDER, revision=revision, lines=world.order_lines()))

    # Most orders are accepted as received; the other paths are rarer, as they are in a real estate.
    path = draw(
        st.sampled_from(
            ["accept"] * 6
            + ["change-accept", "reject-override", "reject-change-accept", "reject-close", "reject-cancel"]
            + ["cancel-unvalidated"]
        )
    )
    if path == "cancel-unvalidated":
        world.cancel_whole()
        world.history.complete = True
        return world.history
    revision = 1
    if path.startswith("change"):
        revision = 2
        change(revision)
    if path.startswith("reject"):
        world.add(_rejection(revision))
        if path in ("reject-close", "reject-cancel"):
            if path == "reject-close":
                world.add(o2c.OrderClosed(order_id=ORDER, reason="customer gone"))
            else:
                world.cancel_whole()
            if draw(st.booleans()):
                world.pay()  # paid although rejected: becomes credit
            world.history.complete = True
            return world.history
        if path == "reject-change-accept":
            revision = 2
            change(revision)
    world.add(o2c.OrderAccepted(order_id=ORDER, revision=revision, override=path == "reject-override"))

    # Rounds of partial work: each reserves, releases and ships some (maybe nothing), and may invoice, take a
    # payment or cancel a few units, so that histories reach every stage, often several times.
    for _ in range(draw(st.integers(1, 5))):
        if not any(ln.shipped for ln in world.lines) and draw(st.integers(0, 12)) == 0:
            world.cancel_whole()
            if draw(st.booleans()):
                world.pay()
            world.history.complete = True
            return world.history
        world.reserve()
        world.release()
        world.ship()
        if world.uninvoiced and draw(st.booleans()):
            world.invoice()
        if draw(st.booleans()):
            world.pay()
        if draw(st.integers(0, 3)) == 0:
            world.cancel_lines()

    if draw(st.booleans()):
        if draw(st.sampled_from([False, False, False, True])):
            world.cancel_lines(everything=True)
        world.reserve(everything=True)
        world.release(everything=True)
        world.ship(everything=True)
        world.invoice(everything=True)
        overpay = Decimal(draw(st.sampled_from([0, 0, 5])))
        world.pay(world.invoiced_amount - world.paid + overpay)
        world.history.complete = True
    return world.history


# --- what must hold of every state --------------------------------------------------------------------------------


def assert_invariants(state: o2c.OrderState) -> None:
    for ln in state.lines:
        assert 0 <= ln.invoiced <= ln.shipped <= ln.released <= ln.reserved <= ln.open <= ln.ordered, ln
        assert ln.reserved <= ln.reserved_reported and ln.released <= ln.released_reported, ln
        assert ln.backordered == (ln.open - ln.reserved if state.reservation_reported else 0), ln
        on_shipments = [s for record in state.shipments for s in record.lines if s.line_id == ln.line_id]
        assert sum((s.shipped for s in on_shipments), Decimal(0)) == ln.shipped
        assert sum((s.invoiced for s in on_shipments), Decimal(0)) == ln.invoiced
        assert all(s.invoiced <= s.shipped for s in on_shipments)
    terminal = state.status in o2c.TERMINAL
    assert state.credit == (max(Decimal(0), state.paid - state.invoiced_amount) if terminal else 0)
    if state.status is S.CLOSED:
        assert all(ln.invoiced == ln.shipped for ln in state.lines) and state.paid >= state.invoiced_amount
    if state.status is S.CANCELLED:
        assert all(ln.open == 0 for ln in state.lines)
    # Every order is closed, cancelled, or open for a reason someone can act on.
    assert terminal or o2c.open_reasons(state), state


def assert_legal_move(before: o2c.OrderState, after: o2c.OrderState) -> None:
    if after.status is not before.status:
        assert (before.status, after.status) in o2c.STATUS_EDGES


def apply_in_order(facts: list[o2c.OrderFact]) -> o2c.OrderState:
    state = o2c.OrderState.new(ORDER)
    for fact in facts:
        result = o2c.advance(state, fact, T0)
        assert not result.held and not result.duplicate, fact
        assert_legal_move(state, result.state)
        assert_invariants(result.state)
        state = result.state
    return state


# --- properties ---------------------------------------------------------------------------------------------------


@RANDOM_HISTORIES
@given(histories())
def test_a_valid_history_in_order_never_waits_and_keeps_every_invariant(history: History) -> None:
    final = apply_in_order(history.facts)

    if history.complete:
        assert final.status in o2c.TERMINAL, o2c.open_reasons(final)
        assert o2c.open_reasons(final) == ()


@RANDOM_HISTORIES
@given(st.data())
def test_any_arrival_order_of_a_valid_history_ends_in_the_same_state(data: st.DataObject) -> None:
    history = data.draw(histories())
    expected = apply_in_order(history.facts)
    arrival = data.draw(st.permutations(history.facts))

    state = o2c.OrderState.new(ORDER)
    for fact in arrival:
        result = o2c.apply_fact(state, fact, T0)
        assert result.refused == ()
        assert_invariants(result.state)
        state = result.state

    assert state == expected


@RANDOM_HISTORIES
@given(st.data())
def test_a_history_delivered_twice_ends_as_if_delivered_once(data: st.DataObject) -> None:
    history = data.draw(histories())
    arrival = data.draw(st.permutations(history.facts + history.facts))

    state = o2c.OrderState.new(ORDER)
    for fact in arrival:
        state = o2c.apply_fact(state, fact, T0).state

    assert state == apply_in_order(history.facts)


# Junk: facts with unknown lines, wrong currencies, excessive quantities, conflicting verdicts, reused ids.
_line_ids = st.sampled_from(["L1", "L2", "L9"])
_quantity = st.integers(1, 12).map(Decimal)
_ids = st.sampled_from(["1", "2", "3"])
_line_quantities = st.lists(st.tuples(_line_ids, _quantity), min_size=1, max_size=3, unique_by=lambda t: t[0]).map(
    lambda parts: tuple(o2c.LineQuantity(line_id=line, quantity=q) for line, q in parts)
)
_order_lines = st.lists(
    st.tuples(st.sampled_from(["L1", "L2"]), _quantity), min_size=1, max_size=2, unique_by=lambda t: t[0]
).map(
    lambda parts: tuple(
        o2c.OrderLine(line_id=line, sku=f"SKU-{line}", quantity=q, unit_price=Decimal(2)) for line, q in parts
    )
)
_revision = st.integers(1, 3)
_just_order = st.just(ORDER)
_currency = st.sampled_from(["EUR", "USD"])
_allocations = st.lists(
    st.builds(o2c.Allocation, line_id=_line_ids, location=st.just("WH"), quantity=_quantity), max_size=3
).map(tuple)
junk_facts = st.one_of(
    st.builds(
        o2c.OrderReceived, order_id=_just_order, customer_id=st.just("C-1"), currency=_currency, lines=_order_lines
    ),
    st.builds(o2c.OrderChanged, order_id=_just_order, revision=st.integers(2, 3), lines=_order_lines),
    st.builds(o2c.OrderAccepted, order_id=_just_order, revision=_revision, override=st.booleans()),
    st.builds(_rejection, _revision),
    st.builds(o2c.StockReserved, order_id=_just_order, reservation_id=_ids, allocations=_allocations),
    st.builds(o2c.WarehouseReleased, order_id=_just_order, release_id=_ids, lines=_line_quantities),
    st.builds(o2c.ShipmentConfirmed, order_id=_just_order, shipment_id=_ids, lines=_line_quantities),
    st.builds(
        o2c.InvoicePosted,
        order_id=_just_order,
        invoice_id=_ids,
        shipment_id=_ids,
        currency=_currency,
        amount=_quantity,
        lines=_line_quantities,
    ),
    st.builds(o2c.PaymentApplied, order_id=_just_order, payment_id=_ids, currency=_currency, amount=_quantity),
    st.builds(o2c.OrderCancelled, order_id=_just_order, cancellation_id=_ids, lines=st.none() | _line_quantities),
    st.builds(o2c.OrderClosed, order_id=_just_order),
)


@RANDOM_HISTORIES
@given(st.data())
def test_no_state_is_ever_reached_by_an_illegal_transition(data: st.DataObject) -> None:
    history = data.draw(histories())
    facts = list(history.facts)
    for junk in data.draw(st.lists(junk_facts, max_size=15)):
        facts.insert(data.draw(st.integers(0, len(facts))), junk)

    state = o2c.OrderState.new(ORDER)
    for fact in facts:
        try:
            result = o2c.advance(state, fact, T0)
        except errors.IllegalTransition as refused:
            assert refused.subject == ORDER and refused.fact == o2c.fact_key(fact)
            continue
        assert_legal_move(state, result.state)
        assert_invariants(result.state)
        released = o2c.release_held(result.state, T0)
        assert_invariants(released.state)
        raised = [
            c for c in released.commands if isinstance(c, o2c.OpenException) and c.reason_code.startswith("refused")
        ]
        assert len(released.refused) == len(raised)  # a refused held fact is raised to a person, never dropped
        state = released.state
