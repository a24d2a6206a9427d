"""940 warehouse shipping orders to a third-party warehouse: what a release of an order asks it to pick and ship,
as a WarehouseOrder value (built from a ShipmentReleased fact plus the ship-to address) <-> the 940. Pure; the 3PL's
answer is the 945 (warehouse945.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from functools import partial

from pydantic import BaseModel, ConfigDict, Field, field_validator

from crossdock.connectors.x12.mapping import _segments as s
from crossdock.connectors.x12.mapping.rules import PartnerRules
from crossdock.connectors.x12.model import Segment, Transaction
from crossdock.domain import catalog, documents

SET = "940"
REQUESTED_SHIP = "10"  # G6201: requested ship date
DELIVERY_REQUESTED = "02"  # G6201: delivery requested on this date
# W01 (qualifier, id) pairs are elements 4/5 and 6/7; element 3 is the U.P.C. case code, not qualified.
FIRST_PAIR, LAST_PAIR = 4, 6


class Address(BaseModel):
    """A party of a warehouse order (N1 + N3 + N4): name, its id for the receiver, street lines, place."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = ""
    id: str | None = None
    street: tuple[str, ...] = ()
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""


class WarehouseOrderLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    line: documents.LineNumber = Field(description="The order line (LX01).")
    sku: documents.Key
    quantity: documents.LineQuantity
    description: str = ""


class WarehouseOrder(BaseModel):
    """A shipping order to a warehouse: our order number (W05-02, which the 945 echoes), the customer's PO
    (W05-03), the release it carries out (W05-05), where to ship, when, by whom, and the lines."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    order: documents.Key
    customer_reference: str | None = None
    release: documents.Key | None = None
    warehouse: documents.Key | None = Field(default=None, description="Our code for the shipping warehouse.")
    ship_to: Address | None = None
    requested_ship_on: date | None = None
    requested_delivery_on: date | None = None
    carrier: str | None = Field(default=None, description="The carrier's SCAC (W66-05).")
    lines: documents.NonEmpty[WarehouseOrderLine]

    @field_validator("lines")
    @classmethod
    def _lines_are_numbered_once(cls, lines: tuple[WarehouseOrderLine, ...]) -> tuple[WarehouseOrderLine, ...]:
        numbers = [line.line for line in lines]
        if len(set(numbers)) != len(numbers):
            raise ValueError("a line number appears more than once")
        return lines


def warehouse_order_from_release(
    release: catalog.ShipmentReleased,
    *,
    ship_to: Address,
    customer_reference: str | None = None,
    requested_ship_on: date | None = None,
    carrier: str | None = None,
    descriptions: dict[str, str] | None = None,
) -> WarehouseOrder:
    """The warehouse order a release becomes: its order, release id and location, its lines as released."""
    names = descriptions or {}
    return WarehouseOrder(
        order=release.order,
        customer_reference=customer_reference,
        release=release.release,
        warehouse=release.from_location,
        ship_to=ship_to,
        requested_ship_on=requested_ship_on,
        carrier=carrier,
        lines=tuple(
            WarehouseOrderLine(line=ln.line, sku=ln.sku, quantity=ln.quantity, description=names.get(ln.sku, ""))
            for ln in release.lines
        ),
    )


def _party(qualifier: str, address: Address) -> list[Segment]:
    out = [s.segment("N1", qualifier, address.name or None, "92" if address.id else None, address.id)]
    if address.street:
        out.extend(s.segment("N3", *address.street[i : i + 2]) for i in range(0, len(address.street), 2))
    if address.city or address.state or address.postal_code or address.country:
        out.append(s.segment("N4", address.city, address.state, address.postal_code, address.country))
    return out


def read_party(loop: Iterable[s.Located]) -> Address:
    """An N1 loop (N1, N2, N3, N4) as an Address."""
    items = list(loop)
    n1 = items[0]
    street: list[str] = []
    city = state = postal = country = ""
    for item in items[1:]:
        if item.tag == "N3":
            street.extend(v for v in (item.text(1), item.text(2)) if v)
        elif item.tag == "N4":
            city, state, postal, country = item.text(1), item.text(2), item.text(3), item.text(4)
    return Address(
        name=n1.text(2),
        id=n1.text(4) or None,
        street=tuple(street),
        city=city,
        state=state,
        postal_code=postal,
        country=country,
    )


def party_loops(heading: list[s.Located]) -> dict[str, list[s.Located]]:
    """The heading's N1 loops by N101 (the first of each)."""
    loops: dict[str, list[s.Located]] = {}
    current: list[s.Located] | None = None
    for item in heading:
        if item.tag == "N1":
            current = [item]
            loops.setdefault(item.text(1), current)
        elif item.tag in ("N2", "N3", "N4", "PER") and current is not None:
            current.append(item)
        else:
            current = None
    return loops


