"""The purchase order store contract: a PO's workflow state and document round-trip as stored, every save moves its
version by one, and a save from a version someone else already moved past is refused without changing anything."""

from __future__ import annotations

from typing import Any

import pytest

from crossdock.domain.workflows.procure_to_pay import POState
from crossdock.hub.ports import ConcurrentUpdate, PurchaseOrderFilter, PurchaseOrderRecord, UnitOfWorkFactory
from tests.contract.builders import at

DOCUMENT = {
    "number": "PO-1",
    "supplier": "SUP-1",
    "currency": "EUR",
    "ship_to": "WH-1",
    "lines": [{"line": 1, "sku": "SKU-1", "quantity": {"value": "12", "unit": "EA"}, "unit_price": "10.00"}],
}


def po_record(**overrides: Any) -> PurchaseOrderRecord:
    """A PO not stored yet (version 0), its state the real JSON form of the workflow's POState."""
    po_id = overrides.get("po_id", "PO-1")
    fields: dict[str, Any] = {
        "po_id": po_id,
        "status": "not_issued",
        "state": POState.new(po_id).model_dump(mode="json"),
        "supplier_id": "SUP-1",
    }
    fields.update(overrides)
    return PurchaseOrderRecord(**fields)


def save(uow_factory: UnitOfWorkFactory, record: PurchaseOrderRecord, minutes: float = 0) -> PurchaseOrderRecord:
    with uow_factory() as uow:
        saved = uow.purchase_orders.save(record, at(minutes=minutes))
        uow.commit()
    return saved


def load(uow_factory: UnitOfWorkFactory, po_id: str = "PO-1") -> PurchaseOrderRecord | None:
    with uow_factory() as uow:
        return uow.purchase_orders.load(po_id)


def test_a_new_purchase_order_is_stored_at_version_one_and_loads_back_as_saved(uow_factory: UnitOfWorkFactory) -> None:
    state = POState.new("PO-1")

    saved = save(uow_factory, po_record(state=state.model_dump(mode="json")), minutes=1)

    assert saved.version == 1
    assert (saved.created_at, saved.updated_at) == (at(minutes=1), at(minutes=1))
    assert saved.document is None
    assert load(uow_factory) == saved
    assert POState.model_validate(saved.state) == state


def test_the_document_and_a_state_with_held_facts_round_trip(uow_factory: UnitOfWorkFactory) -> None:
    first = save(uow_factory, po_record())
    held = POState.model_validate(
        {
            "po_id": "PO-1",
            "held": [
                {
                    "kind": "invoiced",
                    "po_id": "PO-1",
                    "invoice_id": "INV-1",
                    "currency": "EUR",
                    "lines": [{"line_id": "1", "quantity": "2", "unit_price": "10.30"}],
                    "total": "20.60",
                }
            ],
        }
    )

    second = save(
        uow_factory,
        po_record(status="issued", state=held.model_dump(mode="json"), document=DOCUMENT, version=first.version),
        minutes=2,
    )

    stored = load(uow_factory)
    assert stored == second
    assert stored is not None and stored.document == DOCUMENT
    assert POState.model_validate(stored.state) == held


def test_saving_from_the_version_read_moves_to_the_next_and_keeps_the_creation_time(
    uow_factory: UnitOfWorkFactory,
) -> None:
    first = save(uow_factory, po_record(), minutes=1)

    second = save(uow_factory, po_record(status="sent", version=1), minutes=5)

    assert (second.version, second.status) == (2, "sent")
    assert (second.created_at, second.updated_at) == (first.created_at, at(minutes=5))
    assert load(uow_factory) == second


def test_a_save_from_a_stale_version_is_a_concurrent_update_and_changes_nothing(
    uow_factory: UnitOfWorkFactory,
) -> None:
    save(uow_factory, po_record())
    current = save(uow_factory, po_record(status="sent", version=1), minutes=1)

    with uow_factory() as uow, pytest.raises(ConcurrentUpdate):
        uow.purchase_orders.save(po_record(status="acknowledged", version=1), at(minutes=2))

    assert load(uow_factory) == current


def test_inserting_a_purchase_order_that_is_already_stored_is_a_concurrent_update(
    uow_factory: UnitOfWorkFactory,
) -> None:
    first = save(uow_factory, po_record())

    with uow_factory() as uow, pytest.raises(ConcurrentUpdate):
        uow.purchase_orders.save(po_record(status="issued"), at(minutes=1))

    assert load(uow_factory) == first


def test_updating_a_purchase_order_that_was_never_stored_is_a_concurrent_update(
    uow_factory: UnitOfWorkFactory,
) -> None:
    with uow_factory() as uow, pytest.raises(ConcurrentUpdate):
        uow.purchase_orders.save(po_record(version=3), at(minutes=1))

    assert load(uow_factory) is None


def test_after_a_concurrent_update_the_unit_of_work_can_still_save_and_commit(uow_factory: UnitOfWorkFactory) -> None:
    save(uow_factory, po_record())

    with uow_factory() as uow:
        with pytest.raises(ConcurrentUpdate):
            uow.purchase_orders.save(po_record(), at(minutes=1))
        uow.purchase_orders.save(po_record(po_id="PO-2"), at(minutes=1))
        uow.commit()

    assert load(uow_factory, "PO-2") is not None


def test_a_purchase_order_saved_in_a_unit_of_work_left_without_commit_is_not_stored(
    uow_factory: UnitOfWorkFactory,
) -> None:
    with uow_factory() as uow:
        uow.purchase_orders.save(po_record(), at())
        assert uow.purchase_orders.load("PO-1") is not None

    assert load(uow_factory) is None


def test_a_purchase_order_saved_inside_a_savepoint_that_failed_is_not_stored(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        with pytest.raises(RuntimeError), uow.savepoint():
            uow.purchase_orders.save(po_record(), at())
            raise RuntimeError("the step broke a rule")
        uow.purchase_orders.save(po_record(po_id="PO-2"), at())
        uow.commit()

    assert load(uow_factory) is None
    assert load(uow_factory, "PO-2") is not None


def test_find_filters_and_returns_the_newest_update_first(uow_factory: UnitOfWorkFactory) -> None:
    save(uow_factory, po_record(po_id="PO-1", status="sent", supplier_id="SUP-1"), 1)
    save(uow_factory, po_record(po_id="PO-2", status="sent", supplier_id="SUP-2"), 2)
    save(uow_factory, po_record(po_id="PO-3", status="received", supplier_id="SUP-1"), 3)

    def ids(flt: PurchaseOrderFilter) -> list[str]:
        with uow_factory() as uow:
            return [r.po_id for r in uow.purchase_orders.find(flt)]

    assert ids(PurchaseOrderFilter()) == ["PO-3", "PO-2", "PO-1"]
    assert ids(PurchaseOrderFilter(status="sent")) == ["PO-2", "PO-1"]
    assert ids(PurchaseOrderFilter(supplier_id="SUP-1")) == ["PO-3", "PO-1"]
    assert ids(PurchaseOrderFilter(updated_before=at(minutes=3))) == ["PO-2", "PO-1"]
    assert ids(PurchaseOrderFilter(limit=1)) == ["PO-3"]


def test_counts_purchase_orders_per_status(uow_factory: UnitOfWorkFactory) -> None:
    save(uow_factory, po_record(po_id="PO-1", status="sent"))
    save(uow_factory, po_record(po_id="PO-2", status="sent"))
    save(uow_factory, po_record(po_id="PO-3", status="closed"))

    with uow_factory() as uow:
        assert uow.purchase_orders.counts() == {"sent": 2, "closed": 1}
