"""ORDERS, DESADV and INVOIC map to the canonical documents with exact decimals, and the documents map back to
messages that read to the same documents; what the documents have no place for is kept in EdifactRefs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from crossdock.connectors import edifact
from crossdock.connectors.edifact import mapping, writer
from crossdock.connectors.edifact.syntax import Interchange, Message
from crossdock.domain import documents
from tests.unit.connectors.edifact.samples import (
    DESADV_BOOKS,
    DESADV_GMI,
    INVOIC_BASIS,
    INVOIC_COMMA,
    INVOIC_UNA,
    ORDERS_146,
    ORDERS_GROUP,
    ORDERS_NO_UNZ,
    ORDERS_PLACEHOLDERS,
    sample,
)

EUR = mapping.MappingOptions(currency="EUR")


def only(path: Path) -> tuple[Interchange, Message]:
    [interchange] = edifact.parse(sample(path), edifact.LENIENT)
    [(_, message)] = list(interchange.all_messages())
    return interchange, message


@pytest.mark.parametrize(
    ("path", "count", "quantities"),
    [
        (ORDERS_146, 146, None),  # EAN010 D01B, supplier article numbers, GBND units
        (ORDERS_NO_UNZ, 2, [Decimal(8), Decimal(8)]),  # EAN008 with a decimal comma UNA, no CUX
        (ORDERS_GROUP, 1, [Decimal(288)]),  # inside a UNG group; QTY 59 is not the ordered quantity
        (ORDERS_PLACEHOLDERS, 3, [Decimal(5), Decimal(1), Decimal(3)]),  # CUX EUR, prices
    ],
    ids=lambda v: v.name if isinstance(v, Path) else None,
)
def test_orders_samples_map_to_sales_orders_with_every_line(
    path: Path, count: int, quantities: list[Decimal] | None
) -> None:
    interchange, message = only(path)
    order, refs = mapping.to_sales_order(message, interchange, EUR)

    assert len(order.lines) == count == len(refs.lines)
    assert [line.line for line in order.lines] == list(range(1, count + 1))
    if quantities is not None:
        assert [line.quantity.value for line in order.lines] == quantities


def test_the_146_line_order_keeps_its_quantities_units_parties_and_item_ids() -> None:
    interchange, message = only(ORDERS_146)
    order, refs = mapping.to_sales_order(message, interchange, EUR)

    assert (order.number, order.customer, order.customer_reference) == ("2019265563", "4250159300001", "2019265563")
    assert order.ordered_at == datetime(2018, 12, 5, tzinfo=UTC)
    assert sum(line.quantity.value for line in order.lines) == sum(
        Decimal(s.value(1, 2)) for s in message.segments if s.tag == "QTY"
    )
    first = order.lines[0]
    assert (first.sku, first.quantity, first.unit_price) == ("1001", documents.Quantity(value=2, unit="GBND"), 0)
    assert refs.lines[0].item_ids == (("SA", "1001"), ("IN", "6001001"))
    assert refs.lines[0].prices == ()  # no PRI: the order desk prices the line
    assert {p.qualifier: p.id for p in refs.parties} == {
        "BY": "4250159300001",
        "SU": "4399901760448",
        "DP": "4250159399005",
    }
    assert refs.date("2") == ("20181206", "102")


def test_orders_prices_currency_and_gtins_are_read() -> None:
    interchange, message = only(ORDERS_PLACEHOLDERS)
    order, refs = mapping.to_sales_order(message, interchange, mapping.MappingOptions(currency="USD"))

    assert order.currency == "EUR"  # the message's CUX wins over the partner default
    assert [line.unit_price for line in order.lines] == [Decimal("27.5"), Decimal("10.87"), Decimal("3.85")]
    assert [line.sku for line in order.lines] == ["3899408268X-39", "390787706322", "3899408268X-39"]
    assert refs.lines[0].item_id("EN") == "9783898307529"
    assert refs.party("DP") == mapping.Party("DP", "5450534000109", "9")


def test_an_order_without_cux_needs_the_partners_currency() -> None:
    interchange, message = only(ORDERS_NO_UNZ)
    with pytest.raises(edifact.EdifactMappingError) as refused:
        mapping.to_sales_order(message, interchange)
    assert refused.value.rule == "currency-missing"
    assert refused.value.place.message == "1"


def test_invoic_with_a_decimal_comma_is_read_exactly() -> None:
    interchange, message = only(INVOIC_COMMA)
    invoice, refs = mapping.to_invoice(message, interchange, EUR)

    assert [line.unit_price for line in invoice.lines] == [Decimal("750"), Decimal("19.9"), Decimal("2.5")]
    assert [line.quantity.value for line in invoice.lines] == [1, 1, 3]
    assert all(line.tax_rate == Decimal("0.16") for line in invoice.lines)  # the one summary TAX rate
    assert invoice.net().amount == Decimal("777.40") == dict(refs.amounts)["79"]
    assert invoice.tax().amount == dict(refs.amounts)["124"] == Decimal("124.38")
    assert invoice.total().amount == dict(refs.amounts)["128"] == Decimal("901.78")
    assert (invoice.number, invoice.order, invoice.issued_on) == ("9908001", "O0010001", date(1999, 8, 2))
    # The buyer has no id, only a name; the invoice names no despatch, so the order stands in for it.
    assert (invoice.customer, invoice.shipment) == ("Huber GmbH", "O0010001")


def test_invoic_price_basis_divides_the_price() -> None:
    interchange, message = only(INVOIC_BASIS)
    invoice, refs = mapping.to_invoice(message, interchange)

    [line] = invoice.lines
    assert line.unit_price == Decimal("36.301724")  # PRI+AAA:3630.1724::NTP:100:C62
    assert line.net("EUR").amount == Decimal("1960.29") == dict(refs.lines[0].amounts)["203"]
    assert (invoice.order, invoice.shipment, invoice.due_on) == ("X18V00003", "165480", date(1999, 10, 31))


def test_an_invalid_date_the_document_needs_is_a_mapping_error_naming_it() -> None:
    interchange, message = only(INVOIC_COMMA)
    broken = Message(
        message.header,
        tuple(
            s if s.tag != "DTM" or s.value(1) != "3" else s.of("DTM", ("3", "19991302", "102"))
            for s in message.segments
        ),
        message.trailer,
    )
    with pytest.raises(edifact.EdifactMappingError) as refused:
        mapping.to_invoice(broken, interchange, EUR)
    assert refused.value.rule == "invalid-date"
    # DTM+4 of the sample holds 19999715, which the invoice does not need: it is kept, not refused.
    assert mapping.to_invoice(message, interchange, EUR)[1].date("4") == ("19999715", "102")


def test_desadv_shipping_against_two_orders_becomes_two_shipments() -> None:
    interchange, message = only(DESADV_BOOKS)
    shipments, _ = mapping.to_shipments(message, interchange)

    assert [(s.number, s.order) for s in shipments] == [
        ("Y02197250/6877871", "6877871"),
        ("Y02197250/6905456", "6905456"),
    ]
    assert [[(line.line, line.sku, line.quantity.value) for line in s.lines] for s in shipments] == [
        [(1, "9780738507330", 1)],
        [(2, "9781568361871", 1)],
    ]
    assert shipments[0].from_location == "1694901"
    assert shipments[0].shipped_at == datetime(2016, 7, 26, tzinfo=UTC)


def test_desadv_packages_of_one_order_line_add_up() -> None:
    [interchange] = edifact.parse(sample(DESADV_GMI))
    options = mapping.MappingOptions(item_ids=("SA",))
    shipments, refs = mapping.to_shipments(interchange.messages[0], interchange, options)
    [shipment] = shipments
    assert [(line.line, line.quantity.value) for line in shipment.lines] == [(10, Decimal(2000))]
    assert sum(line.quantity("12")[0] for line in refs.lines) == 2000  # type: ignore[index]
    # Read by the buyer's item numbers instead, one order line ships several items: not a canonical shipment.
    with pytest.raises(edifact.EdifactMappingError) as refused:
        mapping.to_shipments(interchange.messages[0], interchange, mapping.MappingOptions(item_ids=("IN",)))
    assert refused.value.rule == "order-line-several-items"


def wrap(message: Message, decimal: str = ".") -> Interchange:
    delimiters = edifact.Delimiters(decimal=decimal)
    return writer.interchange(
        "OUT1",
        sender=("5400000000003", "14"),
        recipient=("4000000000006", "14"),
        prepared=datetime(2026, 5, 6, 7, 8),
        messages=[message],
        delimiters=delimiters,
        syntax="UNOW",
    )


@pytest.mark.parametrize("path", [ORDERS_146, ORDERS_PLACEHOLDERS, ORDERS_GROUP, ORDERS_NO_UNZ], ids=lambda p: p.name)
@pytest.mark.parametrize("decimal", [".", ","])
def test_sales_order_to_orders_and_back_keeps_the_order_and_its_refs(path: Path, decimal: str) -> None:
    interchange, message = only(path)
    order, refs = mapping.to_sales_order(message, interchange, EUR)

    out = mapping.orders_message(order, "9", refs, decimal_mark=decimal)
    [again] = edifact.parse(edifact.render(wrap(out, decimal)))
    order_again, refs_again = mapping.to_sales_order(again.messages[0], again, EUR)

    assert order_again == order
    assert refs_again.parties == refs.parties
    assert [line.item_ids for line in refs_again.lines] == [line.item_ids for line in refs.lines]


@pytest.mark.parametrize("path", [INVOIC_COMMA, INVOIC_UNA, INVOIC_BASIS], ids=lambda p: p.name)
@pytest.mark.parametrize("decimal", [".", ","])
def test_invoice_to_invoic_and_back_keeps_the_invoice(path: Path, decimal: str) -> None:
    interchange, message = only(path)
    invoice, refs = mapping.to_invoice(message, interchange, EUR)

    out = mapping.invoic_message(invoice, "7", refs, decimal_mark=decimal)
    [again] = edifact.parse(edifact.render(wrap(out, decimal)))
    invoice_again, refs_again = mapping.to_invoice(again.messages[0], again, EUR)

    assert invoice_again == invoice
    assert dict(refs_again.amounts)["77"] == invoice.total().amount


def test_shipment_to_desadv_and_back_keeps_each_shipment() -> None:
    interchange, message = only(DESADV_BOOKS)
    shipments, refs = mapping.to_shipments(message, interchange)
    for shipment in shipments:
        out = mapping.desadv_message(shipment, "3", refs)
        [again] = edifact.parse(edifact.render(wrap(out)))
        [shipment_again], _ = mapping.to_shipments(again.messages[0], again)
        assert shipment_again == shipment


def test_an_order_built_in_the_hub_goes_out_as_orders_with_a_gtin_free_supplier_article() -> None:
    order = documents.SalesOrder(
        number="PO-1",
        customer="5400000000003",
        channel="erp",
        currency="EUR",
        ordered_at=datetime(2026, 5, 6, 7, 8, tzinfo=UTC),
        lines=(
            documents.SalesOrderLine(
                line=1,
                sku="AB:C+1",
                quantity=documents.Quantity(value=Decimal("2.5"), unit="KG"),
                unit_price=Decimal("1.10"),
            ),
        ),
    )
    data = edifact.render(wrap(mapping.orders_message(order, "1")))
    assert b"PIA+5+AB?:C?+1:SA'" in data
    assert b"QTY+21:2.5:KGM'" in data
    again, _ = mapping.to_sales_order(edifact.parse(data)[0].messages[0], None, mapping.MappingOptions(channel="erp"))
    # Read back, the BGM document number is the buyer's own order number.
    assert again == order.model_copy(update={"customer_reference": "PO-1"})
