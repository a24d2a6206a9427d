"""Order-to-cash through the runtime, one business rule per test: SLAs, exception actions, compensation,
out-of-order input, authority over on-hand, closed periods and availability bursts."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from crossdock.domain import catalog
from crossdock.domain.workflows.order_to_cash import OrderStatus
from crossdock.hub.handlers.exceptions import AlreadyResolved
from crossdock.hub.ports import ExceptionStatus
from tests.e2e.order_to_cash_estate import ACCOUNTS, OrderToCashEstate, sales_order, settings_for


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Any]:
    built: list[OrderToCashEstate] = []

    def make_estate(**sections: Any) -> OrderToCashEstate:
        estate = OrderToCashEstate(tmp_path, settings_for(tmp_path, **sections))
        built.append(estate)
        return estate

    yield make_estate
    for estate in built:
        if estate.runtime is not None:
            estate.stop()


def test_an_order_released_but_not_shipped_past_its_sla_opens_one_warehouse_exception_even_across_a_restart(
    make: Any,
) -> None:
    estate = make(orders={"sla_minutes": {"released-not-shipped": 30}})
    estate.receipt("A", "WH1", 10)
    estate.order(sales_order("SO-1", ("A", 4, "10.00")))
    estate.drain()
    assert estate.state("SO-1").status is OrderStatus.RELEASED

    estate.stop()  # the SLA timer is a row: a restart keeps it
    estate.start()
    estate.later(minutes=29)
    assert estate.exceptions("SO-1") == [], "an SLA must not fire before it is due"
    estate.later(minutes=2)
    opened = estate.exceptions("SO-1")
    assert [(e.owner, e.reason_code) for e in opened] == [("warehouse", "sla_released_not_shipped")]
    assert "4 units released but not shipped" in opened[0].message
    estate.later(hours=5)
    assert len(estate.exceptions("SO-1")) == 1, "an SLA breach is raised once, not every round"
    assert len(estate.events(catalog.ExceptionOpened.event_type)) == 1


def test_shipping_in_time_disarms_the_sla_so_no_exception_opens(make: Any) -> None:
    estate = make(orders={"sla_minutes": {"released-not-shipped": 30, "shipped-not-invoiced": 30}})
    estate.receipt("A", "WH1", 10)
    estate.order(sales_order("SO-1", ("A", 4, "10.00")))
    estate.drain()
    estate.shipment("SH-1", "SO-1", "WH1", (1, "A", 4))
    estate.later(minutes=10)
    estate.later(hours=3)
    assert estate.state("SO-1").status is OrderStatus.INVOICED
    assert estate.exceptions("SO-1") == [], "an order that moved on in time must not be reported late"


def test_overriding_a_rejected_order_accepts_it_reserves_its_stock_and_resolves_the_exception(make: Any) -> None:
    estate = make(
        reference={
            "customers": [{"number": "C1", "currency": "EUR", "credit_limit": "1000"}],
            "price_lists": {"standard": {"currency": "EUR", "prices": {"A": "10.00"}}},
            "default_price_list": "standard",
        }
    )
    estate.receipt("A", "WH1", 10)
    estate.order(sales_order("SO-1", ("A", 2, "7.00")))
    estate.drain()
    assert estate.state("SO-1").status is OrderStatus.REJECTED
    [rejection] = estate.exceptions("SO-1")
    assert (rejection.owner, rejection.reason_code) == ("customer_service", "order_rejected:price_out_of_tolerance")

    runtime = estate.runtime
    resolved = runtime.order_to_cash.act_on_exception(
        runtime.hub.begin, estate.clock.now(), rejection.id, catalog.ExceptionAction.OVERRIDE, actor="ana", note="ok"
    )
    estate.drain()
    assert resolved.status is ExceptionStatus.RESOLVED and resolved.actions[0].actor == "ana"
    assert estate.state("SO-1").status is OrderStatus.RELEASED, "an overridden order goes on to reservation"
    assert estate.available("A", "WH1") == 8
    assert estate.events(catalog.ExceptionResolved.event_type, rejection.id)[0]["action"] == "override"
    with pytest.raises(AlreadyResolved):
        runtime.order_to_cash.act_on_exception(
            runtime.hub.begin, estate.clock.now(), rejection.id, catalog.ExceptionAction.CANCEL, actor="bo", note=""
        )


def test_an_unknown_customer_is_rejected_and_over_the_credit_limit_too(make: Any) -> None:
    estate = make(reference={"customers": [{"number": "C1", "currency": "EUR", "credit_limit": "100"}]})
    estate.receipt("A", "WH1", 100)
    estate.order(sales_order("SO-1", ("A", 8, "10.00")))  # 80 of 100
    estate.order(sales_order("SO-2", ("A", 3, "10.00")))  # 80 + 30 > 100
    estate.order(sales_order("SO-3", ("A", 1, "10.00"), customer="NOBODY"))
    estate.drain()
    assert estate.state("SO-1").status is OrderStatus.RELEASED
    assert estate.state("SO-2").status is OrderStatus.REJECTED, "open orders count against the credit limit"
    assert estate.state("SO-2").rejection[0].code.value == "credit_limit_exceeded"
    assert estate.state("SO-3").rejection[0].code.value == "customer_unknown"


def test_cancelling_released_units_takes_them_back_from_the_warehouse_and_frees_the_stock(make: Any) -> None:
    estate = make()
    estate.receipt("A", "WH1", 10)
    estate.order(sales_order("SO-1", ("A", 6, "10.00"), ("B", 1, "5.00")))
    estate.drain()
    assert estate.available("A", "WH1") == 4
    estate.event(
        "erp",
        catalog.OrderCancellationRequested.event_type,
        {"order": "SO-1", "cancellation": "CX-1", "lines": [{"line_id": "1", "quantity": "4"}], "reason": "customer"},
    )
    estate.drain()
    line = estate.state("SO-1").line("1")
    assert line is not None and (line.ordered, line.cancelled, line.reserved, line.released) == (6, 4, 2, 2)
    [taken_back] = estate.events(catalog.ReleaseCancelled.event_type, "SO-1")
    assert taken_back["lines"] == [{"line_id": "1", "sku": "A", "quantity": "4"}]
    [released] = estate.events(catalog.InventoryReleased.event_type, "SO-1")
    assert sum(Decimal(r["quantity"]["value"]) for r in released["reservations"]) == 4
    assert estate.available("A", "WH1") == 8, "cancelled units go back to available stock"
    assert estate.events(catalog.OrderCancelledV2.event_type, "SO-1")[0]["whole"] is False


def test_a_shipment_that_arrives_before_its_order_waits_and_then_counts_once(make: Any) -> None:
    estate = make()
    estate.receipt("A", "WH1", 10)
    estate.shipment("SH-1", "SO-1", "WH1", (1, "A", 3))
    estate.drain()
    assert estate.state("SO-1").status is OrderStatus.NOT_RECEIVED
    assert len(estate.state("SO-1").held) == 1, "a shipment before its order is held, not dropped"
    estate.order(sales_order("SO-1", ("A", 3, "10.00")))
    estate.drain()
    state = estate.state("SO-1")
    assert state.status is OrderStatus.INVOICED and state.held == ()
    assert len(estate.events(catalog.InvoicePosted.event_type, "SO-1")) == 1
    with estate.hub.begin() as uow:
        position = uow.inventory.load(["A"]).position("A", "WH1")
    assert (position.on_hand, position.reserved) == (7, 0), "the held shipment consumed its reservation once"


def test_a_payment_before_its_invoice_is_parked_then_applied_and_the_order_closes(make: Any) -> None:
    estate = make(orders={"hub_invoices": False})
    estate.receipt("A", "WH1", 10)
    estate.order(sales_order("SO-1", ("A", 2, "10.00")))
    estate.drain()
    estate.shipment("SH-1", "SO-1", "WH1", (1, "A", 2))
    payment = {
        "reference": "PAY-1",
        "customer": "C1",
        "amount": "20.00",
        "currency": "EUR",
        "received_on": "2025-03-04",
    }
    payment["applications"] = [{"invoice": "ERP-INV-9", "amount": "20.00"}]
    estate.event("erp", catalog.PaymentApplied.event_type, {"payment": payment})
    estate.drain()
    assert estate.state("SO-1").status is OrderStatus.SHIPPED and estate.state("SO-1").paid == 0
    invoice = {
        "number": "ERP-INV-9",
        "order": "SO-1",
        "shipment": "SH-1",
        "customer": "C1",
        "currency": "EUR",
        "issued_on": "2025-03-03",
        "lines": [{"line": 1, "sku": "A", "quantity": {"value": "2", "unit": "EA"}, "unit_price": "10.00"}],
    }
    estate.event("erp", catalog.InvoicePosted.event_type, {"invoice": invoice})
    estate.drain()
    state = estate.state("SO-1")
    assert (state.status, state.paid, state.invoiced_amount) == (OrderStatus.CLOSED, 20, 20)
    assert estate.events(catalog.OrderClosed.event_type, "SO-1"), "a paid order closes by itself"


def test_on_hand_from_a_system_that_does_not_own_the_location_opens_an_exception_and_changes_nothing(
    make: Any,
) -> None:
    estate = make(inventory={"authority": [{"location": "WH1", "owner": "wms", "on_conflict": "exception"}]})
    estate.receipt("A", "WH1", 10, source="wms")
    estate.receipt("A", "WH1", 99, source="erp")
    estate.drain()
    assert estate.available("A", "WH1") == 10, "only the owning system sets on-hand"
    [conflict] = estate.exceptions("WH1")
    assert (conflict.owner, conflict.reason_code) == ("warehouse", "stock_authority_conflict")
    assert "wms owns on-hand at WH1" in conflict.message


@pytest.mark.parametrize(
    ("policy", "moved"),
    [
        ("next_open_period", True),  # posted on the first day of the next open month, saying so
        ("exception", False),  # held for finance as an exception
    ],
)
def test_an_entry_dated_in_a_closed_period_is_never_posted_into_it(make: Any, policy: str, moved: bool) -> None:
    estate = make(accounting=settings_accounts(policy))
    with estate.hub.begin() as uow:
        uow.journal.close_period("main", "2025-03")
        uow.commit()
    estate.receipt("A", "WH1", 10)
    estate.order(sales_order("SO-1", ("A", 2, "10.00")))
    estate.drain()
    estate.shipment("SH-1", "SO-1", "WH1", (1, "A", 2))
    estate.drain()
    with estate.hub.begin() as uow:
        entries = uow.journal.entries("main")
    assert all(entry.period != "2025-03" for entry in entries), "nothing is posted into a closed month"
    if moved:
        assert {entry.period for entry in entries} == {"2025-04"} and len(entries) == 2
        assert all(entry.moved_from_period == "2025-03" for entry in entries)
    else:
        assert entries == []
        held = estate.exceptions()
        assert {e.reason_code for e in held} == {"period_closed"} and {e.owner for e in held} == {"finance"}


def settings_accounts(policy: str) -> dict[str, Any]:
    return {"accounts": ACCOUNTS, "unit_costs": {"A": "2.50"}, "closed_period_policy": policy}


def test_a_burst_of_movements_is_announced_as_one_availability_change_per_channel(make: Any) -> None:
    estate = make(
        inventory={
            "channels": ["webshop", "marketplace"],
            "buffers": {"defaults": {"marketplace": {"kind": "percent", "value": 10}}},
            "availability_window_seconds": 5,
        }
    )
    for _ in range(5):
        estate.receipt("A", "WH1", 4)
    estate.drain()
    assert estate.events(catalog.AvailabilityChanged.event_type) == [], "nothing is announced inside the window"
    estate.later(seconds=6)
    announced = {e["channel"]: e["available"]["value"] for e in estate.events(catalog.AvailabilityChanged.event_type)}
    assert announced == {"webshop": "20", "marketplace": "18"}
    estate.later(seconds=60)
    assert len(estate.events(catalog.AvailabilityChanged.event_type)) == 2, "a quiet sku is not announced again"
