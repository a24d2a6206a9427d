"""The X12 model: Interchange > FunctionalGroup > Transaction > Segment > elements (simple, composite, repeated).
Immutable values that compare by content; the trailers as read (SE/GE/IEA) ride along for validation but do not
take part in equality, since the writer derives them from the content. No parsing or I/O here."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from crossdock.connectors.x12.syntax import Issue, Separators


@dataclass(frozen=True, slots=True)
class Composite:
    """An element made of components (C030, SLN05...), 1-based positions in X12 terms."""

    components: tuple[str, ...]

    def component(self, position: int) -> str:
        return self.components[position - 1] if 0 < position <= len(self.components) else ""


@dataclass(frozen=True, slots=True)
class Repeated:
    """An element sent several times, separated by the repetition separator (005010 and later)."""

    values: tuple[str | Composite, ...]


Element = str | Composite | Repeated


def first_value(element: Element) -> str:
    """The element as one string: a composite's first component, a repeated element's first value."""
    if isinstance(element, str):
        return element
    if isinstance(element, Composite):
        return element.component(1)
    return first_value(element.values[0]) if element.values else ""


class Segment(NamedTuple):
    """A segment: its tag and elements. A named tuple rather than a dataclass: the reader makes one per segment,
    and tuples are built at half the cost."""

    tag: str
    elements: tuple[Element, ...] = ()

    def element(self, position: int) -> Element:
        """Element at a 1-based position, "" when absent."""
        return self.elements[position - 1] if 0 < position <= len(self.elements) else ""

    def value(self, position: int) -> str:
        """Element at a 1-based position as a string (first component or repetition of a structured one)."""
        return first_value(self.element(position))

    def component(self, position: int, component: int) -> str:
        element = self.element(position)
        if isinstance(element, Repeated):
            element = element.values[0] if element.values else ""
        if isinstance(element, Composite):
            return element.component(component)
        return element if component == 1 else ""

    def __str__(self) -> str:
        def show(e: Element) -> str:
            if isinstance(e, str):
                return e
            if isinstance(e, Composite):
                return ">".join(e.components)
            return "^".join(show(v) for v in e.values)

        return "*".join((self.tag, *(show(e) for e in self.elements)))


@dataclass(frozen=True, slots=True)
class Trailer:
    """A trailer as read (SE, GE or IEA): its count and control number, raw text."""

    count: str
    control_number: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Transaction:
    set_id: str  # ST01
    control_number: str  # ST02
    segments: tuple[Segment, ...] = ()  # between ST and SE
    implementation_reference: str | None = None  # ST03 (005010)
    trailer: Trailer | None = field(default=None, compare=False)

    @property
    def segment_count(self) -> int:
        """SE01 as it should be: the segments plus ST and SE."""
        return len(self.segments) + 2


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionalGroup:
    functional_id: str  # GS01
    application_sender: str  # GS02
    application_receiver: str  # GS03
    date: str  # GS04 CCYYMMDD
    time: str  # GS05 HHMM[SS[D[D]]]
    control_number: str  # GS06
    version: str  # GS08, e.g. 004010, 004010VICS, 005010X230
    agency: str = "X"  # GS07
    transactions: tuple[Transaction, ...] = ()
    trailer: Trailer | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Interchange:
    sender_qualifier: str  # ISA05
    sender_id: str  # ISA06, without its padding
    receiver_qualifier: str  # ISA07
    receiver_id: str  # ISA08
    date: str  # ISA09 YYMMDD
    time: str  # ISA10 HHMM
    control_number: str  # ISA13
    version: str  # ISA12, e.g. 00401, 00501
    usage: str = "P"  # ISA15: P production, T test
    acknowledgment_requested: str = "0"  # ISA14
    authorization_qualifier: str = "00"  # ISA01
    authorization: str = ""  # ISA02
    security_qualifier: str = "00"  # ISA03
    security: str = ""  # ISA04
    standards_id: str = "U"  # ISA11 when it is not the repetition separator
    separators: Separators = field(default_factory=Separators)
    groups: tuple[FunctionalGroup, ...] = ()
    trailer: Trailer | None = field(default=None, compare=False)

    def transactions(self) -> Iterator[tuple[FunctionalGroup, Transaction]]:
        for group in self.groups:
            for transaction in group.transactions:
                yield group, transaction


@dataclass(frozen=True, slots=True)
class Interchanges:
    """What one file held: its interchanges in order, and the warnings about quirks that were tolerated."""

    items: tuple[Interchange, ...]
    warnings: tuple[Issue, ...] = ()

    def __iter__(self) -> Iterator[Interchange]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Interchange:
        return self.items[index]
