"""Shared reading and writing helpers of the set mappings: segments with their positions, values that raise an
X12MappingError naming the set, segment position and element when a required one is missing or malformed, and
segment builders. Internal to the mappings; no I/O."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import NoReturn, TypeVar

from pydantic import ValidationError

from crossdock.connectors.x12.mapping.rules import PartnerRules, X12MappingError
from crossdock.connectors.x12.model import Element, Segment, Transaction
from crossdock.domain import documents

Value = str | int | Decimal | None
T = TypeVar("T")
# Hierarchical and loop boundaries are found by tag; these end every detail loop.
SUMMARY_TAGS = frozenset({"CTT", "TDS", "SE"})


class Body:
    """The segments of one transaction set, each with its position (ST is 1), for the mapping of one set."""

    def __init__(self, tx: Transaction, expected: str) -> None:
        self.tx = tx
        self.set_id = expected
        if tx.set_id != expected:
            self.fail(f"this is a {tx.set_id}, not a {expected}")
        self.items = [Located(self, position, segment) for position, segment in enumerate(tx.segments, start=2)]

    def fail(
        self, message: str, position: int | None = None, tag: str | None = None, element: int | None = None
    ) -> NoReturn:
        raise X12MappingError(
            message,
            set_id=self.set_id,
            control_number=self.tx.control_number,
            position=position,
            tag=tag,
            element=element,
        )

    def first(self, tag: str, qualifier: str | None = None) -> Located | None:
        for item in self.items:
            if item.tag == tag and (qualifier is None or item.text(1) == qualifier):
                return item
        return None

    def all(self, tag: str) -> list[Located]:
        return [item for item in self.items if item.tag == tag]

    def require(self, tag: str, what: str) -> Located:
        found = self.first(tag)
        if found is None:
            self.fail(f"the {tag} segment ({what}) is missing", tag=tag)
        return found

    def loops(self, tag: str, items: Sequence[Located] | None = None) -> list[list[Located]]:
        """The loops that start at each `tag` and run to the next one or to the summary (CTT, TDS)."""
        loops: list[list[Located]] = []
        for item in self.items if items is None else items:
            if item.tag == tag:
                loops.append([item])
            elif item.tag in SUMMARY_TAGS and loops:
                break
            elif loops:
                loops[-1].append(item)
        return loops

    def before(self, tag: str) -> list[Located]:
        """The heading: segments before the first `tag`."""
        out = []
        for item in self.items:
            if item.tag == tag:
                break
            out.append(item)
        return out

    def after(self, tag: str) -> list[Located]:
        """The summary: segments after the first `tag` (TDS, CTT...), that segment included."""
        for index, item in enumerate(self.items):
            if item.tag == tag:
                return self.items[index:]
        return []

    def build(self, what: str, make: Callable[[], T], at: Located | None = None) -> T:
        """A canonical document, or an X12MappingError saying which rule of the document the data broke."""
        try:
            return make()
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" if e["loc"] else e["msg"] for e in error.errors()
            )
            self.fail(f"the {what} is not valid: {problems}", *((at.position, at.tag) if at else ()))


@dataclass(frozen=True)
class Located:
    body: Body
    position: int
    segment: Segment

    @property
    def tag(self) -> str:
        return self.segment.tag

    def element(self, n: int) -> Element:
        return self.segment.element(n)

    def text(self, n: int) -> str:
        return self.segment.value(n).strip()

    def fail(self, message: str, element: int | None = None) -> NoReturn:
        self.body.fail(message, self.position, self.tag, element)

    def required(self, n: int, what: str) -> str:
        value = self.text(n)
        if not value:
            self.fail(f"{what} is missing", n)
        return value

    def decimal(self, n: int, what: str, *, required: bool = False, implied: int = 0) -> Decimal | None:
        """A numeric element (R, or N with `implied` decimals: TDS01 is N2, so 255438 is 2554.38)."""
        value = self.text(n)
        if not value:
            if required:
                self.fail(f"{what} is missing", n)
            return None
        try:
            number = Decimal(value)
        except InvalidOperation:
            self.fail(f"{what} {value!r} is not a number", n)
        if not number.is_finite():
            self.fail(f"{what} {value!r} is not a number", n)
        return number.scaleb(-implied) if implied else number

    def need_decimal(self, n: int, what: str, *, implied: int = 0) -> Decimal:
        number = self.decimal(n, what, required=True, implied=implied)
        assert number is not None
        return number

    def quantity(self, n: int, unit: int, what: str, rules: PartnerRules) -> documents.Quantity:
        """A quantity (element `n`) in its unit (element `unit`, mapped by the partner's rules)."""
        value = self.need_decimal(n, what)
        code = self.required(unit, f"the unit of {what}")
        try:
            return documents.Quantity(value=value, unit=rules.unit_in(code))
        except ValidationError:
            self.fail(f"the unit {code!r} of {what} is not a unit code", unit)

    def date(self, n: int, what: str, rules: PartnerRules, *, required: bool = False) -> date | None:
        value = self.text(n)
        if not value:
            if required:
                self.fail(f"{what} is missing", n)
            return None
        try:
            return rules.parse_date(value)
        except ValueError:
            self.fail(f"{what} {value!r} is not a date in the format {rules.date_format}", n)

    def time(self, n: int, what: str) -> time | None:
        value = self.text(n)
        if not value:
            return None
        if not value.isdigit() or len(value) not in (4, 6, 7, 8):
            self.fail(f"{what} {value!r} is not a time HHMM[SS[D[D]]]", n)
        try:
            return time(int(value[:2]), int(value[2:4]), int(value[4:6] or 0))
        except ValueError:
            self.fail(f"{what} {value!r} is not a time HHMM[SS[D[D]]]", n)

    def pairs(self, first: int, last: int) -> list[tuple[str, str]]:
        """(qualifier, id) pairs from element `first` to `last` (PO106..PO125, LIN02..LIN31)."""
        return [(self.text(n), self.text(n + 1)) for n in range(first, last + 1, 2) if self.text(n)]

    def sku(self, rules: PartnerRules, first: int, last: int) -> str:
        pairs = self.pairs(first, last)
        sku = rules.sku_for(pairs)
        if sku is None:
            known = ", ".join(r.qualifier for r in rules.item_ids)
            sent = ", ".join(f"{q} {v}" for q, v in pairs) or "none"
            self.fail(f"no item id this partner's rules know ({known}) gives a sku; the line has {sent}", first)
        return sku

    def line_number(self, n: int) -> int | None:
        value = self.text(n)
        # isdigit() alone takes "¹" and other Unicode digits that int() refuses.
        return int(value) if value.isascii() and value.isdigit() and int(value) > 0 else None


def numbered(items: Sequence[Located], element: int) -> list[int]:
    """Line numbers: the partner's own (element `element`) when every one is a distinct positive integer, else the
    lines' order (1, 2, 3...), since a partner who leaves them out or repeats them still means distinct lines."""
    own = [item.line_number(element) for item in items]
    if all(n is not None for n in own) and len(set(own)) == len(own):
        return [n for n in own if n is not None]
    return list(range(1, len(items) + 1))


def segment(tag: str, *values: Value) -> Segment:
    """A segment from values (None and "" are empty elements); trailing empty elements are dropped."""
    texts = ["" if v is None else number(v) if isinstance(v, Decimal) else str(v) for v in values]
    while texts and texts[-1] == "":
        texts.pop()
    return Segment(tag, tuple(texts))


def number(value: Decimal | int) -> str:
    """An X12 numeric (R) value: no exponent, no trailing zeros after the point."""
    if isinstance(value, int):
        return str(value)
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def cents(value: Decimal) -> str:
    """An N2 value (TDS01, SAC05): the amount in hundredths, no point."""
    return str(int((value * 100).to_integral_value()))


def id_elements(pairs: Iterable[tuple[str, str]]) -> list[str]:
    return [v for pair in pairs for v in pair]


def unit_out(rules: PartnerRules, unit: str, set_id: str, tag: str, element: int) -> str:
    code = rules.unit_out(unit)
    if code is None:
        raise X12MappingError(
            f"unit {unit!r} has no X12 unit code in this partner's rules", set_id=set_id, tag=tag, element=element
        )
    return code


def require_out(value: T | None, what: str, set_id: str, tag: str, element: int) -> T:
    """A value an outbound set needs and the document left empty."""
    if value is None:
        raise X12MappingError(f"{what} is needed and the document has none", set_id=set_id, tag=tag, element=element)
    return value


def local(when: datetime, rules: PartnerRules) -> datetime:
    return when.astimezone(rules.zone)


def at_midnight(day: date, rules: PartnerRules) -> datetime:
    return datetime.combine(day, time(0), tzinfo=rules.zone)


def hhmm(when: datetime | time) -> str:
    return f"{when.hour:02d}{when.minute:02d}"


def items_of(loop: Sequence[Located], tag: str) -> Iterator[Located]:
    return (item for item in loop if item.tag == tag)


def first_of(loop: Sequence[Located], tag: str, qualifier: str | None = None) -> Located | None:
    for item in loop:
        if item.tag == tag and (qualifier is None or item.text(1) == qualifier):
            return item
    return None


# Item id qualifiers (235) a partner's own numbers travel under: the vendor's part number on what goes to a supplier,
# the buyer's part number on what goes to a customer.
VENDOR_PART, BUYER_PART = "VP", "BP"


def supplier_item(pairs: Iterable[tuple[str, str]], sku: str, rules: PartnerRules) -> str | None:
    """The supplier's own item number on a line: its VP, unless the partner's rules read that VP as this very sku
    (VP among the sku qualifiers: the partner echoing our number)."""
    vendor = dict(pairs).get(VENDOR_PART)
    if not vendor:
        return None
    echoed = any(rule.qualifier == VENDOR_PART and rule.sku_for(vendor) == sku for rule in rules.item_ids)
    return None if echoed else vendor
