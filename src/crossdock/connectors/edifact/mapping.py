"""ORDERS, DESADV and INVOIC to and from the canonical documents, for customers; ORDERS out and ORDRSP, DESADV and
INVOIC in (the procurement documents) for suppliers. Pure: no I/O, no clock, no configuration.

Two steps each way, so that other documents (the procure-to-pay ones) can reuse the first: `extract` reads any
of these messages into `EdifactRefs` (parties, references, dates, lines with every item id, quantity, price and
amount, numbers already Decimal); `to_sales_order` / `to_shipments` / `to_invoice` turn that into canonical
documents. Outbound, `orders_message` / `desadv_message` / `invoic_message` build messages, restoring GLNs and
item ids from the refs when they are given. Must not: look up cross-references (the caller does), or read
configuration (MappingOptions is passed in).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal

from pydantic import ValidationError

from crossdock.connectors.edifact import writer
from crossdock.connectors.edifact.syntax import (
    EdifactMappingError,
    Interchange,
    Issue,
    Message,
    Place,
    Segment,
    decimal_from,
    decimal_text,
    digits,
)
from crossdock.domain import documents, procurement

# UN/ECE Recommendation 20 units <-> canonical units. Units not listed pass through unchanged.
UNITS_IN: Mapping[str, str] = {"PCE": "EA", "C62": "EA", "EA": "EA", "NAR": "EA", "KGM": "KG", "LTR": "L", "MTR": "M"}
UNITS_OUT: Mapping[str, str] = {"EA": "PCE", "KG": "KGM", "L": "LTR", "M": "MTR"}


@dataclass(frozen=True)
class MappingOptions:
    """Per-partner choices the message itself does not make."""

    channel: str = "edifact"
    # The currency when the message has no CUX (EANCOM orders often rely on the trading agreement).
    currency: str | None = None
    # EDIFACT dates carry no time zone; they are read in the partner's.
    timezone: tzinfo = UTC
    # Which item id becomes the sku: the first qualifier found (LIN C212, then PIA). SA is the supplier's article
    # number, EN/SRV a GTIN, IN/BP the buyer's own code.
    item_ids: tuple[str, ...] = ("SA", "EN", "SRV", "UP", "IN", "BP", "VP", "MF")
    units_in: Mapping[str, str] = field(default_factory=lambda: dict(UNITS_IN))
    default_unit: str = "EA"


DEFAULT_OPTIONS = MappingOptions()
# Item ids read as the sku in what a supplier sends us: there we are the buyer, so our sku is the buyer's item
# (IN) or part (BP) number, and the supplier's article number (SA) is its own, kept as `supplier_item`.
BUYER_ITEM_IDS: tuple[str, ...] = ("IN", "BP", "EN", "SRV", "UP", "MF", "SA", "VP")
BUYERS_ITEM, SUPPLIERS_ARTICLE, BATCH = "IN", "SA", "NB"


@dataclass(frozen=True)
class Party:
    """NAD: qualifier (BY buyer, SU supplier, DP delivery party, IV invoicee...), id with its agency (9 = GS1
    GLN, 91 assigned by the supplier, 92 by the buyer), and the name when one is given."""

    qualifier: str
    id: str
    agency: str = ""
    name: str = ""


@dataclass(frozen=True)
class Price:
    """PRI: qualifier (AAA net, AAB gross, INV invoice), the price for `basis` units of `unit`."""

    qualifier: str
    amount: Decimal
    basis: Decimal = Decimal(1)
    unit: str = ""

    def unit_price(self) -> Decimal:
        return self.amount / self.basis


@dataclass(frozen=True)
class ItemLine:
    """One LIN with what follows it up to the next LIN, packaging level or UNS."""

    segment: int
    line: int | None
    item_ids: tuple[tuple[str, str], ...] = ()
    description: str = ""
    quantities: tuple[tuple[str, Decimal, str], ...] = ()
    prices: tuple[Price, ...] = ()
    amounts: tuple[tuple[str, Decimal], ...] = ()
    references: tuple[tuple[str, str, str], ...] = ()
    dates: tuple[tuple[str, str, str], ...] = ()
    tax_rate: Decimal | None = None
    action: str = ""  # LIN 1229: what an ORDRSP line says (5 accepted, 3 changed, 7 not accepted...)
    pack: str = ""  # the id (GIN+BJ, an SSCC) of the DESADV packaging level the line sits in
    substitutes: tuple[tuple[str, str], ...] = ()  # PIA+3 (substituted by): (qualifier, id)

    def item_id(self, qualifier: str) -> str | None:
        return next((value for q, value in self.item_ids if q == qualifier), None)

    def quantity(self, *qualifiers: str) -> tuple[Decimal, str] | None:
        for wanted in qualifiers:
            for q, value, unit in self.quantities:
                if q == wanted:
                    return value, unit
        return None

    def reference(self, qualifier: str) -> tuple[str, str] | None:
        return next(((value, line) for q, value, line in self.references if q == qualifier), None)


@dataclass(frozen=True)
class EdifactRefs:
    """Everything an ORDERS, DESADV or INVOIC says that the canonical documents have no place for, and the
    identifiers needed to answer it (CONTRL, ORDRSP) or to write it back out."""

    interchange: str
    sender: str
    recipient: str
    message: str
    message_type: str
    version: str
    association: str
    document_number: str
    document_name: str = ""
    function: str = ""
    parties: tuple[Party, ...] = ()
    references: tuple[tuple[str, str], ...] = ()
    dates: tuple[tuple[str, str, str], ...] = ()
    currency: str | None = None
    amounts: tuple[tuple[str, Decimal], ...] = ()
    tax_rates: tuple[Decimal, ...] = ()
    lines: tuple[ItemLine, ...] = ()
    packs: tuple[tuple[str, str], ...] = ()  # DESADV: (GIN+BJ id, PAC 7065 package type) in file order

    def party(self, *qualifiers: str) -> Party | None:
        for wanted in qualifiers:
            for party in self.parties:
                if party.qualifier == wanted:
                    return party
        return None

    def reference(self, qualifier: str) -> str | None:
        return next((value for q, value in self.references if q == qualifier), None)

    def date(self, qualifier: str) -> tuple[str, str] | None:
        return next(((value, fmt) for q, value, fmt in self.dates if q == qualifier), None)


# ---------------------------------------------------------------------------------------------------------------
# Reading


class _Context:
    def __init__(self, interchange: Interchange | None, message: Message, group: str | None = None) -> None:
        self.message = message
        self.place = Place(
            interchange=interchange.reference if interchange else None,
            group=group,
            message=message.reference,
            message_type=message.type,
        )
        self.decimal = interchange.delimiters.decimal if interchange else "."

    def fail(
        self,
        rule: str,
        text: str,
        segment: int | None = None,
        tag: str | None = None,
        element: int | None = None,
        component: int | None = None,
    ) -> EdifactMappingError:
        place = self.place.at(segment=segment, tag=tag, element=element, component=component)
        return EdifactMappingError(Issue(rule, "12", text, place))

    def number(self, segment: Segment, position: int, element: int, component: int) -> Decimal:
        text = segment.value(element, component)
        try:
            return decimal_from(text, self.decimal)
        except ValueError:
            raise self.fail(
                "numeric-format", f"{segment.tag} {text!r} is not a number", position, segment.tag, element, component
            ) from None


def _find_group(interchange: Interchange, message: Message) -> str | None:
    for group, candidate in interchange.all_messages():
        if candidate is message:
            return group.reference if group else None
    return None


@dataclass
class _LineDraft:
    """An ItemLine while its segments are being read."""

    segment: int
    line: int | None
    item_ids: list[tuple[str, str]] = field(default_factory=list)
    description: str = ""
    quantities: list[tuple[str, Decimal, str]] = field(default_factory=list)
    prices: list[Price] = field(default_factory=list)
    amounts: list[tuple[str, Decimal]] = field(default_factory=list)
    references: list[tuple[str, str, str]] = field(default_factory=list)
    dates: list[tuple[str, str, str]] = field(default_factory=list)
    tax_rate: Decimal | None = None
    action: str = ""
    pack: str = ""
    substitutes: list[tuple[str, str]] = field(default_factory=list)

    def done(self) -> ItemLine:
        return ItemLine(
            self.segment,
            self.line,
            tuple(self.item_ids),
            self.description,
            tuple(self.quantities),
            tuple(self.prices),
            tuple(self.amounts),
            tuple(self.references),
            tuple(self.dates),
            self.tax_rate,
            self.action,
            self.pack,
            tuple(self.substitutes),
        )


def _price(ctx: _Context, segment: Segment, position: int) -> Price:
    price = Price(
        segment.value(1, 1),
        ctx.number(segment, position, 1, 2),
        ctx.number(segment, position, 1, 5) if segment.value(1, 5) else Decimal(1),
        segment.value(1, 6),
    )
    if price.basis <= 0:
        raise ctx.fail("price-basis", "the unit price basis must be positive", position, "PRI", 1, 5)
    return price


SUBSTITUTED_BY = "3"  # PIA 4347


def _line_segment(draft: _LineDraft, ctx: _Context, segment: Segment, position: int) -> None:
    tag = segment.tag
    if tag == "PIA" and segment.value(1) == SUBSTITUTED_BY:
        draft.substitutes += [(segment.value(p, 2), segment.value(p, 1)) for p in range(2, 7) if segment.value(p, 1)]
    elif tag == "PIA":
        draft.item_ids += [(segment.value(p, 2), segment.value(p, 1)) for p in range(2, 7) if segment.value(p, 1)]
    elif tag == "IMD" and not draft.description:
        draft.description = " ".join(v for v in segment.element(3)[3:5] if v)
    elif tag == "QTY":
        draft.quantities.append((segment.value(1, 1), ctx.number(segment, position, 1, 2), segment.value(1, 3)))
    elif tag == "PRI" and segment.value(1, 2):
        draft.prices.append(_price(ctx, segment, position))
    elif tag == "MOA":
        draft.amounts.append((segment.value(1, 1), ctx.number(segment, position, 1, 2)))
    elif tag == "RFF":
        draft.references.append((segment.value(1, 1), segment.value(1, 2), segment.value(1, 3)))
    elif tag == "DTM":
        draft.dates.append((segment.value(1, 1), segment.value(1, 2), segment.value(1, 3)))
    elif tag == "TAX" and segment.value(5, 4):
        draft.tax_rate = ctx.number(segment, position, 5, 4)


def extract(message: Message, interchange: Interchange | None = None) -> EdifactRefs:
    """Read an ORDERS, DESADV or INVOIC (any version) into EdifactRefs; numbers use the interchange's decimal
    mark. Raises EdifactMappingError naming the segment for a number it cannot read."""
    ctx = _Context(interchange, message, _find_group(interchange, message) if interchange else None)
    parties: list[Party] = []
    references: list[tuple[str, str]] = []
    dates: list[tuple[str, str, str]] = []
    amounts: list[tuple[str, Decimal]] = []
    taxes: list[Decimal] = []
    lines: list[ItemLine] = []
    draft: _LineDraft | None = None
    # header, then lines; CPS opens a packaging level (DESADV) and UNS the summary, both ending the current line.
    section = "header"
    bgm = Segment("BGM")
    currency: str | None = None
    packs: list[tuple[str, str]] = []
    pack, package_type = "", ""
    for position, segment in enumerate(message.segments, start=2):
        tag = segment.tag
        if tag == "LIN":
            if draft is not None:
                lines.append(draft.done())
            number = segment.value(1)
            draft = _LineDraft(position, int(number) if digits(number) else None, action=segment.value(2), pack=pack)
            if segment.value(3, 1):
                draft.item_ids.append((segment.value(3, 2), segment.value(3, 1)))
            section = "line"
        elif tag in ("CPS", "UNS"):
            if draft is not None:
                lines.append(draft.done())
            draft = None
            section = "summary" if tag == "UNS" else "packaging"
            pack, package_type = "", ""
        elif draft is not None:
            _line_segment(draft, ctx, segment, position)
        elif section == "header":
            if tag == "BGM":
                bgm = segment
            elif tag == "NAD":
                name = " ".join(v for v in segment.element(4) if v) or " ".join(v for v in segment.element(3) if v)
                parties.append(Party(segment.value(1), segment.value(2, 1), segment.value(2, 3), name))
            elif tag == "RFF":
                references.append((segment.value(1, 1), segment.value(1, 2)))
            elif tag == "DTM":
                dates.append((segment.value(1, 1), segment.value(1, 2), segment.value(1, 3)))
            elif tag == "CUX" and currency is None:
                currency = segment.value(1, 2) or None
            elif tag == "TAX" and segment.value(5, 4):
                taxes.append(ctx.number(segment, position, 5, 4))
        elif section == "packaging":
            # PAC names the package type, GIN+BJ the level's label (SSCC); lines below belong to that pack.
            if tag == "PAC":
                package_type = segment.value(3, 1)
            elif tag == "GIN" and segment.value(1) == "BJ" and segment.value(2, 1):
                pack = segment.value(2, 1)
                packs.append((pack, package_type))
        elif section == "summary":
            if tag == "MOA":
                amounts.append((segment.value(1, 1), ctx.number(segment, position, 1, 2)))
            elif tag == "TAX" and segment.value(5, 4):
                taxes.append(ctx.number(segment, position, 5, 4))
    if draft is not None:
        lines.append(draft.done())
    return EdifactRefs(
        interchange=interchange.reference if interchange else "",
        sender=interchange.sender if interchange else "",
        recipient=interchange.recipient if interchange else "",
        message=message.reference,
        message_type=message.type,
        version=message.version,
        association=message.association,
        document_number=bgm.value(2, 1),
        document_name=bgm.value(1, 1),
        function=bgm.value(3),
        parties=tuple(parties),
        references=tuple(references),
        dates=tuple(dates),
        currency=currency,
        amounts=tuple(amounts),
        tax_rates=tuple(taxes),
        lines=tuple(lines),
        packs=tuple(packs),
    )


DATE_FORMATS = {"102": "%Y%m%d", "203": "%Y%m%d%H%M", "204": "%Y%m%d%H%M%S", "101": "%y%m%d", "201": "%y%m%d%H%M"}


def parse_date(value: str, fmt: str, tz: tzinfo) -> datetime:
    """A DTM value in format 102/203/204/101/201 as an aware datetime; raises ValueError otherwise."""
    pattern = DATE_FORMATS.get(fmt or "102")
    if pattern is None:
        raise ValueError(f"date format {fmt!r} is not supported")
    expected = {"102": 8, "203": 12, "204": 14, "101": 6, "201": 10}[fmt or "102"]
    # Some senders write a 102 date with a midnight time appended (199910060000); zeros lose nothing.
    if len(value) > expected and digits(value) and not value[expected:].strip("0"):
        value = value[:expected]
    if len(value) != expected or not digits(value):
        raise ValueError(f"{value!r} does not fit format {fmt}")
    return datetime.strptime(value, pattern).replace(tzinfo=tz)


class _Mapper:
    def __init__(self, refs: EdifactRefs, message: Message, interchange: Interchange | None, options: MappingOptions):
        self.refs, self.options = refs, options
        self.ctx = _Context(interchange, message, _find_group(interchange, message) if interchange else None)

    def date(self, *qualifiers: str) -> datetime | None:
        for qualifier in qualifiers:
            found = self.refs.date(qualifier)
            if found:
                try:
                    return parse_date(found[0], found[1], self.options.timezone)
                except ValueError as exc:
                    raise self.ctx.fail("invalid-date", f"DTM {qualifier}: {exc}", tag="DTM") from None
        return None

    def sku(self, line: ItemLine) -> str:
        for qualifier in self.options.item_ids:
            value = line.item_id(qualifier)
            if value:
                return value
        if line.item_ids:
            return line.item_ids[0][1]
        raise self.ctx.fail("item-id-missing", "the line has no item id (LIN C212 or PIA)", line.segment, "LIN")

    def quantity(self, line: ItemLine, *qualifiers: str) -> documents.Quantity:
        found = line.quantity(*qualifiers)
        if found is None:
            raise self.ctx.fail("quantity-missing", f"the line has no QTY {'/'.join(qualifiers)}", line.segment, "LIN")
        value, unit = found
        canonical = self.options.units_in.get(unit, unit) if unit else self.options.default_unit
        try:
            return documents.Quantity(value=value, unit=canonical)
        except ValidationError:
            raise self.ctx.fail("unit", f"unit {unit!r} cannot be a canonical unit", line.segment, "QTY") from None

    def unit_price(self, line: ItemLine) -> Decimal | None:
        for qualifier in ("AAA", "INV", "AAB"):
            price = next((p for p in line.prices if p.qualifier == qualifier), None)
            if price is not None:
                return price.unit_price()
        return line.prices[0].unit_price() if line.prices else None

    def currency(self) -> str:
        currency = self.refs.currency or self.options.currency
        if currency is None:
            raise self.ctx.fail("currency-missing", "no CUX and no currency in the partner's options", tag="CUX")
        return currency

    def party_key(self, *qualifiers: str) -> str:
        party = self.refs.party(*qualifiers)
        key = (party.id or party.name).strip() if party else ""
        if not key:
            raise self.ctx.fail("party-missing", f"no NAD {'/'.join(qualifiers)} with an id or a name", tag="NAD")
        return key

    def invoiced_order(self) -> str:
        """The order an invoice bills: RFF+ON in the header, else on the first line that names one."""
        order = self.refs.reference("ON") or next(
            (found[0] for line in self.refs.lines if (found := line.reference("ON")) and found[0]), None
        )
        if not order:
            raise self.ctx.fail("order-reference-missing", "no RFF+ON in the header or on a line", tag="RFF")
        return order

    def invoiced_price(self, line: ItemLine) -> Decimal:
        price = self.unit_price(line)
        if price is None:
            raise self.ctx.fail("price-missing", "an invoice line needs a PRI", line.segment, "LIN")
        return price

    def issued(self) -> datetime:
        """When an invoice was issued: DTM 137, else 3."""
        issued = self.date("137", "3")
        if issued is None:
            raise self.ctx.fail("invoice-date-missing", "no DTM+137 or DTM+3", tag="DTM")
        return issued

    def build(self, model: type[documents.Document], **values: object) -> documents.Document:
        try:
            return model(**values)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise self.ctx.fail("canonical-document", f"{model.__name__}.{where}: {first['msg']}") from None


def _reading(
    message_type: str, message: Message, interchange: Interchange | None, options: MappingOptions
) -> tuple[EdifactRefs, _Mapper]:
    """The message's references and a mapper over them, once the message is the type the caller maps."""
    refs = extract(message, interchange)
    m = _Mapper(refs, message, interchange, options)
    if message.type != message_type:
        raise m.ctx.fail("message-type", f"{message.type} is not {message_type}", 1, "UNH", 2)
    return refs, m


