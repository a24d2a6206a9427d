"""EDIFACT syntax (ISO 9735): service characters, character sets, the interchange model and the error tree.

Owns the vocabulary the reader, writer, validation, CONTRL and mapping modules share. Must not: do I/O, know any
message's business meaning, or read configuration.

Exception tree::

    crossdock.hub.errors.MappingError
    └── EdifactError                 an EDIFACT interchange could not be used; `.issues` names rule and place
        ├── EdifactSyntaxError       the bytes cannot be read as EDIFACT (service string advice, release
        │                            character, unterminated segment, envelope order)
        ├── EdifactValidationError   readable, but breaks ISO 9735 or the segment directory (counts,
        │                            references, required elements, formats, too many constituents)
        └── EdifactMappingError      a valid message lacks what the canonical document needs
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from crossdock.hub.errors import MappingError

# ---------------------------------------------------------------------------------------------------------------
# Service characters


@dataclass(frozen=True)
class Delimiters:
    """The six service characters of the UNA service string advice, in UNA order."""

    component: str = ":"
    element: str = "+"
    decimal: str = "."
    release: str = "?"
    # UNA5: the repetition separator in syntax version 4, reserved (normally a space) before it.
    reserved: str = " "
    terminator: str = "'"

    def una(self) -> str:
        return f"UNA{self.component}{self.element}{self.decimal}{self.release}{self.reserved}{self.terminator}"

    def repetition(self, syntax_version: int) -> str | None:
        """The repetition separator in force: only from syntax version 4, and a space means none."""
        if syntax_version >= 4 and self.reserved != " ":
            return self.reserved
        return None

    def releasable(self) -> frozenset[str]:
        """The characters a release character may precede; UNA5 counts even before version 4 (it is reserved)."""
        chars = {self.component, self.element, self.release, self.terminator}
        if self.reserved != " ":
            chars.add(self.reserved)
        return frozenset(chars)

    def is_default(self) -> bool:
        return self == DEFAULT_DELIMITERS


DEFAULT_DELIMITERS = Delimiters()

# Python codecs for the syntax identifiers (UNB S001 0001). UNOA/UNOB are subsets of ASCII; the others are the
# ISO 8859 parts ISO 9735 names, and UNOW/UNOY carry UTF-8.
CHARSET_CODECS: dict[str, str] = {
    "UNOA": "ascii",
    "UNOB": "ascii",
    "UNOC": "latin-1",
    "UNOD": "iso8859-2",
    "UNOE": "iso8859-5",
    "UNOF": "iso8859-7",
    "UNOG": "iso8859-3",
    "UNOH": "iso8859-4",
    "UNOI": "iso8859-6",
    "UNOJ": "iso8859-8",
    "UNOK": "iso8859-9",
    "UNOW": "utf-8",
    "UNOY": "utf-8",
}

# Level A: upper case letters, digits, space and these marks (ISO 9735 annex, UNOA).
UNOA_REPERTOIRE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-()/='+:?!\"%&*;<>")


def digits(text: str) -> bool:
    """Only ASCII digits, at least one: str.isdigit alone also accepts ² and other digits int() refuses."""
    return text.isascii() and text.isdigit()


def decimal_from(text: str, decimal_mark: str) -> Decimal:
    """A numeric data element as Decimal: optional leading minus, digits, at most one decimal mark (the declared
    one) with a digit on each side; raises ValueError otherwise. Never a float, so 19,9 is exactly 19.9."""
    body = text[1:] if text.startswith("-") else text
    whole, mark, fraction = body.partition(decimal_mark)
    if not digits(whole) or (mark and not digits(fraction)):
        raise ValueError(f"{text!r} is not a number with decimal mark {decimal_mark!r}")
    try:
        return Decimal(("-" if body is not text else "") + whole + ("." + fraction if mark else ""))
    except InvalidOperation:  # pragma: no cover - the checks above leave only valid literals
        raise ValueError(f"{text!r} is not a number") from None


def decimal_text(value: Decimal, decimal_mark: str) -> str:
    """A Decimal as a numeric data element: no exponent, no plus sign, the declared decimal mark."""
    if not value.is_finite():
        raise ValueError(f"{value} cannot be written as an EDIFACT number")
    text = format(value, "f")
    if text.startswith("-") and value == 0:
        text = text[1:]
    return text.replace(".", decimal_mark)


# ---------------------------------------------------------------------------------------------------------------
# Where something is, and what is wrong with it


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Place:
    """Where in an interchange an issue is. Segment positions count from 1: within the message (UNH is 1) for a
    message's segments, within the interchange (UNB is 1, UNA not counted) for envelope segments."""

    interchange: str | None = None
    group: str | None = None
    message: str | None = None
    message_type: str | None = None
    segment: int | None = None
    tag: str | None = None
    element: int | None = None
    component: int | None = None
    # Character offset of the segment in the file: for errors found before the envelope is known.
    offset: int | None = None

    def at(self, **changes: object) -> Place:
        return replace(self, **changes)  # type: ignore[arg-type]

    def __str__(self) -> str:
        parts = []
        if self.interchange is not None:
            parts.append(f"interchange {self.interchange}")
        if self.group is not None:
            parts.append(f"group {self.group}")
        if self.message is not None:
            parts.append(f"message {self.message}" + (f" ({self.message_type})" if self.message_type else ""))
        if self.segment is not None or self.tag:
            parts.append(" ".join(p for p in (f"segment {self.segment}" if self.segment else "", self.tag or "") if p))
        if self.element is not None:
            parts.append(f"element {self.element}" + (f" component {self.component}" if self.component else ""))
        if self.offset is not None and self.message is None:
            parts.append(f"offset {self.offset}")
        return " / ".join(parts) or "interchange"


