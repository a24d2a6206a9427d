"""The stock ledger: movements, available-to-promise, reservations, channel buffers, authority, reconciliation."""

from __future__ import annotations

import pickle
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from crossdock.domain import errors, inventory
from crossdock.domain.inventory import (
    AuthorityOutcome,
    BufferKind,
    DecisionKind,
    DriftAction,
    DriftCause,
    LedgerState,
    Movement,
    MovementKind,
    ReservationPolicy,
)
from tests.unit.factories import T0

FEWEST = ReservationPolicy.FEWEST_SHIPMENTS
NEAREST = ReservationPolicy.NEAREST


def qty(value: str | int) -> Decimal:
    return Decimal(value)


_counter = iter(range(1_000_000))


def make_movement(**overrides: Any) -> Movement:
    fields: dict[str, Any] = {
        "id": f"mv-{next(_counter)}",
        "kind": MovementKind.RECEIPT,
        "sku": "SKU-1",
        "location": "WH-A",
        "quantity": qty(10),
        "occurred_at": T0,
    }
    fields.update(overrides)
    return Movement(**fields)


def stocked(*rows: tuple[str, str, int], state: LedgerState | None = None) -> LedgerState:
    """A ledger after one receipt per (sku, location, quantity)."""
    movements = [make_movement(sku=sku, location=location, quantity=qty(units)) for sku, location, units in rows]
    return inventory.apply_movements(state or LedgerState.empty(), movements).state


def reserve(state: LedgerState, **overrides: Any) -> inventory.ReservationDecision:
    fields: dict[str, Any] = {
        "order_id": "SO-1",
        "line_id": "1",
        "sku": "SKU-1",
        "quantity": qty(5),
        "policy": FEWEST,
        "locations": None,
    }
    fields.update(overrides)
    return inventory.reserve_stock(state, **fields)


def on_hand(state: LedgerState, location: str = "WH-A", sku: str = "SKU-1") -> Decimal:
    return inventory.stock_position(state, sku, location).on_hand


# --- movements ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "quantity", "expected"),
    [
        (MovementKind.RECEIPT, 4, 14),  # goods in
        (MovementKind.RETURN, 2, 12),  # a customer return goes back on the shelf
        (MovementKind.SHIPMENT, 3, 7),  # picked and shipped
        (MovementKind.ADJUSTMENT, -4, 6),  # a negative adjustment: damage, shrinkage
        (MovementKind.ADJUSTMENT, 5, 15),  # a positive adjustment: found stock
        (MovementKind.CYCLE_COUNT, 8, 8),  # a count sets on-hand to what was counted
        (MovementKind.CYCLE_COUNT, 0, 0),  # an empty bin
    ],
)
def test_each_movement_kind_moves_on_hand_its_own_way(kind: MovementKind, quantity: int, expected: int) -> None:
    state = stocked(("SKU-1", "WH-A", 10))

    state = inventory.apply_movement(state, make_movement(kind=kind, quantity=qty(quantity))).state

    assert on_hand(state) == qty(expected)


def test_a_cycle_count_records_the_difference_it_found() -> None:
    state = stocked(("SKU-1", "WH-A", 10))

    update = inventory.apply_movement(state, make_movement(kind=MovementKind.CYCLE_COUNT, quantity=qty(7)))

    assert [c.on_hand for c in update.entries[0].changes] == [qty(-3)]


def test_applying_the_same_movement_twice_changes_nothing() -> None:
    movement = make_movement(quantity=qty(6))
    once = inventory.apply_movement(LedgerState.empty(), movement)

    twice = inventory.apply_movement(once.state, movement)

    assert twice.state is once.state
    assert twice.duplicates == (movement.id,)
    assert twice.entries == ()
    assert on_hand(twice.state) == qty(6)


def test_a_repeat_inside_one_burst_counts_once() -> None:
    movement = make_movement(quantity=qty(6))

    update = inventory.apply_movements(LedgerState.empty(), [movement, movement])

    assert on_hand(update.state) == qty(6)
    assert update.duplicates == (movement.id,)