def warehouse_order_to_940(order: WarehouseOrder, rules: PartnerRules, *, control_number: str = "0001") -> Transaction:
    """A WarehouseOrder as a 940: W05*N, N1*ST (N3/N4) and N1*WH, G62*10/02, W66 carrier, LX + W01 (+ G69 the
    description) per line, W76 with the total quantity."""
    out: list[Segment] = [s.segment("W05", "N", order.order, order.customer_reference, None, order.release)]
    if order.ship_to is not None:
        out.extend(_party("ST", order.ship_to))
    if order.warehouse is not None:
        out.append(s.segment("N1", "WH", None, "92", order.warehouse))
    if order.requested_ship_on is not None:
        out.append(s.segment("G62", REQUESTED_SHIP, rules.format_date(order.requested_ship_on)))
    if order.requested_delivery_on is not None:
        out.append(s.segment("G62", DELIVERY_REQUESTED, rules.format_date(order.requested_delivery_on)))
    if order.carrier:
        out.append(s.segment("W66", "PP", "M", None, None, order.carrier))
    for line in order.lines:
        pairs = rules.ids_for(line.sku)[:2]
        unit = s.unit_out(rules, line.quantity.unit, SET, "W01", 2)
        out.append(s.segment("LX", line.line))
        out.append(s.segment("W01", s.number(line.quantity.value), unit, None, *s.id_elements(pairs)))
        if line.description:
            out.append(s.segment("G69", line.description))
    out.append(s.segment("W76", s.number(sum((ln.quantity.value for ln in order.lines), Decimal(0)))))
    return Transaction(set_id=SET, control_number=control_number, segments=tuple(out))


def warehouse_order_from_940(tx: Transaction, rules: PartnerRules) -> WarehouseOrder:
    """A 940 as a WarehouseOrder: W05-02 order, W05-03 customer PO, W05-05 release, N1*ST ship-to, N1*WH N104
    warehouse, G62*10 and *02 dates, W66-05 carrier, lines from LX01 and W01 (skus by the partner's item ids)."""
    body = s.Body(tx, SET)
    w05 = body.require("W05", "shipping order identification")
    order = w05.required(2, "the depositor order number")
    heading = body.before("LX")
    parties = party_loops(heading)
    warehouse = parties.get("WH")
    ship = s.first_of(heading, "G62", REQUESTED_SHIP)
    delivery = s.first_of(heading, "G62", DELIVERY_REQUESTED)
    w66 = s.first_of(heading, "W66")
    loops = body.loops("LX")
    if not loops:
        body.fail("the shipping order has no LX line", tag="LX")
    lines = []
    for number, loop in zip(s.numbered([loop[0] for loop in loops], 1), loops, strict=True):
        w01 = s.first_of(loop, "W01")
        if w01 is None:
            loop[0].fail("the line has no W01 (item detail)")
        g69 = s.first_of(loop, "G69")
        quantity = w01.quantity(1, 2, "the quantity ordered", rules)
        sku = w01.sku(rules, FIRST_PAIR, LAST_PAIR)
        description = g69.text(1) if g69 else ""
        lines.append(
            body.build(
                "warehouse order line",
                partial(WarehouseOrderLine, line=number, sku=sku, quantity=quantity, description=description),
                w01,
            )
        )
    return body.build(
        "warehouse order",
        lambda: WarehouseOrder(
            order=order,
            customer_reference=w05.text(3) or None,
            release=w05.text(5) or None,
            warehouse=(warehouse[0].text(4) or None) if warehouse else None,
            ship_to=read_party(parties["ST"]) if "ST" in parties else None,
            requested_ship_on=ship.date(2, "the requested ship date", rules) if ship else None,
            requested_delivery_on=delivery.date(2, "the requested delivery date", rules) if delivery else None,
            carrier=(w66.text(5) or None) if w66 else None,
            lines=tuple(lines),
        ),
        w05,
    )