def _line_number(line: ItemLine, index: int) -> int:
    return line.line if line.line and line.line > 0 else index


def to_sales_order(
    message: Message, interchange: Interchange | None = None, options: MappingOptions = DEFAULT_OPTIONS
) -> tuple[documents.SalesOrder, EdifactRefs]:
    """ORDERS -> SalesOrder: number and customer reference from BGM, customer from NAD+BY, QTY+21, PRI AAA
    (else AAB), DTM+137 as the order time, CUX or the partner's currency. A line without a price gets 0 and
    keeps no PRI in its refs, so the order desk prices it from the price list."""
    refs, m = _reading("ORDERS", message, interchange, options)
    lines = [
        m.build(
            documents.SalesOrderLine,
            line=_line_number(line, index),
            sku=m.sku(line),
            quantity=m.quantity(line, "21"),
            unit_price=m.unit_price(line) or Decimal(0),
        )
        for index, line in enumerate(refs.lines, start=1)
    ]
    order = m.build(
        documents.SalesOrder,
        number=refs.document_number or refs.reference("ON") or "",
        customer=m.party_key("BY"),
        channel=options.channel,
        currency=m.currency(),
        ordered_at=m.date("137", "4"),
        customer_reference=refs.document_number or None,
        lines=tuple(lines),
    )
    assert isinstance(order, documents.SalesOrder)
    return order, refs