def test_a_movement_id_reused_for_other_content_is_a_conflict() -> None:
    state = inventory.apply_movement(LedgerState.empty(), make_movement(id="mv-x", quantity=qty(6))).state

    with pytest.raises(errors.MovementConflict):
        inventory.apply_movement(state, make_movement(id="mv-x", quantity=qty(7)))


def test_a_transfer_is_in_transit_at_the_destination_until_it_arrives() -> None:
    state = stocked(("SKU-1", "WH-A", 10))
    out = make_movement(kind=MovementKind.TRANSFER_OUT, quantity=qty(4), counterpart="WH-B")
    arrival = make_movement(kind=MovementKind.TRANSFER_IN, location="WH-B", quantity=qty(4), counterpart="WH-A")

    underway = inventory.apply_movement(state, out).state
    arrived = inventory.apply_movement(underway, arrival).state

    assert (on_hand(underway, "WH-A"), inventory.stock_position(underway, "SKU-1", "WH-B").in_transit) == (
        qty(6),
        qty(4),
    )
    # In-transit stock is not promised: it is not on any shelf yet.
    assert inventory.available_to_promise(underway, "SKU-1") == qty(6)
    assert inventory.network_stock(underway, "SKU-1").in_transit == qty(4)
    assert inventory.stock_position(arrived, "SKU-1", "WH-B") == inventory.StockPosition("SKU-1", "WH-B", qty(4))
    assert inventory.available_to_promise(arrived, "SKU-1") == qty(10)


@pytest.mark.parametrize(
    "overrides",
    [
        {"quantity": qty(0)},  # a receipt of nothing
        {"kind": MovementKind.SHIPMENT, "quantity": qty(-1)},  # direction comes from the kind, not the sign
        {"kind": MovementKind.ADJUSTMENT, "quantity": qty(0)},  # an adjustment that adjusts nothing
        {"kind": MovementKind.CYCLE_COUNT, "quantity": qty(-1)},  # nobody counts below zero
        {"kind": MovementKind.TRANSFER_OUT, "quantity": qty(1)},  # a transfer going nowhere
        {"counterpart": "WH-B"},  # a receipt naming a counterpart
        {"kind": MovementKind.TRANSFER_IN, "counterpart": "WH-A"},  # a transfer from a location to itself
        {"order_id": "SO-1", "line_id": "1"},  # only shipments consume reservations
        {"kind": MovementKind.SHIPMENT, "order_id": "SO-1"},  # an order without its line
        {"occurred_at": datetime(2024, 5, 6)},  # a time without a zone
        {"quantity": "NaN"},  # not a number
    ],
)
def test_a_movement_that_breaks_its_kind_is_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        make_movement(**overrides)


def test_available_to_promise_never_goes_negative_and_a_short_location_does_not_eat_another() -> None:
    state = stocked(("SKU-1", "WH-A", 2), ("SKU-1", "WH-B", 5))
    state = inventory.apply_movement(state, make_movement(kind=MovementKind.SHIPMENT, quantity=qty(3))).state

    assert on_hand(state, "WH-A") == qty(-1)
    assert inventory.available_to_promise(state, "SKU-1", "WH-A") == qty(0)
    assert inventory.available_to_promise(state, "SKU-1") == qty(5)
    assert inventory.network_stock(state, "SKU-1").on_hand == qty(4)


def test_an_unknown_position_is_empty() -> None:
    assert inventory.stock_position(LedgerState.empty(), "NOPE", "WH-Z") == inventory.StockPosition("NOPE", "WH-Z")
    assert inventory.available_to_promise(LedgerState.empty(), "NOPE") == qty(0)


def test_a_ledger_state_survives_a_round_trip_through_pickle() -> None:
    state = reserve(stocked(("SKU-1", "WH-A", 10), ("SKU-2", "WH-B", 3))).state

    assert pickle.loads(pickle.dumps(state)) == state


def test_an_old_state_stays_as_it_was_after_an_operation() -> None:
    before = stocked(("SKU-1", "WH-A", 10))

    reserve(before, quantity=qty(4))

    assert inventory.stock_position(before, "SKU-1", "WH-A").reserved == qty(0)


# --- reservations -------------------------------------------------------------------------------------------


