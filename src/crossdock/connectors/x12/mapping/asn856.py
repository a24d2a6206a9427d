"""856 ship notices <-> canonical: the HL tree (shipment / order / tare / pack / item, parents by HL02, whatever the
order of levels: SOPI, SOTPI, SOI) becomes one AdvanceShipNotice per order level from a supplier, or a Shipment;
our Shipment goes out to a customer as an S/O/I 856, and an AdvanceShipNotice can be written as an S/O/P/I one.
Pure; which PO line an item fills is the partner's to say (LIN01/SN101), never guessed from the PO here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from crossdock.connectors.x12.mapping import _segments as s
from crossdock.connectors.x12.mapping.rules import PartnerRules, X12MappingError
from crossdock.connectors.x12.model import Segment, Transaction
from crossdock.domain import documents, procurement

SET = "856"
SHIPPED = "011"
# DTM01 qualifiers of the date the goods should arrive, in order of preference: estimated delivery, current
# schedule delivery, delivery requested.
EXPECTED = ("017", "067", "002")
EXPIRES = ("036", "208")  # expiration, lot number expiration
PACK_KINDS = {"P": "carton", "T": "pallet"}
LEVEL_OF_KIND = {"pallet": "T"}
# BSN05 hierarchical structure codes of what we write.
SOPI = "0001"
SOI = "0004"


@dataclass
class _Level:
    id: str
    parent: str | None
    code: str
    segments: list[s.Located]
    at: s.Located


@dataclass
class _Item:
    order: str
    line: int | None
    sku: str
    supplier_item: str | None
    quantity: documents.Quantity
    pack: str | None
    lots: list[procurement.Lot] = field(default_factory=list)
    at: s.Located | None = None


@dataclass
class _Tree:
    """The HL levels of one 856 and what the mappings read from them."""

    body: s.Body
    rules: PartnerRules
    levels: dict[str, _Level]
    order_numbers: dict[str, str]  # order level id -> PRF01
    packs: dict[str, procurement.Pack]  # pack level id -> pack
    items: list[_Item]

    def shipment_segments(self) -> list[s.Located]:
        heading = self.body.before("HL")
        shipment = next((level for level in self.levels.values() if level.code == "S"), None)
        return heading + (shipment.segments if shipment else [])


def _tree(tx: Transaction, rules: PartnerRules) -> _Tree:
    body = s.Body(tx, SET)
    levels: dict[str, _Level] = {}
    for loop in body.loops("HL"):
        hl = loop[0]
        level_id = hl.required(1, "the hierarchical id")
        if level_id in levels:
            hl.fail(f"hierarchical id {level_id} is used twice", 1)
        parent = hl.text(2) or None
        if parent is not None and parent not in levels:
            hl.fail(f"parent {parent} is not an earlier HL", 2)
        levels[level_id] = _Level(level_id, parent, hl.required(3, "the hierarchical level code"), loop[1:], hl)
    if not levels:
        body.fail("the ship notice has no HL level", tag="HL")
    order_numbers = {
        level.id: _prf(level).required(1, "the purchase order number") for level in levels.values() if level.code == "O"
    }
    packs = {level.id: _pack(level, rules) for level in levels.values() if level.code in PACK_KINDS}
    tree = _Tree(body, rules, levels, order_numbers, packs, [])
    tree.items = [_item(tree, level) for level in levels.values() if level.code == "I"]
    return tree


def _prf(level: _Level) -> s.Located:
    prf = s.first_of(level.segments, "PRF")
    if prf is None:
        level.at.fail(f"order level {level.id} has no PRF (purchase order reference)")
    return prf


def _pack(level: _Level, rules: PartnerRules) -> procurement.Pack:
    man = s.first_of(level.segments, "MAN")
    if man is None:
        level.at.fail(f"pack level {level.id} has no MAN (marks and numbers: the pack's label)")
    label = man.required(2, "the pack's marks and numbers")
    po4 = s.first_of(level.segments, "PO4")
    weight = None
    if po4 is not None and po4.text(6) and po4.text(7):
        weight = po4.quantity(6, 7, "the gross weight per pack", rules)
    return level.at.body.build(
        "pack", lambda: procurement.Pack(id=label, kind=PACK_KINDS[level.code], weight=weight), man
    )


def _ancestors(tree: _Tree, level: _Level) -> list[_Level]:
    out = []
    parent = level.parent
    while parent is not None:
        up = tree.levels[parent]
        out.append(up)
        parent = up.parent
    return out


def _item(tree: _Tree, level: _Level) -> _Item:
    rules = tree.rules
    lin = s.first_of(level.segments, "LIN")
    sn1 = s.first_of(level.segments, "SN1")
    if lin is None or sn1 is None:
        level.at.fail(f"item level {level.id} needs a LIN (item identification) and an SN1 (item detail)")
    ancestors = _ancestors(tree, level)
    order = next((tree.order_numbers[up.id] for up in ancestors if up.id in tree.order_numbers), None)
    if order is None:
        level.at.fail(f"item level {level.id} has no order level (O) above it", 2)
    pack = next((tree.packs[up.id].id for up in ancestors if up.id in tree.packs), None)
    quantity = sn1.quantity(2, 3, "the number of units shipped", rules)
    pairs = dict(lin.pairs(2, 30))
    sku = lin.sku(rules, 2, 30)
    item = _Item(
        order=order,
        line=lin.line_number(1) or sn1.line_number(1),
        sku=sku,
        supplier_item=s.supplier_item(pairs.items(), sku, rules),
        quantity=quantity,
        pack=pack,
        at=lin,
    )
    lot = pairs.get("LT")
    if lot:
        dtm = next((d for d in s.items_of(level.segments, "DTM") if d.text(1) in EXPIRES), None)
        expires = dtm.date(2, "the lot's expiry date", rules) if dtm else None
        item.lots.append(
            level.at.body.build("lot", lambda: procurement.Lot(number=lot, quantity=quantity, expires_on=expires), lin)
        )
    return item


def _numbered(items: list[_Item]) -> list[_Item]:
    """Items without a PO line number are numbered by their item's first appearance in the order (1, 2...): a
    partner who sends none ships one line per item."""
    if all(item.line is not None for item in items):
        return items
    first_seen: dict[str, int] = {}
    for item in items:
        first_seen.setdefault(item.sku, len(first_seen) + 1)
    for item in items:
        item.line = first_seen[item.sku]
    return items


def _merged(items: list[_Item], body: s.Body) -> list[_Item]:
    """One entry per line and pack: partners send one item level per lot; their quantities add up."""
    merged: dict[tuple[int | None, str | None], _Item] = {}
    for item in items:
        key = (item.line, item.pack)
        before = merged.get(key)
        if before is None:
            merged[key] = _Item(**{**item.__dict__, "lots": list(item.lots)})
            continue
        if before.quantity.unit != item.quantity.unit:
            assert item.at is not None
            item.at.fail(f"line {item.line} is shipped in {before.quantity.unit} and in {item.quantity.unit}")
        before.quantity = documents.Quantity(value=before.quantity.value + item.quantity.value, unit=item.quantity.unit)
        before.lots.extend(item.lots)
    return list(merged.values())


def _date_of(segments: list[s.Located], qualifiers: tuple[str, ...], rules: PartnerRules) -> date | None:
    for qualifier in qualifiers:
        dtm = s.first_of(segments, "DTM", qualifier)
        if dtm is not None:
            return dtm.date(2, f"the date DTM*{qualifier}", rules, required=True)
    return None


def _carrier(segments: list[s.Located]) -> str | None:
    td5 = s.first_of(segments, "TD5")
    return (td5.text(3) or td5.text(5) or None) if td5 is not None else None


def ship_notices_from_856(tx: Transaction, rules: PartnerRules) -> tuple[procurement.AdvanceShipNotice, ...]:
    """A supplier's 856 as one AdvanceShipNotice per order level (all share BSN02, the shipment id): shipped on
    DTM*011, expected on DTM*017 (or 067, 002; else shipped + the partner's transit days), carrier TD503 or TD505,
    packs from MAN02 of P (carton) and T (pallet) levels, lines from the LIN/SN1 of item levels, lots from LIN LT."""
    tree = _tree(tx, rules)
    body = tree.body
    bsn = body.require("BSN", "beginning segment for ship notice")
    shipment = bsn.required(2, "the shipment identification")
    shipping = tree.shipment_segments()
    shipped = _date_of(shipping, (SHIPPED,), rules)
    expected = _date_of(shipping, EXPECTED, rules)
    if expected is None:
        if shipped is None or rules.transit_days is None:
            body.fail(
                "the estimated delivery date (DTM*017) is missing and the partner's rules give no transit days",
                tag="DTM",
                element=1,
            )
        expected = shipped + timedelta(days=rules.transit_days)
    if not tree.order_numbers:
        body.fail("the ship notice has no order level (HL03 O)", tag="HL", element=3)
    carrier = _carrier(shipping)
    notices = []
    for level_id, order in tree.order_numbers.items():
        items = _merged(_numbered([i for i in tree.items if i.order == order]), body)
        wanted = {i.pack for i in items if i.pack is not None}
        for level in tree.levels.values():
            if level.id in tree.packs and tree.packs[level.id].id in wanted:
                # A carton's pallet travels with it.
                wanted |= {tree.packs[up.id].id for up in _ancestors(tree, level) if up.id in tree.packs}
        packs = tuple(pack for pack in tree.packs.values() if pack.id in wanted)
        at = tree.levels[level_id].at

        def notice(
            order: str = order, items: list[_Item] = items, packs: tuple[procurement.Pack, ...] = packs
        ) -> procurement.AdvanceShipNotice:
            return procurement.AdvanceShipNotice(
                shipment=shipment,
                order=order,
                supplier=rules.supplier_number,
                shipped_on=shipped,
                expected_on=expected,
                carrier=carrier,
                packs=packs,
                lines=tuple(
                    procurement.ShipNoticeLine(
                        line=i.line or 1,
                        sku=i.sku,
                        supplier_item=i.supplier_item,
                        quantity=i.quantity,
                        pack=i.pack,
                        lots=tuple(i.lots),
                    )
                    for i in items
                ),
            )

        notices.append(body.build(f"ship notice for order {order}", notice, at))
    return tuple(notices)


def ship_notice_from_856(tx: Transaction, rules: PartnerRules) -> procurement.AdvanceShipNotice:
    """The AdvanceShipNotice of an 856 that ships one order (an X12MappingError when it ships several)."""
    notices = ship_notices_from_856(tx, rules)
    if len(notices) != 1:
        raise X12MappingError(
            f"the ship notice covers {len(notices)} orders; read it with ship_notices_from_856",
            set_id=SET,
            control_number=tx.control_number,
            tag="PRF",
        )
    return notices[0]


def shipment_from_856(tx: Transaction, rules: PartnerRules) -> documents.Shipment:
    """An 856 of one order as a Shipment: number BSN02, order PRF01, from N1*SF N104 (or the partner's location),
    shipped at DTM*011 date and time (else BSN03/BSN04), tracking numbers from REF*CN, quantities per line."""
    tree = _tree(tx, rules)
    body = tree.body
    bsn = body.require("BSN", "beginning segment for ship notice")
    number = bsn.required(2, "the shipment identification")
    if len(tree.order_numbers) != 1:
        body.fail(f"a shipment is of one order; this notice has {len(tree.order_numbers)} order levels", tag="HL")
    order = next(iter(tree.order_numbers.values()))
    shipping = tree.shipment_segments()
    ship_from = s.first_of(shipping, "N1", "SF")
    location = (ship_from.text(4) if ship_from else "") or rules.location
    if not location:
        body.fail("the ship-from location (N1*SF N104) is missing", tag="N1", element=4)
    dtm = s.first_of(shipping, "DTM", SHIPPED)
    stamp = dtm or bsn
    day = stamp.date(2 if dtm else 3, "the ship date", rules, required=True)
    clock = stamp.time(3 if dtm else 4, "the ship time")
    assert day is not None
    shipped_at = datetime.combine(day, clock or datetime.min.time(), tzinfo=rules.zone)
    tracking = tuple(ref.text(2) for ref in s.items_of(shipping, "REF") if ref.text(1) == "CN" and ref.text(2))
    totals: dict[int, _Item] = {}
    for item in _numbered(list(tree.items)):
        assert item.line is not None
        before = totals.get(item.line)
        if before is None:
            totals[item.line] = item
        else:
            before.quantity = documents.Quantity(
                value=before.quantity.value + item.quantity.value, unit=before.quantity.unit
            )
    return body.build(
        "shipment",
        lambda: documents.Shipment(
            number=number,
            order=order,
            from_location=location,
            carrier=_carrier(shipping),
            tracking_numbers=tracking,
            shipped_at=shipped_at,
            lines=tuple(
                documents.ShipmentLine(line=n, sku=i.sku, quantity=i.quantity) for n, i in sorted(totals.items())
            ),
        ),
        bsn,
    )


def _item_level(
    rules: PartnerRules, number: int, parent: int, line: int, pairs: list[tuple[str, str]], quantity: documents.Quantity
) -> list[Segment]:
    unit = s.unit_out(rules, quantity.unit, SET, "SN1", 3)
    return [
        s.segment("HL", number, parent, "I"),
        s.segment("LIN", line, *s.id_elements(pairs)),
        s.segment("SN1", line, s.number(quantity.value), unit),
    ]


def shipment_to_856(
    shipment: documents.Shipment,
    rules: PartnerRules,
    *,
    customer_reference: str | None = None,
    buyer_items: Mapping[int, str] | None = None,
    control_number: str = "0001",
) -> Transaction:
    """Our Shipment as an 856 to the customer, S/O/I: BSN*00 with the shipment number and time, TD5 carrier, REF*CN
    per tracking number, DTM*011, N1*SF our location; PRF01 the customer's PO (`customer_reference`, else our
    order number); one item level per line with LIN01 and SN101 the order line, and the buyer's part number from
    their order (`buyer_items`, by order line) as BP."""
    shipped = s.local(s.require_out(shipment.shipped_at, "the ship time", SET, "BSN", 3), rules)
    out = [
        s.segment("BSN", "00", shipment.number, rules.format_date(shipped.date()), s.hhmm(shipped), SOI),
        s.segment("HL", 1, None, "S"),
    ]
    if shipment.carrier:
        out.append(s.segment("TD5", None, "2", shipment.carrier))
    out.extend(s.segment("REF", "CN", number) for number in shipment.tracking_numbers)
    out.append(s.segment("DTM", SHIPPED, rules.format_date(shipped.date()), s.hhmm(shipped)))
    out.append(s.segment("N1", "SF", None, "92", shipment.from_location))
    out.append(s.segment("HL", 2, 1, "O"))
    out.append(s.segment("PRF", customer_reference or shipment.order))
    level = 2
    for line in shipment.lines:
        level += 1
        out.extend(_item_level(rules, level, 2, line.line, _customer_ids(rules, line, buyer_items), line.quantity))
    out.append(s.segment("CTT", level))
    return Transaction(set_id=SET, control_number=control_number, segments=tuple(out))


def _customer_ids(
    rules: PartnerRules, line: documents.ShipmentLine, buyer_items: Mapping[int, str] | None
) -> list[tuple[str, str]]:
    return rules.ids_for(line.sku, {s.BUYER_PART: (buyer_items or {}).get(line.line)})


def ship_notice_to_856(
    notice: procurement.AdvanceShipNotice, rules: PartnerRules, *, control_number: str = "0001"
) -> Transaction:
    """An AdvanceShipNotice as the 856 its supplier would send, S/O/P/I: packs as P levels (T for pallets) with
    MAN*GM and the weight in PO406/PO407; one item level per line and pack, or per lot (LIN LT, DTM*036)."""
    when = notice.shipped_on or notice.expected_on
    out = [
        s.segment("BSN", "00", notice.shipment, rules.format_date(when), "0000", SOPI),
        s.segment("HL", 1, None, "S"),
    ]
    if notice.carrier:
        out.append(s.segment("TD5", None, "2", notice.carrier))
    if notice.shipped_on is not None:
        out.append(s.segment("DTM", SHIPPED, rules.format_date(notice.shipped_on)))
    out.append(s.segment("DTM", EXPECTED[0], rules.format_date(notice.expected_on)))
    out.append(s.segment("HL", 2, 1, "O"))
    out.append(s.segment("PRF", notice.order))
    level = 2

    def items(parent: int, lines: list[procurement.ShipNoticeLine]) -> None:
        nonlocal level
        for line in lines:
            segments = _lines_of(rules, level + 1, parent, line)
            level += max(1, len(line.lots))
            out.extend(segments)

    items(2, [line for line in notice.lines if line.pack is None])
    for pack in notice.packs:
        level += 1
        pack_level = level
        out.append(s.segment("HL", pack_level, 2, LEVEL_OF_KIND.get(pack.kind, "P")))
        if pack.weight is not None:
            unit = s.unit_out(rules, pack.weight.unit, SET, "PO4", 7)
            out.append(s.segment("PO4", None, None, None, None, None, s.number(pack.weight.value), unit))
        out.append(s.segment("MAN", "GM", pack.id))
        items(pack_level, [line for line in notice.lines if line.pack == pack.id])
    out.append(s.segment("CTT", level))
    return Transaction(set_id=SET, control_number=control_number, segments=tuple(out))


def _lines_of(rules: PartnerRules, first: int, parent: int, line: procurement.ShipNoticeLine) -> list[Segment]:
    pairs = rules.ids_for(line.sku, {"VP": line.supplier_item})
    if not line.lots:
        return _item_level(rules, first, parent, line.line, pairs, line.quantity)
    out: list[Segment] = []
    for offset, lot in enumerate(line.lots):
        out.extend(_item_level(rules, first + offset, parent, line.line, [*pairs, ("LT", lot.number)], lot.quantity))
        if lot.expires_on is not None:
            out.append(s.segment("DTM", EXPIRES[0], rules.format_date(lot.expires_on)))
    return out