def to_shipments(
    message: Message, interchange: Interchange | None = None, options: MappingOptions = DEFAULT_OPTIONS
) -> tuple[list[documents.Shipment], EdifactRefs]:
    """DESADV -> one Shipment per order it ships against (a despatch often serves several): number from BGM
    (suffixed `/order` when there are several), order from RFF+ON on the line or else the header, the order line
    from RFF+ON's line number or else LIN, QTY+12, DTM+11 as the despatch time, from NAD+SF/SU/SE, carrier from
    NAD+CA, tracking from RFF+CN / RFF+BM. Lines of one order line and item are added up."""
    refs, m = _reading("DESADV", message, interchange, options)
    header_order = refs.reference("ON")
    per_order: dict[str, dict[int, tuple[str, documents.Quantity, int]]] = {}
    for index, line in enumerate(refs.lines, start=1):
        found = line.reference("ON")
        order = (found[0] if found else "") or header_order
        if not order:
            raise m.ctx.fail("order-reference-missing", "no RFF+ON on the line or in the header", line.segment, "LIN")
        order_line = int(found[1]) if found and digits(found[1]) and int(found[1]) > 0 else _line_number(line, index)
        sku, quantity = m.sku(line), m.quantity(line, "12")
        lines = per_order.setdefault(order, {})
        if order_line in lines:
            known_sku, known, first = lines[order_line]
            if known_sku != sku or known.unit != quantity.unit:
                raise m.ctx.fail(
                    "order-line-several-items",
                    f"order {order} line {order_line} ships both {known_sku} and {sku}",
                    line.segment,
                    "LIN",
                )
            quantity = documents.Quantity(value=known.value + quantity.value, unit=known.unit)
            lines[order_line] = (sku, quantity, first)
        else:
            lines[order_line] = (sku, quantity, line.segment)
    if not per_order:
        raise m.ctx.fail("no-lines", "the despatch advice has no LIN")
    origin = refs.party("SF", "SU", "SE")
    carrier = refs.party("CA")
    tracking = tuple(value for q, value in refs.references if q in ("CN", "BM") and value.strip())
    shipments = []
    for order, lines in per_order.items():
        shipment = m.build(
            documents.Shipment,
            number=refs.document_number if len(per_order) == 1 else f"{refs.document_number}/{order}",
            order=order,
            from_location=(origin.id or origin.name) if origin else "",
            carrier=(carrier.id or carrier.name) if carrier else None,
            tracking_numbers=tracking,
            shipped_at=m.date("11", "137"),
            lines=tuple(
                m.build(documents.ShipmentLine, line=number, sku=sku, quantity=quantity)
                for number, (sku, quantity, _) in sorted(lines.items())
            ),
        )
        assert isinstance(shipment, documents.Shipment)
        shipments.append(shipment)
    return shipments, refs