def test_a_line_that_one_location_can_cover_is_reserved_whole_there() -> None:
    state = stocked(("SKU-1", "WH-A", 10))

    decision = reserve(state, quantity=qty(4))

    assert decision.kind is DecisionKind.WHOLE
    assert decision.allocated == (inventory.Allocation("WH-A", qty(4)),)
    assert inventory.available_to_promise(decision.state, "SKU-1", "WH-A") == qty(6)
    assert inventory.stock_position(decision.state, "SKU-1", "WH-A").reserved == qty(4)


def test_fewest_shipments_prefers_one_farther_location_to_a_split() -> None:
    state = stocked(("SKU-1", "WH-NEAR", 5), ("SKU-1", "WH-FAR", 10))

    decision = reserve(state, quantity=qty(8), locations=["WH-NEAR", "WH-FAR"])

    assert decision.allocated == (inventory.Allocation("WH-FAR", qty(8)),)


def test_nearest_walks_the_distance_ranking_even_if_it_splits() -> None:
    state = stocked(("SKU-1", "WH-NEAR", 5), ("SKU-1", "WH-FAR", 10))

    decision = reserve(state, quantity=qty(8), policy=NEAREST, locations=["WH-NEAR", "WH-FAR"])

    assert decision.kind is DecisionKind.SPLIT
    assert decision.allocated == (inventory.Allocation("WH-NEAR", qty(5)), inventory.Allocation("WH-FAR", qty(3)))


def test_fewest_shipments_splits_over_the_largest_stocks_first() -> None:
    state = stocked(("SKU-1", "WH-1", 3), ("SKU-1", "WH-2", 6), ("SKU-1", "WH-3", 4))

    decision = reserve(state, quantity=qty(10), locations=["WH-1", "WH-2", "WH-3"])

    assert decision.kind is DecisionKind.SPLIT
    assert decision.allocated == (inventory.Allocation("WH-2", qty(6)), inventory.Allocation("WH-3", qty(4)))


def test_only_the_given_locations_are_used() -> None:
    state = stocked(("SKU-1", "WH-A", 10), ("SKU-1", "WH-B", 10))

    decision = reserve(state, quantity=qty(4), locations=["WH-B"])

    assert decision.allocated == (inventory.Allocation("WH-B", qty(4)),)


def test_what_cannot_be_covered_is_backordered() -> None:
    state = stocked(("SKU-1", "WH-A", 3))

    partial = reserve(state, quantity=qty(5))
    nothing = reserve(partial.state, order_id="SO-2", quantity=qty(2))

    assert (partial.kind, partial.backorder) == (DecisionKind.PARTIAL, qty(2))
    assert (nothing.kind, nothing.backorder, nothing.allocated) == (DecisionKind.BACKORDERED, qty(2), ())


def test_a_reservation_never_takes_more_than_is_available() -> None:
    state = stocked(("SKU-1", "WH-A", 5))
    first = reserve(state, order_id="SO-1", quantity=qty(4))

    second = reserve(first.state, order_id="SO-2", quantity=qty(4))

    assert second.allocated == (inventory.Allocation("WH-A", qty(1)),)
    assert inventory.stock_position(second.state, "SKU-1", "WH-A").reserved == qty(5)
    assert inventory.available_to_promise(second.state, "SKU-1") == qty(0)


def test_an_all_or_nothing_request_that_cannot_be_covered_is_an_oversell_and_changes_nothing() -> None:
    state = stocked(("SKU-1", "WH-A", 3))

    with pytest.raises(errors.Oversell):
        reserve(state, quantity=qty(5), allow_backorder=False)

    assert inventory.available_to_promise(state, "SKU-1") == qty(3)
    assert state.reservation("SO-1", "1") is None


def test_asking_again_for_the_same_quantity_changes_nothing() -> None:
    first = reserve(stocked(("SKU-1", "WH-A", 10)), quantity=qty(4))

    again = reserve(first.state, quantity=qty(4))

    assert again.state is first.state
    assert again.allocated == ()


