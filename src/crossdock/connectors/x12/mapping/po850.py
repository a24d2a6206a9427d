"""850 purchase orders <-> canonical orders: a customer's 850 becomes a SalesOrder (and one can be written back),
our PurchaseOrder becomes an 850 to a supplier (and is read back from one). Pure: a Transaction in, a document out,
and back; envelopes are envelope.py's, ids and units the PartnerRules'."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from crossdock.connectors.x12.mapping import _segments as s
from crossdock.connectors.x12.mapping.rules import PartnerRules
from crossdock.connectors.x12.model import Segment, Transaction
from crossdock.domain import documents, procurement

SET = "850"
# PO105 basis of unit price codes that price more than one unit; any other code prices one unit of PO103.
PRICE_BASIS = {"HP": Decimal(100), "TP": Decimal(1000)}
# DTM01 / qualifier of the requested delivery date, header or line.
DELIVERY_REQUESTED = "002"


@dataclass(frozen=True, slots=True)
class _Line:
    number: int
    sku: str
    pairs: list[tuple[str, str]]
    quantity: documents.Quantity
    unit_price: Decimal | None
    requested_on: date | None
    at: s.Located


def _lines(body: s.Body, rules: PartnerRules) -> list[_Line]:
    loops = body.loops("PO1")
    if not loops:
        body.fail("the order has no PO1 line", tag="PO1")
    numbers = s.numbered([loop[0] for loop in loops], 1)
    lines = []
    for number, loop in zip(numbers, loops, strict=True):
        po1 = loop[0]
        quantity = po1.quantity(2, 3, "the quantity ordered", rules)
        price = po1.decimal(4, "the unit price")
        if price is not None:
            price = price / PRICE_BASIS.get(po1.text(5), Decimal(1))
        dtm = s.first_of(loop, "DTM", DELIVERY_REQUESTED)
        lines.append(
            _Line(
                number=number,
                sku=po1.sku(rules, 6, 24),
                pairs=po1.pairs(6, 24),
                quantity=quantity,
                unit_price=price,
                requested_on=dtm.date(2, "the requested delivery date", rules) if dtm else None,
                at=po1,
            )
        )
    return lines


def _currency(body: s.Body, rules: PartnerRules) -> str:
    cur = body.first("CUR")
    return cur.required(2, "the currency") if cur is not None else rules.currency


def _price(line: _Line) -> Decimal:
    if line.unit_price is None:
        line.at.fail("the unit price is missing", 4)
    return line.unit_price


def sales_order_from_850(tx: Transaction, rules: PartnerRules) -> documents.SalesOrder:
    """A customer's 850 as a SalesOrder: number and customer reference are BEG03, ordered at BEG05 (midnight in the
    partner's time zone), in CUR02 or the partner's currency."""
    body = s.Body(tx, SET)
    beg = body.require("BEG", "beginning segment for purchase order")
    number = beg.required(3, "the purchase order number")
    ordered = beg.date(5, "the purchase order date", rules, required=True)
    assert ordered is not None
    lines = _lines(body, rules)
    currency = _currency(body, rules)
    return body.build(
        "sales order",
        lambda: documents.SalesOrder(
            number=number,
            customer=rules.customer_number,
            channel=rules.channel,
            currency=currency,
            ordered_at=s.at_midnight(ordered, rules),
            customer_reference=number,
            lines=tuple(
                documents.SalesOrderLine(line=ln.number, sku=ln.sku, quantity=ln.quantity, unit_price=_price(ln))
                for ln in lines
            ),
        ),
        beg,
    )


def buyer_items_from_850(tx: Transaction, rules: PartnerRules) -> dict[str, str]:
    """The buyer's part number (PO1 BP) of each sku a customer's 850 orders, first line first: what the 855, 856
    and 810 going back to that customer name the item by. Lines without a BP are left out."""
    items: dict[str, str] = {}
    for line in _lines(s.Body(tx, SET), rules):
        buyer_part = dict(line.pairs).get(s.BUYER_PART)
        if buyer_part:
            items.setdefault(line.sku, buyer_part)
    return items


def purchase_order_from_850(tx: Transaction, rules: PartnerRules) -> procurement.PurchaseOrder:
    """An 850 as our PurchaseOrder (one we sent, read back): ship-to from N1*ST N104, supplier from N1*SU (or VN)
    N104 or the partner, requested dates from DTM*002 in the heading and in each PO1 loop."""
    body = s.Body(tx, SET)
    beg = body.require("BEG", "beginning segment for purchase order")
    number = beg.required(3, "the purchase order number")
    heading = body.before("PO1")
    ship_to = s.first_of(heading, "N1", "ST")
    if ship_to is None:
        body.fail("the ship-to party (N1*ST) is missing", tag="N1")
    location = ship_to.required(4, "the ship-to location code")
    supplier_n1 = s.first_of(heading, "N1", "SU") or s.first_of(heading, "N1", "VN")
    supplier = (supplier_n1.text(4) if supplier_n1 else "") or rules.supplier_number
    dtm = s.first_of(heading, "DTM", DELIVERY_REQUESTED)
    requested = dtm.date(2, "the requested delivery date", rules) if dtm else None
    ordered = beg.date(5, "the purchase order date", rules)
    lines = _lines(body, rules)
    currency = _currency(body, rules)
    return body.build(
        "purchase order",
        lambda: procurement.PurchaseOrder(
            number=number,
            supplier=supplier,
            currency=currency,
            ship_to=location,
            ordered_on=ordered,
            requested_on=requested,
            lines=tuple(
                procurement.PurchaseOrderLine(
                    line=ln.number,
                    sku=ln.sku,
                    supplier_item=s.supplier_item(ln.pairs, ln.sku, rules),
                    quantity=ln.quantity,
                    unit_price=_price(ln),
                    requested_on=ln.requested_on,
                )
                for ln in lines
            ),
        ),
        beg,
    )


def _po1(
    rules: PartnerRules, number: int, quantity: documents.Quantity, price: Decimal, pairs: list[tuple[str, str]]
) -> Segment:
    unit = s.unit_out(rules, quantity.unit, SET, "PO1", 3)
    return s.segment("PO1", number, s.number(quantity.value), unit, s.number(price), "PE", *s.id_elements(pairs))


def _trailer(lines: int, quantities: list[Decimal]) -> Segment:
    # CTT02 is a hash total: the sum of PO102, so a receiver can check that no line was lost.
    return s.segment("CTT", lines, s.number(sum(quantities, Decimal(0))))


def purchase_order_to_850(
    order: procurement.PurchaseOrder, rules: PartnerRules, *, control_number: str = "0001"
) -> Transaction:
    """Our PurchaseOrder as an 850 to the supplier: BEG*00*SA, CUR*BY, DTM*002, N1*ST and N1*SU (codes assigned by
    us, N103 92), PO1 per line with our sku and the supplier's VP, CTT, AMT*TT."""
    ordered = s.require_out(order.ordered_on, "the order date", SET, "BEG", 5)
    out: list[Segment] = [
        s.segment("BEG", "00", "SA", order.number, None, rules.format_date(ordered)),
        s.segment("CUR", "BY", order.currency),
    ]
    if order.requested_on is not None:
        out.append(s.segment("DTM", DELIVERY_REQUESTED, rules.format_date(order.requested_on)))
    out.append(s.segment("N1", "ST", None, "92", order.ship_to))
    out.append(s.segment("N1", "SU", None, "92", order.supplier))
    for line in order.lines:
        pairs = rules.ids_for(line.sku, {"VP": line.supplier_item})
        out.append(_po1(rules, line.line, line.quantity, line.unit_price, pairs))
        if line.requested_on is not None:
            out.append(s.segment("DTM", DELIVERY_REQUESTED, rules.format_date(line.requested_on)))
    out.append(_trailer(len(order.lines), [line.quantity.value for line in order.lines]))
    out.append(s.segment("AMT", "TT", s.number(order.total().amount)))
    return Transaction(set_id=SET, control_number=control_number, segments=tuple(out))


def sales_order_to_850(
    order: documents.SalesOrder, rules: PartnerRules, *, control_number: str = "0001"
) -> Transaction:
    """A SalesOrder as the 850 a customer would have sent (BEG03 is the customer's reference, else the number)."""
    ordered = s.require_out(order.ordered_at, "the order time", SET, "BEG", 5)
    out: list[Segment] = [
        s.segment(
            "BEG",
            "00",
            "SA",
            order.customer_reference or order.number,
            None,
            rules.format_date(s.local(ordered, rules).date()),
        ),
        s.segment("CUR", "BY", order.currency),
    ]
    for line in order.lines:
        out.append(_po1(rules, line.line, line.quantity, line.unit_price, rules.ids_for(line.sku)))
    out.append(_trailer(len(order.lines), [line.quantity.value for line in order.lines]))
    return Transaction(set_id=SET, control_number=control_number, segments=tuple(out))
