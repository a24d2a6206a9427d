"""The EDI sender for the supplier side of EDIFACT and for stock advice: a released purchase order becomes an ORDERS
file to an EDIFACT supplier in its version and decimal mark, and a channel's availability an 846 to the customer on
that channel, with the customer's item ids; both written as files into the partner's outbound folder."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from crossdock.config import PartnerSettings
from crossdock.connectors import edifact, x12
from crossdock.connectors.edi.outbound import EdiSender
from crossdock.connectors.edi.profiles import Profile, ProfileError
from crossdock.connectors.edifact import mapping as edifact_mapping
from crossdock.connectors.files.client import FolderTransport, Layout
from crossdock.connectors.x12 import mapping as x12_mapping
from crossdock.domain import catalog
from crossdock.domain.documents import Quantity
from crossdock.domain.procurement import PurchaseOrder, PurchaseOrderLine
from crossdock.hub.ports import AttemptOutcome, Delivery
from tests.unit.factories import make_delivery


def profile(role: str, standard: str, **overrides: Any) -> Profile:
    fields: dict[str, Any] = {"role": role, "standard": standard, "id": "5400000000003", "qualifier": "14"}
    fields |= {"our_id": "4000000000006", "our_qualifier": "14", "channel": "edi-acme", **overrides}
    return Profile("acme", PartnerSettings.model_validate(fields))


def send(tmp_path: Path, partner: Profile, payload: catalog.Payload) -> tuple[AttemptOutcome, str | None]:
    event = {
        "id": "evt-1",
        "type": payload.event_type,
        "data": catalog.data_of(payload),
        "controlnumbers": {"interchange": 41, "group": 42},
    }
    delivery: Delivery = make_delivery(event_type=payload.event_type, payload=event)
    [result] = EdiSender(partner, FolderTransport(tmp_path, layout=Layout())).send([delivery])
    return result.outcome, result.error


def written(tmp_path: Path) -> dict[str, bytes]:
    folder = tmp_path / "outbound"
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir())} if folder.exists() else {}


def purchase_order() -> PurchaseOrder:
    return PurchaseOrder(
        number="PO-4711",
        supplier="SUP-1",
        currency="EUR",
        ship_to="WH1",
        ordered_on=date(2025, 3, 3),
        lines=(
            PurchaseOrderLine(
                line=1,
                sku="SKU-1",
                supplier_item="AC'1",
                quantity=Quantity(value=Decimal("2.5"), unit="KG"),
                unit_price=Decimal("19.9"),
            ),
        ),
    )


def test_a_released_purchase_order_reaches_an_edifact_supplier_as_orders_in_its_version_and_decimal_mark(
    tmp_path: Path,
) -> None:
    supplier = profile("supplier", "edifact", version="D01B", supplier="SUP-1", separators={"decimal": ","})
    released = catalog.PurchaseOrderReleased(purchase_order=purchase_order(), revision=1)

    outcome, error = send(tmp_path, supplier, released)

    [(name, data)] = written(tmp_path).items()
    [interchange] = edifact.parse(data)
    [message] = interchange.messages
    back, _ = edifact_mapping.to_purchase_order(message, interchange, supplier.edifact_options())
    assert outcome is AttemptOutcome.DELIVERED, error
    assert name == "orders-000000041.edi"
    assert data.startswith(b"UNA:+,? '") and b"PRI+AAA:19,9'" in data and b"AC?'1:SA" in data
    assert message.header.element(2)[:3] == ("ORDERS", "D", "01B")
    assert (interchange.sender, interchange.recipient, interchange.reference) == (
        "4000000000006",
        "5400000000003",
        "000000041",
    )
    assert back == purchase_order()


def test_another_suppliers_purchase_order_writes_no_orders_file(tmp_path: Path) -> None:
    released = catalog.PurchaseOrderReleased(purchase_order=purchase_order(), revision=1)

    outcome, _ = send(tmp_path, profile("supplier", "edifact", supplier="SUP-2"), released)

    assert outcome is AttemptOutcome.DELIVERED and written(tmp_path) == {}


def test_edifact_separators_that_clash_are_a_profile_error_naming_the_partner() -> None:
    with pytest.raises(ProfileError, match="partner acme: EDIFACT separators"):
        profile("supplier", "edifact", separators={"decimal": "+"}).edifact_delimiters()
    assert profile("supplier", "edifact", separators={"stop": "."}).check() != []


def availability(channel: str = "edi-acme", sku: str = "SKU-1", value: str = "17") -> catalog.AvailabilityChanged:
    return catalog.AvailabilityChanged(sku=sku, channel=channel, available=Quantity(value=Decimal(value), unit="EA"))


def test_availability_on_a_customers_channel_goes_to_it_as_an_846_with_its_item_ids(tmp_path: Path) -> None:
    item_ids = [{"qualifier": "BP", "cross_reference": {"X-1": "SKU-1"}}, {"qualifier": "VP"}]
    customer = profile("customer", "x12", item_ids=item_ids)

    outcome, error = send(tmp_path, customer, availability())

    [(name, data)] = written(tmp_path).items()
    [tx] = x12_mapping.transactions_of(x12.parse(data), "846")
    lin = next(s for s in tx.segments if s.tag == "LIN")
    assert outcome is AttemptOutcome.DELIVERED, error
    assert name == "846-000000041.edi"
    assert lin.elements[1:5] == ("BP", "X-1", "VP", "SKU-1")
    [position] = x12_mapping.availability_from_846(tx, customer.x12_rules())
    assert (position.sku, position.available.value, position.location) == ("SKU-1", 17, None)


def test_availability_of_another_channel_is_not_sent_to_the_customer(tmp_path: Path) -> None:
    outcome, _ = send(tmp_path, profile("customer", "x12"), availability(channel="webshop"))

    assert outcome is AttemptOutcome.DELIVERED and written(tmp_path) == {}


@pytest.mark.parametrize(
    ("role", "standard", "reason"),
    [
        ("supplier", "x12", "edi-wrong-role"),  # stock advice is for customers
        ("customer", "edifact", "edi-unsupported-event"),  # INVRPT is not mapped
    ],
)
def test_availability_a_partner_cannot_take_is_a_permanent_failure_saying_why(
    tmp_path: Path, role: str, standard: str, reason: str
) -> None:
    outcome, error = send(tmp_path, profile(role, standard), availability())

    assert outcome is AttemptOutcome.PERMANENT
    assert error is not None and reason in error
