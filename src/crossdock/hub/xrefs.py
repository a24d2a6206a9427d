"""Reading cross-references where one must exist: a missing link between the hub's id and another system's is a
business exception for master data (reason `missing-cross-reference`), opened and announced (exception.opened) as
every exception is, not a crash, and the caller carries on.

Also a person's link (`link`): checked, refused when it contradicts one already made, audited, and settling the
missing-cross-reference exceptions that waited for it (exception.resolved, by that person).

Must not: guess or create the missing link; a person (or the connector that learns it) links it, then retries.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from crossdock.domain import catalog
from crossdock.domain.events import Envelope, derive_id
from crossdock.hub.handlers import exceptions
from crossdock.hub.handlers.exceptions import Problem, open_exception
from crossdock.hub.ports import AuditEntry, CrossReference, ExceptionFilter, ExceptionStatus, UnitOfWork
from crossdock.hub.router import HandlerContext
from crossdock.hub.timers import Publish

OWNER = catalog.ExceptionOwner.MASTER_DATA
REASON = "missing-cross-reference"
# The cause of an exception found outside a handler (a sender resolving ids): never stored itself, it gives the
# exception.opened event a stable id.
LOOKUP_SOURCE = "crossdock/xrefs"


def require_external_id(
    ctx_or_uow: HandlerContext | UnitOfWork,
    kind: str,
    system: str,
    hub_id: str,
    *,
    at: datetime | None = None,
    publish: Publish | None = None,
    about: tuple[str, str] | None = None,
    needed_for: str = "",
) -> str | None:
    """`system`'s id for the hub's `kind` `hub_id`; when there is none, opens (once) an exception for master data
    and returns None. `about` is the business object held up (default: the one without the link); `needed_for`
    says what waits for it ("to send order SO-1001 to tryton"). Inside a handler the exception.opened event is
    emitted on its context; given a unit of work instead, pass `at` and the processor's `publish`, which appends
    the event and queues its deliveries in that unit of work."""
    found = _uow(ctx_or_uow, at).xrefs.external_id(kind, system, hub_id)
    if found is None:
        message = f"{kind} {hub_id} has no {system} id"
        held = about or (kind, hub_id)
        _open(ctx_or_uow, at, publish, (kind, system, hub_id), held, message, needed_for)
    return found


def require_hub_id(
    ctx_or_uow: HandlerContext | UnitOfWork,
    kind: str,
    system: str,
    external_id: str,
    *,
    at: datetime | None = None,
    publish: Publish | None = None,
    about: tuple[str, str] | None = None,
    needed_for: str = "",
) -> str | None:
    """The hub's id for `system`'s `kind` `external_id`; as require_external_id otherwise."""
    found = _uow(ctx_or_uow, at).xrefs.hub_id(kind, system, external_id)
    if found is None:
        message = f"{system} {kind} {external_id} is not linked to a hub {kind}"
        held = about or (kind, f"{system}:{external_id}")
        _open(ctx_or_uow, at, publish, (kind, system, external_id), held, message, needed_for)
    return found


def _uow(ctx_or_uow: HandlerContext | UnitOfWork, at: datetime | None) -> UnitOfWork:
    if isinstance(ctx_or_uow, HandlerContext):
        return ctx_or_uow.uow
    if at is None:
        raise TypeError("a missing cross-reference found outside a handler needs the time: pass at=")
    return ctx_or_uow


def _open(
    ctx_or_uow: HandlerContext | UnitOfWork,
    at: datetime | None,
    publish: Publish | None,
    link: tuple[str, str, str],
    about: tuple[str, str],
    message: str,
    needed_for: str,
) -> str:
    """Opened through hub/handlers/exceptions.py: stored once per missing link and business object, announced, and
    opened anew (numbered after it) when it comes back after its exception was resolved."""
    about_kind, about_key = about
    wanted = f" {needed_for}" if needed_for else ""
    problem = Problem(
        owner=OWNER,
        reason_code=REASON,
        about_kind=about_kind,
        about_key=about_key,
        message=f"{message}: link the two in the cross-reference store{wanted}, then retry",
    )
    # Joined as exception_id joins its parts: the same id as when the link's parts were passed one by one.
    key = "\x1f".join(link)
    if isinstance(ctx_or_uow, HandlerContext):
        return open_exception(ctx_or_uow, problem, key=key)
    assert at is not None  # _uow refused a unit of work without it
    cause = Envelope(
        id=derive_id("xref", *link, about_kind, about_key, at.isoformat()),
        source=LOOKUP_SOURCE,
        type="crossdock.xref.looked_up.v1",
        subject=about_key,
        time=at,
        partitionkey=about_key,
    )
    ctx = HandlerContext(uow=ctx_or_uow, now=at, cause=cause)
    ident = open_exception(ctx, problem, key=key)
    if ctx.emitted and publish is not None:
        publish(ctx_or_uow, ctx.emitted, None, at)
    return ident


# ---- a person's link ------------------------------------------------------------------------------------------

# The root source of what an operator causes, as hub/handlers names it: the trace shows its follow-ups as decisions.
OPERATOR_SOURCE = "crossdock/operator"
LINK_ACTION = "xref.link"  # the audit trail's name for a person's link
# Open missing-cross-reference exceptions read to find those a new link settles: far more than master data ever has.
WAITING_LIMIT = 10_000
_KIND = re.compile(r"^[a-z][a-z0-9_]*$")
# What the store holds per column (storage/sql/tables.py: cross_references).
_LONGEST = {"kind": 50, "system": 100, "hub_id": 300, "external_id": 300}


class LinkConflict(ValueError):
    """The id is linked to another one already: a link is one to one per kind and system, and never moved silently."""

    def __init__(self, wanted: CrossReference, existing: CrossReference) -> None:
        self.wanted = wanted
        self.existing = existing
        super().__init__(
            f"{existing.kind} {existing.hub_id} is linked to {existing.system} id {existing.external_id} already: "
            f"{wanted.hub_id} = {wanted.external_id} would contradict it"
        )


@dataclass(frozen=True)
class Linked:
    ref: CrossReference
    created: bool  # False: the same link was there already
    resolved: tuple[str, ...]  # the missing-cross-reference exceptions it settled


def check(ref: CrossReference, systems: Collection[str]) -> list[tuple[str, str]]:
    """What is wrong with a link a person asks for, as (field, reason); empty when nothing is. `systems` are the
    names a link may be about (the configuration's sources, destinations and trading partners)."""
    found: list[tuple[str, str]] = []
    fields = {"kind": ref.kind, "system": ref.system, "hub_id": ref.hub_id, "external_id": ref.external_id}
    for name, value in fields.items():
        if not value:
            found.append((name, "missing"))
        elif value != value.strip() or any(ord(c) < 32 for c in value):
            found.append((name, f"{value!r} has blanks around it or a control character"))
        elif len(value) > _LONGEST[name]:
            found.append((name, f"longer than {_LONGEST[name]} characters"))
        elif name == "kind" and not _KIND.match(value):
            found.append((name, f"{value!r} is not a kind (a lower-case word: item, location, customer, order...)"))
        elif name == "system" and value not in systems:
            known = ", ".join(sorted(systems)) or "none"
            found.append((name, f"no source, destination or partner is named {value!r} (known: {known})"))
    return found


def existing(uow: UnitOfWork, ref: CrossReference) -> CrossReference | None:
    """The link already made for either id of `ref` (kind and system alike); raises LinkConflict when it pairs one of
    them with another id."""
    theirs = uow.xrefs.external_id(ref.kind, ref.system, ref.hub_id)
    if theirs is not None and theirs != ref.external_id:
        raise LinkConflict(ref, CrossReference(ref.kind, ref.system, ref.hub_id, theirs))
    ours = uow.xrefs.hub_id(ref.kind, ref.system, ref.external_id)
    if ours is not None and ours != ref.hub_id:
        raise LinkConflict(ref, CrossReference(ref.kind, ref.system, ours, ref.external_id))
    return ref if theirs is not None else None


def link(
    uow: UnitOfWork,
    ref: CrossReference,
    *,
    actor: str,
    at: datetime,
    publish: Publish,
    note: str = "",
    audit: bool = True,
) -> Linked:
    """Link the hub's id and the other system's in the caller's unit of work, and settle (action accept, by `actor`)
    every open missing-cross-reference exception that waited for this pair, in either direction: exception.resolved
    is published through `publish` (the processor's) as for any decision. The same link again changes nothing but
    still settles what waits. Raises LinkConflict (nothing changed) when either id is linked to another one. `audit`
    False: the caller keeps one record for many links (a file of them)."""
    created = existing(uow, ref) is None
    if created:
        uow.xrefs.link(ref, at)
    settled = tuple(_settle_waiting(uow, ref, actor=actor, at=at, publish=publish, note=note))
    if audit:
        details = {"external_id": ref.external_id, "created": created, "resolved": list(settled), "note": note}
        target = f"{ref.kind}:{ref.system}:{ref.hub_id}"
        uow.audit.append([AuditEntry(actor=actor, action=LINK_ACTION, target=target, at=at, details=details)])
    pair = (ref.kind, ref.system, ref.external_id)
    stored = [r for r in uow.xrefs.of(ref.hub_id) if (r.kind, r.system, r.external_id) == pair]
    return Linked(stored[0] if stored else ref, created, settled)


def _settle_waiting(
    uow: UnitOfWork, ref: CrossReference, *, actor: str, at: datetime, publish: Publish, note: str
) -> list[str]:
    # An exception's id is derived from what it is about and the missing link (see _open); one opened anew after a
    # resolution carries a "-N" suffix. Either direction may have been looked up: ours for theirs, theirs for ours.
    keys = {"\x1f".join((ref.kind, ref.system, ref.hub_id)), "\x1f".join((ref.kind, ref.system, ref.external_id))}
    waiting = uow.exceptions.find(ExceptionFilter(status=ExceptionStatus.OPEN, reason_code=REASON, limit=WAITING_LIMIT))
    why = note or f"linked {ref.kind} {ref.hub_id} to {ref.system} id {ref.external_id}"
    settled: list[str] = []
    for found in waiting:
        bases = {exceptions.exception_id(found.about_kind, found.about_key, REASON, key) for key in keys}
        if found.id not in bases and found.id.rsplit("-", 1)[0] not in bases:
            continue
        updated, resolution = exceptions.take_action(
            uow, found.id, catalog.ExceptionAction.ACCEPT, actor=actor, note=why, now=at
        )
        cause = Envelope(
            id=derive_id("operator", f"{found.id}:{resolution.action.value}:{at.isoformat()}"),
            source=OPERATOR_SOURCE,
            type="crossdock.operator.acted.v1",
            subject=found.id,
            time=at,
            partitionkey=updated.about_key,
        )
        ctx = HandlerContext(uow=uow, now=at, cause=cause)
        ctx.emit(exceptions.RESOLVED, found.id, catalog.data_of(resolution), partitionkey=updated.about_key)
        publish(uow, ctx.emitted, None, at)
        settled.append(found.id)
    return settled
