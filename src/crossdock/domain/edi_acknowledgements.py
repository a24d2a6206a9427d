"""What a trading partner's functional acknowledgement (997 / CONTRL) says about an interchange we sent: the rules
that match its groups to what went out and turn AK9 / AK5 codes into a verdict, and the words an exception uses.
Pure: no clock, no storage; the caller looks up what was sent and passes the time in."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from crossdock.domain import catalog

OVERDUE = "acknowledgement-overdue"
REJECTED = "acknowledgement-rejected"
WITH_ERRORS = "acknowledgement-errors"
UNMATCHED = "acknowledgement-unmatched"

# X12 AK501 / AK901: A accepted, E accepted but errors were noted; anything else (R rejected, P partially accepted,
# M, W, X: rejected for security or encryption reasons) means a set did not get through.
_ACCEPTED = "A"
_NOTED = "E"
# EDIFACT UCM / UCI action (0083): 7 acknowledged, 8 (UCI) received; 4 rejected.
_EDIFACT_ACCEPTED = frozenset({"7", "8"})
X12, EDIFACT = "x12", "edifact"


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    ACCEPTED_WITH_ERRORS = "accepted_with_errors"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Sent:
    """An interchange as it went out: its numbers, the sets it carried and the document in the business's words."""

    partner: str
    interchange: str
    group: str | None
    functional_id: str
    sets: tuple[tuple[str, str], ...]
    document: str


@dataclass(frozen=True)
class Finding:
    """One acknowledged group judged against what was sent (`sent` None: it names nothing we sent)."""

    group: catalog.AcknowledgedGroup
    sent: Sent | None
    verdict: Verdict
    unknown_sets: tuple[tuple[str, str], ...] = ()
    details: tuple[str, ...] = field(default=())

    @property
    def clears(self) -> bool:
        return self.sent is not None and self.verdict is Verdict.ACCEPTED and not self.unknown_sets

    @property
    def reason_code(self) -> str | None:
        if self.sent is None:
            return UNMATCHED
        if self.verdict is Verdict.REJECTED:
            return REJECTED
        if self.verdict is Verdict.ACCEPTED_WITH_ERRORS or self.unknown_sets:
            return WITH_ERRORS
        return None


def owner_for(role: str) -> catalog.ExceptionOwner:
    """Who hears about an interchange a partner refused, answered with errors or did not answer: the EDI desk,
    whatever the partner's role. These are faults of envelopes, codes and mailboxes that the EDI team settles with
    the partner's EDI team; the documents they carry (a PO, an order, an invoice) raise their own business
    exceptions with procurement, customer service, the warehouse or finance. The role stays in the signature so
    that a role needing a desk of its own can be given one here."""
    return catalog.ExceptionOwner.EDI


def _verdict(status: str) -> Verdict:
    if status == _ACCEPTED or status in _EDIFACT_ACCEPTED:
        return Verdict.ACCEPTED
    if status == _NOTED:
        return Verdict.ACCEPTED_WITH_ERRORS
    return Verdict.REJECTED


def _worst(verdicts: Iterable[Verdict]) -> Verdict:
    order = (Verdict.ACCEPTED, Verdict.ACCEPTED_WITH_ERRORS, Verdict.REJECTED)
    return max(verdicts, key=order.index, default=Verdict.ACCEPTED)


def judge(group: catalog.AcknowledgedGroup, sent: Sent | None, *, standard: str = X12) -> Finding:
    """The verdict on one acknowledged group. A 997 group names what it answers by functional id and group control
    number (AK101 / AK102); a set by id and control number (AK201 / AK202). A CONTRL names the interchange (UCI
    0020: the caller found `sent` by it) and each message by type and reference (UCM). The worst status found
    wins: a group accepted (AK9 A) with a set rejected (AK5 R) is a rejection. Sets a 997 or CONTRL leaves out
    were accepted with their group (an AK2 loop is only required for sets in error, UCMs are optional)."""
    details = tuple(_describe(group, standard))
    if sent is None or (standard == X12 and sent.functional_id != group.functional_id):
        return Finding(group, None, _verdict(group.status), details=details)
    verdict = _worst([_verdict(group.status), *(_verdict(t.status) for t in group.transactions)])
    ours = set(sent.sets)
    unknown = tuple(
        (t.set_id, t.control_number) for t in group.transactions if (t.set_id, t.control_number) not in ours
    )
    return Finding(group, sent, verdict, unknown, details)