def test_a_backorder_fills_up_where_the_line_already_ships_from() -> None:
    state = stocked(("SKU-1", "WH-A", 3))
    partial = reserve(state, quantity=qty(5), locations=["WH-A", "WH-B"])
    restocked = stocked(("SKU-1", "WH-A", 1), ("SKU-1", "WH-B", 10), state=partial.state)

    filled = reserve(restocked, quantity=qty(5), locations=["WH-B", "WH-A"])

    # WH-A already ships 3: topping it up there adds no shipment, though WH-B ranks first; WH-B covers the rest.
    assert (partial.kind, partial.backorder) == (DecisionKind.PARTIAL, qty(2))
    assert filled.allocated == (inventory.Allocation("WH-A", qty(1)), inventory.Allocation("WH-B", qty(1)))
    assert filled.backorder == qty(0)


def test_a_smaller_quantity_gives_back_the_most_recent_holds() -> None:
    state = stocked(("SKU-1", "WH-A", 3), ("SKU-1", "WH-B", 10))
    split = reserve(state, quantity=qty(8), policy=NEAREST, locations=["WH-A", "WH-B"])

    smaller = reserve(split.state, quantity=qty(4), policy=NEAREST, locations=["WH-A", "WH-B"])

    assert smaller.released == (inventory.Allocation("WH-B", qty(4)),)
    assert smaller.reservation.allocations == (
        inventory.Allocation("WH-A", qty(3)),
        inventory.Allocation("WH-B", qty(1)),
    )
    assert inventory.available_to_promise(smaller.state, "SKU-1") == qty(9)


def test_asking_for_nothing_on_a_new_line_records_nothing() -> None:
    state = stocked(("SKU-1", "WH-A", 3))

    decision = reserve(state, quantity=qty(0))

    assert decision.state is state


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"quantity": qty(-1)}, ValueError),  # a negative request
        ({"sku": "SKU-2"}, ValueError),  # the same line switching items without a release
    ],
)
def test_a_malformed_reservation_request_is_refused(overrides: dict[str, Any], error: type[Exception]) -> None:
    state = reserve(stocked(("SKU-1", "WH-A", 3), ("SKU-2", "WH-A", 3)), quantity=qty(1)).state

    with pytest.raises(error):
        reserve(state, **overrides)


def test_a_release_gives_the_stock_back_exactly_once() -> None:
    reserved = reserve(stocked(("SKU-1", "WH-A", 10)), quantity=qty(4)).state

    released = inventory.release_reservation(reserved, "SO-1", "1")
    again = inventory.release_reservation(released.state, "SO-1", "1")

    assert released.released == (inventory.LineAllocation("SO-1", "1", "SKU-1", "WH-A", qty(4)),)
    assert inventory.available_to_promise(released.state, "SKU-1") == qty(10)
    assert again.state is released.state
    assert again.released == ()


def test_releasing_a_line_that_never_reserved_changes_nothing() -> None:
    state = stocked(("SKU-1", "WH-A", 10))

    assert inventory.release_reservation(state, "SO-9", "1").state is state


def test_a_cancelled_line_cannot_reserve_again() -> None:
    reserved = reserve(stocked(("SKU-1", "WH-A", 10)), quantity=qty(4)).state
    cancelled = inventory.release_reservation(reserved, "SO-1", "1").state

    with pytest.raises(errors.ReservationClosed):
        reserve(cancelled, quantity=qty(4))


def test_shipping_a_reserved_line_uses_its_hold_and_leaves_availability_as_it_was() -> None:
    reserved = reserve(stocked(("SKU-1", "WH-A", 10)), quantity=qty(4)).state

    shipped = inventory.consume_reservation(
        reserved,
        movement_id="ship-1",
        order_id="SO-1",
        line_id="1",
        sku="SKU-1",
        location="WH-A",
        quantity=qty(3),
        occurred_at=T0,
    ).state

    position = inventory.stock_position(shipped, "SKU-1", "WH-A")
    assert (position.on_hand, position.reserved, position.available) == (qty(7), qty(1), qty(6))
    reservation = shipped.reservation("SO-1", "1")
    assert reservation is not None
    assert (reservation.consumed, reservation.reserved, reservation.backorder) == (qty(3), qty(1), qty(0))
    # Shipped quantities count towards the line: asking again does not reserve them a second time.
    assert reserve(shipped, quantity=qty(4)).state is shipped