def to_invoice(
    message: Message, interchange: Interchange | None = None, options: MappingOptions = DEFAULT_OPTIONS
) -> tuple[documents.Invoice, EdifactRefs]:
    """INVOIC -> Invoice: number from BGM, issued on DTM+137/3, due on DTM+13/140, order from RFF+ON (header or
    first line), shipment from RFF+AAK/DQ/SI (the order number when none is given), customer from NAD+BY/IV/BT,
    QTY+47 (else 12), PRI AAA/INV/AAB divided by its price basis, TAX rate per line, else the one rate of the
    header or summary. Decimal commas are read exactly."""
    refs, m = _reading("INVOIC", message, interchange, options)
    order = m.invoiced_order()
    shipment = next((value for q in ("AAK", "DQ", "SI") if (value := refs.reference(q))), None) or next(
        (found[0] for line in refs.lines for q in ("AAK", "DQ", "SI") if (found := line.reference(q)) and found[0]),
        order,
    )
    rates = set(refs.tax_rates)
    common_rate = rates.pop() / 100 if len(rates) == 1 else Decimal(0)
    lines = [
        m.build(
            documents.InvoiceLine,
            line=_line_number(line, index),
            unit_price=m.invoiced_price(line),  # first: a line without a price is refused for that
            sku=m.sku(line),
            quantity=m.quantity(line, "47", "12"),
            tax_rate=line.tax_rate / 100 if line.tax_rate is not None else common_rate,
        )
        for index, line in enumerate(refs.lines, start=1)
    ]
    issued = m.issued()
    due = m.date("13", "140")
    invoice = m.build(
        documents.Invoice,
        number=refs.document_number,
        order=order,
        shipment=shipment,
        customer=m.party_key("BY", "IV", "BT"),
        currency=m.currency(),
        issued_on=issued.date(),
        due_on=due.date() if due else None,
        lines=tuple(lines),
    )
    assert isinstance(invoice, documents.Invoice)
    return invoice, refs


# ---------------------------------------------------------------------------------------------------------------
# Writing


def _num(value: Decimal, decimal_mark: str) -> str:
    return decimal_text(value, decimal_mark)


def _unit_out(unit: str) -> str:
    return UNITS_OUT.get(unit, unit)


def _nad(party: Party) -> Segment:
    return Segment.of("NAD", party.qualifier, (party.id, "", party.agency), None, party.name or None)


def _parties(refs: EdifactRefs | None, defaults: Sequence[Party]) -> list[Segment]:
    given = list(refs.parties) if refs else []
    qualifiers = {p.qualifier for p in given}
    return [_nad(p) for p in (*given, *(d for d in defaults if d.qualifier not in qualifiers))]


def _line_ids(sku: str, refs_line: ItemLine | None) -> tuple[Segment, list[Segment]]:
    """LIN's C212 (a GTIN when the refs hold one) and PIA segments with the other ids; the sku always appears
    as the supplier's article number unless the refs say which id it came from."""
    ids = list(refs_line.item_ids) if refs_line else []
    if not any(value == sku for _, value in ids):
        ids.insert(0, ("SA", sku))
    gtin = next(((q, v) for q, v in ids if q in ("EN", "SRV", "UP")), None)
    rest = [pair for pair in ids if pair != gtin]
    pia = [Segment.of("PIA", "5", (value, qualifier)) for qualifier, value in rest]
    return Segment.of("LIN", None, None, (gtin[1], gtin[0]) if gtin else None), pia


def _refs_line(refs: EdifactRefs | None, number: int, index: int) -> ItemLine | None:
    if refs is None:
        return None
    by_number = [line for line in refs.lines if line.line == number]
    if by_number:
        return by_number[0]
    return refs.lines[index - 1] if index <= len(refs.lines) else None


def _dtm(qualifier: str, when: datetime | date) -> Segment:
    if isinstance(when, datetime):
        return Segment.of("DTM", (qualifier, when.strftime("%Y%m%d%H%M"), "203"))
    return Segment.of("DTM", (qualifier, when.strftime("%Y%m%d"), "102"))


def _in_zone(when: datetime, options: MappingOptions) -> datetime:
    return when.astimezone(options.timezone)


def orders_message(
    order: documents.SalesOrder,
    reference: str,
    refs: EdifactRefs | None = None,
    *,
    decimal_mark: str = ".",
    options: MappingOptions = DEFAULT_OPTIONS,
    release: str = "96A",
    association: str = "EAN008",
) -> Message:
    """SalesOrder -> ORDERS (for a purchase order sent out, or an order passed on)."""
    body = [Segment.of("BGM", "220", order.customer_reference or order.number, "9")]
    if order.ordered_at:
        body.append(_dtm("137", _in_zone(order.ordered_at, options)))
    body += _parties(refs, [Party("BY", order.customer, "9")])
    body.append(Segment.of("CUX", ("2", order.currency, "9")))
    for index, line in enumerate(order.lines, start=1):
        lin, pia = _line_ids(line.sku, _refs_line(refs, line.line, index))
        body.append(Segment(lin.tag, (((str(line.line),)), *lin.elements[1:])))
        body += pia
        body.append(Segment.of("QTY", ("21", _num(line.quantity.value, decimal_mark), _unit_out(line.quantity.unit))))
        if line.unit_price:
            body.append(Segment.of("PRI", ("AAA", _num(line.unit_price, decimal_mark))))
    body += [Segment.of("UNS", "S"), Segment.of("CNT", ("2", str(len(order.lines))))]
    return writer.message(reference, "ORDERS", body, release=release, association=association)


