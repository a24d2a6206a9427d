"""Writes the model as X12 text with a chosen separator set (optionally a newline after each terminator). Trailers
(SE, GE, IEA) are derived from the content, so their counts and control numbers are always right. A value that
holds a separator is refused rather than written ambiguously. No I/O: it returns bytes or text."""

from __future__ import annotations

from collections.abc import Iterable

from crossdock.connectors.x12.model import Composite, Element, Interchange, Repeated, Segment
from crossdock.connectors.x12.syntax import Separators, X12WriteError

ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1)


def write(
    interchanges: Interchange | Iterable[Interchange],
    *,
    separators: Separators | None = None,
    newline: bool = False,
    encoding: str = "utf-8",
) -> bytes:
    """X12 bytes for one or more interchanges; each uses `separators` or, when None, its own."""
    return render(interchanges, separators=separators, newline=newline).encode(encoding)


def render(
    interchanges: Interchange | Iterable[Interchange],
    *,
    separators: Separators | None = None,
    newline: bool = False,
) -> str:
    items = (interchanges,) if isinstance(interchanges, Interchange) else tuple(interchanges)
    out: list[str] = []
    for interchange in items:
        seps = separators or interchange.separators
        problems = seps.problems()
        if problems:
            raise X12WriteError("; ".join(problems))
        _Writer(seps, newline, out).interchange(interchange)
    return "".join(out)


class _Writer:
    def __init__(self, seps: Separators, newline: bool, out: list[str]) -> None:
        self.seps = seps
        self.out = out
        self.end = seps.segment + ("\n" if newline and seps.segment != "\n" else "")
        self.forbidden = {seps.element, seps.component, seps.segment, "\r", "\n"} | (
            {seps.repetition} if seps.repetition else set()
        )

    def plain(self, tag: str, values: Iterable[str]) -> None:
        """An envelope segment: simple values only."""
        values = tuple(values)
        line = self.seps.element.join((tag, *values))
        self.check(tag, line, len(values), expected_components=0)
        self.out.append(line + self.end)

    def interchange(self, x: Interchange) -> None:
        seps = self.seps
        isa11 = seps.repetition if seps.repetition is not None else x.standards_id
        values = (
            x.authorization_qualifier,
            x.authorization,
            x.security_qualifier,
            x.security,
            x.sender_qualifier,
            x.sender_id,
            x.receiver_qualifier,
            x.receiver_id,
            x.date,
            x.time,
            isa11,
            x.version,
            x.control_number,
            x.acknowledgment_requested,
            x.usage,
        )
        padded = []
        for n, (value, width) in enumerate(zip(values, ISA_WIDTHS, strict=True), start=1):
            if len(value) > width:
                raise X12WriteError(f"ISA{n:02d} {value!r} is longer than {width} characters")
            padded.append(value.ljust(width))
        line = seps.element.join(("ISA", *padded, seps.component))
        if line.count(seps.element) != 16 or seps.segment in line or "\n" in line:
            raise X12WriteError(f"an ISA value holds a separator: {line!r}")
        self.out.append(line + self.end)
        for group in x.groups:
            self.plain(
                "GS",
                (
                    group.functional_id,
                    group.application_sender,
                    group.application_receiver,
                    group.date,
                    group.time,
                    group.control_number,
                    group.agency,
                    group.version,
                ),
            )
            for tx in group.transactions:
                head = (tx.set_id, tx.control_number)
                self.plain("ST", (*head, tx.implementation_reference) if tx.implementation_reference else head)
                for segment in tx.segments:
                    self.segment(segment)
                self.plain("SE", (str(tx.segment_count), tx.control_number))
            self.plain("GE", (str(len(group.transactions)), group.control_number))
        self.plain("IEA", (str(len(x.groups)), x.control_number))

    def segment(self, segment: Segment) -> None:
        seps = self.seps
        structured = 0
        parts = [segment.tag]
        for element in segment.elements:
            if isinstance(element, str):
                parts.append(element)
            else:
                text, n = self.structured(element, segment)
                parts.append(text)
                structured += n
        line = seps.element.join(parts)
        self.check(segment.tag, line, len(segment.elements), structured)
        self.out.append(line + self.end)

    def structured(self, element: Element, segment: Segment) -> tuple[str, int]:
        """The element's text and how many component/repetition separators it brings."""
        seps = self.seps
        if isinstance(element, Composite):
            return seps.component.join(element.components), len(element.components) - 1
        assert isinstance(element, Repeated)
        if seps.repetition is None:
            raise X12WriteError(f"{segment.tag} has a repeated element but these separators have no repetition one")
        texts = []
        count = len(element.values) - 1
        for value in element.values:
            if isinstance(value, Composite):
                texts.append(seps.component.join(value.components))
                count += len(value.components) - 1
            else:
                texts.append(value)
        return seps.repetition.join(texts), count

    def check(self, tag: str, line: str, elements: int, expected_components: int) -> None:
        """Counting separators is cheaper than checking every value; the slow path names the culprit."""
        seps = self.seps
        extra = line.count(seps.component) + (line.count(seps.repetition) if seps.repetition else 0)
        if (
            line.count(seps.element) == elements
            and extra == expected_components
            and seps.segment not in line
            and "\n" not in line
            and "\r" not in line
            and (len(tag) in (2, 3) and tag.isascii() and tag.isalnum())
        ):
            return
        if not (len(tag) in (2, 3) and tag.isascii() and tag.isalnum()):
            raise X12WriteError(f"{tag!r} is not a segment identifier")
        bad = sorted(c for c in self.forbidden if c in line)
        raise X12WriteError(f"a value of {tag} holds a separator or line break {bad!r}: {line[:80]!r}")
