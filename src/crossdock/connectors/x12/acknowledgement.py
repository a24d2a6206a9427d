"""997 functional acknowledgements: build them from a read interchange and its issues (one 997 per functional
group: AK1, AK2/AK3/AK4/AK5 per transaction set, AK9), and read inbound ones back into structured acknowledgements
that can be matched to the interchanges we sent (functional id + GS06, then ST01 + ST02). TA1 is not built here."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from crossdock.connectors.x12.model import Composite, FunctionalGroup, Interchange, Segment, Transaction
from crossdock.connectors.x12.syntax import AckLevel, Issue, Severity, X12Error

ACCEPTED = frozenset({"A", "E"})
# Bad data is echoed (AK404) only when it cannot collide with the reply's separators.
SAFE_ECHO = re.compile(r"[A-Za-z0-9 .\-]{1,99}")


@dataclass(frozen=True, slots=True)
class ElementError:
    position: int  # AK401-1
    code: str  # AK403
    component: int | None = None  # AK401-2
    reference: str = ""  # AK402: data element reference number
    bad_value: str = ""  # AK404


@dataclass(frozen=True, slots=True)
class SegmentError:
    tag: str  # AK301
    position: int  # AK302: within the transaction set, ST = 1
    code: str  # AK304
    loop_id: str = ""  # AK303
    elements: tuple[ElementError, ...] = ()


@dataclass(frozen=True, slots=True)
class TransactionAcknowledgement:
    set_id: str  # AK201
    control_number: str  # AK202
    status: str  # AK501: A accepted, E accepted with errors noted, R rejected...
    codes: tuple[str, ...] = ()  # AK502-AK506
    segments: tuple[SegmentError, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.status in ACCEPTED


@dataclass(frozen=True, slots=True)
class GroupAcknowledgement:
    functional_id: str  # AK101
    group_control_number: str  # AK102: the GS06 acknowledged
    status: str  # AK901: A, E, P (partially accepted), R...
    included: int | None = None  # AK902
    received: int | None = None  # AK903
    accepted_count: int | None = None  # AK904
    codes: tuple[str, ...] = ()  # AK905-AK909
    version: str = ""  # AK103 (005010)
    transactions: tuple[TransactionAcknowledgement, ...] = ()
    # Who sent the 997 (its ISA06) and to whom, to match it to the interchange we sent.
    sender_id: str = ""
    receiver_id: str = ""

    @property
    def accepted(self) -> bool:
        return self.status in ACCEPTED

    def for_transaction(self, set_id: str, control_number: str) -> TransactionAcknowledgement | None:
        for t in self.transactions:
            if t.set_id == set_id and t.control_number == control_number:
                return t
        return None


def _five_or_more(version: str) -> bool:
    return len(version) >= 3 and _digits(version[:3]) and int(version[:3]) >= 5


def acknowledgement_for(
    interchange: Interchange,
    issues: Sequence[Issue],
    group_index: int,
    *,
    control_number: str = "0001",
    index: int = 0,
) -> Transaction:
    """The 997 for one functional group of `interchange` (the `index`-th interchange of the read `issues`)."""
    group = interchange.groups[group_index]
    mine = [
        i
        for i in issues
        if i.place.interchange_index == index
        and i.place.group_index == group_index
        and i.code
        and i.level is not AckLevel.NONE
    ]
    v5 = _five_or_more(group.version)
    body: list[Segment] = [
        Segment("AK1", (group.functional_id, group.control_number, *((group.version,) if v5 else ())))
    ]
    accepted = 0
    statuses = []
    for t_index, tx in enumerate(group.transactions):
        status, segments = _transaction(tx, t_index, [i for i in mine if i.place.transaction_index == t_index], v5)
        body.extend(segments)
        statuses.append(status)
        accepted += status in ACCEPTED
    group_issues = [i for i in mine if i.place.transaction_index is None and i.level is AckLevel.GROUP]
    group_codes = _unique(i.code for i in group_issues)[:5]
    if any(i.severity is Severity.ERROR for i in group_issues) or (statuses and accepted == 0):
        status = "R"
    elif accepted < len(statuses):
        status = "P"
    elif "E" in statuses or group_codes:
        status = "E"
    else:
        status = "A"
    declared = group.trailer.count if group.trailer and _digits(group.trailer.count) else str(len(statuses))
    body.append(Segment("AK9", (status, str(int(declared)), str(len(statuses)), str(accepted), *group_codes)))
    return Transaction(set_id="997", control_number=control_number, segments=tuple(body))


def _transaction(tx: Transaction, t_index: int, issues: list[Issue], v5: bool) -> tuple[str, list[Segment]]:
    segments = [
        Segment(
            "AK2",
            (
                tx.set_id,
                tx.control_number,
                *((tx.implementation_reference,) if v5 and tx.implementation_reference else ()),
            ),
        )
    ]
    by_segment: dict[tuple[int, str], list[Issue]] = {}
    for issue in issues:
        if issue.level in (AckLevel.SEGMENT, AckLevel.ELEMENT) and issue.place.segment_position is not None:
            key = (issue.place.segment_position, issue.place.segment_tag or "")
            by_segment.setdefault(key, []).append(issue)
    for (position, tag), found in sorted(by_segment.items()):
        segment_codes = [i.code for i in found if i.level is AckLevel.SEGMENT]
        segments.append(Segment("AK3", (tag, str(position), "", segment_codes[0] if segment_codes else "8")))
        for issue in found:
            if issue.level is AckLevel.ELEMENT and issue.place.element is not None:
                where: str | Composite = str(issue.place.element)
                if issue.place.component is not None:
                    where = Composite((str(issue.place.element), str(issue.place.component)))
                bad = _bad_value(tx, position, issue.place.element)
                segments.append(Segment("AK4", (where, "", issue.code, *((bad,) if bad else ()))))
    transaction_codes = [i.code for i in issues if i.level is AckLevel.TRANSACTION]
    if by_segment:
        transaction_codes.append("5")
    rejected = any(i.severity is Severity.ERROR for i in issues)
    status = "R" if rejected else ("E" if transaction_codes else "A")
    segments.append(Segment("AK5", (status, *_unique(transaction_codes)[:5])))
    return status, segments


def _bad_value(tx: Transaction, position: int, element: int) -> str:
    if not 2 <= position < len(tx.segments) + 2:
        return ""
    value = tx.segments[position - 2].value(element)
    return value if SAFE_ECHO.fullmatch(value) else ""


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def acknowledge(
    received: Interchange,
    issues: Sequence[Issue],
    *,
    interchange_control_number: str,
    group_control_number: str,
    at: dt.datetime,
    index: int = 0,
) -> Interchange:
    """The reply interchange: sender and receiver swapped, one GS*FA group holding a 997 per received group."""
    if not received.groups:
        raise X12Error("an interchange without functional groups has nothing for a 997 to acknowledge")
    first: FunctionalGroup = received.groups[0]
    acks = tuple(
        acknowledgement_for(received, issues, g, control_number=f"{g + 1:04d}", index=index)
        for g in range(len(received.groups))
    )
    return Interchange(
        sender_qualifier=received.receiver_qualifier,
        sender_id=received.receiver_id,
        receiver_qualifier=received.sender_qualifier,
        receiver_id=received.sender_id,
        date=at.strftime("%y%m%d"),
        time=at.strftime("%H%M"),
        control_number=interchange_control_number,
        version=received.version,
        usage=received.usage,
        standards_id=received.standards_id,
        separators=received.separators,
        groups=(
            FunctionalGroup(
                functional_id="FA",
                application_sender=first.application_receiver,
                application_receiver=first.application_sender,
                date=at.strftime("%Y%m%d"),
                time=at.strftime("%H%M"),
                control_number=group_control_number,
                agency="X",
                version=first.version,
                transactions=acks,
            ),
        ),
    )


def _int(value: str) -> int | None:
    return int(value) if _digits(value) else None


def read_acknowledgement(
    transaction: Transaction, *, sender_id: str = "", receiver_id: str = ""
) -> GroupAcknowledgement:
    """The structured content of one inbound 997."""
    if transaction.set_id != "997":
        raise X12Error(f"transaction set {transaction.set_id} is not a 997")
    ak1: Segment | None = None
    ak9: Segment | None = None
    done: list[TransactionAcknowledgement] = []
    current: Segment | None = None
    seg_errors: list[SegmentError] = []
    elements: list[ElementError] = []
    ak3: Segment | None = None

    def close_segment() -> None:
        nonlocal ak3, elements
        if ak3 is not None:
            seg_errors.append(
                SegmentError(ak3.value(1), _int(ak3.value(2)) or 0, ak3.value(4), ak3.value(3), tuple(elements))
            )
        ak3, elements = None, []

    for s in transaction.segments:
        if s.tag == "AK1":
            ak1 = s
        elif s.tag == "AK2":
            current, seg_errors = s, []
        elif s.tag == "AK3":
            close_segment()
            ak3 = s
        elif s.tag == "AK4":
            position = _int(s.component(1, 1)) or 0
            component = _int(s.component(1, 2)) if isinstance(s.element(1), Composite) else None
            elements.append(ElementError(position, s.value(3), component, s.value(2), s.value(4)))
        elif s.tag == "AK5":
            close_segment()
            if current is not None:
                done.append(
                    TransactionAcknowledgement(
                        current.value(1),
                        current.value(2),
                        s.value(1),
                        tuple(v for v in (s.value(n) for n in range(2, 7)) if v),
                        tuple(seg_errors),
                    )
                )
            current, seg_errors = None, []
        elif s.tag == "AK9":
            ak9 = s
    if ak1 is None:
        raise X12Error("a 997 without its AK1 segment")
    return GroupAcknowledgement(
        functional_id=ak1.value(1),
        group_control_number=ak1.value(2),
        version=ak1.value(3),
        status=ak9.value(1) if ak9 else "",
        included=_int(ak9.value(2)) if ak9 else None,
        received=_int(ak9.value(3)) if ak9 else None,
        accepted_count=_int(ak9.value(4)) if ak9 else None,
        codes=tuple(v for v in (ak9.value(n) for n in range(5, 10)) if v) if ak9 else (),
        transactions=tuple(done),
        sender_id=sender_id,
        receiver_id=receiver_id,
    )


def read_acknowledgements(interchanges: Iterable[Interchange]) -> tuple[GroupAcknowledgement, ...]:
    """Every 997 in the interchanges, in order."""
    return tuple(
        read_acknowledgement(tx, sender_id=x.sender_id, receiver_id=x.receiver_id)
        for x in interchanges
        for _, tx in x.transactions()
        if tx.set_id == "997"
    )


def _digits(value: str) -> bool:
    """ASCII digits only: str.isdigit also takes superscripts and other scripts' digits, which int() refuses."""
    return value.isascii() and value.isdigit()
