from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossdock.connectors import x12
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

XYZ = ("CB", "VN")  # XYZ RETAIL sends its buyer catalog number (CB) and our number as VN


@pytest.mark.parametrize(
    ("relative", "qualifiers", "number", "ordered", "lines", "first", "last"),
    [
        # XYZ RETAIL 4010VICS, `~` + LF; our item number under VN.
        (
            "x12-850/nodex12_850_xyzretail_4010vics_tilde-lf.edi",
            ("VN",),
            "08292233294",
            date(2010, 11, 27),
            6,
            (1, "AB3542", "120", "EA", "9.25"),
            (6, "DX1875", "696", "EA", "9.55"),
        ),
        # The same order with bare LF terminators.
        (
            "x12-850/nodex12_850_xyzretail_newline-terminated.edi",
            ("VN",),
            "08292233294",
            date(2010, 11, 27),
            6,
            (1, "AB3542", "120", "EA", "9.25"),
            (6, "DX1875", "696", "EA", "9.55"),
        ),
        # SLN sub-lines with composite SLN05 are not order lines.
        (
            "x12-850/ediengine_850_sln-composite_newline-terminated.edi",
            ("VN",),
            "08292233294",
            date(2010, 11, 27),
            2,
            (1, "AB3542", "120", "EA", "9.25"),
            (2, "RD5322", "220", "EA", "13.79"),
        ),
        # Petco: empty PO101 (numbered by position), unit KI passes through, our id under SK.
        (
            "x12-850/nodex12_850_petco_redacted_newline-terminated.edi",
            ("SK",),
            "----------",
            date(2016, 4, 26),
            1,
            (1, "000000000001010700", "1", "KI", "225"),
            (1, "000000000001010700", "1", "KI", "225"),
        ),
        # BUYSNACKS: cases (CA -> CASE), no PO101, the UPC (UA) is the sku.
        (
            "x12-850/x12types_850_buysnacks_4010.edi",
            ("UA",),
            "A99999-01",
            date(1997, 2, 14),
            7,
            (1, "002840022222", "16", "CASE", "12.34"),
            (7, "002840088888", "1", "CASE", "12.34"),
        ),
        # BOM, NBSP-padded ISA, tabs; PO101 000100001... kept as the partner's line numbers; buyer part (BP).
        (
            "x12-850/edinet_850a_multiparty_bom_tab-indented.edi",
            ("BP",),
            "4600000406",
            date(2014, 7, 24),
            3,
            (100001, "A_QU001-BLK", "2500", "YD", "2.53"),
            (200002, "A_QF001-RED", "1000", "YD", "3.41"),
        ),
        # Five ids on the first line; the second has only IN: the partner's buyer item number is our sku.
        (
            "x12-850/vscodeedi_850_sln-subline_n9.edi",
            ("IN",),
            "0019-1234567-1234",
            date(2000, 1, 30),
            2,
            (1, "15013163", "3", "EA", "12.3"),
            (2, "123", "3", "EA", "12.3"),
        ),
    ],
)
def test_every_850_sample_maps_to_a_sales_order_with_its_lines_prices_and_dates(
    relative: str,
    qualifiers: tuple[str, ...],
    number: str,
    ordered: date,
    lines: int,
    first: tuple[int, str, str, str, str],
    last: tuple[int, str, str, str, str],
) -> None:
    order = mapping.sales_order_from_850(
        only(relative, "850"), rules(*qualifiers, customer="C-1", timezone="America/Chicago")
    )

    assert order.number == order.customer_reference == number
    assert (order.customer, order.channel, order.currency) == ("C-1", "edi", "USD")
    assert order.ordered_at is not None and order.ordered_at.date() == ordered
    assert order.ordered_at.utcoffset() in (timedelta(hours=-5), timedelta(hours=-6))  # midnight in Chicago
    assert len(order.lines) == lines
    for expected, line in ((first, order.lines[0]), (last, order.lines[-1])):
        assert (line.line, line.sku, line.quantity.value, line.quantity.unit, line.unit_price) == (
            expected[0],
            expected[1],
            Decimal(expected[2]),
            expected[3],
            Decimal(expected[4]),
        )


def test_the_xyz_order_total_is_its_amt_segment() -> None:
    order = mapping.sales_order_from_850(
        only("x12-850/nodex12_850_xyzretail_4010vics_tilde-lf.edi", "850"), rules("VN")
    )

    assert order.total().amount == Decimal("13045.94")


