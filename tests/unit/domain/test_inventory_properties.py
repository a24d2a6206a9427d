"""Invariants of the stock ledger over random histories of receipts, reservations, releases, shipments, adjustments,
transfers, counts and replays: stock is never oversold, and a release gives its quantity back exactly once."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from crossdock.domain import errors, inventory
from crossdock.domain.inventory import LedgerState, Movement, MovementKind, ReservationPolicy
from tests.unit.factories import PROPERTY, T0

SKUS = ("S1", "S2")
LOCATIONS = ("L1", "L2", "L3")
LINES = tuple((f"SO-{n}", "1") for n in range(5))
CHANNELS = ("shop", "edi", "marketplace")
ZERO = Decimal(0)

quantities = st.integers(min_value=1, max_value=12).map(Decimal)
# Mostly one sku, so that random requests keep meeting on the same stock; the second proves skus stay apart.
skus = st.sampled_from(("S1", "S1", "S1", "S2"))
transfer_legs = st.permutations(LOCATIONS).map(lambda order: (order[0], order[1]))

movement_ops = st.one_of(
    st.tuples(
        st.just("move"),
        # Receipts twice over: a history needs stock before reservations and shortfalls get interesting.
        st.sampled_from([MovementKind.RECEIPT, MovementKind.RECEIPT, MovementKind.RETURN, MovementKind.SHIPMENT]),
        skus,
        st.sampled_from(LOCATIONS),
        quantities,
    ),
    st.tuples(
        st.just("move"),
        st.just(MovementKind.ADJUSTMENT),
        skus,
        st.sampled_from(LOCATIONS),
        st.tuples(quantities, st.sampled_from((1, -1))).map(lambda pair: pair[0] * pair[1]),
    ),
    st.tuples(
        st.just("move"),
        st.just(MovementKind.CYCLE_COUNT),
        skus,
        st.sampled_from(LOCATIONS),
        st.integers(min_value=0, max_value=15).map(Decimal),
    ),
    st.tuples(
        st.just("transfer"),
        st.sampled_from([MovementKind.TRANSFER_OUT, MovementKind.TRANSFER_IN]),
        skus,
        transfer_legs,
        quantities,
    ),
    st.tuples(st.just("replay"), st.integers(min_value=0, max_value=50)),
)
reservation_ops = st.one_of(
    st.tuples(
        st.just("reserve"),
        st.sampled_from(LINES),
        skus,
        st.integers(min_value=0, max_value=15).map(Decimal),
        st.sampled_from(list(ReservationPolicy)),
        st.lists(st.sampled_from(LOCATIONS), unique=True, min_size=1),
        st.booleans(),
    ),
    st.tuples(st.just("release"), st.sampled_from(LINES)),
    st.tuples(st.just("ship"), st.sampled_from(LINES), st.sampled_from(LOCATIONS), quantities),
    # Stock vanishing right where a line holds some: the case that must push reservations back, not oversell.
    st.tuples(st.just("lose"), st.sampled_from(LINES), quantities),
)
histories = st.lists(st.one_of(movement_ops, reservation_ops), min_size=5, max_size=40)


@dataclass
class Reference:
    """On-hand and in-transit worked out independently of the ledger, movement by movement."""

    on_hand: defaultdict[tuple[str, str], Decimal]
    in_transit: defaultdict[tuple[str, str], Decimal]

    def record(self, movement: Movement) -> None:
        key = (movement.sku, movement.location)
        if movement.kind in (MovementKind.RECEIPT, MovementKind.RETURN, MovementKind.ADJUSTMENT):
            self.on_hand[key] += movement.quantity
        elif movement.kind is MovementKind.SHIPMENT:
            self.on_hand[key] -= movement.quantity
        elif movement.kind is MovementKind.CYCLE_COUNT:
            self.on_hand[key] = movement.quantity
        elif movement.kind is MovementKind.TRANSFER_OUT:
            assert movement.counterpart is not None
            self.on_hand[key] -= movement.quantity
            self.in_transit[(movement.sku, movement.counterpart)] += movement.quantity
        else:
            self.on_hand[key] += movement.quantity
            self.in_transit[key] -= movement.quantity


def assert_never_oversold(state: LedgerState, reference: Reference) -> None:
    held: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for reservation in state.reservations():
        assert not (reservation.cancelled and reservation.allocations)
        assert reservation.reserved <= max(ZERO, reservation.requested - reservation.consumed)
        for allocation in reservation.allocations:
            assert allocation.quantity > 0
            held[(reservation.sku, allocation.location)] += allocation.quantity
    for position in state.positions():
        key = (position.sku, position.location)
        assert ZERO <= position.reserved <= max(ZERO, position.on_hand), position
        assert position.reserved + position.available == max(ZERO, position.on_hand)
        assert sum(position.allocations.values(), ZERO) == position.reserved == held.pop(key, ZERO)
        assert position.on_hand == reference.on_hand[key]
        assert position.in_transit == reference.in_transit[key]
    assert not any(held.values()), "a reservation holds stock at a position the ledger does not know"


def run(history: list[tuple[Any, ...]], check: bool = True) -> tuple[LedgerState, list[Movement]]:
    """Play a history against the ledger, checking every step; return the final state and its movements."""
    state = LedgerState.empty()
    reference = Reference(defaultdict(Decimal), defaultdict(Decimal))
    applied: list[Movement] = []
    for step, op in enumerate(history):
        movement: Movement | None = None
        if op[0] == "move":
            _, kind, sku, location, quantity = op
            movement = Movement(id=f"m{step}", kind=kind, sku=sku, location=location, quantity=quantity, occurred_at=T0)
        elif op[0] == "transfer":
            _, kind, sku, (here, there), quantity = op
            movement = Movement(
                id=f"m{step}", kind=kind, sku=sku, location=here, counterpart=there, quantity=quantity, occurred_at=T0
            )
        elif op[0] == "ship":
            _, (order_id, line_id), location, quantity = op
            reservation = state.reservation(order_id, line_id)
            sku = reservation.sku if reservation is not None else SKUS[0]
            movement = Movement(
                id=f"m{step}",
                kind=MovementKind.SHIPMENT,
                sku=sku,
                location=location,
                quantity=quantity,
                occurred_at=T0,
                order_id=order_id,
                line_id=line_id,
            )
        elif op[0] == "lose":
            _, (order_id, line_id), quantity = op
            reservation = state.reservation(order_id, line_id)
            if reservation is not None and reservation.allocations:
                movement = Movement(
                    id=f"m{step}",
                    kind=MovementKind.ADJUSTMENT,
                    sku=reservation.sku,
                    location=reservation.allocations[0].location,
                    quantity=-quantity,
                    occurred_at=T0,
                )
        elif op[0] == "replay":
            if applied:
                before = state
                update = inventory.apply_movement(state, applied[op[1] % len(applied)])
                assert update.state is before and update.entries == ()
        elif op[0] == "reserve":
            state = _reserve(state, *op[1:])
        else:
            state = _release(state, *op[1])
        if movement is not None:
            state = inventory.apply_movement(state, movement).state
            reference.record(movement)
            applied.append(movement)
        if check:
            assert_never_oversold(state, reference)
    return state, applied


def _reserve(
    state: LedgerState,
    line: tuple[str, str],
    sku: str,
    quantity: Decimal,
    policy: ReservationPolicy,
    ranking: list[str],
    allow_backorder: bool,
) -> LedgerState:
    existing = state.reservation(*line)
    if existing is not None and existing.sku != sku:
        sku = existing.sku
    atp = {location: inventory.available_to_promise(state, sku, location) for location in LOCATIONS}
    try:
        decision = inventory.reserve_stock(
            state, *line, sku, quantity, policy, ranking, allow_backorder=allow_backorder
        )
    except errors.ReservationClosed:
        assert existing is not None and existing.cancelled
        return state
    except errors.Oversell:
        assert not allow_backorder
        assert sum(atp[location] for location in ranking) < quantity - existing_need_base(existing)
        return state
    for allocation in decision.allocated:
        assert allocation.location in ranking
        assert allocation.quantity <= atp[allocation.location]
    return decision.state


def existing_need_base(existing: inventory.Reservation | None) -> Decimal:
    return ZERO if existing is None else existing.consumed + existing.reserved


def _release(state: LedgerState, order_id: str, line_id: str) -> LedgerState:
    before = state.reservation(order_id, line_id)
    atp = {(sku, loc): inventory.available_to_promise(state, sku, loc) for sku in SKUS for loc in LOCATIONS}
    result = inventory.release_reservation(state, order_id, line_id)
    given = sum((g.quantity for g in result.released), ZERO)
    assert given == (before.reserved if before is not None and not before.cancelled else ZERO)
    for sku in SKUS:
        for location in LOCATIONS:
            back = sum((g.quantity for g in result.released if (g.sku, g.location) == (sku, location)), ZERO)
            assert inventory.available_to_promise(result.state, sku, location) == atp[(sku, location)] + back
    again = inventory.release_reservation(result.state, order_id, line_id)
    assert again.state is result.state and again.released == ()
    return result.state


@settings(PROPERTY, max_examples=200)
@given(histories)
def test_no_history_of_requests_and_movements_ever_oversells_a_location(history: list[tuple[Any, ...]]) -> None:
    run(history)


@settings(PROPERTY, max_examples=100)
@given(histories, st.integers(min_value=0, max_value=40))
def test_a_burst_applied_at_once_ends_where_one_by_one_would(history: list[tuple[Any, ...]], cut: int) -> None:
    _, movements = run(history, check=False)
    burst = movements[cut:] + movements[cut:]  # the burst repeats itself: every repeat is a duplicate
    base = LedgerState.empty()
    for movement in movements[:cut]:
        base = inventory.apply_movement(base, movement).state

    at_once = inventory.apply_movements(base, burst)
    one_by_one = base
    for movement in burst:
        one_by_one = inventory.apply_movement(one_by_one, movement).state

    assert at_once.state == one_by_one
    assert len(at_once.duplicates) == len(movements[cut:])


buffers = st.builds(
    inventory.ChannelBuffers,
    by_class=st.just({"shop": {"slow": inventory.ChannelBuffer(kind=inventory.BufferKind.PERCENT, value=Decimal(25))}}),
    defaults=st.fixed_dictionaries(
        {"edi": st.builds(inventory.ChannelBuffer, value=st.integers(min_value=0, max_value=6).map(Decimal))}
    ),
    item_classes=st.just({"S2": "slow"}),
)


@settings(PROPERTY, max_examples=100)
@given(histories, histories, buffers)
def test_availability_changes_name_exactly_the_sku_and_channel_pairs_that_changed(
    first: list[tuple[Any, ...]], burst: list[tuple[Any, ...]], config: inventory.ChannelBuffers
) -> None:
    before, _ = run(first, check=False)
    after = before
    for n, op in enumerate(burst):
        if op[0] in ("move", "transfer"):
            _, kind, sku, where, quantity = op
            here, there = where if op[0] == "transfer" else (where, None)
            movement = Movement(
                id=f"burst-{n}",
                kind=kind,
                sku=sku,
                location=here,
                counterpart=there,
                quantity=quantity,
                occurred_at=T0,
            )
            after = inventory.apply_movement(after, movement).state

    changes = inventory.availability_changes(before, after, CHANNELS, config)

    expected = {
        (sku, channel): (
            inventory.channel_availability(before, sku, channel, config),
            inventory.channel_availability(after, sku, channel, config),
        )
        for sku in SKUS
        for channel in CHANNELS
    }
    assert {(c.sku, c.channel): (c.old, c.new) for c in changes} == {
        key: values for key, values in expected.items() if values[0] != values[1]
    }
    assert len(changes) == len({(c.sku, c.channel) for c in changes})