def test_shipping_from_another_location_than_planned_gives_the_planned_hold_back() -> None:
    state = stocked(("SKU-1", "WH-A", 10), ("SKU-1", "WH-B", 10))
    reserved = reserve(state, quantity=qty(4), locations=["WH-A"]).state

    update = inventory.consume_reservation(
        reserved,
        movement_id="ship-1",
        order_id="SO-1",
        line_id="1",
        sku="SKU-1",
        location="WH-B",
        quantity=qty(4),
        occurred_at=T0,
    )

    assert update.released == (inventory.LineAllocation("SO-1", "1", "SKU-1", "WH-A", qty(4)),)
    assert inventory.available_to_promise(update.state, "SKU-1") == qty(16)


def test_stock_lost_below_what_is_reserved_takes_the_latest_reservation_first() -> None:
    state = stocked(("SKU-1", "WH-A", 10))
    state = reserve(state, order_id="SO-1", quantity=qty(6)).state
    state = reserve(state, order_id="SO-2", quantity=qty(4)).state

    update = inventory.apply_movement(state, make_movement(kind=MovementKind.ADJUSTMENT, quantity=qty(-3)))

    assert update.shortfalls == (inventory.LineAllocation("SO-2", "1", "SKU-1", "WH-A", qty(3)),)
    position = inventory.stock_position(update.state, "SKU-1", "WH-A")
    assert (position.on_hand, position.reserved) == (qty(7), qty(7))
    later = update.state.reservation("SO-2", "1")
    assert later is not None
    assert later.backorder == qty(3)


def test_a_state_built_from_rows_derives_what_is_reserved_from_the_reservations() -> None:
    reservation = inventory.Reservation(
        "SO-1", "1", "SKU-1", qty(5), allocations=(inventory.Allocation("WH-A", qty(5)),)
    )
    position = inventory.StockPosition("SKU-1", "WH-A", on_hand=qty(8), reserved=qty(99))

    state = LedgerState.build([position], [reservation])

    assert inventory.available_to_promise(state, "SKU-1", "WH-A") == qty(3)
    assert state.reservation("SO-1", "1") == reservation


def test_rows_that_reserve_more_than_is_on_hand_are_refused() -> None:
    reservation = inventory.Reservation(
        "SO-1", "1", "SKU-1", qty(5), allocations=(inventory.Allocation("WH-A", qty(5)),)
    )

    with pytest.raises(errors.Oversell):
        LedgerState.build([inventory.StockPosition("SKU-1", "WH-A", on_hand=qty(4))], [reservation])


# --- channel availability -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("buffer", "atp", "expected"),
    [
        ({"value": qty(5)}, 12, "7"),  # an absolute buffer holds back units
        ({"value": qty(20)}, 12, "0"),  # a buffer larger than stock promises nothing, not less than nothing
        ({"kind": BufferKind.PERCENT, "value": qty(10)}, 12, "10"),  # 10.8 left, floored to whole units
        ({"kind": BufferKind.PERCENT, "value": qty(100)}, 12, "0"),  # the whole stock held back
        ({"kind": BufferKind.PERCENT, "value": qty(10), "step": qty("0.001")}, 12, "10.800"),  # sold by weight
        ({}, 12, "12"),  # no buffer at all
    ],
)
def test_a_channel_buffer_holds_stock_back_and_never_goes_below_zero(
    buffer: dict[str, Any], atp: int, expected: str
) -> None:
    assert inventory.ChannelBuffer(**buffer).apply(qty(atp)) == qty(expected)


def test_a_percent_buffer_above_a_hundred_is_refused() -> None:
    with pytest.raises(ValidationError):
        inventory.ChannelBuffer(kind=BufferKind.PERCENT, value=qty(101))


def make_buffers(**overrides: Any) -> inventory.ChannelBuffers:
    fields: dict[str, Any] = {
        "by_class": {"shop": {"fragile": {"value": qty(5)}}},
        "defaults": {"shop": {"value": qty(1)}},
        "item_classes": {"SKU-1": "fragile"},
    }
    fields.update(overrides)
    return inventory.ChannelBuffers(**fields)


