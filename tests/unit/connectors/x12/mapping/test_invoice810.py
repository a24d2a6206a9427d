from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from crossdock.connectors.x12 import mapping
from crossdock.domain import documents, procurement
from tests.unit.connectors.x12.mapping.helpers import (
    only,
    read_back,
    rules,
    sent,
    through_the_wire,
    trailer_counts,
    transactions,
)

TWO = "x12-810/staedi_810_two-invoices_one-group.edi"
ARIBA = "x12-810/edinet_810a_ariba-style_bom_unpadded-isa.edi"
SUMMARY = "x12-810/edinet_810c_header-level_sac-charges.edi"
Kind = mapping.ChargeKind


def test_two_invoices_in_one_group_map_to_two_supplier_invoices() -> None:
    partner = rules("UA", supplier="FOODSELLER")

    first, second = (mapping.supplier_invoice_from_810(tx, partner) for tx in transactions(TWO, "810"))

    assert (first.number, first.order, first.issued_on, first.currency) == (
        "00001",
        "A99999-01",
        date(1997, 12, 11),
        "USD",
    )
    assert first.due_on == date(1997, 12, 27)  # ITD07: net 16 days from the invoice date
    assert [(ln.line, ln.sku, ln.quantity.value, ln.quantity.unit) for ln in first.lines][:2] == [
        (1, "002840022222", Decimal(16), "CASE"),
        (2, "002840033333", Decimal(13), "CASE"),
    ]
    assert len(first.lines) == 7 and len(second.lines) == 2
    # TDS01 is in cents: 255438 is 2554.38, the 207 cases at 12.34.
    assert first.total == Decimal("2554.38") and first.net().amount == Decimal("2554.38")
    assert first.adds_up()
    # The second invoice repeats the first one's TDS: 150 cases at 12.34 are 1851.00, so it does not add up, and
    # the mapping says so rather than refusing it (the match routes it).
    assert second.total == Decimal("2554.38") and second.net().amount == Decimal("1851.00")
    assert not second.adds_up()


def test_line_charges_that_the_summary_repeats_are_counted_once() -> None:
    partner = rules("VP", supplier="ABC MUSIC")
    tx = only(ARIBA, "810")

    invoice = mapping.supplier_invoice_from_810(tx, partner)
    charges = mapping.charges_from_810(tx, partner)

    assert (invoice.number, invoice.order, invoice.issued_on) == ("DO091003TESTINV01", "DO091003", date(2003, 3, 10))
    assert [(ln.line, ln.sku, ln.quantity.value, ln.unit_price) for ln in invoice.lines] == [
        (1, "ID001", Decimal(2), Decimal("99.99")),
        (2, "ID002", Decimal(2), Decimal("79.99")),
    ]
    # Freight G830 is 3.00 on each line and 6.00 in the summary: the summary's. SAC*N is informational; the
    # H850 tax is 0.
    assert charges == (mapping.Charge(kind=Kind.CHARGE, code="G830", amount=Decimal("6.00")),)
    assert invoice.tax == 0
    assert invoice.net().amount + invoice.tax + sum(c.signed for c in charges) == invoice.total == Decimal("365.96")
    assert not invoice.adds_up()  # the freight is not on the PO: the match decides


def test_a_summary_invoice_splits_tax_from_charges_and_the_discount() -> None:
    # The line names only the order (IT1 PO qualifier); this partner's rules cross-reference it to a service sku.
    partner = mapping.PartnerRules(
        partner_id="ABC",
        our_id="US",
        item_ids=(mapping.ItemId(qualifier="PO", cross_reference={"DO091003": "SERVICES"}),),
    )
    tx = only(SUMMARY, "810")

    invoice = mapping.supplier_invoice_from_810(tx, partner)
    charges = mapping.charges_from_810(tx, partner)

    assert (invoice.order, invoice.lines[0].sku, invoice.lines[0].quantity.unit) == ("DO091003", "SERVICES", "ZZ")
    assert invoice.tax == Decimal("35.96")  # SAC*C*H850
    assert [(c.kind, c.code, c.amount, c.percent) for c in charges] == [
        (Kind.ALLOWANCE, "C310", Decimal("41.19"), Decimal(10)),
        (Kind.CHARGE, "G830", Decimal("6.00"), None),
        (Kind.CHARGE, "H090", Decimal("10.00"), None),
    ]
    added = sum((c.amount for c in charges if c.kind is Kind.CHARGE), Decimal(0))
    discount = sum((c.amount for c in charges if c.kind is Kind.ALLOWANCE), Decimal(0))
    # TDS01 is before the discount (X12: "before terms discount"); AMT*N after it.
    assert invoice.net().amount + invoice.tax + added == invoice.total == Decimal("411.92")
    assert invoice.total - discount == Decimal("370.73")