def _describe(group: catalog.AcknowledgedGroup, standard: str = X12) -> Iterable[str]:
    if standard == EDIFACT:
        # A CONTRL's groups carry X12's letters (A / R); its messages keep the UCM action (7 / 4).
        head, noun, each = ("UCI" if not group.control_number else f"UCF {group.control_number}"), "message", "UCM"
    else:
        head, noun, each = "AK9", "set", "AK5"
    yield f"{head} {group.status}" + (f" codes {','.join(group.codes)}" if group.codes else "")
    for t in group.transactions:
        if _verdict(t.status) is Verdict.ACCEPTED and not t.errors and not t.codes:
            continue
        text = f"{noun} {t.set_id} {t.control_number}: {each} {t.status}" + (
            f" codes {','.join(t.codes)}" if t.codes else ""
        )
        for e in t.errors:
            # A CONTRL's UCS names the segment by its position only.
            where = f"segment {e.segment} at {e.position}" if e.segment else f"segment {e.position}"
            if e.element is not None:
                where += f" element {e.element}" + (f".{e.component}" if e.component is not None else "")
            text += f"; {where} code {e.code}" + (f" value {e.value!r}" if e.value else "")
        yield text


def message(finding: Finding, acknowledgement: str, *, acknowledges: str | None = None) -> str:
    """What the exception says: the partner, the interchange and set control numbers, the document and the codes.
    `acknowledges`: the interchange a CONTRL names (UCI), for one that names nothing we sent."""
    group = finding.group
    codes = "; ".join(finding.details)
    sent = finding.sent
    if sent is None and acknowledges is not None:
        return (
            f"acknowledgement {acknowledgement} names interchange {acknowledges}, which was not sent to this partner "
            f"({codes})"
        )
    if sent is None:
        return (
            f"acknowledgement {acknowledgement} names group {group.functional_id} {group.control_number}, which was "
            f"not sent to this partner ({codes})"
        )
    said = {
        Verdict.REJECTED: "rejected",
        Verdict.ACCEPTED_WITH_ERRORS: "accepted with errors",
        Verdict.ACCEPTED: "accepted",
    }[finding.verdict]
    text = (
        f"partner {sent.partner} {said} interchange {sent.interchange} ({_carried(sent)}): "
        f"{sent.document}; acknowledgement {acknowledgement}: {codes}"
    )
    if finding.unknown_sets:
        text += "; it also names sets not sent in that group: " + ", ".join(f"{s} {n}" for s, n in finding.unknown_sets)
    return text


def overdue_message(sent: Sent, sent_at: datetime, due_by: datetime) -> str:
    return (
        f"partner {sent.partner} has not acknowledged interchange {sent.interchange} ({_carried(sent)}): "
        f"{sent.document}; sent {sent_at.isoformat()}, due by {due_by.isoformat()}"
    )


def _carried(sent: Sent) -> str:
    """The numbers an interchange carried: X12 its group and sets, EDIFACT (sent without UNG groups) its messages."""
    sets = ", ".join(f"{s} {n}" for s, n in sent.sets)
    return f"group {sent.group}, sets {sets}" if sent.group is not None else f"messages {sets}"


def due_by(sent_at: datetime, within: timedelta | None) -> datetime | None:
    """When the acknowledgement is overdue; None when the partner is not expected to send one."""
    return None if within is None else sent_at + within


def status_of(findings: Sequence[Finding]) -> Verdict:
    """The interchange's verdict when several groups of acknowledgements name it."""
    return _worst(f.verdict for f in findings)


def worst(findings: Sequence[Finding]) -> Finding:
    """The finding that speaks for an interchange several groups name (a CONTRL's UCI and its UCFs): the one with a
    reason to raise, the worst verdict first."""
    order = (Verdict.ACCEPTED, Verdict.ACCEPTED_WITH_ERRORS, Verdict.REJECTED)
    return max(findings, key=lambda f: (order.index(f.verdict), f.reason_code is not None))
