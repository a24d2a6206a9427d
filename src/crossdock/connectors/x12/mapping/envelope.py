"""Envelopes for outbound transaction sets (ISA/GS around the sets the mappings build, with the control numbers the
caller allocates) and the inbound walk from interchanges to the sets of one kind. Counts and trailers are the
writer's (it derives SE01/GE01/IEA01 from the content). No I/O, no clock: the time is passed in."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from crossdock.connectors.x12.codes import FUNCTIONAL_GROUP_OF
from crossdock.connectors.x12.mapping.rules import PartnerRules, X12MappingError
from crossdock.connectors.x12.model import FunctionalGroup, Interchange, Transaction


@dataclass(frozen=True, slots=True)
class ControlNumbers:
    """The numbers the caller's sequences allocated: ISA13, the first GS06 (one more per further group) and, when
    set, the first ST02 (one more per further set, across groups); None keeps the sets' own ST02."""

    interchange: int
    group: int
    transaction: int | None = 1

    def __post_init__(self) -> None:
        if not 0 < self.interchange <= 999_999_999:
            raise ValueError(f"ISA13 {self.interchange} is not 1 to 999999999")
        if not 0 < self.group <= 999_999_999:
            raise ValueError(f"GS06 {self.group} is not 1 to 999999999")
        if self.transaction is not None and not 0 < self.transaction <= 999_999_999:
            raise ValueError(f"ST02 {self.transaction} is not 1 to 999999999")


def build_interchange(
    rules: PartnerRules, transactions: Sequence[Transaction], controls: ControlNumbers, at: datetime
) -> Interchange:
    """One interchange from us to the partner: one functional group per kind of set (850s in a PO group, 856s in
    an SH group...), in the order the kinds first appear, with the partner's ids, version and separators."""
    if not transactions:
        raise X12MappingError("an interchange needs at least one transaction set", set_id="ISA")
    if at.tzinfo is None:
        raise ValueError("at must carry a timezone")
    when = at.astimezone(rules.zone)
    by_group: dict[str, list[Transaction]] = {}
    for tx in transactions:
        functional_id = FUNCTIONAL_GROUP_OF.get(tx.set_id)
        if functional_id is None:
            raise X12MappingError(f"no functional group is known for a {tx.set_id}", set_id=tx.set_id)
        by_group.setdefault(functional_id, []).append(tx)
    next_st = controls.transaction
    groups = []
    for offset, (functional_id, members) in enumerate(by_group.items()):
        numbered = []
        for tx in members:
            if next_st is not None:
                tx = replace(tx, control_number=f"{next_st:04d}")
                next_st += 1
            numbered.append(tx)
        groups.append(
            FunctionalGroup(
                functional_id=functional_id,
                application_sender=rules.our_application_id or rules.our_id,
                application_receiver=rules.partner_application_id or rules.partner_id,
                date=when.strftime("%Y%m%d"),
                time=when.strftime("%H%M"),
                control_number=str(controls.group + offset),
                version=rules.version,
                transactions=tuple(numbered),
            )
        )
    return Interchange(
        sender_qualifier=rules.our_qualifier,
        sender_id=rules.our_id,
        receiver_qualifier=rules.partner_qualifier,
        receiver_id=rules.partner_id,
        date=when.strftime("%y%m%d"),
        time=when.strftime("%H%M"),
        control_number=f"{controls.interchange:09d}",
        version=rules.interchange_version,
        usage=rules.usage,
        separators=rules.separators(),
        groups=tuple(groups),
    )


def transactions_of(interchanges: Iterable[Interchange], set_id: str | None = None) -> Iterator[Transaction]:
    """The transaction sets of one kind (every set when `set_id` is None), in file order."""
    for interchange in interchanges:
        for _, tx in interchange.transactions():
            if set_id is None or tx.set_id == set_id:
                yield tx
