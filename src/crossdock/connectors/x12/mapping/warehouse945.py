"""945 warehouse shipping advice from a third-party warehouse -> the Shipment it reports (and back, to test and to
stand in for a 3PL). Lines shipped at zero are left out: a shipment only lists what left. Pure."""

from __future__ import annotations

from datetime import datetime, time

from crossdock.connectors.x12.mapping import _segments as s
from crossdock.connectors.x12.mapping.rules import PartnerRules, X12MappingError
from crossdock.connectors.x12.mapping.warehouse940 import party_loops
from crossdock.connectors.x12.model import Segment, Transaction
from crossdock.domain import documents

SET = "945"
SHIPPED = "11"  # G6201: shipped on this date
PICKUP_TIME = "8"  # G6203: actual pickup time
TRACKING = "CN"  # N901: carrier's reference number (PRO / tracking)
PACKAGE = "CP"  # MAN01: carrier-assigned package id


def shipment_from_945(tx: Transaction, rules: PartnerRules) -> documents.Shipment:
    """A 3PL's 945 as a Shipment: number W06-04 (the shipment id), order W06-02 (our order, as the 940 sent it),
    from the partner's location (else N1*WH or *SF N104), carrier W27-02 (SCAC), shipped at G62*11 (else W06-03),
    tracking numbers from N9*CN and MAN*CP; per W12 the units shipped (W12-03) in W12-05, the line from LX01."""
    body = s.Body(tx, SET)
    w06 = body.require("W06", "warehouse shipment identification")
    order = w06.required(2, "the depositor order number")
    number = w06.required(4, "the shipment identification number")
    heading = body.before("LX") if body.first("LX") else body.before("W12")
    parties = party_loops(heading)
    source = parties.get("WH") or parties.get("SF")
    location = rules.location or ((source[0].text(4) or None) if source else None)
    if location is None:
        body.fail("the ship-from warehouse (N1*WH N104) is missing and the partner has no location", tag="N1")
    g62 = s.first_of(heading, "G62", SHIPPED)
    if g62 is not None:
        day = g62.date(2, "the ship date", rules, required=True)
        clock = g62.time(4, "the ship time")
    else:
        day, clock = w06.date(3, "the ship date", rules, required=True), None
    assert day is not None
    w27 = s.first_of(heading, "W27")
    carrier = (w27.text(2) or w27.text(3) or None) if w27 else None
    tracking: list[str] = []
    for item in body.items:
        wanted = (item.tag, item.text(1)) in (("N9", TRACKING), ("MAN", PACKAGE))
        value = item.text(2) if wanted else ""
        if value and value not in tracking:
            tracking.append(value)
    lines: list[tuple[int | None, s.Located]] = []
    current: int | None = None
    for item in body.items:
        if item.tag == "LX":
            current = item.line_number(1)
        elif item.tag == "W12":
            lines.append((current, item))
    if not lines:
        body.fail("the shipping advice has no W12 item", tag="W12")
    own = [n for n, _ in lines]
    numbers = own if all(n is not None for n in own) and len(set(own)) == len(own) else range(1, len(lines) + 1)
    shipped = []
    for n, (_, w12) in zip(numbers, lines, strict=True):
        assert n is not None
        units = w12.need_decimal(3, "the number of units shipped")
        if units == 0:
            continue
        quantity = w12.quantity(3, 5, "the number of units shipped", rules)
        shipped.append((n, w12.sku(rules, 7, 7), quantity, w12))
    return body.build(
        "shipment",
        lambda: documents.Shipment(
            number=number,
            order=order,
            from_location=location,
            carrier=carrier,
            tracking_numbers=tuple(tracking),
            shipped_at=datetime.combine(day, clock or time(0), tzinfo=rules.zone),
            lines=tuple(documents.ShipmentLine(line=n, sku=sku, quantity=q) for n, sku, q, _ in shipped),
        ),
        w06,
    )


def shipment_to_945(shipment: documents.Shipment, rules: PartnerRules, *, control_number: str = "0001") -> Transaction:
    """A Shipment as the 945 a 3PL would send: W06*F, N1*WH, G62*11 with the pickup time, W27 carrier, N9*CN per
    tracking number, LX + W12*CC per line (ordered = shipped), W03 total units."""
    shipped = s.local(s.require_out(shipment.shipped_at, "the ship time", SET, "G62", 2), rules)
    day = rules.format_date(shipped.date())
    out: list[Segment] = [
        s.segment("W06", "F", shipment.order, day, shipment.number),
        s.segment("N1", "WH", None, "92", shipment.from_location),
        s.segment("G62", SHIPPED, day, PICKUP_TIME, s.hhmm(shipped)),
    ]
    if shipment.carrier:
        out.append(s.segment("W27", "M", shipment.carrier))
    out.extend(s.segment("N9", TRACKING, number) for number in shipment.tracking_numbers)
    for line in shipment.lines:
        pairs = rules.ids_for(line.sku)[:1]
        if not pairs:
            raise X12MappingError(f"sku {line.sku} has no item id in this partner's rules", set_id=SET, tag="W12")
        unit = s.unit_out(rules, line.quantity.unit, SET, "W12", 5)
        qty = s.number(line.quantity.value)
        out.append(s.segment("LX", line.line))
        out.append(s.segment("W12", "CC", qty, qty, "0", unit, None, *s.id_elements(pairs)))
    out.append(s.segment("W03", s.number(sum(line.quantity.value for line in shipment.lines))))
    return Transaction(set_id=SET, control_number=control_number, segments=tuple(out))
