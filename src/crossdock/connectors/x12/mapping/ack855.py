"""855 purchase order acknowledgements <-> canonical: a supplier's 855 becomes a POAcknowledgement (line statuses
from the ACK segments of each PO1 loop), a POAcknowledgement can be written as one, and our acceptance of a
customer's SalesOrder goes out as an 855. Pure; the workflow decides what an acknowledgement means."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date
from decimal import Decimal
from functools import partial

from crossdock.connectors.x12.mapping import _segments as s
from crossdock.connectors.x12.mapping.rules import PartnerRules, X12MappingError
from crossdock.connectors.x12.model import Segment, Transaction
from crossdock.domain import documents, procurement

SET = "855"
Status = procurement.LineAcknowledgementStatus
Header = procurement.AcknowledgementStatus

# ACK01 line item status codes (data element 668), by what they mean for the PO line.
ACCEPTED = frozenset({"IA", "AC", "AR", "IB", "IE", "IF", "IH", "IW", "SP"})
REJECTED = frozenset({"IR", "ID", "R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8"})
QUANTITY_CHANGED = frozenset({"IQ", "BP"})
PRICE_CHANGED = "IP"
DATE_CHANGED = "DR"
SUBSTITUTED = "IS"
CHANGED_SOME_WAY = "IC"
CHANGED = QUANTITY_CHANGED | {PRICE_CHANGED, DATE_CHANGED, SUBSTITUTED, CHANGED_SOME_WAY}
# BAK02 acknowledgment types that refuse the whole order.
ORDER_REJECTED = frozenset({"RJ", "RD", "RF", "RO", "R1", "R2", "R3", "R4"})
# ACK04: the date qualifier written with a new date (current schedule delivery).
DELIVERY = "067"


def _line(loop: list[s.Located], number: int, rules: PartnerRules) -> procurement.AcknowledgementLine | None:
    po1 = loop[0]
    acks = list(s.items_of(loop, "ACK"))
    if not acks:
        return None  # a PO1 without ACK is as the BAK says, like a line not sent at all
    codes = []
    for ack in acks:
        code = ack.required(1, "the line item status code")
        if code not in ACCEPTED | REJECTED | CHANGED:
            ack.fail(f"line item status {code!r} is not one this mapping knows", 1)
        codes.append(code)
    if any(code in REJECTED for code in codes):
        return procurement.AcknowledgementLine(line=number, status=Status.REJECTED)
    if not any(code in CHANGED for code in codes):
        return procurement.AcknowledgementLine(line=number, status=Status.ACCEPTED)
    changed = partial(_changed, loop, acks, codes, number, rules)
    return po1.body.build(f"acknowledgement of line {number}", changed, acks[0])


def _changed(
    loop: list[s.Located], acks: list[s.Located], codes: list[str], number: int, rules: PartnerRules
) -> procurement.AcknowledgementLine:
    po1 = loop[0]
    quantity: documents.Quantity | None = None
    price: Decimal | None = None
    delivery: date | None = None
    substitute: str | None = None
    for ack, code in zip(acks, codes, strict=True):
        if code in QUANTITY_CHANGED or code == CHANGED_SOME_WAY:
            value = ack.decimal(2, "the acknowledged quantity", required=code != CHANGED_SOME_WAY)
            # IC only says "changed": its ACK02 is a change when it differs from what was ordered.
            if value is not None and (code != CHANGED_SOME_WAY or po1.decimal(2, "the quantity ordered") != value):
                quantity = ack.quantity(2, 3, "the acknowledged quantity", rules)
        if code == PRICE_CHANGED:
            price = po1.decimal(4, "the acknowledged unit price (PO104 of a line with ACK01 IP)", required=True)
        if code in (DATE_CHANGED, CHANGED_SOME_WAY):
            delivery = ack.date(5, "the rescheduled date", rules, required=code == DATE_CHANGED) or delivery
        if code == SUBSTITUTED:
            substitute = ack.sku(rules, 7, 25)
    if (quantity, price, delivery, substitute) == (None, None, None, None):
        acks[0].fail("the line is acknowledged with changes but says no quantity, price, date or item", 1)
    return procurement.AcknowledgementLine(
        line=number,
        status=Status.CHANGED,
        quantity=quantity,
        unit_price=price,
        delivery_on=delivery,
        substitute_sku=substitute,
    )


def acknowledgement_from_855(tx: Transaction, rules: PartnerRules) -> procurement.POAcknowledgement:
    """A supplier's 855 as a POAcknowledgement. The order is BAK03, the acknowledgement's id BAK08 (the supplier's
    order number) or, without one, BAK03/ST02; acknowledged on BAK09. The header status follows the lines when
    there are any (a BAK02 of AD over rejected lines is accepted with changes), else BAK02."""
    body = s.Body(tx, SET)
    bak = body.require("BAK", "beginning segment for purchase order acknowledgment")
    order = bak.required(3, "the purchase order number")
    kind = bak.required(2, "the acknowledgment type")
    loops = body.loops("PO1")
    numbers = s.numbered([loop[0] for loop in loops], 1)
    lines = [line for n, loop in zip(numbers, loops, strict=True) if (line := _line(loop, n, rules)) is not None]
    statuses = {line.status for line in lines}
    refused = kind in ORDER_REJECTED
    if refused and statuses - {Status.REJECTED}:
        bak.fail(f"the order is rejected ({kind}) but lines are accepted", 2)
    if refused:
        status = Header.REJECTED
    elif statuses - {Status.ACCEPTED}:
        status = Header.ACCEPTED_WITH_CHANGES
    else:
        status = Header.ACCEPTED
    acknowledged = bak.date(9, "the acknowledgment date", rules)
    return body.build(
        "acknowledgement",
        lambda: procurement.POAcknowledgement(
            number=bak.text(8) or f"{order}/{tx.control_number}",
            order=order,
            supplier=rules.supplier_number,
            status=status,
            acknowledged_on=acknowledged,
            lines=tuple(lines),
        ),
        bak,
    )


def _bak(
    kind: str, order: str, order_date: date, number: str, acknowledged: date | None, rules: PartnerRules
) -> Segment:
    return s.segment(
        "BAK",
        "00",
        kind,
        order,
        rules.format_date(order_date),
        None,
        None,
        None,
        number,
        rules.format_date(acknowledged) if acknowledged else None,
    )


def acknowledgement_to_855(
    ack: procurement.POAcknowledgement,
    rules: PartnerRules,
    *,
    order: procurement.PurchaseOrder | None = None,
    control_number: str = "0001",
) -> Transaction:
    """A POAcknowledgement as the 855 its supplier would send: BAK02 AD, AC or RD/RJ; per listed line a PO1 (the
    ordered line echoed when `order` is given; PO104 holds a changed price) and one ACK per change (IQ quantity,
    IP price, DR date, IS substitute) or a single IA/IR."""
    order_date = (order.ordered_on if order else None) or ack.acknowledged_on
    order_date = s.require_out(order_date, "the purchase order date (or the acknowledgement date)", SET, "BAK", 4)
    kind = {
        Header.ACCEPTED: "AD",
        Header.ACCEPTED_WITH_CHANGES: "AC",
        Header.REJECTED: "RD" if ack.lines else "RJ",
    }[ack.status]
    out = [_bak(kind, ack.order, order_date, ack.number, ack.acknowledged_on, rules)]
    for line in ack.lines:
        ordered = next((ln for ln in order.lines if ln.line == line.line), None) if order else None
        price = line.unit_price if line.unit_price is not None else (ordered.unit_price if ordered else None)
        if ordered is not None:
            unit = s.unit_out(rules, ordered.quantity.unit, SET, "PO1", 3)
            pairs = rules.ids_for(ordered.sku, {"VP": ordered.supplier_item})
            value = s.number(ordered.quantity.value)
            priced = s.number(price) if price is not None else None
            out.append(s.segment("PO1", line.line, value, unit, priced, "PE", *s.id_elements(pairs)))
        elif price is not None:
            out.append(s.segment("PO1", line.line, None, None, s.number(price), "PE"))
        else:
            out.append(s.segment("PO1", line.line))
        out.extend(_acks(line, rules))
    return Transaction(set_id=SET, control_number=control_number, segments=tuple(out))


def _acks(line: procurement.AcknowledgementLine, rules: PartnerRules) -> list[Segment]:
    if line.status is Status.ACCEPTED:
        return [s.segment("ACK", "IA")]
    if line.status is Status.REJECTED:
        return [s.segment("ACK", "IR")]
    acks = []
    if line.quantity is not None:
        unit = s.unit_out(rules, line.quantity.unit, SET, "ACK", 3)
        acks.append(s.segment("ACK", "IQ", s.number(line.quantity.value), unit))
    if line.unit_price is not None:
        acks.append(s.segment("ACK", PRICE_CHANGED))
    if line.delivery_on is not None:
        acks.append(s.segment("ACK", DATE_CHANGED, None, None, DELIVERY, rules.format_date(line.delivery_on)))
    if line.substitute_sku is not None:
        pairs = rules.ids_for(line.substitute_sku)[:1]
        if not pairs:
            raise X12MappingError(
                f"substitute {line.substitute_sku} has no item id in this partner's rules",
                set_id=SET,
                tag="ACK",
                element=7,
            )
        acks.append(s.segment("ACK", SUBSTITUTED, None, None, None, None, None, *s.id_elements(pairs)))
    return acks


def sales_order_to_855(
    order: documents.SalesOrder,
    rules: PartnerRules,
    *,
    acknowledged_on: date,
    rejected_lines: Collection[int] = (),
    buyer_items: Mapping[int, str] | None = None,
    control_number: str = "0001",
) -> Transaction:
    """Our answer to a customer's order: BAK03 is their PO number (customer_reference), BAK08 our order number;
    every line echoed in a PO1 with ACK*IA (and the quantity) or ACK*IR. All lines rejected is a rejected order.
    `buyer_items` (order line -> the buyer's part number from their order) are written as BP."""
    unknown = set(rejected_lines) - {line.line for line in order.lines}
    if unknown:
        raise X12MappingError(f"order {order.number} has no line {sorted(unknown)}", set_id=SET, tag="PO1", element=1)
    ordered = s.require_out(order.ordered_at, "the order time", SET, "BAK", 4)
    if not rejected_lines:
        kind = "AD"
    elif len(set(rejected_lines)) == len(order.lines):
        kind = "RD"
    else:
        kind = "AC"
    out = [
        _bak(
            kind,
            order.customer_reference or order.number,
            s.local(ordered, rules).date(),
            order.number,
            acknowledged_on,
            rules,
        )
    ]
    for line in order.lines:
        unit = s.unit_out(rules, line.quantity.unit, SET, "PO1", 3)
        pairs = rules.ids_for(line.sku, {s.BUYER_PART: (buyer_items or {}).get(line.line)})
        out.append(
            s.segment(
                "PO1",
                line.line,
                s.number(line.quantity.value),
                unit,
                s.number(line.unit_price),
                "PE",
                *s.id_elements(pairs),
            )
        )
        if line.line in rejected_lines:
            out.append(s.segment("ACK", "IR"))
        else:
            out.append(s.segment("ACK", "IA", s.number(line.quantity.value), unit))
    return Transaction(set_id=SET, control_number=control_number, segments=tuple(out))