def desadv_message(
    shipment: documents.Shipment,
    reference: str,
    refs: EdifactRefs | None = None,
    *,
    decimal_mark: str = ".",
    options: MappingOptions = DEFAULT_OPTIONS,
    release: str = "96A",
    association: str = "EAN005",
) -> Message:
    """Shipment -> DESADV: one CPS level, LIN per shipment line with QTY+12 and RFF+ON order:line."""
    body = [Segment.of("BGM", "351", shipment.number, "9")]
    if shipment.shipped_at:
        body.append(_dtm("11", _in_zone(shipment.shipped_at, options)))
    body.append(Segment.of("RFF", ("ON", shipment.order)))
    body += [Segment.of("RFF", ("CN", number)) for number in shipment.tracking_numbers]
    defaults = [Party("SF", shipment.from_location, "92")]
    if shipment.carrier:
        defaults.append(Party("CA", shipment.carrier, "92"))
    body += _parties(refs, defaults)
    body.append(Segment.of("CPS", "1"))
    for index, line in enumerate(shipment.lines, start=1):
        lin, pia = _line_ids(line.sku, _refs_line(refs, line.line, index))
        body.append(Segment(lin.tag, (((str(line.line),)), *lin.elements[1:])))
        body += pia
        body.append(Segment.of("QTY", ("12", _num(line.quantity.value, decimal_mark), _unit_out(line.quantity.unit))))
        body.append(Segment.of("RFF", ("ON", shipment.order, str(line.line))))
    body += [Segment.of("CNT", ("2", str(len(shipment.lines))))]
    return writer.message(reference, "DESADV", body, release=release, association=association)


def invoic_message(
    invoice: documents.Invoice,
    reference: str,
    refs: EdifactRefs | None = None,
    *,
    decimal_mark: str = ".",
    release: str = "96A",
    association: str = "EAN008",
) -> Message:
    """Invoice -> INVOIC: BGM 380, DTM 137/13, RFF ON and AAK, NAD BY, CUX, LIN with QTY+47, PRI+AAA, MOA+203
    and TAX, and the summary MOA 79 (net), 124 (tax), 77 (total) from the document's own arithmetic."""
    n = decimal_mark
    body = [Segment.of("BGM", "380", invoice.number, "9"), _dtm("137", invoice.issued_on)]
    if invoice.due_on:
        body.append(_dtm("13", invoice.due_on))
    body += [Segment.of("RFF", ("ON", invoice.order)), Segment.of("RFF", ("AAK", invoice.shipment))]
    body += _parties(refs, [Party("BY", invoice.customer, "9")])
    body.append(Segment.of("CUX", ("2", invoice.currency, "4")))
    for index, line in enumerate(invoice.lines, start=1):
        lin, pia = _line_ids(line.sku, _refs_line(refs, line.line, index))
        body.append(Segment(lin.tag, (((str(line.line),)), *lin.elements[1:])))
        body += pia
        body.append(Segment.of("QTY", ("47", _num(line.quantity.value, n), _unit_out(line.quantity.unit))))
        body.append(Segment.of("MOA", ("203", _num(line.net(invoice.currency).amount, n))))
        body.append(Segment.of("PRI", ("AAA", _num(line.unit_price, n))))
        body.append(Segment.of("TAX", "7", "VAT", None, None, ("", "", "", _num(line.tax_rate * 100, n))))
    body += [
        Segment.of("UNS", "S"),
        Segment.of("CNT", ("2", str(len(invoice.lines)))),
        Segment.of("MOA", ("79", _num(invoice.net().amount, n))),
        Segment.of("MOA", ("124", _num(invoice.tax().amount, n))),
        Segment.of("MOA", ("77", _num(invoice.total().amount, n))),
    ]
    return writer.message(reference, "INVOIC", body, release=release, association=association)


# ---------------------------------------------------------------------------------------------------------------
# Procure-to-pay: our purchase orders out as ORDERS, and what a supplier answers (ORDRSP, DESADV, INVOIC) back as
# the procurement documents. The supplier's writers (`*_message` below ORDERS) stand in for a supplier in tests.

# BGM 1225 of an ORDRSP, and LIN 1229 of its lines (UN/EDIFACT D.96A code lists).
RESPONSE_ACCEPTED, RESPONSE_CHANGED, RESPONSE_REJECTED = "29", "4", "27"
RESPONSE_STATUS = {
    "29": procurement.AcknowledgementStatus.ACCEPTED,
    "6": procurement.AcknowledgementStatus.ACCEPTED,
    "4": procurement.AcknowledgementStatus.ACCEPTED_WITH_CHANGES,
    "28": procurement.AcknowledgementStatus.ACCEPTED_WITH_CHANGES,
    "30": procurement.AcknowledgementStatus.ACCEPTED_WITH_CHANGES,
    "27": procurement.AcknowledgementStatus.REJECTED,
}
LINE_ACCEPTED, LINE_CHANGED, LINE_REJECTED = "5", "3", "7"
LINE_STATUS = {
    "": procurement.LineAcknowledgementStatus.ACCEPTED,
    "4": procurement.LineAcknowledgementStatus.ACCEPTED,  # no action
    "5": procurement.LineAcknowledgementStatus.ACCEPTED,
    "3": procurement.LineAcknowledgementStatus.CHANGED,
    "6": procurement.LineAcknowledgementStatus.CHANGED,  # accepted with amendment
    "2": procurement.LineAcknowledgementStatus.REJECTED,  # deleted
    "7": procurement.LineAcknowledgementStatus.REJECTED,
}
# DTM qualifiers of when goods should arrive, in order of preference: estimated delivery, estimated arrival,
# requested delivery; 69 is the date a supplier promises in an ORDRSP.
EXPECTED_DATES = ("17", "132", "2")
PROMISED_DATES = ("69", "2", "67")
PALLETS = frozenset({"PX", "201", "09"})  # PAC 7065 package types read as pallets; anything else is a carton


def _day(m: _Mapper, value: str, fmt: str, qualifier: str, segment: int) -> date:
    try:
        return parse_date(value, fmt, m.options.timezone).date()
    except ValueError as exc:
        raise m.ctx.fail("invalid-date", f"DTM {qualifier}: {exc}", segment, "DTM") from None


def _line_date(m: _Mapper, line: ItemLine, *qualifiers: str) -> date | None:
    for qualifier in qualifiers:
        for q, value, fmt in line.dates:
            if q == qualifier and value:
                return _day(m, value, fmt, qualifier, line.segment)
    return None


def _header_day(m: _Mapper, *qualifiers: str) -> date | None:
    found = m.date(*qualifiers)
    return found.date() if found else None


def _supplier_item(line: ItemLine, options: MappingOptions) -> str | None:
    """The supplier's article number (SA) on a line, unless the sku was read from it."""
    article = line.item_id(SUPPLIERS_ARTICLE)
    source = next((q for q in options.item_ids if line.item_id(q)), line.item_ids[0][0] if line.item_ids else None)
    return article if article and source != SUPPLIERS_ARTICLE else None


def _order_line(line: ItemLine, index: int) -> int:
    """The PO line a supplier's line answers: RFF+ON's line number, else LIN 1082, else its position."""
    found = line.reference("ON")
    if found and digits(found[1]) and int(found[1]) > 0:
        return int(found[1])
    return _line_number(line, index)


