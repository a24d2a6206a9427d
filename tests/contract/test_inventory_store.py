"""The stock ledger store contract: positions and reservations written by real domain operations load back to the
same availability, movements are recorded once, stale reads are refused, pages and the backorder queue come in
a stable order, and concurrent reservations for the last units never oversell."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest

from crossdock.domain import inventory
from crossdock.hub.ports import ConcurrentUpdate, UnitOfWorkFactory
from tests.contract.builders import at, movement

SKU = "BOLT-M8"
FEWEST = inventory.ReservationPolicy.FEWEST_SHIPMENTS


def apply(uow_factory: UnitOfWorkFactory, *movements: inventory.Movement, minutes: float = 0) -> None:
    with uow_factory() as uow:
        before = uow.inventory.load(sorted({m.sku for m in movements}), lock=True)
        update = inventory.apply_movements(before, movements)
        uow.inventory.save(before, update.state, update.entries, at(minutes=minutes))
        uow.commit()


def receipt(move_id: str, quantity: str, location: str = "WH-A", sku: str = SKU) -> inventory.Movement:
    return movement(id=move_id, sku=sku, location=location, quantity=Decimal(quantity))


def reserve(
    uow_factory: UnitOfWorkFactory, order_id: str, quantity: str, minutes: float = 0, sku: str = SKU
) -> inventory.ReservationDecision:
    with uow_factory() as uow:
        before = uow.inventory.load([sku], lock=True)
        decision = inventory.reserve_stock(before, order_id, "1", sku, Decimal(quantity), FEWEST)
        uow.inventory.save(before, decision.state, (), at(minutes=minutes))
        uow.commit()
    return decision


def load(uow_factory: UnitOfWorkFactory, *skus: str) -> inventory.LedgerState:
    with uow_factory() as uow:
        return uow.inventory.load(list(skus or [SKU]))


def test_stock_received_and_reserved_loads_back_as_the_domain_left_it(uow_factory: UnitOfWorkFactory) -> None:
    apply(uow_factory, receipt("mv-1", "10", "WH-A"), receipt("mv-2", "4", "WH-B"))

    decision = reserve(uow_factory, "SO-1", "12")

    loaded = load(uow_factory)
    after = decision.state
    assert loaded == inventory.LedgerState.build(positions=after.positions(), reservations=after.reservations())
    assert loaded.reservation("SO-1", "1") == decision.reservation
    assert [inventory.available_to_promise(loaded, SKU, loc) for loc in ("WH-A", "WH-B")] == [Decimal(0), Decimal(2)]
    assert inventory.network_stock(loaded, SKU) == inventory.network_stock(after, SKU)


def test_quantities_come_back_as_the_exact_decimals_they_were(uow_factory: UnitOfWorkFactory) -> None:
    apply(uow_factory, receipt("mv-1", "0.125"), receipt("mv-2", "0.2"))
    reserve(uow_factory, "SO-1", "0.3")

    loaded = load(uow_factory)

    assert loaded.position(SKU, "WH-A").on_hand == Decimal("0.325")
    assert inventory.available_to_promise(loaded, SKU) == Decimal("0.025")


def test_recorded_returns_the_stored_movements_among_the_ids_asked(uow_factory: UnitOfWorkFactory) -> None:
    apply(uow_factory, receipt("mv-1", "10"), receipt("mv-2", "3", "WH-B"))

    with uow_factory() as uow:
        assert uow.inventory.recorded(["mv-2", "mv-unknown", "mv-1"]) == [
            receipt("mv-1", "10"),
            receipt("mv-2", "3", "WH-B"),
        ]
        assert uow.inventory.recorded([]) == []


def test_recording_a_movement_a_second_time_is_a_concurrent_update(uow_factory: UnitOfWorkFactory) -> None:
    apply(uow_factory, receipt("mv-1", "10"))

    # A state loaded without its movements does not know mv-1 was applied: the store is what refuses it.
    with pytest.raises(ConcurrentUpdate):
        apply(uow_factory, receipt("mv-1", "10"))

    assert load(uow_factory).position(SKU, "WH-A").on_hand == Decimal(10)


@pytest.mark.parametrize(
    "location",
    [
        "WH-A",  # a position that existed when the stale state was read
        "WH-C",  # a position created by someone else after the stale state was read
    ],
)
def test_saving_over_stock_that_changed_since_it_was_read_is_a_concurrent_update(
    uow_factory: UnitOfWorkFactory, location: str
) -> None:
    apply(uow_factory, receipt("mv-1", "10"))
    stale = load(uow_factory)
    apply(uow_factory, receipt("mv-2", "5", location))

    with uow_factory() as uow, pytest.raises(ConcurrentUpdate):
        update = inventory.apply_movement(stale, receipt("mv-3", "1", location))
        uow.inventory.save(stale, update.state, update.entries, at())

    assert load(uow_factory).position(SKU, location).on_hand == Decimal(15 if location == "WH-A" else 5)


def test_stock_saved_in_a_unit_of_work_left_without_commit_is_not_stored(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        before = uow.inventory.load([SKU])
        update = inventory.apply_movement(before, receipt("mv-1", "10"))
        decision = inventory.reserve_stock(update.state, "SO-1", "1", SKU, Decimal(4), FEWEST)
        uow.inventory.save(before, decision.state, update.entries, at())

    with uow_factory() as uow:
        assert list(uow.inventory.load([SKU]).positions()) == []
        assert list(uow.inventory.load([SKU]).reservations()) == []
        assert uow.inventory.recorded(["mv-1"]) == []


def test_load_holds_only_the_skus_asked_for(uow_factory: UnitOfWorkFactory) -> None:
    apply(uow_factory, receipt("mv-1", "10", sku="BOLT-M8"), receipt("mv-2", "7", sku="NUT-M8"))
    reserve(uow_factory, "SO-1", "2", sku="NUT-M8")

    bolts = load(uow_factory, "BOLT-M8", "NEVER-SEEN")

    assert [(p.sku, p.on_hand) for p in bolts.positions()] == [("BOLT-M8", Decimal(10))]
    assert list(bolts.reservations()) == []


def test_positions_come_in_pages_ordered_by_sku_then_location(uow_factory: UnitOfWorkFactory) -> None:
    apply(
        uow_factory,
        receipt("mv-1", "1", "WH-B", sku="A"),
        receipt("mv-2", "2", "WH-A", sku="A"),
        receipt("mv-3", "3", "WH-A", sku="B"),
        receipt("mv-4", "4", "WH-C", sku="C"),
    )

    def page(
        *, sku: str | None = None, location: str | None = None, after: tuple[str, str] | None = None, limit: int = 10
    ) -> list[tuple[str, str]]:
        with uow_factory() as uow:
            state = uow.inventory.positions(sku=sku, location=location, after=after, limit=limit)
        return sorted((p.sku, p.location) for p in state.positions())

    assert page(limit=2) == [("A", "WH-A"), ("A", "WH-B")]
    assert page(after=("A", "WH-B"), limit=2) == [("B", "WH-A"), ("C", "WH-C")]
    assert page(after=("A", "WH-A"), limit=1) == [("A", "WH-B")]
    assert page(sku="A") == [("A", "WH-A"), ("A", "WH-B")]
    assert page(location="WH-A") == [("A", "WH-A"), ("B", "WH-A")]


def test_a_page_holds_the_reservations_of_its_skus_with_the_exact_reserved_at_each_position(
    uow_factory: UnitOfWorkFactory,
) -> None:
    apply(uow_factory, receipt("mv-1", "10", "WH-A"), receipt("mv-2", "4", "WH-B"))
    reserve(uow_factory, "SO-1", "12")

    with uow_factory() as uow:
        whole = uow.inventory.positions(sku=SKU, limit=10)
        first = uow.inventory.positions(sku=SKU, limit=1)

    assert [(p.location, p.reserved) for p in whole.positions()] == [("WH-A", Decimal(10)), ("WH-B", Decimal(2))]
    assert [(p.location, p.reserved) for p in first.positions()] == [("WH-A", Decimal(10))]
    assert [r.key for r in first.reservations()] == [("SO-1", "1")]


def test_backordered_lists_the_lines_still_waiting_for_stock_oldest_first(uow_factory: UnitOfWorkFactory) -> None:
    apply(uow_factory, receipt("mv-1", "10"))
    reserve(uow_factory, "SO-1", "4", minutes=1)  # fully reserved
    reserve(uow_factory, "SO-2", "8", minutes=2)  # 6 reserved, 2 waiting
    reserve(uow_factory, "SO-3", "3", minutes=3)  # nothing left: 3 waiting
    reserve(uow_factory, "SO-4", "1", minutes=4)  # waiting, then cancelled
    with uow_factory() as uow:
        before = uow.inventory.load([SKU], lock=True)
        released = inventory.release_reservation(before, "SO-4", "1")
        uow.inventory.save(before, released.state, (), at(minutes=5))
        uow.commit()

    def waiting(limit: int = 100) -> list[tuple[str, Decimal]]:
        with uow_factory() as uow:
            return [(r.order_id, r.backorder) for r in uow.inventory.backordered(SKU, limit)]

    assert waiting() == [("SO-2", Decimal(2)), ("SO-3", Decimal(3))]
    assert waiting(limit=1) == [("SO-2", Decimal(2))]

    # A line topped up later keeps its place in the queue; one filled completely leaves it.
    apply(uow_factory, receipt("mv-2", "1"))
    reserve(uow_factory, "SO-2", "8", minutes=6)
    assert waiting() == [("SO-2", Decimal(1)), ("SO-3", Decimal(3))]
    apply(uow_factory, receipt("mv-3", "1"))
    reserve(uow_factory, "SO-2", "8", minutes=7)
    assert waiting() == [("SO-3", Decimal(3))]


def test_concurrent_reservations_for_the_last_units_never_oversell(uow_factory: UnitOfWorkFactory) -> None:
    apply(uow_factory, receipt("mv-1", "5"))
    start = threading.Barrier(2)
    seen: dict[str, Decimal] = {}
    errors: list[BaseException] = []

    def take_the_last_five(order_id: str) -> None:
        try:
            start.wait(timeout=10)
            with uow_factory() as uow:
                before = uow.inventory.load([SKU], lock=True)
                seen[order_id] = inventory.available_to_promise(before, SKU)
                # Both would read 5 here and both take it, were the first not holding the other back.
                time.sleep(0.3)
                decision = inventory.reserve_stock(before, order_id, "1", SKU, Decimal(5), FEWEST)
                uow.inventory.save(before, decision.state, (), at())
                uow.commit()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread, which raises it
            errors.append(exc)

    threads = [threading.Thread(target=take_the_last_five, args=(order_id,)) for order_id in ("SO-1", "SO-2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(seen.values()) == [Decimal(0), Decimal(5)]
    loaded = load(uow_factory)
    assert loaded.position(SKU, "WH-A").reserved == Decimal(5)
    assert sorted((r.order_id, r.reserved) for r in loaded.reservations()) == sorted(
        [(order_id, Decimal(5) if available else Decimal(0)) for order_id, available in seen.items()]
    )


def test_a_reservation_shipped_in_full_is_left_out_of_the_ledger_unless_its_line_is_asked_for(
    uow_factory: UnitOfWorkFactory,
) -> None:
    apply(uow_factory, receipt("mv-1", "10"))
    reserve(uow_factory, "SO-1", "4")
    reserve(uow_factory, "SO-2", "3")
    with uow_factory() as uow:
        before = uow.inventory.load([SKU], lock=True)
        shipped = inventory.consume_reservation(
            before,
            movement_id="ship-1",
            order_id="SO-1",
            line_id="1",
            sku=SKU,
            location="WH-A",
            quantity=Decimal(4),
            occurred_at=at(minutes=1),
        )
        uow.inventory.save(before, shipped.state, shipped.entries, at(minutes=1))
        uow.commit()

    loaded = load(uow_factory)
    assert loaded.reservation("SO-1", "1") is None, "a settled reservation costs nothing to load"
    assert loaded.reservation("SO-2", "1") is not None, "an open reservation is always loaded"
    assert inventory.available_to_promise(loaded, SKU, "WH-A") == Decimal(3)
    with uow_factory() as uow:
        asked = uow.inventory.load([SKU], lines=[("SO-1", "1")]).reservation("SO-1", "1")
    assert asked is not None and asked.consumed == Decimal(4) and asked.reserved == 0
