"""846 inventory advice out to a customer: what a channel may sell of each sku, per location or for the whole
network, from availability the inventory ledger computed (never computed here). One 846 per location, named in its
heading N1*WH; QTY*33 (quantity available for sale) per LIN. Read back for checks and tests. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, field_validator

from crossdock.connectors.x12.mapping import _segments as s
from crossdock.connectors.x12.mapping.rules import PartnerRules, X12MappingError
from crossdock.connectors.x12.model import Segment, Transaction
from crossdock.domain import catalog, documents

SET = "846"
AVAILABLE = "33"  # QTY01: quantity available for sale (stock quantity)
WAREHOUSE = "WH"
# BIA01 00 original; BIA02 SI seller inventory report.
PURPOSE, REPORT = "00", "SI"


class Availability(BaseModel):
    """What may be sold of one sku: at one location, or (location None) across the network."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: documents.Key
    available: documents.Quantity
    location: documents.Key | None = None

    @field_validator("available")
    @classmethod
    def _never_negative(cls, available: documents.Quantity) -> documents.Quantity:
        if available.value < 0:
            raise ValueError(f"availability is never below 0, got {available}")
        return available

    @classmethod
    def of(cls, event: catalog.AvailabilityChanged, location: str | None = None) -> Availability:
        """A channel's availability as the inventory ledger published it."""
        return cls(sku=event.sku, available=event.available, location=location)


def inventory_advice_to_846(
    positions: Iterable[Availability],
    rules: PartnerRules,
    *,
    reference: str,
    as_of: datetime,
    control_number: str = "0001",
) -> Transaction:
    """One 846 of positions that share a location (or have none): BIA*00*SI with `reference` and the time, N1*WH
    with our location code, then LIN (the partner's item ids) and QTY*33 per sku."""
    items = list(positions)
    if not items:
        raise X12MappingError("an inventory advice needs at least one position", set_id=SET, tag="LIN")
    locations = {p.location for p in items}
    if len(locations) != 1:
        raise X12MappingError(
            f"one 846 is of one location; these are at {sorted(str(loc) for loc in locations)}: use inventory_advices",
            set_id=SET,
            tag="N1",
        )
    when = s.local(as_of, rules)
    out: list[Segment] = [s.segment("BIA", PURPOSE, REPORT, reference, rules.format_date(when.date()), s.hhmm(when))]
    location = items[0].location
    if location is not None:
        out.append(s.segment("N1", WAREHOUSE, None, "92", location))
    seen: set[str] = set()
    for position in items:
        if position.sku in seen:
            raise X12MappingError(f"sku {position.sku} is listed twice", set_id=SET, tag="LIN", element=3)
        seen.add(position.sku)
        pairs = rules.ids_for(position.sku)
        if not pairs:
            raise X12MappingError(
                f"sku {position.sku} has no item id in this partner's rules", set_id=SET, tag="LIN", element=2
            )
        unit = s.unit_out(rules, position.available.unit, SET, "QTY", 3)
        out.append(s.segment("LIN", None, *s.id_elements(pairs)))
        out.append(s.segment("QTY", AVAILABLE, s.number(position.available.value), unit))
    out.append(s.segment("CTT", len(items)))
    return Transaction(set_id=SET, control_number=control_number, segments=tuple(out))


def inventory_advices(
    positions: Iterable[Availability],
    rules: PartnerRules,
    *,
    reference: str,
    as_of: datetime,
) -> tuple[Transaction, ...]:
    """One 846 per location (network-wide positions first), references `reference`-1, -2... when there are several."""
    by_location: dict[str | None, list[Availability]] = {}
    for position in positions:
        by_location.setdefault(position.location, []).append(position)
    keys = sorted(by_location, key=lambda loc: (loc is not None, loc or ""))
    return tuple(
        inventory_advice_to_846(
            by_location[key],
            rules,
            reference=reference if len(keys) == 1 else f"{reference}-{n}",
            as_of=as_of,
            control_number=f"{n:04d}",
        )
        for n, key in enumerate(keys, start=1)
    )


def availability_from_846(tx: Transaction, rules: PartnerRules) -> tuple[Availability, ...]:
    """The positions of an 846: sku from LIN by the partner's item ids, QTY*33, location from N1*WH N104."""
    body = s.Body(tx, SET)
    warehouse = s.first_of(body.before("LIN"), "N1", WAREHOUSE)
    location = (warehouse.text(4) or None) if warehouse else None
    out = []
    for loop in body.loops("LIN"):
        lin = loop[0]
        qty = s.first_of(loop, "QTY", AVAILABLE)
        if qty is None:
            lin.fail("the item has no QTY*33 (quantity available)")
        value = qty.need_decimal(2, "the quantity available")
        unit = rules.unit_in(qty.text(3) or "EA")
        sku = lin.sku(rules, 2, 30)

        def position(sku: str = sku, value: Decimal = value, unit: str = unit) -> Availability:
            return Availability(sku=sku, available=documents.Quantity(value=value, unit=unit), location=location)

        out.append(body.build("availability", position, qty))
    return tuple(out)