@pytest.mark.parametrize(
    ("sku", "channel", "expected"),
    [
        ("SKU-1", "shop", 15),  # the item class rule for the channel
        ("SKU-2", "shop", 19),  # no class rule: the channel default
        ("SKU-1", "edi", 20),  # a channel with no buffers at all
    ],
)
def test_the_item_class_rule_comes_before_the_channel_default(sku: str, channel: str, expected: int) -> None:
    state = stocked((sku, "WH-A", 20))

    assert inventory.channel_availability(state, sku, channel, make_buffers()) == qty(expected)


def test_a_burst_of_movements_gives_one_change_per_sku_and_channel() -> None:
    before = stocked(("SKU-1", "WH-A", 20), ("SKU-2", "WH-A", 20), ("SKU-3", "WH-A", 20))
    burst = [make_movement(sku="SKU-1", kind=MovementKind.SHIPMENT, quantity=qty(1)) for _ in range(5)]
    burst += [
        make_movement(sku="SKU-2", quantity=qty(3)),
        make_movement(sku="SKU-2", kind=MovementKind.SHIPMENT, quantity=qty(3)),
    ]
    after = inventory.apply_movements(before, burst).state

    changes = inventory.availability_changes(before, after, ["shop", "edi"], make_buffers())

    # SKU-2 moved and came back: nothing to announce. SKU-3 never moved.
    assert changes == (
        inventory.AvailabilityChange(sku="SKU-1", channel="edi", old=qty(20), new=qty(15)),
        inventory.AvailabilityChange(sku="SKU-1", channel="shop", old=qty(15), new=qty(10)),
    )


def test_a_reservation_changes_availability_and_a_buffer_can_hide_the_change() -> None:
    before = stocked(("SKU-1", "WH-A", 8))
    after = reserve(before, quantity=qty(2)).state
    buffers = make_buffers(by_class={"shop": {"fragile": {"value": qty(10)}}})

    changes = inventory.availability_changes(before, after, ["shop", "edi"], buffers)

    assert changes == (inventory.AvailabilityChange(sku="SKU-1", channel="edi", old=qty(8), new=qty(6)),)


# --- authority ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "source", "expected"),
    [
        ("WH-X", "erp", AuthorityOutcome.ACCEPTED),  # nobody owns on-hand here
        ("WH-A", "wms", AuthorityOutcome.ACCEPTED),  # the owner itself
        ("WH-A", "erp", AuthorityOutcome.IGNORED),  # another system, configured to be ignored
        ("WH-B", "erp", AuthorityOutcome.ACCEPTED),  # another system, configured to be accepted anyway
        ("WH-C", "erp", AuthorityOutcome.EXCEPTION),  # another system, someone must look
    ],
)
def test_the_owner_of_on_hand_decides_what_an_update_does(location: str, source: str, expected: str) -> None:
    decision = inventory.decide_authority(make_rules(), location, source)

    assert decision.outcome == expected
    assert location in decision.reason


def make_rules() -> inventory.AuthorityRules:
    return inventory.AuthorityRules(
        rules=(
            inventory.AuthorityRule(location="WH-A", owner="wms", on_conflict=AuthorityOutcome.IGNORED),
            inventory.AuthorityRule(location="WH-B", owner="wms", on_conflict=AuthorityOutcome.ACCEPTED),
            inventory.AuthorityRule(location="WH-C", owner="3pl"),
        )
    )


def test_two_rules_for_one_location_are_refused() -> None:
    with pytest.raises(ValidationError):
        inventory.AuthorityRules(
            rules=(
                inventory.AuthorityRule(location="WH-A", owner="wms"),
                inventory.AuthorityRule(location="WH-A", owner="erp"),
            )
        )


# --- reconciliation -----------------------------------------------------------------------------------------


def reconcile(state: LedgerState, snapshot: dict[tuple[str, str], int], **overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "source": "wms",
        "rules": make_rules(),
        "reconciliation_id": "count-2024-05-06",
        "as_of": T0,
    }
    fields.update(overrides)
    counts = {key: qty(quantity) for key, quantity in snapshot.items()}
    return inventory.reconcile_inventory(state, counts, **fields)


