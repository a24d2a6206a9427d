"""Which item ids a line carries to a trading partner: the document's own id under a qualifier (the vendor's part
number on a PO line to a supplier, the buyer's part number from a customer's order) wins over one derived from our
sku, and derived ids fill in only what the document lacks; read back, each id lands where it came from."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from crossdock.config import PartnerSettings
from crossdock.connectors.edi.profiles import Profile
from crossdock.connectors.x12 import mapping
from crossdock.domain import documents, procurement

D = Decimal


def profile(role: str, **overrides: Any) -> Profile:
    fields: dict[str, Any] = {"role": role, "id": "ACME", "our_id": "999999999", **overrides}
    return Profile("acme", PartnerSettings.model_validate(fields))


def qty(value: int) -> documents.Quantity:
    return documents.Quantity(value=D(value), unit="EA")


def purchase_order() -> procurement.PurchaseOrder:
    return procurement.PurchaseOrder(
        number="PO-1",
        supplier="ACME",
        currency="USD",
        ship_to="WH1",
        ordered_on=date(2025, 3, 3),
        lines=(
            procurement.PurchaseOrderLine(
                line=1, sku="SKU-1", supplier_item="AC-77", quantity=qty(12), unit_price=D("10")
            ),
            procurement.PurchaseOrderLine(line=2, sku="SKU-2", quantity=qty(5), unit_price=D("4.25")),
        ),
    )


def po1_ids(tx: Any) -> list[list[tuple[str, str]]]:
    return [list(zip(s.elements[5::2], s.elements[6::2], strict=False)) for s in tx.segments if s.tag == "PO1"]


def test_a_suppliers_part_number_on_the_po_line_wins_over_our_sku_as_vendor_part() -> None:
    # Only VP configured: before, the 850 said VP = SKU-1 and the supplier's AC-77 was lost.
    rules = mapping.PartnerRules(partner_id="ACME", our_id="US", item_ids=(mapping.ItemId(qualifier="VP"),))

    tx = mapping.purchase_order_to_850(purchase_order(), rules)

    assert po1_ids(tx) == [[("VP", "AC-77")], [("VP", "SKU-2")]], "a line without the supplier's number gets ours"


def test_a_supplier_without_configured_item_ids_gets_our_sku_as_buyers_part_and_its_own_as_vendor_part() -> None:
    rules = profile("supplier").x12_rules()

    tx = mapping.purchase_order_to_850(purchase_order(), rules)
    back = mapping.purchase_order_from_850(tx, rules)

    assert [rule.qualifier for rule in rules.item_ids] == ["BP", "VP"]
    assert po1_ids(tx) == [[("BP", "SKU-1"), ("VP", "AC-77")], [("BP", "SKU-2"), ("VP", "SKU-2")]]
    assert [(ln.sku, ln.supplier_item) for ln in back.lines] == [("SKU-1", "AC-77"), ("SKU-2", None)]


def test_a_ship_notice_read_from_a_supplier_keeps_its_vendor_part_apart_from_our_sku() -> None:
    rules = profile("supplier").x12_rules()
    notice = procurement.AdvanceShipNotice(
        shipment="SH-1",
        order="PO-1",
        supplier="ACME",
        expected_on=date(2025, 3, 12),
        lines=(
            procurement.ShipNoticeLine(line=1, sku="SKU-1", supplier_item="AC-77", quantity=qty(10)),
            procurement.ShipNoticeLine(line=2, sku="SKU-2", quantity=qty(5)),
        ),
    )

    [back] = mapping.ship_notices_from_856(mapping.ship_notice_to_856(notice, rules), rules)

    assert [(ln.sku, ln.supplier_item) for ln in back.lines] == [("SKU-1", "AC-77"), ("SKU-2", None)]


CUSTOMER = mapping.PartnerRules(
    partner_id="XYZ",
    our_id="US",
    # Our sku as the vendor's part; the buyer's part numbers through their cross-reference, where it knows one.
    item_ids=(mapping.ItemId(qualifier="VP"), mapping.ItemId(qualifier="BP", cross_reference={"X-1": "SKU-1"})),
)
BUYER_ITEMS = {1: "X-100", 2: "X-200"}  # what the customer's order called lines 1 and 2


def test_the_buyers_part_number_from_their_order_wins_on_what_goes_back_to_a_customer() -> None:
    shipment = documents.Shipment(
        number="SH-9",
        order="SO-1",
        from_location="WH1",
        shipped_at=datetime(2025, 3, 5, 12, tzinfo=UTC),
        lines=(
            documents.ShipmentLine(line=1, sku="SKU-1", quantity=qty(2)),
            documents.ShipmentLine(line=3, sku="SKU-3", quantity=qty(1)),
        ),
    )
    invoice = documents.Invoice(
        number="INV-9",
        order="SO-1",
        shipment="SH-9",
        customer="XYZ",
        currency="USD",
        issued_on=date(2025, 3, 6),
        lines=(documents.InvoiceLine(line=2, sku="SKU-2", quantity=qty(1), unit_price=D("3")),),
    )
    order = documents.SalesOrder(
        number="SO-1",
        customer="XYZ",
        channel="edi",
        currency="USD",
        ordered_at=datetime(2025, 3, 4, tzinfo=UTC),
        lines=(documents.SalesOrderLine(line=1, sku="SKU-1", quantity=qty(2), unit_price=D("5")),),
    )

    asn = mapping.shipment_to_856(shipment, CUSTOMER, buyer_items=BUYER_ITEMS)
    billed = mapping.invoice_to_810(invoice, CUSTOMER, buyer_items=BUYER_ITEMS)
    answered = mapping.sales_order_to_855(order, CUSTOMER, acknowledged_on=date(2025, 3, 4), buyer_items=BUYER_ITEMS)
    plain = mapping.shipment_to_856(shipment, CUSTOMER)

    def ids(tx: Any, tag: str, first: int) -> list[list[tuple[str, str]]]:
        found = [s.elements[first - 1 :] for s in tx.segments if s.tag == tag]
        return [list(zip(e[::2], e[1::2], strict=False)) for e in found]

    # Line 3 had no buyer's number in their order, and their cross-reference knows none for SKU-3: VP only.
    assert ids(asn, "LIN", 2) == [[("VP", "SKU-1"), ("BP", "X-100")], [("VP", "SKU-3")]]
    assert [pairs[:2] for pairs in ids(billed, "IT1", 6)] == [[("VP", "SKU-2"), ("BP", "X-200")]]
    assert ids(answered, "PO1", 6) == [[("VP", "SKU-1"), ("BP", "X-100")]]
    # Without their order's numbers, the cross-reference fills in what it knows.
    assert ids(plain, "LIN", 2) == [[("VP", "SKU-1"), ("BP", "X-1")], [("VP", "SKU-3")]]
