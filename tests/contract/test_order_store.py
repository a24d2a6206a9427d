"""The order store contract: an order's workflow state round-trips as stored, every save moves its version by one,
and a save from a version someone else already moved past is refused without changing anything."""

from __future__ import annotations

import pytest

from crossdock.domain.workflows.order_to_cash import OrderState
from crossdock.hub.ports import ConcurrentUpdate, OrderFilter, OrderRecord, UnitOfWorkFactory
from tests.contract.builders import at, order_record


def save(uow_factory: UnitOfWorkFactory, record: OrderRecord, minutes: float = 0) -> OrderRecord:
    with uow_factory() as uow:
        saved = uow.orders.save(record, at(minutes=minutes))
        uow.commit()
    return saved


def load(uow_factory: UnitOfWorkFactory, order_id: str = "SO-1001") -> OrderRecord | None:
    with uow_factory() as uow:
        return uow.orders.load(order_id)


def test_a_new_order_is_stored_at_version_one_and_loads_back_as_saved(uow_factory: UnitOfWorkFactory) -> None:
    state = OrderState.new("SO-1001")

    saved = save(uow_factory, order_record(state=state.model_dump(mode="json")), minutes=1)

    assert saved.version == 1
    assert (saved.created_at, saved.updated_at) == (at(minutes=1), at(minutes=1))
    assert load(uow_factory) == saved
    assert OrderState.model_validate(saved.state) == state


def test_saving_from_the_version_read_moves_to_the_next_and_keeps_the_creation_time(
    uow_factory: UnitOfWorkFactory,
) -> None:
    first = save(uow_factory, order_record(), minutes=1)
    received = OrderState.new("SO-1001").model_copy(update={"customer_id": "C-100", "currency": "EUR"})

    second = save(uow_factory, order_record(status="received", state=received.model_dump(mode="json"), version=1), 5)

    assert (second.version, second.status) == (2, "received")
    assert (second.created_at, second.updated_at) == (first.created_at, at(minutes=5))
    stored = load(uow_factory)
    assert stored == second
    assert stored is not None
    assert OrderState.model_validate(stored.state) == received


def test_a_save_from_a_stale_version_is_a_concurrent_update_and_changes_nothing(
    uow_factory: UnitOfWorkFactory,
) -> None:
    save(uow_factory, order_record())
    current = save(uow_factory, order_record(status="received", version=1), minutes=1)

    with uow_factory() as uow, pytest.raises(ConcurrentUpdate):
        uow.orders.save(order_record(status="rejected", version=1), at(minutes=2))

    assert load(uow_factory) == current


def test_inserting_an_order_that_is_already_stored_is_a_concurrent_update(uow_factory: UnitOfWorkFactory) -> None:
    first = save(uow_factory, order_record())

    with uow_factory() as uow, pytest.raises(ConcurrentUpdate):
        uow.orders.save(order_record(status="received"), at(minutes=1))

    assert load(uow_factory) == first


def test_updating_an_order_that_was_never_stored_is_a_concurrent_update(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow, pytest.raises(ConcurrentUpdate):
        uow.orders.save(order_record(version=3), at(minutes=1))

    assert load(uow_factory) is None


def test_after_a_concurrent_update_the_unit_of_work_can_still_save_and_commit(uow_factory: UnitOfWorkFactory) -> None:
    save(uow_factory, order_record())

    with uow_factory() as uow:
        with pytest.raises(ConcurrentUpdate):
            uow.orders.save(order_record(), at(minutes=1))
        uow.orders.save(order_record(order_id="SO-1002"), at(minutes=1))
        uow.commit()

    assert load(uow_factory, "SO-1002") is not None


def test_an_order_saved_in_a_unit_of_work_left_without_commit_is_not_stored(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.orders.save(order_record(), at())
        assert uow.orders.load("SO-1001") is not None

    assert load(uow_factory) is None


def test_find_filters_and_returns_the_newest_update_first(uow_factory: UnitOfWorkFactory) -> None:
    save(uow_factory, order_record(order_id="SO-1", status="accepted", channel="edi", customer_id="C-1"), 1)
    save(uow_factory, order_record(order_id="SO-2", status="accepted", channel="shop", customer_id="C-2"), 2)
    save(uow_factory, order_record(order_id="SO-3", status="received", channel="shop", customer_id="C-1"), 3)

    def ids(flt: OrderFilter) -> list[str]:
        with uow_factory() as uow:
            return [r.order_id for r in uow.orders.find(flt)]

    assert ids(OrderFilter()) == ["SO-3", "SO-2", "SO-1"]
    assert ids(OrderFilter(status="accepted")) == ["SO-2", "SO-1"]
    assert ids(OrderFilter(channel="shop")) == ["SO-3", "SO-2"]
    assert ids(OrderFilter(customer_id="C-1")) == ["SO-3", "SO-1"]
    assert ids(OrderFilter(updated_before=at(minutes=3))) == ["SO-2", "SO-1"]
    assert ids(OrderFilter(limit=1)) == ["SO-3"]


def test_counts_orders_per_status(uow_factory: UnitOfWorkFactory) -> None:
    save(uow_factory, order_record(order_id="SO-1", status="accepted"))
    save(uow_factory, order_record(order_id="SO-2", status="accepted"))
    save(uow_factory, order_record(order_id="SO-3", status="shipped"))

    with uow_factory() as uow:
        assert uow.orders.counts() == {"accepted": 2, "shipped": 1}