def test_the_partners_item_id_preference_decides_the_sku() -> None:
    tx = only("x12-850/nodex12_850_xyzretail_4010vics_tilde-lf.edi", "850")
    upc_first = rules("CB", "VN")
    cross_referenced = mapping.PartnerRules(
        partner_id="XYZ",
        our_id="US",
        item_ids=(
            mapping.ItemId(qualifier="CB", cross_reference={"065322-117": "WIDGET-S"}),
            mapping.ItemId(qualifier="VN"),
        ),
    )

    assert mapping.sales_order_from_850(tx, upc_first).lines[0].sku == "065322-117"
    # Through the cross-reference when it knows the id, else the next qualifier, as it is.
    skus = [line.sku for line in mapping.sales_order_from_850(tx, cross_referenced).lines]
    assert skus[:2] == ["WIDGET-S", "RD5322"]


def test_an_850_without_lines_is_refused_naming_the_po1_segment() -> None:
    first, second = transactions("x12-850/vscodeedi_850-864_two-groups_blank-gs-ids.x12", "850")

    with pytest.raises(mapping.X12MappingError, match=r"^850 0001, segment PO1: the order has no PO1 line$"):
        mapping.sales_order_from_850(first, rules())
    with pytest.raises(mapping.X12MappingError, match="850 0003"):
        mapping.sales_order_from_850(second, rules())


def test_a_missing_customer_po_number_names_the_set_segment_position_and_element() -> None:
    tx = only("x12-850/nodex12_850_xyzretail_4010vics_tilde-lf.edi", "850")
    beg = tx.segments[0]
    broken = replace(tx, segments=(x12.Segment("BEG", (beg.elements[0], beg.elements[1], "")), *tx.segments[1:]))

    with pytest.raises(mapping.X12MappingError) as caught:
        mapping.sales_order_from_850(broken, rules("VN"))

    error = caught.value
    assert (error.set_id, error.control_number, error.position, error.tag, error.element) == (
        "850",
        "000000010",
        2,
        "BEG",
        3,
    )
    assert str(error) == "850 000000010, segment 2 BEG, element BEG03: the purchase order number is missing"
    assert isinstance(error, x12.X12Error)


def test_a_line_without_an_id_the_rules_know_names_the_po1_and_its_ids() -> None:
    tx = only("x12-850/nodex12_850_xyzretail_4010vics_tilde-lf.edi", "850")

    with pytest.raises(mapping.X12MappingError, match=r"segment 13 PO1, element PO106: .*\(UP\).*CB 065322-117"):
        mapping.sales_order_from_850(tx, rules("UP"))


def test_a_bad_quantity_names_its_element() -> None:
    tx = only("x12-850/nodex12_850_xyzretail_4010vics_tilde-lf.edi", "850")
    segments = list(tx.segments)
    po1 = segments[11]
    segments[11] = po1._replace(elements=(po1.elements[0], "12O", *po1.elements[2:]))

    with pytest.raises(
        mapping.X12MappingError, match=r"segment 13 PO1, element PO102: the quantity ordered '12O' is not"
    ):
        mapping.sales_order_from_850(replace(tx, segments=tuple(segments)), rules("VN"))


def purchase_order(**overrides: object) -> procurement.PurchaseOrder:
    fields: dict[str, object] = {
        "number": "PO-1001",
        "supplier": "ACME",
        "currency": "USD",
        "ship_to": "DC-EAST",
        "ordered_on": date(2024, 2, 28),
        "requested_on": date(2024, 3, 10),
        "lines": (
            procurement.PurchaseOrderLine(
                line=1,
                sku="SKU-1",
                supplier_item="AC-77",
                quantity=documents.Quantity(value=Decimal(24), unit="EA"),
                unit_price=Decimal("3.125"),
            ),
            procurement.PurchaseOrderLine(
                line=2,
                sku="SKU-2",
                quantity=documents.Quantity(value=Decimal(3), unit="CASE"),
                unit_price=Decimal("40"),
                requested_on=date(2024, 3, 12),
            ),
        ),
    }
    fields.update(overrides)
    return procurement.PurchaseOrder.model_validate(fields)


SUPPLIER = rules("BP", supplier="ACME")


