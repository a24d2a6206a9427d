"""Reading cross-references where one must exist: a missing link between the hub's id and another system's is a
business exception for master data (reason `missing-cross-reference`), opened and announced (exception.opened) as
every exception is, not a crash, and the caller carries on.

Must not: guess or create the missing link; a person (or the connector that learns it) links it, then retries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from crossdock.domain import catalog
from crossdock.domain.events import Envelope, derive_id
from crossdock.hub.handlers.exceptions import Problem, open_exception
from crossdock.hub.ports import UnitOfWork
from crossdock.hub.router import HandlerContext

OWNER = catalog.ExceptionOwner.MASTER_DATA
REASON = "missing-cross-reference"
# The cause of an exception found outside a handler (a sender resolving ids): never stored itself, it gives the
# exception.opened event a stable id.
LOOKUP_SOURCE = "crossdock/xrefs"

Publish = Callable[[UnitOfWork, Sequence[Envelope], int | None, datetime], None]


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