def test_a_count_that_matches_the_ledger_reports_no_drift() -> None:
    state = stocked(("SKU-1", "WH-A", 10), ("SKU-2", "WH-A", 4))

    report = reconcile(state, {("SKU-1", "WH-A"): 10, ("SKU-2", "WH-A"): 4})

    assert (report.checked, report.matched, report.drifts) == (2, 2, ())


def test_unexplained_drift_at_a_location_the_counter_owns_is_corrected_with_an_explained_adjustment() -> None:
    state = stocked(("SKU-1", "WH-A", 10))

    report = reconcile(state, {("SKU-1", "WH-A"): 7})
    corrected = inventory.apply_movements(state, report.adjustments).state

    (drift,) = report.drifts
    assert (drift.drift, drift.cause, drift.action) == (qty(-3), DriftCause.UNKNOWN, DriftAction.ADJUST)
    assert drift.adjustment is not None
    assert drift.adjustment.quantity == qty(-3)
    assert "count-2024-05-06" in (drift.adjustment.reason or "")
    assert reconcile(corrected, {("SKU-1", "WH-A"): 7}).drifts == ()


def test_reconciling_the_same_count_twice_posts_its_adjustments_once() -> None:
    state = stocked(("SKU-1", "WH-A", 10))
    first = reconcile(state, {("SKU-1", "WH-A"): 7})
    corrected = inventory.apply_movements(state, first.adjustments).state

    replay = inventory.apply_movements(corrected, reconcile(state, {("SKU-1", "WH-A"): 7}).adjustments)

    assert replay.state is corrected
    assert len(replay.duplicates) == 1


def test_drift_explained_by_stock_in_transit_waits_for_the_transfer() -> None:
    state = stocked(("SKU-1", "WH-A", 10))
    out = make_movement(kind=MovementKind.TRANSFER_OUT, quantity=qty(4), counterpart="WH-X")
    state = inventory.apply_movement(state, out).state

    report = reconcile(state, {("SKU-1", "WH-X"): 4})

    (drift,) = report.drifts
    assert (drift.cause, drift.action, drift.adjustment) == (DriftCause.IN_TRANSIT, DriftAction.WAIT, None)


def test_only_the_unexplained_part_of_a_drift_is_adjusted() -> None:
    state = reserve(stocked(("SKU-1", "WH-A", 10)), quantity=qty(2)).state

    report = reconcile(state, {("SKU-1", "WH-A"): 5})

    (drift,) = report.drifts
    assert drift.cause is DriftCause.UNCONFIRMED_SHIPMENT
    assert (drift.explained, drift.unexplained) == (qty(2), qty(3))
    assert drift.adjustment is not None
    assert drift.adjustment.quantity == qty(-3)


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("WH-A", DriftAction.IGNORE),  # the WMS owns WH-A and ignores other counters
        ("WH-C", DriftAction.EXCEPTION),  # the 3PL owns WH-C and wants to hear about it
    ],
)
def test_a_count_from_a_system_that_does_not_own_on_hand_follows_the_authority_rule(
    location: str, expected: DriftAction
) -> None:
    state = stocked(("SKU-1", location, 10))

    report = reconcile(state, {("SKU-1", location): 7}, source="erp")

    (drift,) = report.drifts
    assert (drift.action, drift.adjustment) == (expected, None)
    assert report.exceptions == ((drift,) if expected is DriftAction.EXCEPTION else ())


def test_a_position_the_count_leaves_out_counts_as_zero_only_at_counted_locations() -> None:
    state = stocked(("SKU-1", "WH-A", 10), ("SKU-2", "WH-A", 4), ("SKU-2", "WH-X", 9))

    report = reconcile(state, {("SKU-1", "WH-A"): 10})

    assert [(d.sku, d.location, d.counted, d.drift) for d in report.drifts] == [("SKU-2", "WH-A", qty(0), qty(-4))]
    assert (report.checked, report.matched) == (2, 1)