def test_a_purchase_order_goes_out_as_an_850_and_reads_back_equal() -> None:
    order = purchase_order()

    tx = mapping.purchase_order_to_850(order, SUPPLIER)

    assert [str(seg) for seg in tx.segments] == [
        "BEG*00*SA*PO-1001**20240228",
        "CUR*BY*USD",
        "DTM*002*20240310",
        "N1*ST**92*DC-EAST",
        "N1*SU**92*ACME",
        "PO1*1*24*EA*3.125*PE*BP*SKU-1*VP*AC-77",
        "PO1*2*3*CA*40*PE*BP*SKU-2",
        "DTM*002*20240312",
        "CTT*2*27",
        "AMT*TT*195",
    ]
    assert mapping.purchase_order_from_850(through_the_wire(SUPPLIER, tx), SUPPLIER) == order


def test_an_outbound_850_validates_cleanly_with_right_trailer_counts() -> None:
    orders = [purchase_order(), purchase_order(number="PO-1002")]

    text = sent(SUPPLIER, [mapping.purchase_order_to_850(o, SUPPLIER) for o in orders], interchange=12)

    back = read_back(text)
    assert [tx.control_number for tx in back] == ["0001", "0002"]
    assert trailer_counts(text) == {"SE": ["12", "12"], "GE": ["2"], "IEA": ["1"]}
    assert "*000000012*" in text.splitlines()[0]


def test_a_purchase_order_without_an_order_date_cannot_be_sent() -> None:
    with pytest.raises(mapping.X12MappingError, match=r"^850, segment BEG, element BEG05: the order date is needed"):
        mapping.purchase_order_to_850(purchase_order(ordered_on=None), SUPPLIER)


def test_a_unit_without_an_x12_code_cannot_be_sent() -> None:
    line = purchase_order().lines[0].model_copy(update={"quantity": documents.Quantity(value=Decimal(1), unit="CRATE")})

    with pytest.raises(mapping.X12MappingError, match=r"segment PO1, element PO103: unit 'CRATE'"):
        mapping.purchase_order_to_850(purchase_order(lines=(line,)), SUPPLIER)


def test_a_sales_order_reads_back_from_the_850_its_customer_would_send() -> None:
    customer = rules("VP", customer="C-9", timezone="Europe/Paris")
    order = documents.SalesOrder(
        number="CUST-PO-7",
        customer="C-9",
        channel="edi",
        currency="EUR",
        ordered_at=datetime(2024, 5, 2, tzinfo=customer.zone),
        customer_reference="CUST-PO-7",
        lines=(
            documents.SalesOrderLine(
                line=1, sku="A-1", quantity=documents.Quantity(value=Decimal("2.5"), unit="KG"), unit_price=Decimal(8)
            ),
        ),
    )

    tx = mapping.sales_order_to_850(order, customer)

    assert mapping.sales_order_from_850(through_the_wire(customer, tx), customer) == order


KEYS = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-", min_size=1, max_size=12)
QUANTITIES = st.decimals(min_value=Decimal("0.001"), max_value=Decimal(99999), places=3)
PRICES = st.decimals(min_value=Decimal(0), max_value=Decimal(9999), places=4)
DATES = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))


@st.composite
def purchase_orders(draw: st.DrawFn) -> procurement.PurchaseOrder:
    numbers = draw(st.lists(st.integers(1, 999_999), min_size=1, max_size=8, unique=True))
    lines = tuple(
        procurement.PurchaseOrderLine(
            line=n,
            sku=draw(KEYS),
            supplier_item=draw(st.none() | KEYS),
            quantity=documents.Quantity(
                value=draw(QUANTITIES), unit=draw(st.sampled_from(["EA", "CASE", "BOX", "LB"]))
            ),
            unit_price=draw(PRICES),
            requested_on=draw(st.none() | DATES),
        )
        for n in numbers
    )
    return procurement.PurchaseOrder(
        number=draw(KEYS),
        supplier=draw(KEYS),
        currency=draw(st.sampled_from(["USD", "EUR", "JPY", "KWD"])),
        ship_to=draw(KEYS),
        ordered_on=draw(DATES),
        requested_on=draw(st.none() | DATES),
        lines=lines,
    )


@settings(deadline=None, max_examples=150)
@given(order=purchase_orders(), newline=st.booleans())
def test_any_purchase_order_survives_850_and_back(order: procurement.PurchaseOrder, newline: bool) -> None:
    built = mapping.build_interchange(
        SUPPLIER, [mapping.purchase_order_to_850(order, SUPPLIER)], mapping.ControlNumbers(1, 1), datetime.now(UTC)
    )
    reading = x12.read(x12.write(built, newline=newline))

    assert reading.issues == ()
    (tx,) = (tx for interchange in reading.interchanges for _, tx in interchange.transactions())
    assert mapping.purchase_order_from_850(tx, SUPPLIER) == order