def _buyer_ids(sku: str, supplier_item: str | None) -> Segment:
    """PIA+5 with our sku as the buyer's item number and, when known, the supplier's article number: the ids a
    document already carries are written as they are, never one derived from our sku in the supplier's name."""
    ids = [(sku, BUYERS_ITEM)] + ([(supplier_item, SUPPLIERS_ARTICLE)] if supplier_item else [])
    return Segment.of("PIA", "5", *ids)


def _party_id(refs: EdifactRefs, *qualifiers: str) -> str | None:
    party = refs.party(*qualifiers)
    return ((party.id or party.name).strip() or None) if party else None


def purchase_order_message(
    order: procurement.PurchaseOrder,
    reference: str,
    *,
    revision: int = 1,
    buyer: str | None = None,
    decimal_mark: str = ".",
    version: str = "D",
    release: str = "96A",
    association: str = "EAN008",
) -> Message:
    """PurchaseOrder -> ORDERS to the supplier: BGM 220 (1225 9 original, 5 replace for a later revision), DTM 137
    order date and DTM 2 delivery date (102), NAD BY (`buyer`, our id, when given), SU (our number for the
    supplier) and DP (the ship-to location), CUX, per line LIN, PIA+5 with our sku as IN and the supplier's article
    number (SA) when the line has one, QTY+21, PRI+AAA, DTM+2; UNS, CNT."""
    n = decimal_mark
    body = [Segment.of("BGM", "220", order.number, "9" if revision <= 1 else "5")]
    if order.ordered_on:
        body.append(_dtm("137", order.ordered_on))
    if order.requested_on:
        body.append(_dtm("2", order.requested_on))
    parties = [Party("BY", buyer, "9")] if buyer else []
    parties += [Party("SU", order.supplier, "92"), Party("DP", order.ship_to, "92")]
    body += [_nad(p) for p in parties]
    body.append(Segment.of("CUX", ("2", order.currency, "9")))
    for line in order.lines:
        body += [Segment.of("LIN", str(line.line)), _buyer_ids(line.sku, line.supplier_item)]
        body.append(Segment.of("QTY", ("21", _num(line.quantity.value, n), _unit_out(line.quantity.unit))))
        body.append(Segment.of("PRI", ("AAA", _num(line.unit_price, n))))
        if line.requested_on:
            body.append(_dtm("2", line.requested_on))
    body += [Segment.of("UNS", "S"), Segment.of("CNT", ("2", str(len(order.lines))))]
    return writer.message(reference, "ORDERS", body, version=version, release=release, association=association)


def to_purchase_order(
    message: Message, interchange: Interchange | None = None, options: MappingOptions = DEFAULT_OPTIONS
) -> tuple[procurement.PurchaseOrder, EdifactRefs]:
    """ORDERS -> PurchaseOrder (one we sent, read back; pass options whose item_ids start with ours, e.g.
    BUYER_ITEM_IDS): number BGM, supplier NAD+SU, ship-to NAD+DP (else ST), DTM 137 and 2, QTY+21, PRI, the
    supplier's article number (SA) as `supplier_item`, line DTM+2."""
    refs, m = _reading("ORDERS", message, interchange, options)
    lines = []
    for index, line in enumerate(refs.lines, start=1):
        sku, price = m.sku(line), m.unit_price(line)
        if price is None:
            raise m.ctx.fail("price-missing", "a purchase order line needs a PRI", line.segment, "LIN")
        lines.append(
            m.build(
                procurement.PurchaseOrderLine,
                line=_line_number(line, index),
                sku=sku,
                supplier_item=_supplier_item(line, options),
                quantity=m.quantity(line, "21"),
                unit_price=price,
                requested_on=_line_date(m, line, "2"),
            )
        )
    order = m.build(
        procurement.PurchaseOrder,
        number=refs.document_number,
        supplier=m.party_key("SU"),
        currency=m.currency(),
        ship_to=m.party_key("DP", "ST"),
        ordered_on=_header_day(m, "137", "4"),
        requested_on=_header_day(m, "2"),
        lines=tuple(lines),
    )
    assert isinstance(order, procurement.PurchaseOrder)
    return order, refs


def acknowledgement_message(
    ack: procurement.POAcknowledgement,
    reference: str,
    order: procurement.PurchaseOrder | None = None,
    *,
    decimal_mark: str = ".",
    version: str = "D",
    release: str = "96A",
    association: str = "EAN005",
) -> Message:
    """POAcknowledgement -> ORDRSP, as the supplier sends it: BGM 231 with 1225 29 / 4 / 27, DTM 137, RFF+ON,
    NAD+SU, per listed line LIN with 1229 5 / 3 / 7, the PO line's ids (when `order` is given), and for a changed
    line QTY+21, PRI+AAA, DTM+69 and PIA+3 (the substitute) as it changes them; UNS, CNT."""
    n = decimal_mark
    code = {v: k for k, v in RESPONSE_STATUS.items() if k in (RESPONSE_ACCEPTED, RESPONSE_CHANGED, RESPONSE_REJECTED)}
    body = [Segment.of("BGM", "231", ack.number, code[ack.status])]
    if ack.acknowledged_on:
        body.append(_dtm("137", ack.acknowledged_on))
    body += [Segment.of("RFF", ("ON", ack.order)), _nad(Party("SU", ack.supplier, "92"))]
    actions = {
        procurement.LineAcknowledgementStatus.ACCEPTED: LINE_ACCEPTED,
        procurement.LineAcknowledgementStatus.CHANGED: LINE_CHANGED,
        procurement.LineAcknowledgementStatus.REJECTED: LINE_REJECTED,
    }
    for line in ack.lines:
        body.append(Segment.of("LIN", str(line.line), actions[line.status]))
        ordered = next((ln for ln in order.lines if ln.line == line.line), None) if order else None
        if ordered is not None:
            body.append(_buyer_ids(ordered.sku, ordered.supplier_item))
        if line.substitute_sku:
            body.append(Segment.of("PIA", SUBSTITUTED_BY, (line.substitute_sku, BUYERS_ITEM)))
        if line.quantity is not None:
            body.append(Segment.of("QTY", ("21", _num(line.quantity.value, n), _unit_out(line.quantity.unit))))
        if line.unit_price is not None:
            body.append(Segment.of("PRI", ("AAA", _num(line.unit_price, n))))
        if line.delivery_on is not None:
            body.append(_dtm("69", line.delivery_on))
    body += [Segment.of("UNS", "S"), Segment.of("CNT", ("2", str(len(ack.lines))))]
    return writer.message(reference, "ORDRSP", body, version=version, release=release, association=association)


