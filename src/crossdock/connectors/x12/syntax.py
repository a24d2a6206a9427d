"""X12 syntax shared by the reader, validator, writer and 997 builder: separators, leniency settings, and the
issues (errors and warnings) that name a rule and a place. Pure: no I/O, no clock.

Exceptions (X12Error is a hub MappingError, so intake keeps a refused message as failed, with the reason):
    X12Error            anything this engine refuses to do
    ├── X12Refused      data that is not an acceptable interchange; carries every issue found
    └── X12WriteError   a model that cannot be written with the chosen separators
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from enum import StrEnum

from crossdock.hub.errors import MappingError

BOM = "\ufeff"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class AckLevel(StrEnum):
    """Which acknowledgement carries an issue's code: TA1 (interchange), AK9 (group), AK5 (transaction), AK3
    (segment) or AK4 (element). NONE: formatting notes no acknowledgement reports."""

    INTERCHANGE = "TA1"
    GROUP = "AK9"
    TRANSACTION = "AK5"
    SEGMENT = "AK3"
    ELEMENT = "AK4"
    NONE = "-"


@dataclass(frozen=True, slots=True)
class Place:
    """Where an issue is: interchange (ISA13), group (GS06), transaction (ST01 + ST02), segment position within the
    transaction (1-based, ST = 1) and tag, element and component positions (1-based). The indexes (0-based, in
    file order) tell apart envelopes that reuse a control number."""

    interchange: str | None = None
    group: str | None = None
    transaction_set: str | None = None
    transaction: str | None = None
    segment_position: int | None = None
    segment_tag: str | None = None
    element: int | None = None
    component: int | None = None
    interchange_index: int | None = None
    group_index: int | None = None
    transaction_index: int | None = None

    def __str__(self) -> str:
        parts = []
        if self.interchange is not None:
            parts.append(f"interchange {self.interchange}")
        if self.group is not None:
            parts.append(f"group {self.group}")
        if self.transaction is not None or self.transaction_set is not None:
            parts.append(f"transaction {self.transaction_set or '?'} {self.transaction or '?'}")
        if self.segment_tag is not None:
            where = f"segment {self.segment_position} " if self.segment_position is not None else "segment "
            parts.append(f"{where}{self.segment_tag}")
        if self.element is not None:
            tag = self.segment_tag or ""
            comp = f"-{self.component}" if self.component is not None else ""
            parts.append(f"element {tag}{self.element:02d}{comp}")
        return ", ".join(parts) or "start of data"


@dataclass(frozen=True, slots=True)
class Issue:
    """A rule broken (or a quirk tolerated) at a place; `code` is the acknowledgement code at `level`."""

    rule: str
    message: str
    place: Place
    severity: Severity = Severity.ERROR
    level: AckLevel = AckLevel.NONE
    code: str = ""

    def __str__(self) -> str:
        return f"{self.severity}: {self.rule}: {self.message} ({self.place})"


class X12Error(MappingError):
    """The X12 engine cannot do this."""


class X12Refused(X12Error):
    """The data is not an acceptable X12 interchange."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues = tuple(issues)
        errors = [i for i in self.issues if i.severity is Severity.ERROR]
        shown = "; ".join(str(i) for i in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"X12 refused: {shown}{more}" if errors else None)

    @property
    def errors(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity is Severity.ERROR)

    @property
    def rules(self) -> frozenset[str]:
        return frozenset(i.rule for i in self.errors)


class X12WriteError(X12Error):
    """The model cannot be written as X12 with these separators."""


@dataclass(frozen=True, slots=True)
class Separators:
    """The delimiters of one interchange. `repetition` is ISA11 from version 00402 on; None before (ISA11 = U)."""

    element: str = "*"
    component: str = ">"
    segment: str = "~"
    repetition: str | None = None

    def problems(self) -> list[str]:
        """What makes this set unusable (empty when it is fine)."""
        chars = [self.element, self.component, self.segment] + ([self.repetition] if self.repetition else [])
        found = []
        if any(len(c) != 1 for c in chars):
            found.append("every separator is one character")
        elif len(set(chars)) != len(chars):
            found.append(f"separators must differ from each other: {chars!r}")
        for name, char in (("element", self.element), ("component", self.component), ("repetition", self.repetition)):
            if char is not None and len(char) == 1 and (char.isalnum() or char.isspace()):
                found.append(f"the {name} separator {char!r} is a letter, digit or blank")
        if len(self.segment) == 1 and (self.segment.isalnum() or self.segment in " \t"):
            found.append(f"the segment terminator {self.segment!r} is a letter, digit or blank")
        return found


class Tolerance(StrEnum):
    ACCEPT = "accept"  # silently
    WARN = "warn"  # accept, with a warning issue
    REFUSE = "refuse"  # an error issue


@dataclass(frozen=True, slots=True)
class Leniency:
    """What to do with each real-world quirk; per trading partner. `DEFAULT` accepts, with a warning, what a
    partner hub accepts in practice; `STRICT` refuses every quirk; `LENIENT` warns about everything it can read."""

    byte_order_mark: Tolerance = Tolerance.WARN  # UTF-8 BOM before the ISA
    indentation: Tolerance = Tolerance.WARN  # blanks/tabs before segments, empty segments
    unterminated_last_segment: Tolerance = Tolerance.WARN  # last segment without its terminator (a newline one is fine)
    unpadded_isa: Tolerance = Tolerance.WARN  # ISA fields not at their fixed widths
    isa_padding: Tolerance = Tolerance.WARN  # ISA padded with other blanks than spaces (no-break space)
    unpadded_control_numbers: Tolerance = Tolerance.WARN  # IEA02/GE02 equal to ISA13/GS06 as numbers only
    trailer_control_numbers: Tolerance = Tolerance.REFUSE  # IEA02/GE02/SE02 that differ from their header
    mixed_functional_group: Tolerance = Tolerance.WARN  # a set under another set's GS01 (864 under PO)
    blank_envelope_elements: Tolerance = Tolerance.WARN  # a required envelope element of spaces only
    text_before_interchange: Tolerance = Tolerance.REFUSE  # lines before the ISA (comments, banners)
    trailer_counts: Tolerance = Tolerance.REFUSE  # SE01/GE01/IEA01 that do not match the content
    syntax_notes: Tolerance = Tolerance.REFUSE  # paired/conditional elements of PO1, PO4, IT1, LIN
    repetitions: bool = True  # split elements on ISA11; False for a partner who puts a data character there


def _all(tolerance: Tolerance) -> Leniency:
    quirks: dict[str, Tolerance] = {f.name: tolerance for f in fields(Leniency) if f.name != "repetitions"}
    return replace(Leniency(), **quirks)  # type: ignore[arg-type]


DEFAULT = Leniency()
STRICT = _all(Tolerance.REFUSE)
LENIENT = _all(Tolerance.WARN)


def tolerated(
    leniency: Leniency, quirk: str, rule: str, message: str, place: Place, level: AckLevel, code: str
) -> Issue | None:
    """The issue a quirk gives under `leniency` (None when it is accepted silently)."""
    tolerance: Tolerance = getattr(leniency, quirk)
    if tolerance is Tolerance.ACCEPT:
        return None
    if tolerance is Tolerance.WARN:
        return Issue(rule, message, place, Severity.WARNING, level, code)
    return Issue(rule, message, place, Severity.ERROR, level, code)
