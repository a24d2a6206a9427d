"""CONTRL, the EDIFACT syntax and service report: building one for a received interchange, and reading one back.

Owns the UCI / UCF / UCM / UCS / UCD layout and the action codes (0083: 7 acknowledged, 4 rejected). Must not:
decide what is wrong with an interchange (validation.py does) or send anything.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from crossdock.connectors.edifact import reader, validation, writer
from crossdock.connectors.edifact.syntax import (
    CHARSET_CODECS,
    EdifactValidationError,
    Interchange,
    Issue,
    Message,
    Place,
    Segment,
    Severity,
    digits,
)

ACCEPTED = "7"
REJECTED = "4"
# UCI only: the interchange was received, its content not (yet) checked. Nothing in it was refused.
RECEIVED = "8"
ACTIONS = frozenset({ACCEPTED, REJECTED, RECEIVED})


def _message_id(message: Message) -> tuple[str, ...]:
    return tuple(message.header.element(2)[:4])


def _error_elements(issue: Issue) -> tuple[str | None, tuple[str, ...] | None]:
    if issue.place.element is None:
        return None, None
    s011 = (str(issue.place.element), *((str(issue.place.component),) if issue.place.component else ()))
    return issue.code, s011


def _sound(segment: Segment, decimal: str) -> set[int]:
    """Positions of the elements of a received service segment that are well-formed, and so can be echoed: a
    CONTRL repeating a malformed reference would itself be malformed."""
    # Warnings count too: extra components a UNB/UNG may carry are errors in UCI/UCF.
    broken = {i.place.element for i in validation.check_segment(segment, Place(), decimal)}
    return {p for p in range(1, len(segment.elements) + 1) if p not in broken and None not in broken}


def _message_report(message: Message, issues: Sequence[Issue], decimal: str) -> list[Segment]:
    errors = [i for i in issues if i.severity is Severity.ERROR]
    whole = next((i for i in errors if i.place.segment is None), None)
    sound = _sound(message.header, decimal)
    out = [
        Segment.of(
            "UCM",
            message.reference if 1 in sound else None,
            _message_id(message) if 2 in sound else None,
            REJECTED if errors else ACCEPTED,
            whole.code if whole else None,
        )
    ]
    by_segment: dict[int, list[Issue]] = defaultdict(list)
    for issue in errors:
        if issue.place.segment is not None:
            by_segment[issue.place.segment].append(issue)
    for position in sorted(by_segment):
        found = by_segment[position]
        segment_level = next((i for i in found if i.place.element is None), None)
        out.append(Segment.of("UCS", str(position), segment_level.code if segment_level else None))
        for issue in found:
            code, s011 = _error_elements(issue)
            if s011 is not None:
                out.append(Segment.of("UCD", code, s011))
    return out


def acknowledge(
    received: Interchange, issues: Sequence[Issue], *, reference: str, prepared: datetime, message_reference: str = "1"
) -> Interchange:
    """A CONTRL interchange to the sender of `received`: every message acknowledged (7) or rejected (4), with
    UCS/UCD naming the segment position and the element of each error; the interchange is rejected when any
    error is in it."""
    decimal = received.delimiters.decimal
    if not {2, 3, 5} <= _sound(received.header, decimal):
        raise EdifactValidationError(
            Issue(
                "contrl-unaddressable",
                "13",
                "without a well-formed UNB sender, recipient and reference no CONTRL can answer",
                received.place().at(segment=1, tag="UNB"),
            )
        )
    errors = [i for i in issues if i.severity is Severity.ERROR]
    envelope = [i for i in errors if i.place.message is None and i.place.group is None]
    head = envelope[0] if envelope else None
    head_element = _error_elements(head) if head else (None, None)
    body: list[Segment] = [
        Segment.of(
            "UCI",
            received.reference,
            received.header.element(2),
            received.header.element(3),
            REJECTED if errors else ACCEPTED,
            head.code if head else None,
            head.place.tag if head and head.place.tag in ("UNB", "UNZ") else None,
            head_element[1],
        )
    ]
    by_message: dict[tuple[str | None, str], list[Issue]] = defaultdict(list)
    for issue in errors:
        if issue.place.message is not None:
            by_message[(issue.place.group, issue.place.message)].append(issue)
    for message in received.messages:
        body.extend(_message_report(message, by_message.get((None, message.reference), []), decimal))
    # A group whose own reference is malformed cannot be named in a UCF: the interchange is then rejected in UCI
    # alone (validation has already found the UNG error that makes it so).
    groups = received.groups if all(5 in _sound(g.header, decimal) for g in received.groups) else ()
    for group in groups:
        group_errors = [i for i in errors if i.place.group == group.reference]
        group_level = next((i for i in group_errors if i.place.message is None), None)
        sound = _sound(group.header, decimal)
        body.append(
            Segment.of(
                "UCF",
                group.reference,
                group.header.element(2) if 2 in sound else None,
                group.header.element(3) if 3 in sound else None,
                REJECTED if group_errors else ACCEPTED,
                group_level.code if group_level else None,
            )
        )
        for message in group.messages:
            body.extend(_message_report(message, by_message.get((group.reference, message.reference), []), decimal))
    contrl = writer.message(message_reference, "CONTRL", body, version="D", release="3")
    built = writer.interchange(
        reference,
        sender=(received.recipient, received.recipient_qualifier),
        recipient=(received.sender, received.sender_qualifier),
        prepared=prepared,
        messages=[contrl],
        syntax=received.syntax if received.syntax in CHARSET_CODECS else "UNOC",
        syntax_version=3,
        delimiters=received.delimiters,
        una=received.una,
    )
    # The report echoes the partner's ids, so it is written in the encoding their interchange was read with.
    return replace(built, encoding=received.encoding)


def acknowledge_data(
    data: bytes | str, *, reference: str, prepared: datetime, leniency: reader.Leniency = reader.STRICT
) -> list[Interchange]:
    """One CONTRL per interchange in the data. Raises EdifactSyntaxError when the data cannot be read at all, and
    EdifactValidationError (contrl-unaddressable) when a UNB lacks its sender, recipient or reference: there is
    no one to address the report to."""
    out = []
    for index, received in enumerate(reader.read(data, leniency)):
        try:
            validation.validate(received, leniency)
            issues: Sequence[Issue] = ()
        except EdifactValidationError as error:
            issues = error.issues
        out.append(acknowledge(received, issues, reference=f"{reference}{index or ''}", prepared=prepared))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Reading a CONTRL back


@dataclass(frozen=True)
class ElementError:
    position: int
    component: int | None
    code: str


@dataclass(frozen=True)
class SegmentError:
    position: int
    code: str
    elements: tuple[ElementError, ...] = ()


@dataclass(frozen=True)
class MessageReport:
    reference: str
    message_type: str
    action: str
    code: str
    group: str | None = None
    segments: tuple[SegmentError, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.action == ACCEPTED


@dataclass(frozen=True)
class GroupReport:
    """A UCF: what the partner said about one functional group (UNG) of the interchange."""

    reference: str
    action: str
    code: str

    @property
    def accepted(self) -> bool:
        return self.action == ACCEPTED


@dataclass(frozen=True)
class ContrlReport:
    """What a partner said about one of our interchanges: UCI (`action` 7, 4 or 8 received), then per group its
    UCF and per message its UCM with the UCS / UCD errors."""

    interchange: str
    action: str
    code: str
    messages: tuple[MessageReport, ...] = ()
    groups: tuple[GroupReport, ...] = ()

    @property
    def accepted(self) -> bool:
        return (
            self.action in (ACCEPTED, RECEIVED)
            and all(m.accepted for m in self.messages)
            and all(g.accepted for g in self.groups)
        )


def read_contrl(message: Message, place: Place | None = None) -> ContrlReport:
    """The report a CONTRL message carries. Raises EdifactValidationError when it is not a CONTRL with a UCI."""
    if message.type != "CONTRL" or not message.segments or message.segments[0].tag != "UCI":
        raise EdifactValidationError(
            Issue(
                "contrl-expected",
                "13",
                f"{message.type} is not a CONTRL starting with UCI",
                (place or Place()).at(message=message.reference, message_type=message.type, segment=2),
            )
        )
    uci = message.segments[0]
    messages: list[MessageReport] = []
    groups: list[GroupReport] = []
    group: str | None = None
    current: dict[str, object] | None = None
    segments: list[SegmentError] = []

    def close() -> None:
        if current is not None:
            messages.append(MessageReport(segments=tuple(segments), **current))  # type: ignore[arg-type]

    for segment in message.segments[1:]:
        if segment.tag == "UCF":
            group = segment.value(1)
            groups.append(GroupReport(group, segment.value(4), segment.value(5)))
        elif segment.tag == "UCM":
            close()
            segments = []
            current = {
                "reference": segment.value(1),
                "message_type": segment.value(2, 1),
                "action": segment.value(3),
                "code": segment.value(4),
                "group": group,
            }
        elif segment.tag == "UCS":
            position = segment.value(1)
            segments.append(SegmentError(int(position) if digits(position) else 0, segment.value(2)))
        elif segment.tag == "UCD" and segments:
            component = segment.value(2, 2)
            error = ElementError(
                int(element) if digits(element := segment.value(2, 1)) else 0,
                int(component) if digits(component) else None,
                segment.value(1),
            )
            last = segments[-1]
            segments[-1] = SegmentError(last.position, last.code, (*last.elements, error))
    close()
    return ContrlReport(uci.value(1), uci.value(4), uci.value(5), tuple(messages), tuple(groups))