@dataclass(frozen=True)
class Issue:
    """One broken rule. `rule` is a stable name for people and tests; `code` is the UN/EDIFACT syntax error
    code (data element 0085) a CONTRL reports it with."""

    rule: str
    code: str
    message: str
    place: Place = field(default_factory=Place)
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        return f"{self.rule} at {self.place}: {self.message}"


class EdifactError(MappingError):
    """The EDIFACT interchange could not be used."""

    def __init__(self, issues: Issue | list[Issue] | tuple[Issue, ...], message: str | None = None) -> None:
        self.issues: tuple[Issue, ...] = (issues,) if isinstance(issues, Issue) else tuple(issues)
        if not self.issues:
            raise ValueError("an EdifactError needs at least one issue")
        more = f" (and {len(self.issues) - 1} more)" if len(self.issues) > 1 else ""
        super().__init__(message or f"{self.issues[0]}{more}")

    @property
    def rule(self) -> str:
        return self.issues[0].rule

    @property
    def place(self) -> Place:
        return self.issues[0].place


class EdifactSyntaxError(EdifactError):
    """The bytes cannot be read as EDIFACT."""


class EdifactValidationError(EdifactError):
    """The interchange breaks a rule of ISO 9735 or of the segment directory."""


class EdifactMappingError(EdifactError):
    """A valid message lacks what the canonical document needs."""


# ---------------------------------------------------------------------------------------------------------------
# The model: Interchange > (Group >) Message > Segment > elements > components

Element = tuple[str, ...]


@dataclass(frozen=True)
class Segment:
    """A segment: its tag and its data elements, each a tuple of components (a simple element has one).

    Positions are 1-based as in the directories: `value(3, 2)` is element 3, component 2. Trailing empty
    elements and components are dropped on reading and never written, so equality is about content."""

    tag: str
    elements: tuple[Element, ...] = ()

    @classmethod
    def of(cls, tag: str, *elements: str | Element | None) -> Segment:
        """Build a segment from plain values: a string is a simple element, a tuple a composite, None empty."""
        built = [(e,) if isinstance(e, str) else ("",) if e is None else tuple(e) for e in elements]
        return cls(tag, normalise(built))

    def element(self, position: int) -> Element:
        return self.elements[position - 1] if 0 < position <= len(self.elements) else ()

    def value(self, position: int, component: int = 1) -> str:
        element = self.element(position)
        return element[component - 1] if 0 < component <= len(element) else ""

    def __str__(self) -> str:
        return "+".join([self.tag, *(":".join(e) for e in self.elements)])


def normalise(elements: list[Element] | tuple[Element, ...]) -> tuple[Element, ...]:
    """Drop trailing empty components and elements: `A:B::` and `A:B` are the same data."""
    out: list[Element] = []
    for element in elements:
        components = list(element)
        while components and components[-1] == "":
            components.pop()
        out.append(tuple(components))
    while out and not out[-1]:
        out.pop()
    return tuple(out)


@dataclass(frozen=True)
class Message:
    """UNH ... UNT. `segments` are those between the two; header and trailer are kept as read."""

    header: Segment
    segments: tuple[Segment, ...]
    trailer: Segment

    @property
    def reference(self) -> str:
        return self.header.value(1)

    @property
    def type(self) -> str:
        return self.header.value(2, 1)

    @property
    def version(self) -> str:
        """Message version and release, e.g. D96A (`D:96A` in UNH S009)."""
        return self.header.value(2, 2) + self.header.value(2, 3)

    @property
    def association(self) -> str:
        """The association assigned code, e.g. EAN008."""
        return self.header.value(2, 5)

    def all_segments(self) -> tuple[Segment, ...]:
        return (self.header, *self.segments, self.trailer)


@dataclass(frozen=True)
class Group:
    """UNG ... UNE: a functional group of messages of one type."""

    header: Segment
    messages: tuple[Message, ...]
    trailer: Segment

    @property
    def reference(self) -> str:
        return self.header.value(5)


@dataclass(frozen=True)
class Interchange:
    """UNB ... UNZ. Messages sit either directly in the interchange or in groups, never both (ISO 9735).

    `trailer` is None only when a lenient read accepted a missing UNZ. `encoding` is the codec the bytes were
    read with (or will be written with); `una` says whether a service string advice is written."""

    header: Segment
    messages: tuple[Message, ...] = ()
    groups: tuple[Group, ...] = ()
    trailer: Segment | None = None
    delimiters: Delimiters = DEFAULT_DELIMITERS
    una: bool = False
    encoding: str = "latin-1"
    warnings: tuple[Issue, ...] = ()

    @property
    def reference(self) -> str:
        return self.header.value(5)

    @property
    def syntax(self) -> str:
        return self.header.value(1, 1)

    @property
    def syntax_version(self) -> int:
        version = self.header.value(1, 2)
        return int(version) if digits(version) else 0

    @property
    def sender(self) -> str:
        return self.header.value(2, 1)

    @property
    def sender_qualifier(self) -> str:
        return self.header.value(2, 2)

    @property
    def recipient(self) -> str:
        return self.header.value(3, 1)

    @property
    def recipient_qualifier(self) -> str:
        return self.header.value(3, 2)

    def all_messages(self) -> Iterator[tuple[Group | None, Message]]:
        for message in self.messages:
            yield None, message
        for group in self.groups:
            for message in group.messages:
                yield group, message

    def place(self) -> Place:
        return Place(interchange=self.reference)


def message_place(interchange: Interchange, group: Group | None, message: Message) -> Place:
    return Place(
        interchange=interchange.reference,
        group=group.reference if group else None,
        message=message.reference,
        message_type=message.type,
    )