def to_acknowledgement(
    message: Message,
    interchange: Interchange | None = None,
    options: MappingOptions = DEFAULT_OPTIONS,
    *,
    supplier: str,
) -> tuple[procurement.POAcknowledgement, EdifactRefs]:
    """ORDRSP -> POAcknowledgement: number BGM 1004, order RFF+ON (header, else the first line's), acknowledged on
    DTM 137. Line status from LIN 1229 (5/4/none accepted, 3/6 changed, 7/2 rejected); a changed line takes
    QTY 113 (else 21), PRI, DTM 69/2/67 and a PIA+3 substitute, and must carry one of them. The header status
    follows the lines when there are any; a rejecting BGM (27) over lines it does not reject is refused."""
    refs, m = _reading("ORDRSP", message, interchange, options)
    order = refs.reference("ON") or next(
        (found[0] for line in refs.lines if (found := line.reference("ON")) and found[0]), None
    )
    if not order:
        raise m.ctx.fail("order-reference-missing", "no RFF+ON in the header or on a line", tag="RFF")
    header = RESPONSE_STATUS.get(refs.function)
    if header is None:
        known = ", ".join(sorted(RESPONSE_STATUS))
        raise m.ctx.fail("response-type", f"BGM 1225 {refs.function!r} is not one of {known}", tag="BGM", element=3)
    lines: list[procurement.AcknowledgementLine] = []
    for index, line in enumerate(refs.lines, start=1):
        status = LINE_STATUS.get(line.action)
        if status is None:
            known = ", ".join(sorted(k for k in LINE_STATUS if k))
            raise m.ctx.fail("line-action", f"LIN 1229 {line.action!r} is not one of {known}", line.segment, "LIN", 2)
        changes: dict[str, object] = {}
        if status is procurement.LineAcknowledgementStatus.CHANGED:
            if line.quantity("113", "21") is not None:
                changes["quantity"] = m.quantity(line, "113", "21")
            if (price := m.unit_price(line)) is not None:
                changes["unit_price"] = price
            if (promised := _line_date(m, line, *PROMISED_DATES)) is not None:
                changes["delivery_on"] = promised
            substitute = next((v for q in options.item_ids for sq, v in line.substitutes if sq == q), None)
            if substitute or line.substitutes:
                changes["substitute_sku"] = substitute or line.substitutes[0][1]
        answered = m.build(procurement.AcknowledgementLine, line=_order_line(line, index), status=status, **changes)
        assert isinstance(answered, procurement.AcknowledgementLine)
        lines.append(answered)
    kinds = {line.status for line in lines}
    rejecting = header is procurement.AcknowledgementStatus.REJECTED
    if rejecting and kinds - {procurement.LineAcknowledgementStatus.REJECTED}:
        raise m.ctx.fail("response-contradicts-lines", "BGM 27 (not accepted) over lines it accepts or changes", 1)
    if lines:
        if kinds == {procurement.LineAcknowledgementStatus.ACCEPTED}:
            header = procurement.AcknowledgementStatus.ACCEPTED
        elif kinds == {procurement.LineAcknowledgementStatus.REJECTED}:
            header = procurement.AcknowledgementStatus.REJECTED
        else:
            header = procurement.AcknowledgementStatus.ACCEPTED_WITH_CHANGES
    ack = m.build(
        procurement.POAcknowledgement,
        number=refs.document_number or order,
        order=order,
        supplier=supplier,
        status=header,
        acknowledged_on=_header_day(m, "137"),
        lines=tuple(lines),
    )
    assert isinstance(ack, procurement.POAcknowledgement)
    return ack, refs


def ship_notice_message(
    notice: procurement.AdvanceShipNotice,
    reference: str,
    *,
    decimal_mark: str = ".",
    version: str = "D",
    release: str = "96A",
    association: str = "EAN005",
) -> Message:
    """AdvanceShipNotice -> DESADV, as the supplier sends it: BGM 351, DTM 11 (shipped) and 17 (expected), RFF+ON,
    NAD+SU and CA, CPS 1 with the loose lines, then per pack CPS, PAC (CT carton, PX pallet) and GIN+BJ (its
    label) with its lines; a line is LIN, PIA+5 (our sku, the supplier's article), QTY+12 and RFF+ON order:line,
    one LIN per lot with PIA+1 (NB) and DTM+36. Pack weights are not written."""
    n = decimal_mark
    body = [Segment.of("BGM", "351", notice.shipment, "9")]
    if notice.shipped_on:
        body.append(_dtm("11", notice.shipped_on))
    body += [_dtm(EXPECTED_DATES[0], notice.expected_on), Segment.of("RFF", ("ON", notice.order))]
    body.append(_nad(Party("SU", notice.supplier, "92")))
    if notice.carrier:
        body.append(_nad(Party("CA", notice.carrier, "92")))
    count = 0

    def lines(of: list[procurement.ShipNoticeLine]) -> None:
        nonlocal count
        for line in of:
            for lot in line.lots or (None,):
                count += 1
                quantity = lot.quantity if lot else line.quantity
                body.append(Segment.of("LIN", str(count)))
                body.append(_buyer_ids(line.sku, line.supplier_item))
                if lot is not None:
                    body.append(Segment.of("PIA", "1", (lot.number, BATCH)))
                body.append(Segment.of("QTY", ("12", _num(quantity.value, n), _unit_out(quantity.unit))))
                if lot is not None and lot.expires_on:
                    body.append(_dtm("36", lot.expires_on))
                body.append(Segment.of("RFF", ("ON", notice.order, str(line.line))))

    body.append(Segment.of("CPS", "1"))
    lines([line for line in notice.lines if line.pack is None])
    for level, pack in enumerate(notice.packs, start=2):
        body.append(Segment.of("CPS", str(level), "1"))
        body.append(Segment.of("PAC", "1", None, "PX" if pack.kind == "pallet" else "CT"))
        body.append(Segment.of("GIN", "BJ", pack.id))
        lines([line for line in notice.lines if line.pack == pack.id])
    body.append(Segment.of("CNT", ("2", str(count))))
    return writer.message(reference, "DESADV", body, version=version, release=release, association=association)


@dataclass
class _NoticeLine:
    """A ship notice line while the DESADV's LINs of one PO line and pack are added up."""

    sku: str
    supplier_item: str | None
    quantity: documents.Quantity
    lots: list[procurement.Lot]


