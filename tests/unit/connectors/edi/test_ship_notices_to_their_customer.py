"""A customer partner gets ship notices (856 / DESADV) for its own orders only: a warehouse's shipment names the order,
not the customer, so the sender marks the file as the partner's customer's and the EDI desk, which reads the order,
queues it (numbered) only when the hub holds the order as that customer's. Another customer's order, or one the hub
does not hold, queues nothing: no file, no control number spent."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from crossdock.config import PartnerSettings
from crossdock.connectors.edi.outbound import EdiSender
from crossdock.connectors.edi.profiles import Profile
from crossdock.connectors.files.client import FolderTransport, Layout
from crossdock.domain import catalog
from crossdock.domain.documents import Quantity, Shipment, ShipmentLine
from crossdock.hub.handlers.edi import EdiDesk, PartnerTerms
from crossdock.hub.outbox import Outbox, Subscription
from crossdock.hub.ports import (
    CONTROL_NUMBERS,
    Delivery,
    DeliveryFilter,
    DeliveryStatus,
    OrderRecord,
    StoredEvent,
    UnitOfWork,
)
from crossdock.storage.memory import MemoryUnitOfWorkFactory
from tests.unit.factories import T0, make_envelope

OUT = "harbor-out"


def profile(standard: str = "x12", **overrides: Any) -> Profile:
    fields: dict[str, Any] = {"role": "customer", "standard": standard, "id": "HARBOR", "our_id": "NORTHWIND"}
    return Profile("harbor", PartnerSettings.model_validate({**fields, **overrides}))


def sender(tmp_path: Path, p: Profile) -> EdiSender:
    return EdiSender(p, FolderTransport(tmp_path, layout=Layout()))


def shipped(order: str, number: str = "SHP-1") -> StoredEvent:
    shipment = Shipment(
        number=number,
        order=order,
        from_location="WH-NORTH",
        shipped_at=T0,
        lines=(ShipmentLine(line=1, sku="WIDGET-1", quantity=Quantity(value=Decimal(3), unit="EA")),),
    )
    payload = catalog.ShipmentConfirmed(shipment=shipment)
    event = make_envelope(id=f"evt-{number}", type=payload.event_type, subject=order, data=catalog.data_of(payload))
    return StoredEvent(1, event, None)


def order_of(uow: UnitOfWork, number: str, customer: str) -> None:
    uow.orders.save(OrderRecord(order_id=number, status="released", state={}, customer_id=customer), T0)


def queued(tmp_path: Path, p: Profile, events: list[StoredEvent], orders: dict[str, str]) -> list[Delivery]:
    """What the outbox queues for the partner's destination, through the desk's numbering, with these orders held."""
    desk = EdiDesk(planners={OUT: sender(tmp_path, p)}, partners={"harbor": PartnerTerms(role="customer")})
    box = Outbox(
        destinations={},
        subscriptions=[Subscription(OUT, (catalog.ShipmentConfirmed.event_type,))],
        shards=1,
        numbering=desk.numbering(),
    )
    with MemoryUnitOfWorkFactory(lambda: T0)() as uow:
        for number, customer in orders.items():
            order_of(uow, number, customer)
        box.enqueue(uow, events, T0)
        return uow.outbox.find(DeliveryFilter(destination=OUT, status=DeliveryStatus.PENDING, limit=10))


@pytest.mark.parametrize("standard", ["x12", "edifact"])
def test_a_ship_notice_is_planned_as_the_partners_customers_and_names_the_order(tmp_path: Path, standard: str) -> None:
    planned = sender(tmp_path, profile(standard, customer="C-2001")).plan(shipped("HF-1").envelope)

    assert planned is not None
    assert (planned.order, planned.customer) == ("HF-1", "C-2001")


def test_a_ship_notice_for_the_partners_own_order_is_queued_numbered(tmp_path: Path) -> None:
    [delivery] = queued(tmp_path, profile(customer="C-2001"), [shipped("HF-1")], {"HF-1": "C-2001"})

    assert delivery.payload[CONTROL_NUMBERS] == {"interchange": 1, "group": 1}


def test_a_ship_notice_for_another_customers_order_is_never_queued_for_the_partner(tmp_path: Path) -> None:
    # The web shop's order shipped from the same warehouse: Harbor must not get its 856.
    assert queued(tmp_path, profile(customer="C-2001"), [shipped("SHOP-1")], {"SHOP-1": "WEB-RETAIL"}) == []


def test_a_ship_notice_for_an_order_the_hub_does_not_hold_is_not_queued(tmp_path: Path) -> None:
    assert queued(tmp_path, profile(customer="C-2001"), [shipped("SO-404")], {}) == []


def test_no_control_number_is_spent_on_another_customers_ship_notice(tmp_path: Path) -> None:
    events = [shipped("SHOP-1", "SHP-1"), shipped("HF-1", "SHP-2")]
    [delivery] = queued(tmp_path, profile(customer="C-2001"), events, {"SHOP-1": "WEB-RETAIL", "HF-1": "C-2001"})

    assert delivery.subject == "HF-1"
    assert delivery.payload[CONTROL_NUMBERS] == {"interchange": 1, "group": 1}, "the sequence stays gap-free"


def test_a_partner_without_a_customer_number_is_sent_every_ship_notice_as_before(tmp_path: Path) -> None:
    # Nothing says whose orders are its own: the subscription alone decides, as for its invoices.
    [delivery] = queued(tmp_path, profile(), [shipped("SHOP-1")], {"SHOP-1": "WEB-RETAIL"})

    assert delivery.payload[CONTROL_NUMBERS] == {"interchange": 1, "group": 1}
