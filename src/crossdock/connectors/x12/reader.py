"""Reads X12 bytes into the model: separators from each ISA, segments split with str.split, envelopes built, then
validated. `read` never raises on content (it returns every issue found); `parse` raises X12Refused on errors.
No I/O: callers hand in bytes."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from crossdock.connectors.x12 import codes, validation
from crossdock.connectors.x12.model import (
    Composite,
    Element,
    FunctionalGroup,
    Interchange,
    Interchanges,
    Repeated,
    Segment,
    Trailer,
    Transaction,
)
from crossdock.connectors.x12.syntax import (
    BOM,
    DEFAULT,
    AckLevel,
    Issue,
    Leniency,
    Place,
    Separators,
    Severity,
    Tolerance,
    X12Refused,
    tolerated,
)

ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)
# Where the 16 element separators of a fixed-width ISA are, from its "I".
ISA_OFFSETS = [3 + sum(ISA_WIDTHS[:n]) + n for n in range(16)]
ODD_BLANKS = "\t\r\n\f\v\xa0"
ENVELOPE_TAGS = frozenset({"ISA", "GS", "ST", "SE", "GE", "IEA"})
# Data characters a sender may put in ISA11 by mistake (a 4010 habit carried into 00402+ headers).
DATA_LIKE_REPETITION = frozenset("-.,/()'&+#@%")
TAG = re.compile(r"[A-Z0-9]{2,3}")
BLANKS = " \t\r\n\f\v\xa0"
# Bounds how far the 16 ISA separators are looked for, so a stray "ISA" in garbage costs nothing.
ISA_MAX = 300


@dataclass(frozen=True, slots=True)
class Reading:
    """Everything read from one input: the interchanges (complete or not) and every issue, in order found."""

    interchanges: tuple[Interchange, ...]
    issues: tuple[Issue, ...]

    @property
    def errors(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity is Severity.WARNING)

    @property
    def accepted(self) -> bool:
        return not self.errors


def parse(data: bytes | str, leniency: Leniency = DEFAULT) -> Interchanges:
    """The interchanges of `data`, or X12Refused naming every rule broken and where."""
    reading = read(data, leniency)
    if reading.errors or not reading.interchanges:
        raise X12Refused(reading.issues)
    return Interchanges(reading.interchanges, reading.warnings)


def read(data: bytes | str, leniency: Leniency = DEFAULT) -> Reading:
    issues: list[Issue] = []
    text = _decode(data, issues)
    interchanges = _Reader(text, leniency, issues).run()
    for index, interchange in enumerate(interchanges):
        issues.extend(validation.validate(interchange, leniency, index=index))
    return Reading(tuple(interchanges), tuple(issues))


def _decode(data: bytes | str, issues: list[Issue]) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # X12 extended character sets predate UTF-8; Latin-1 reads any byte and keeps the ASCII delimiters.
        issues.append(Issue("not-utf8", "not UTF-8; read as Latin-1", Place(), Severity.WARNING, AckLevel.NONE, ""))
        return data.decode("latin-1")


@dataclass(slots=True)
class _Header:
    """An ISA as found: its 16 values, separators and where the text after it starts."""

    values: list[str]
    separators: Separators
    end: int


@dataclass(slots=True)
class _Open:
    """Envelopes being built."""

    isa: _Header
    index: int
    groups: list[FunctionalGroup] = field(default_factory=list)
    gs: list[str] | None = None
    transactions: list[Transaction] = field(default_factory=list)
    st: list[str] | None = None
    body: list[Segment] = field(default_factory=list)
    indented: bool = False

    @property
    def control_number(self) -> str:
        return self.isa.values[12].strip()

    def place(self, **more: object) -> Place:
        group = self.gs[6] if self.gs is not None and len(self.gs) > 6 else None
        st = self.st or []
        return Place(
            interchange=self.control_number,
            group=group,
            transaction_set=st[1] if len(st) > 1 else None,
            transaction=st[2] if len(st) > 2 else None,
            interchange_index=self.index,
            group_index=len(self.groups) if self.gs is not None else None,
            transaction_index=len(self.transactions) if self.st is not None else None,
            **more,  # type: ignore[arg-type]
        )


class _Reader:
    def __init__(self, text: str, leniency: Leniency, issues: list[Issue]) -> None:
        self.text = text
        self.leniency = leniency
        self.issues = issues
        self.done: list[Interchange] = []
        self.open: _Open | None = None

    def quirk(self, quirk: str, rule: str, message: str, place: Place, level: AckLevel, code: str) -> None:
        issue = tolerated(self.leniency, quirk, rule, message, place, level, code)
        if issue is not None:
            self.issues.append(issue)

    def error(self, rule: str, message: str, place: Place, level: AckLevel, code: str) -> None:
        self.issues.append(Issue(rule, message, place, Severity.ERROR, level, code))

    def run(self) -> list[Interchange]:
        text = self.text
        start = 0
        if text.startswith(BOM):
            self.quirk(
                "byte_order_mark", "byte-order-mark", "UTF-8 byte order mark before the ISA", Place(), AckLevel.NONE, ""
            )
            start = 1
        stripped = len(text) - len(text[start:].lstrip(BLANKS))
        if stripped > start:
            self.quirk("indentation", "indentation", "blank space before the ISA", Place(), AckLevel.NONE, "")
            start = stripped
        if not text.startswith("ISA", start):
            found = text.find("ISA", start)
            if found < 0 or self.leniency.text_before_interchange is Tolerance.REFUSE:
                self.error(
                    "not-x12",
                    f"the data does not begin with an ISA segment: {text[start : start + 20]!r}",
                    Place(),
                    AckLevel.INTERCHANGE,
                    codes.Interchange.CONTROL_STRUCTURE,
                )
                return []
            self.quirk(
                "text_before_interchange",
                "text-before-interchange",
                f"{found - start} characters before the first ISA skipped",
                Place(),
                AckLevel.NONE,
                "",
            )
            start = found
        header = self.header(start, len(self.done))
        while header is not None:
            header = self.body(header)
        if self.open is not None:
            self.close_interchange(None)
        return self.done

    def header(self, p: int, index: int) -> _Header | None:
        """Reads the ISA at p: the element separator is its 4th character, ISA16 the component separator and the
        character after ISA16 the segment terminator, whether or not the fields are padded to width."""
        text = self.text
        place = Place(interchange_index=index, segment_tag="ISA")
        if len(text) < p + 4:
            self.error(
                "isa-truncated",
                "the data ends inside the ISA segment",
                place,
                AckLevel.INTERCHANGE,
                codes.Interchange.PREMATURE_END,
            )
            return None
        element = text[p + 3]
        seps = [p + 3]
        limit = min(len(text), p + ISA_MAX)
        for _ in range(15):
            nxt = text.find(element, seps[-1] + 1, limit)
            if nxt < 0:
                self.error(
                    "isa-truncated",
                    "the ISA segment does not have its 16 elements",
                    place,
                    AckLevel.INTERCHANGE,
                    codes.Interchange.PREMATURE_END,
                )
                return None
            seps.append(nxt)
        if seps[-1] + 2 >= len(text):
            self.error(
                "isa-truncated",
                "the data ends before the segment terminator after ISA16",
                place,
                AckLevel.INTERCHANGE,
                codes.Interchange.PREMATURE_END,
            )
            return None
        values = [text[seps[i] + 1 : seps[i + 1]] for i in range(15)]
        component = text[seps[-1] + 1]
        terminator = text[seps[-1] + 2]
        values.append(component)
        place = Place(interchange=values[12].strip(), interchange_index=index, segment_tag="ISA")
        if terminator in "\r\n":
            # A newline terminator: CR LF and lone CR are the same line ending; normalise once for the rest.
            if "\r" in text:
                tail = text[seps[-1] + 2 :].replace("\r\n", "\n").replace("\r", "\n")
                self.text = text = text[: seps[-1] + 2] + tail
            terminator = "\n"
        isa11 = values[10]
        repetition = isa11 if len(isa11) == 1 and not isa11.isalnum() and self.leniency.repetitions else None
        separators = Separators(element, component, terminator, repetition)
        problems = _problems(separators)
        if problems:
            code = codes.Interchange.ELEMENT_SEPARATOR
            if any("terminator" in p for p in problems):
                code = codes.Interchange.SEGMENT_TERMINATOR
            elif any("component" in p for p in problems):
                code = codes.Interchange.COMPONENT_SEPARATOR
            self.error("isa-separators", "; ".join(problems), place, AckLevel.INTERCHANGE, code)
            return None
        if [s - p for s in seps] != ISA_OFFSETS:
            self.quirk(
                "unpadded_isa",
                "isa-unpadded",
                "ISA fields are not padded to their fixed widths",
                place,
                AckLevel.INTERCHANGE,
                codes.Interchange.CONTROL_STRUCTURE,
            )
        padding = "".join(values[:15])
        if any(c in padding for c in ODD_BLANKS) and any(v.strip(" ") != v.strip() for v in values[:15]):
            self.quirk(
                "isa_padding",
                "isa-padding",
                "ISA fields padded with other blanks than spaces",
                place,
                AckLevel.INTERCHANGE,
                codes.Interchange.CONTROL_STRUCTURE,
            )
        if repetition is not None and repetition in DATA_LIKE_REPETITION:
            self.issues.append(
                Issue(
                    "repetition-separator-in-data",
                    f"ISA11 {repetition!r} is read as the repetition separator; values containing it are repetitions",
                    place,
                    Severity.WARNING,
                )
            )
        return _Header(values, separators, seps[-1] + 3)

    def body(self, header: _Header) -> _Header | None:
        """Reads segments after an ISA up to the end of the data; returns the next ISA when its separators differ
        (the text is then split again from there)."""
        self.start_interchange(header)
        seps = header.separators
        term, elem, comp, rep = seps.segment, seps.element, seps.component, seps.repetition
        newline_terminated = term == "\n"
        text = self.text
        pieces = text[header.end :].split(term)
        offset = header.end
        last = len(pieces) - 1
        good_tags = _GOOD_TAGS
        opening = [p.strip(BLANKS) for p in pieces[:4]]
        if len(opening) >= 3 and all(p and p[-1] == comp for p in opening[:3]):
            self.error(
                "component-separator-ends-segments",
                f"the segments end with the component separator {comp!r} (ISA16): it is probably the segment "
                f"terminator, and ISA16 is missing",
                self.where(segment_tag="ISA", element=16),
                AckLevel.INTERCHANGE,
                codes.Interchange.COMPONENT_SEPARATOR,
            )
        envelope_tags = ENVELOPE_TAGS
        new = tuple.__new__
        append = None  # the open transaction's body.append, refreshed after each envelope segment
        for i, raw in enumerate(pieces):
            seg_start = offset
            offset += len(raw) + 1
            if raw and raw[0] in BLANKS:
                lead = len(raw) - len(raw.lstrip(BLANKS))
                leading = raw[:lead]
                raw = raw[lead:]
                seg_start += lead
                if leading.strip("\n") and (raw or i != last):
                    self.indentation(leading)
            if not raw:
                if i != last:
                    self.indentation("")
                continue
            if i == last and not newline_terminated:
                self.quirk(
                    "unterminated_last_segment",
                    "unterminated-segment",
                    f"the last segment {raw[:3]!r} has no terminator {term!r}",
                    self.where(),
                    AckLevel.NONE,
                    "",
                )
            if newline_terminated and raw[-1] in " \t":
                raw = raw.rstrip(" \t")
            fields = raw.split(elem)
            tag = fields[0]
            if tag in envelope_tags:
                if tag == "ISA":
                    nxt = self.header(seg_start, len(self.done) + (1 if self.open is not None else 0))
                    if self.open is not None:
                        self.close_interchange(None)
                    if nxt is None:
                        return None
                    if nxt.separators == seps and nxt.end == offset:
                        self.start_interchange(nxt)
                        append = None
                        continue
                    return nxt
                self.envelope(tag, fields)
                o = self.open
                append = o.body.append if o is not None and o.st is not None else None
                continue
            if tag not in good_tags:
                if TAG.fullmatch(tag):
                    good_tags.add(tag)
                else:
                    self.error(
                        "segment-tag",
                        f"{tag[:20]!r} is not a segment identifier",
                        self.where(segment_tag=tag[:20]),
                        AckLevel.SEGMENT,
                        codes.SegmentCode.UNRECOGNIZED,
                    )
            if comp in raw or (rep is not None and rep in raw):
                elements: tuple[Element, ...] = tuple(_structured(v, comp, rep) for v in fields[1:])
            else:
                elements = tuple(fields[1:])
            if append is not None:
                append(new(Segment, (tag, elements)))
            else:
                self.segment(Segment(tag, elements))
        return None

    def indentation(self, leading: str) -> None:
        """Reported once per interchange (at its first occurrence): one warning per indented line is noise."""
        if self.open is not None:
            if self.open.indented:
                return
            self.open.indented = True
        what = "an empty segment" if not leading else f"{leading!r} before a segment"
        self.quirk(
            "indentation",
            "indentation",
            f"{what} (and maybe more in this interchange)",
            self.where(),
            AckLevel.NONE,
            "",
        )

    def where(self, **more: object) -> Place:
        if self.open is None:
            return Place(**more)  # type: ignore[arg-type]
        if self.open.st is not None and "segment_tag" in more:
            more["segment_position"] = len(self.open.body) + 2
        return self.open.place(**more)

    # Envelope state machine.

    def start_interchange(self, header: _Header) -> None:
        self.open = _Open(header, len(self.done))

    def envelope(self, tag: str, fields: list[str]) -> None:
        o = self.open
        if o is None:
            self.error(
                "outside-interchange",
                f"{tag} after the end of the interchange",
                Place(segment_tag=tag),
                AckLevel.INTERCHANGE,
                codes.Interchange.CONTROL_STRUCTURE,
            )
            return
        if tag == "GS":
            if o.gs is not None:
                self.close_group(None)
            o.gs = _pad(fields, 9)
        elif tag == "ST":
            if o.st is not None:
                self.close_transaction(None)
            if o.gs is None:
                self.error(
                    "st-outside-group",
                    "ST without a GS",
                    o.place(segment_tag="ST"),
                    AckLevel.INTERCHANGE,
                    codes.Interchange.CONTENT,
                )
            o.st = _pad(fields, 3)
        elif tag == "SE":
            if o.st is None:
                self.error(
                    "se-without-st",
                    "SE without an ST",
                    o.place(segment_tag="SE"),
                    AckLevel.INTERCHANGE,
                    codes.Interchange.CONTENT,
                )
            else:
                self.close_transaction(Trailer(*_pad(fields, 3)[1:3]))
        elif tag == "GE":
            if o.gs is None:
                self.error(
                    "ge-without-gs",
                    "GE without a GS",
                    o.place(segment_tag="GE"),
                    AckLevel.INTERCHANGE,
                    codes.Interchange.CONTENT,
                )
            else:
                self.close_group(Trailer(*_pad(fields, 3)[1:3]))
        else:
            self.close_interchange(Trailer(*_pad(fields, 3)[1:3]))

    def segment(self, segment: Segment) -> None:
        o = self.open
        if o is None:
            self.error(
                "outside-interchange",
                f"{segment.tag} after the end of the interchange",
                Place(segment_tag=segment.tag),
                AckLevel.INTERCHANGE,
                codes.Interchange.CONTROL_STRUCTURE,
            )
        elif o.st is None:
            self.error(
                "outside-transaction",
                f"{segment.tag} outside a transaction set (between SE and ST)",
                o.place(segment_tag=segment.tag),
                AckLevel.INTERCHANGE,
                codes.Interchange.CONTENT,
            )
        else:
            o.body.append(segment)

    def close_transaction(self, trailer: Trailer | None) -> None:
        o = self.open
        assert o is not None and o.st is not None
        if trailer is None:
            self.error(
                "se-missing",
                "transaction set without its SE trailer",
                o.place(segment_position=len(o.body) + 2, segment_tag="SE"),
                AckLevel.TRANSACTION,
                codes.TransactionCode.TRAILER_MISSING,
            )
        st = o.st
        if o.gs is not None:
            o.transactions.append(
                Transaction(
                    set_id=st[1],
                    control_number=st[2],
                    segments=tuple(o.body),
                    implementation_reference=st[3] if len(st) > 3 and st[3] else None,
                    trailer=trailer,
                )
            )
        o.st = None
        o.body = []

    def close_group(self, trailer: Trailer | None) -> None:
        o = self.open
        assert o is not None and o.gs is not None
        if o.st is not None:
            self.close_transaction(None)
        if trailer is None:
            self.error(
                "ge-missing",
                "functional group without its GE trailer",
                o.place(segment_tag="GE"),
                AckLevel.GROUP,
                codes.Group.TRAILER_MISSING,
            )
        gs = o.gs
        o.groups.append(
            FunctionalGroup(
                functional_id=gs[1],
                application_sender=gs[2],
                application_receiver=gs[3],
                date=gs[4],
                time=gs[5],
                control_number=gs[6],
                agency=gs[7],
                version=gs[8],
                transactions=tuple(o.transactions),
                trailer=trailer,
            )
        )
        o.gs = None
        o.transactions = []

    def close_interchange(self, trailer: Trailer | None) -> None:
        o = self.open
        assert o is not None
        if o.gs is not None:
            self.close_group(None)
        elif o.st is not None:
            self.close_transaction(None)
        if trailer is None:
            self.error(
                "iea-missing",
                "interchange without its IEA trailer",
                o.place(segment_tag="IEA"),
                AckLevel.INTERCHANGE,
                codes.Interchange.PREMATURE_END,
            )
        v = [x.strip() for x in o.isa.values]
        repetition = o.isa.separators.repetition
        self.done.append(
            Interchange(
                authorization_qualifier=v[0],
                authorization=v[1],
                security_qualifier=v[2],
                security=v[3],
                sender_qualifier=v[4],
                sender_id=v[5],
                receiver_qualifier=v[6],
                receiver_id=v[7],
                date=v[8],
                time=v[9],
                standards_id="U" if repetition is not None else o.isa.values[10],
                version=v[11],
                control_number=v[12],
                acknowledgment_requested=v[13],
                usage=v[14],
                separators=o.isa.separators,
                groups=tuple(o.groups),
                trailer=trailer,
            )
        )
        self.open = None


_GOOD_TAGS: set[str] = set(ENVELOPE_TAGS)


@functools.lru_cache(maxsize=64)
def _problems(separators: Separators) -> tuple[str, ...]:
    return tuple(separators.problems())


def _pad(fields: list[str], size: int) -> list[str]:
    return fields + [""] * (size - len(fields)) if len(fields) < size else fields


def _structured(value: str, comp: str, rep: str | None) -> Element:
    if rep is not None and rep in value:
        return Repeated(tuple(Composite(tuple(v.split(comp))) if comp in v else v for v in value.split(rep)))
    if comp in value:
        return Composite(tuple(value.split(comp)))
    return value