def to_ship_notices(
    message: Message,
    interchange: Interchange | None = None,
    options: MappingOptions = DEFAULT_OPTIONS,
    *,
    supplier: str,
    transit_days: int | None = None,
) -> tuple[list[procurement.AdvanceShipNotice], EdifactRefs]:
    """A supplier's DESADV -> one AdvanceShipNotice per order it ships against, all with BGM 1004 as the shipment:
    order and PO line from RFF+ON (line, else header), shipped on DTM 11, expected on DTM 17/132/2 (else shipped
    + `transit_days`), carrier NAD+CA, packs from the GIN+BJ labels the lines sit under (PAC PX: pallet), QTY+12,
    lots from PIA NB with DTM+36 as expiry. Lines of one PO line, pack and item are one line, their lots added."""
    refs, m = _reading("DESADV", message, interchange, options)
    shipped = _header_day(m, "11")
    expected = _header_day(m, *EXPECTED_DATES)
    if expected is None and shipped is not None and transit_days is not None:
        expected = shipped + timedelta(days=transit_days)
    if expected is None:
        raise m.ctx.fail(
            "expected-date-missing",
            "no DTM 17, 132 or 2 (when the goods arrive), and no transit days to count from DTM 11",
            tag="DTM",
        )
    header_order = refs.reference("ON")
    drafts: dict[str, dict[tuple[int, str], _NoticeLine]] = {}
    for index, line in enumerate(refs.lines, start=1):
        found = line.reference("ON")
        order = (found[0] if found else "") or header_order
        if not order:
            raise m.ctx.fail("order-reference-missing", "no RFF+ON on the line or in the header", line.segment, "LIN")
        sku, quantity = m.sku(line), m.quantity(line, "12")
        key = (_order_line(line, index), line.pack)
        draft = drafts.setdefault(order, {}).get(key)
        lots: list[procurement.Lot] = []
        if batch := line.item_id(BATCH):
            lot = m.build(procurement.Lot, number=batch, quantity=quantity, expires_on=_line_date(m, line, "36"))
            assert isinstance(lot, procurement.Lot)
            lots.append(lot)
        if draft is None:
            drafts[order][key] = _NoticeLine(sku, _supplier_item(line, options), quantity, lots)
            continue
        if draft.sku != sku or draft.quantity.unit != quantity.unit:
            raise m.ctx.fail(
                "order-line-several-items",
                f"order {order} line {key[0]} ships both {draft.sku} and {sku} in one pack",
                line.segment,
                "LIN",
            )
        draft.quantity = documents.Quantity(value=draft.quantity.value + quantity.value, unit=draft.quantity.unit)
        draft.lots += lots
    if not drafts:
        raise m.ctx.fail("no-lines", "the despatch advice has no LIN")
    kinds = dict(refs.packs)
    notices = []
    for order, found_lines in drafts.items():
        used = list(dict.fromkeys(pack for _, pack in found_lines if pack))
        notice = m.build(
            procurement.AdvanceShipNotice,
            shipment=refs.document_number,
            order=order,
            supplier=supplier,
            shipped_on=shipped,
            expected_on=expected,
            carrier=_party_id(refs, "CA"),
            packs=tuple(
                m.build(procurement.Pack, id=pack, kind="pallet" if kinds.get(pack) in PALLETS else "carton")
                for pack in used
            ),
            lines=tuple(
                m.build(
                    procurement.ShipNoticeLine,
                    line=number,
                    sku=draft.sku,
                    supplier_item=draft.supplier_item,
                    quantity=draft.quantity,
                    pack=pack or None,
                    lots=tuple(draft.lots),
                )
                for (number, pack), draft in found_lines.items()
            ),
        )
        assert isinstance(notice, procurement.AdvanceShipNotice)
        notices.append(notice)
    return notices, refs


def supplier_invoice_message(
    invoice: procurement.SupplierInvoice,
    reference: str,
    *,
    decimal_mark: str = ".",
    version: str = "D",
    release: str = "96A",
    association: str = "EAN008",
) -> Message:
    """SupplierInvoice -> INVOIC, as the supplier sends it: BGM 380, DTM 137/13, RFF+ON, NAD+SU, CUX, per line LIN,
    PIA+5 (our sku), QTY+47, MOA+203, PRI+AAA, RFF+ON order:line; UNS, CNT, MOA 79 (net), 124 (the stated tax),
    77 (the stated total)."""
    n = decimal_mark
    body = [Segment.of("BGM", "380", invoice.number, "9"), _dtm("137", invoice.issued_on)]
    if invoice.due_on:
        body.append(_dtm("13", invoice.due_on))
    body += [Segment.of("RFF", ("ON", invoice.order)), _nad(Party("SU", invoice.supplier, "92"))]
    body.append(Segment.of("CUX", ("2", invoice.currency, "4")))
    for index, line in enumerate(invoice.lines, start=1):
        body += [Segment.of("LIN", str(index)), _buyer_ids(line.sku, None)]
        body.append(Segment.of("QTY", ("47", _num(line.quantity.value, n), _unit_out(line.quantity.unit))))
        body.append(Segment.of("MOA", ("203", _num(line.net(invoice.currency).amount, n))))
        body.append(Segment.of("PRI", ("AAA", _num(line.unit_price, n))))
        body.append(Segment.of("RFF", ("ON", invoice.order, str(line.line))))
    body += [
        Segment.of("UNS", "S"),
        Segment.of("CNT", ("2", str(len(invoice.lines)))),
        Segment.of("MOA", ("79", _num(invoice.net().amount, n))),
        Segment.of("MOA", ("124", _num(invoice.tax, n))),
        Segment.of("MOA", ("77", _num(invoice.total, n))),
    ]
    return writer.message(reference, "INVOIC", body, version=version, release=release, association=association)


def to_supplier_invoice(
    message: Message,
    interchange: Interchange | None = None,
    options: MappingOptions = DEFAULT_OPTIONS,
    *,
    supplier: str,
) -> tuple[procurement.SupplierInvoice, EdifactRefs]:
    """A supplier's INVOIC -> SupplierInvoice: number BGM, order RFF+ON (header or first line), issued DTM 137/3,
    due DTM 13/140, per line the PO line (RFF+ON line number, else LIN 1082), QTY+47 (else 12), PRI; the tax and
    total as stated: summary MOA 124 (else 176, else 0) and MOA 77 (else 86, 39), which is required."""
    refs, m = _reading("INVOIC", message, interchange, options)
    order = m.invoiced_order()
    amounts = dict(refs.amounts)
    total = next((amounts[q] for q in ("77", "86", "39") if q in amounts), None)
    if total is None:
        raise m.ctx.fail("total-missing", "no MOA 77, 86 or 39 (the invoice total) in the summary", tag="MOA")
    tax = next((amounts[q] for q in ("124", "176") if q in amounts), Decimal(0))
    lines = [
        m.build(
            procurement.SupplierInvoiceLine,
            line=_order_line(line, index),
            unit_price=m.invoiced_price(line),  # first: a line without a price is refused for that
            sku=m.sku(line),
            quantity=m.quantity(line, "47", "12"),
        )
        for index, line in enumerate(refs.lines, start=1)
    ]
    issued = m.issued().date()
    invoice = m.build(
        procurement.SupplierInvoice,
        number=refs.document_number,
        supplier=supplier,
        order=order,
        currency=m.currency(),
        issued_on=issued,
        due_on=_header_day(m, "13", "140"),
        lines=tuple(lines),
        tax=tax,
        total=total,
    )
    assert isinstance(invoice, procurement.SupplierInvoice)
    return invoice, refs


SupplierDocument = procurement.POAcknowledgement | procurement.AdvanceShipNotice | procurement.SupplierInvoice
FROM_SUPPLIERS = frozenset({"ORDRSP", "DESADV", "INVOIC"})


def from_supplier(
    message: Message,
    interchange: Interchange | None = None,
    options: MappingOptions = DEFAULT_OPTIONS,
    *,
    supplier: str,
    transit_days: int | None = None,
) -> list[SupplierDocument]:
    """The procurement documents of one message a supplier sent (ORDRSP, DESADV or INVOIC), chosen by its type."""
    if message.type == "ORDRSP":
        return [to_acknowledgement(message, interchange, options, supplier=supplier)[0]]
    if message.type == "DESADV":
        return list(to_ship_notices(message, interchange, options, supplier=supplier, transit_days=transit_days)[0])
    if message.type == "INVOIC":
        return [to_supplier_invoice(message, interchange, options, supplier=supplier)[0]]
    raise _Context(interchange, message).fail(
        "message-type", f"a {message.type} from a supplier is not mapped (sent: ORDRSP, DESADV, INVOIC)", 1, "UNH", 2
    )
