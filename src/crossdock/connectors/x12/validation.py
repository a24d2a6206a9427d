"""Envelope validation of a read interchange: control numbers and counts of ISA/IEA, GS/GE and ST/SE, required
envelope elements, envelope code lists, dates and times, syntax notes of a few segments, and the codes of a 997.
Every rule broken becomes an Issue naming the place and its acknowledgement code; nothing stops at the first.
It knows no transaction set's layout beyond that; mappings check their own documents."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import replace

from crossdock.connectors.x12 import codes
from crossdock.connectors.x12.model import Composite, Element, FunctionalGroup, Interchange, Segment
from crossdock.connectors.x12.model import Transaction as Tx
from crossdock.connectors.x12.syntax import DEFAULT, AckLevel, Issue, Leniency, Place, Severity, tolerated

TA1 = codes.Interchange
DIGITS = re.compile(r"[0-9]+")
TAG = re.compile(r"[A-Z0-9]{2,3}")
FUNCTIONAL_ID = re.compile(r"[A-Z0-9]{2}")
NOTE = re.compile(r"([PCERL])((?:[0-9]{2})+)")


def _compile(note: str) -> tuple[str, str, tuple[int, ...]]:
    match = NOTE.fullmatch(note)
    assert match is not None, note
    digits = match.group(2)
    return note, match.group(1), tuple(int(digits[i : i + 2]) for i in range(0, len(digits), 2))


NOTES = {tag: tuple(_compile(n) for n in notes) for tag, notes in codes.SYNTAX_NOTES.items()}


def validate(interchange: Interchange, leniency: Leniency = DEFAULT, *, index: int = 0) -> list[Issue]:
    return _Validator(interchange, leniency, index).run()


def _date(value: str, century: bool) -> bool:
    if len(value) != (8 if century else 6) or not _digits(value):
        return False
    year = int(value[:4]) if century else 2000 + int(value[:2])
    try:
        dt.date(year, int(value[-4:-2]), int(value[-2:]))
    except ValueError:
        return False
    return True


def _time(value: str, lengths: Iterable[int]) -> bool:
    if len(value) not in lengths or not _digits(value):
        return False
    return int(value[:2]) < 24 and int(value[2:4]) < 60 and (len(value) < 6 or int(value[4:6]) < 60)


def _present(element: Element) -> bool:
    if isinstance(element, str):
        return element != ""
    if isinstance(element, Composite):
        return any(element.components)
    return any(_present(v) for v in element.values)


def _number_equal(a: str, b: str) -> bool:
    return _digits(a) and _digits(b) and int(a) == int(b)


class _Validator:
    def __init__(self, interchange: Interchange, leniency: Leniency, index: int) -> None:
        self.x = interchange
        self.leniency = leniency
        self.index = index
        self.issues: list[Issue] = []
        self.base = Place(interchange=interchange.control_number, interchange_index=index)

    def add(self, rule: str, message: str, place: Place, level: AckLevel, code: str) -> None:
        self.issues.append(Issue(rule, message, place, Severity.ERROR, level, code))

    def quirk(self, quirk: str, rule: str, message: str, place: Place, level: AckLevel, code: str) -> None:
        issue = tolerated(self.leniency, quirk, rule, message, place, level, code)
        if issue is not None:
            self.issues.append(issue)

    def run(self) -> list[Issue]:
        self.interchange_header()
        seen: dict[str, int] = {}
        for g_index, group in enumerate(self.x.groups):
            place = Place(
                interchange=self.x.control_number,
                group=group.control_number,
                interchange_index=self.index,
                group_index=g_index,
            )
            if group.control_number in seen:
                self.add(
                    "group-control-number-unique",
                    f"GS06 {group.control_number} is used by an earlier group",
                    place,
                    AckLevel.INTERCHANGE,
                    TA1.CONTENT,
                )
            seen[group.control_number] = g_index
            self.group(group, place)
        return self.issues

    def interchange_header(self) -> None:
        x = self.x

        def isa(n: int, rule: str, message: str, code: str) -> None:
            self.add(
                rule,
                message,
                Place(interchange=x.control_number, interchange_index=self.index, segment_tag="ISA", element=n),
                AckLevel.INTERCHANGE,
                code,
            )

        if x.authorization_qualifier not in codes.AUTHORIZATION_QUALIFIERS:
            isa(
                1,
                "isa-code",
                f"ISA01 {x.authorization_qualifier!r} is not an authorization qualifier",
                TA1.AUTHORIZATION_QUALIFIER,
            )
        if x.security_qualifier not in codes.SECURITY_QUALIFIERS:
            isa(3, "isa-code", f"ISA03 {x.security_qualifier!r} is not a security qualifier", TA1.SECURITY_QUALIFIER)
        if x.sender_qualifier not in codes.INTERCHANGE_ID_QUALIFIERS:
            isa(5, "isa-code", f"ISA05 {x.sender_qualifier!r} is not an interchange id qualifier", TA1.SENDER_QUALIFIER)
        if not x.sender_id:
            isa(6, "isa-required", "ISA06 (sender id) is empty", TA1.SENDER_ID)
        if x.receiver_qualifier not in codes.INTERCHANGE_ID_QUALIFIERS:
            isa(
                7,
                "isa-code",
                f"ISA07 {x.receiver_qualifier!r} is not an interchange id qualifier",
                TA1.RECEIVER_QUALIFIER,
            )
        if not x.receiver_id:
            isa(8, "isa-required", "ISA08 (receiver id) is empty", TA1.RECEIVER_ID)
        if not _date(x.date, century=False):
            isa(9, "isa-date", f"ISA09 {x.date!r} is not a date YYMMDD", TA1.DATE)
        if not _time(x.time, (4,)):
            isa(10, "isa-time", f"ISA10 {x.time!r} is not a time HHMM", TA1.TIME)
        ignored_repetition = (
            not self.leniency.repetitions
            and len(x.standards_id) == 1
            and not (x.standards_id.isalnum() or x.standards_id.isspace())
        )
        unknown = x.standards_id not in codes.STANDARDS_IDENTIFIERS
        if x.separators.repetition is None and unknown and not ignored_repetition:
            isa(
                11,
                "isa-code",
                f"ISA11 {x.standards_id!r} is neither U nor a repetition separator",
                TA1.STANDARDS_IDENTIFIER,
            )
        if x.version not in codes.INTERCHANGE_VERSIONS:
            isa(12, "isa-version", f"ISA12 {x.version!r} is not an interchange control version", TA1.VERSION)
        if len(x.control_number) != 9 or not _digits(x.control_number):
            isa(13, "isa-control-number", f"ISA13 {x.control_number!r} is not 9 digits", TA1.CONTROL_NUMBER)
        if x.acknowledgment_requested not in codes.ACKNOWLEDGMENT_REQUESTED:
            isa(14, "isa-code", f"ISA14 {x.acknowledgment_requested!r} is not 0 or 1", TA1.ACKNOWLEDGMENT_REQUESTED)
        if x.usage not in codes.USAGE_INDICATORS:
            isa(15, "isa-code", f"ISA15 {x.usage!r} is not P, T or I", TA1.USAGE)
        trailer = x.trailer
        if trailer is None:
            return
        place = Place(interchange=x.control_number, interchange_index=self.index, segment_tag="IEA")
        if not DIGITS.fullmatch(trailer.count) or int(trailer.count) != len(x.groups):
            self.quirk(
                "trailer_counts",
                "iea-group-count",
                f"IEA01 {trailer.count!r} but the interchange has {len(x.groups)} functional group(s)",
                replace(place, element=1),
                AckLevel.INTERCHANGE,
                TA1.GROUP_COUNT,
            )
        if trailer.control_number != x.control_number:
            at = replace(place, element=2)
            message = f"IEA02 {trailer.control_number!r} does not match ISA13 {x.control_number!r}"
            if _number_equal(trailer.control_number, x.control_number):
                self.quirk(
                    "unpadded_control_numbers",
                    "iea-control-number-padding",
                    message,
                    at,
                    AckLevel.INTERCHANGE,
                    TA1.CONTROL_NUMBER_MISMATCH,
                )
            else:
                self.quirk(
                    "trailer_control_numbers",
                    "iea-control-number",
                    message,
                    at,
                    AckLevel.INTERCHANGE,
                    TA1.CONTROL_NUMBER_MISMATCH,
                )

    def group(self, group: FunctionalGroup, place: Place) -> None:
        def gs(n: int) -> Place:
            return replace(place, segment_tag="GS", element=n)

        if not FUNCTIONAL_ID.fullmatch(group.functional_id):
            self.add(
                "gs-functional-id",
                f"GS01 {group.functional_id!r} is not a functional identifier code",
                gs(1),
                AckLevel.GROUP,
                "1",
            )
        for n, value in ((2, group.application_sender), (3, group.application_receiver)):
            if not value:
                self.add("gs-required", f"GS0{n} is empty", gs(n), AckLevel.INTERCHANGE, TA1.CONTENT)
            elif not value.strip():
                self.quirk(
                    "blank_envelope_elements",
                    "gs-blank",
                    f"GS0{n} holds only spaces",
                    gs(n),
                    AckLevel.INTERCHANGE,
                    TA1.CONTENT,
                )
        if not _date(group.date, century=True):
            self.add("gs-date", f"GS04 {group.date!r} is not a date CCYYMMDD", gs(4), AckLevel.INTERCHANGE, TA1.CONTENT)
        if not _time(group.time, (4, 6, 7, 8)):
            self.add(
                "gs-time", f"GS05 {group.time!r} is not a time HHMM[SS[D[D]]]", gs(5), AckLevel.INTERCHANGE, TA1.CONTENT
            )
        if not DIGITS.fullmatch(group.control_number) or len(group.control_number) > 9:
            self.add(
                "gs-control-number",
                f"GS06 {group.control_number!r} is not 1 to 9 digits",
                gs(6),
                AckLevel.GROUP,
                codes.Group.CONTROL_NUMBER_SYNTAX,
            )
        if group.agency not in codes.RESPONSIBLE_AGENCIES:
            self.add("gs-code", f"GS07 {group.agency!r} is not X or T", gs(7), AckLevel.INTERCHANGE, TA1.CONTENT)
        if not group.version:
            self.add("gs-required", "GS08 (version) is empty", gs(8), AckLevel.GROUP, "2")
        if group.trailer is not None:
            ge = place  # made precise only when something is wrong
            count = group.trailer.count
            wrong_count = not _digits(count) or int(count) != len(group.transactions)
            if wrong_count or group.trailer.control_number != group.control_number:
                ge = replace(place, segment_tag="GE")
            if not DIGITS.fullmatch(count) or int(count) != len(group.transactions):
                self.quirk(
                    "trailer_counts",
                    "ge-transaction-count",
                    f"GE01 {count!r} but the group has {len(group.transactions)} transaction set(s)",
                    replace(ge, element=1),
                    AckLevel.GROUP,
                    codes.Group.TRANSACTION_COUNT,
                )
            if group.trailer.control_number != group.control_number:
                at = replace(ge, element=2)
                message = f"GE02 {group.trailer.control_number!r} does not match GS06 {group.control_number!r}"
                if _number_equal(group.trailer.control_number, group.control_number):
                    self.quirk(
                        "unpadded_control_numbers",
                        "ge-control-number-padding",
                        message,
                        at,
                        AckLevel.GROUP,
                        codes.Group.CONTROL_NUMBER_MISMATCH,
                    )
                else:
                    self.quirk(
                        "trailer_control_numbers",
                        "ge-control-number",
                        message,
                        at,
                        AckLevel.GROUP,
                        codes.Group.CONTROL_NUMBER_MISMATCH,
                    )
        seen: set[str] = set()
        for t_index, tx in enumerate(group.transactions):
            tplace = Place(
                place.interchange,
                place.group,
                tx.set_id,
                tx.control_number,
                interchange_index=place.interchange_index,
                group_index=place.group_index,
                transaction_index=t_index,
            )
            if tx.control_number in seen:
                self.add(
                    "st-control-number-unique",
                    f"ST02 {tx.control_number} is used twice in the group",
                    replace(tplace, segment_position=1, segment_tag="ST", element=2),
                    AckLevel.TRANSACTION,
                    codes.TransactionCode.CONTROL_NUMBER_NOT_UNIQUE,
                )
            seen.add(tx.control_number)
            self.transaction(group, tx, tplace)

    def transaction(self, group: FunctionalGroup, tx: Tx, place: Place) -> None:
        def st(n: int) -> Place:
            return replace(place, segment_position=1, segment_tag="ST", element=n)

        if len(tx.set_id) != 3 or not _digits(tx.set_id):
            self.add(
                "st-set-id",
                f"ST01 {tx.set_id!r} is not a transaction set identifier",
                st(1),
                AckLevel.TRANSACTION,
                codes.TransactionCode.SET_IDENTIFIER,
            )
        elif (expected := codes.FUNCTIONAL_GROUP_OF.get(tx.set_id)) and expected != group.functional_id:
            self.quirk(
                "mixed_functional_group",
                "st-functional-group",
                f"a {tx.set_id} belongs in a GS01 {expected} group, not {group.functional_id}",
                st(1),
                AckLevel.TRANSACTION,
                codes.TransactionCode.SET_IDENTIFIER,
            )
        if not 4 <= len(tx.control_number) <= 9 or not tx.control_number.strip():
            self.add(
                "st-control-number",
                f"ST02 {tx.control_number!r} is not 4 to 9 characters",
                st(2),
                AckLevel.TRANSACTION,
                codes.TransactionCode.CONTROL_NUMBER,
            )
        if tx.trailer is not None:
            count = tx.trailer.count
            se = place  # made precise only when something is wrong
            if tx.trailer.control_number != tx.control_number or not _digits(count) or int(count) != tx.segment_count:
                se = replace(place, segment_position=tx.segment_count, segment_tag="SE")
            if not DIGITS.fullmatch(count) or int(count) != tx.segment_count:
                self.quirk(
                    "trailer_counts",
                    "se-segment-count",
                    f"SE01 {count!r} but the transaction set has {tx.segment_count} segments",
                    replace(se, element=1),
                    AckLevel.TRANSACTION,
                    codes.TransactionCode.SEGMENT_COUNT,
                )
            if tx.trailer.control_number != tx.control_number:
                self.quirk(
                    "trailer_control_numbers",
                    "se-control-number",
                    f"SE02 {tx.trailer.control_number!r} does not match ST02 {tx.control_number!r}",
                    replace(se, element=2),
                    AckLevel.TRANSACTION,
                    codes.TransactionCode.CONTROL_NUMBER_MISMATCH,
                )
        notes = NOTES
        for position, segment in enumerate(tx.segments, start=2):
            rules = notes.get(segment.tag)
            if rules:
                self.syntax_notes(segment, rules, place, position)
        if tx.set_id == "997":
            _Acknowledgement997(self, place).check(tx)

    def syntax_notes(
        self, segment: Segment, rules: tuple[tuple[str, str, tuple[int, ...]], ...], place: Place, position: int
    ) -> None:
        elements = segment.elements
        size = len(elements)
        for note, kind, positions in rules:
            if kind == "P" and positions[0] > size:
                continue  # the commonest case: a pair beyond the last element sent
            present = [p <= size and _present(elements[p - 1]) for p in positions]
            wrong: int | None = None
            code = codes.ElementCode.CONDITIONAL_MISSING
            if kind == "P" and any(present) and not all(present):
                wrong = positions[present.index(False)]
            elif kind == "C" and present[0] and not all(present[1:]):
                wrong = positions[1 + present[1:].index(False)]
            elif kind == "R" and not any(present):
                wrong = positions[0]
            elif kind == "L" and present[0] and not any(present[1:]):
                wrong = positions[1]
            elif kind == "E" and sum(present) > 1:
                wrong = [p for p, here in zip(positions, present, strict=True) if here][1]
                code = codes.ElementCode.EXCLUSION_VIOLATED
            if wrong is not None:
                self.quirk(
                    "syntax_notes",
                    "syntax-note",
                    f"{segment.tag} syntax note {note} is not met",
                    replace(place, segment_position=position, segment_tag=segment.tag, element=wrong),
                    AckLevel.ELEMENT,
                    code,
                )


class _Acknowledgement997:
    """The codes inside a 997: AK1 to AK9 must carry values from their code lists."""

    def __init__(self, validator: _Validator, place: Place) -> None:
        self.v = validator
        self.place = place

    def bad(self, segment: Segment, position: int, element: int, message: str, code: str) -> None:
        self.v.add(
            "ack-code",
            f"{segment.tag}{element:02d} {message}",
            replace(self.place, segment_position=position, segment_tag=segment.tag, element=element),
            AckLevel.ELEMENT,
            code,
        )

    def code(self, segment: Segment, position: int, element: int, allowed: frozenset[str], required: bool) -> None:
        value = segment.value(element)
        if value == "" and not required:
            return
        if value not in allowed:
            self.bad(segment, position, element, f"{value!r} is not in its code list", codes.ElementCode.INVALID_CODE)

    def number(self, segment: Segment, position: int, element: int, required: bool) -> None:
        value = segment.value(element)
        if value == "" and not required:
            return
        if not DIGITS.fullmatch(value):
            self.bad(segment, position, element, f"{value!r} is not a number", codes.ElementCode.INVALID_CHARACTER)

    def check(self, tx: Tx) -> None:
        tags = {s.tag for s in tx.segments}
        for required in ("AK1", "AK9"):
            if required not in tags:
                self.v.add(
                    "ack-structure",
                    f"a 997 needs its {required} segment",
                    replace(self.place, segment_tag=required),
                    AckLevel.SEGMENT,
                    "3",
                )
        for position, s in enumerate(tx.segments, start=2):
            if s.tag == "AK1":
                if not FUNCTIONAL_ID.fullmatch(s.value(1)):
                    self.bad(
                        s,
                        position,
                        1,
                        f"{s.value(1)!r} is not a functional identifier code",
                        codes.ElementCode.INVALID_CODE,
                    )
                self.number(s, position, 2, required=True)
            elif s.tag == "AK2":
                if len(s.value(1)) != 3 or not _digits(s.value(1)):
                    self.bad(
                        s,
                        position,
                        1,
                        f"{s.value(1)!r} is not a transaction set identifier",
                        codes.ElementCode.INVALID_CODE,
                    )
                if not s.value(2):
                    self.bad(s, position, 2, "is required", codes.ElementCode.MANDATORY_MISSING)
            elif s.tag == "AK3":
                if not TAG.fullmatch(s.value(1)):
                    self.bad(
                        s, position, 1, f"{s.value(1)!r} is not a segment identifier", codes.ElementCode.INVALID_CODE
                    )
                self.number(s, position, 2, required=True)
                self.code(s, position, 4, codes.SEGMENT_ERROR_CODES, required=False)
            elif s.tag == "AK4":
                first = s.element(1)
                positions = first.components if isinstance(first, Composite) else (s.value(1),)
                if not positions or not DIGITS.fullmatch(positions[0]):
                    self.bad(
                        s,
                        position,
                        1,
                        f"{s.value(1)!r} is not an element position",
                        codes.ElementCode.INVALID_CHARACTER,
                    )
                self.number(s, position, 2, required=False)
                self.code(s, position, 3, codes.ELEMENT_ERROR_CODES, required=True)
            elif s.tag == "AK5":
                self.code(s, position, 1, codes.TRANSACTION_ACK_STATUSES, required=True)
                for n in range(2, 7):
                    self.code(s, position, n, codes.TRANSACTION_ERROR_CODES, required=False)
            elif s.tag == "AK9":
                self.code(s, position, 1, codes.GROUP_ACK_STATUSES, required=True)
                for n in (2, 3, 4):
                    self.number(s, position, n, required=True)
                for n in range(5, 10):
                    self.code(s, position, n, codes.GROUP_ERROR_CODES, required=False)


def _digits(value: str) -> bool:
    """ASCII digits only: str.isdigit also takes superscripts and other scripts' digits, which int() refuses."""
    return value.isascii() and value.isdigit()