def test_an_invoice_without_a_tds_is_refused_naming_it() -> None:
    tx = transactions(TWO, "810")[0]
    without = replace(tx, segments=tuple(seg for seg in tx.segments if seg.tag != "TDS"))

    with pytest.raises(mapping.X12MappingError, match=r"^810 000000001, segment TDS: the TDS segment"):
        mapping.supplier_invoice_from_810(without, rules("UA"))


def test_an_invoice_without_its_order_names_big04() -> None:
    tx = transactions(TWO, "810")[0]
    big = tx.segments[0]
    without = replace(tx, segments=(big._replace(elements=big.elements[:3]), *tx.segments[1:]))

    with pytest.raises(mapping.X12MappingError, match=r"segment 2 BIG, element BIG04: the purchase order number"):
        mapping.supplier_invoice_from_810(without, rules("UA"))


def test_a_supplier_invoice_with_tax_and_freight_survives_810_and_back() -> None:
    partner = rules("BP", supplier="ACME")
    invoice = procurement.SupplierInvoice(
        number="INV-5",
        supplier="ACME",
        order="PO-1001",
        currency="USD",
        issued_on=date(2024, 3, 8),
        due_on=date(2024, 4, 7),
        lines=(
            procurement.SupplierInvoiceLine(
                line=1,
                sku="SKU-1",
                quantity=documents.Quantity(value=Decimal(24), unit="EA"),
                unit_price=Decimal("3.22"),
            ),
        ),
        tax=Decimal("6.18"),
        total=Decimal("89.46"),
    )
    freight = mapping.Charge(kind=Kind.CHARGE, code="G830", amount=Decimal("6.00"), description="freight")

    tx = mapping.supplier_invoice_to_810(invoice, partner, charges=[freight])
    back = through_the_wire(partner, tx)

    assert "TDS*8946" in [str(seg) for seg in tx.segments]
    assert mapping.supplier_invoice_from_810(back, partner) == invoice
    assert mapping.charges_from_810(back, partner) == (freight,)


def test_our_invoice_goes_out_as_an_810_and_reads_back_equal() -> None:
    customer = rules("VP", customer="C-1")
    invoice = documents.Invoice(
        number="INV-100",
        order="SO-9",
        shipment="SH-1",
        customer="C-1",
        issued_on=date(2024, 3, 5),
        due_on=date(2024, 4, 4),
        currency="USD",
        lines=(
            documents.InvoiceLine(
                line=1,
                sku="SKU-1",
                quantity=documents.Quantity(value=Decimal(5), unit="EA"),
                unit_price=Decimal("19.99"),
                tax_rate=Decimal("0.0825"),
            ),
            documents.InvoiceLine(
                line=3, sku="SKU-3", quantity=documents.Quantity(value=Decimal(2), unit="CASE"), unit_price=Decimal(40)
            ),
        ),
    )

    text = sent(customer, [mapping.invoice_to_810(invoice, customer)])

    (back,) = read_back(text)
    assert trailer_counts(text) == {
        "SE": ["12"],
        "GE": ["1"],
        "IEA": ["1"],
    }  # ST BIG CUR REF N1 ITD IT1 TXI IT1 TDS CTT SE
    assert f"TDS*{int(invoice.total().amount * 100)}~" in text  # 99.95 + 8.25 tax + 80.00 = 188.20
    assert invoice.total().amount == Decimal("188.20")
    assert mapping.invoice_from_810(back, customer) == invoice
