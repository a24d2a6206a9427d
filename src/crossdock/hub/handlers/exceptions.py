"""Business exceptions: opening them (once per id, announced as exception.opened) and recording the actions
people take on them (announced as exception.resolved when they settle it).

Owns: the exception lifecycle in the hub. Must not: decide what an action does to the business object; the desk
that owns the object listens to exception.resolved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crossdock.domain import catalog
from crossdock.domain.events import derive_id
from crossdock.hub.ports import BusinessException, ExceptionAction, UnitOfWork
from crossdock.hub.router import HandlerContext

OPENED = catalog.ExceptionOpened.event_type
RESOLVED = catalog.ExceptionResolved.event_type
# How many times one cause may come back after being resolved before the hub stops opening it again.
MAX_REOPENINGS = 100


def exception_id(*parts: str) -> str:
    """Stable per cause: the same problem found again opens nothing new."""
    return "EX-" + derive_id("exception", *parts)[:13].upper()


@dataclass(frozen=True)
class Problem:
    owner: catalog.ExceptionOwner
    reason_code: str
    about_kind: str
    about_key: str
    message: str


def open_exception(ctx: HandlerContext, problem: Problem, *, key: str | None = None) -> str:
    """Store the exception and announce it, unless it is already open. A cause that comes back after its
    exception was resolved (a retry that failed again) opens a new one, numbered after it. Returns its id."""
    base = exception_id(problem.about_kind, problem.about_key, problem.reason_code, key or "")
    ident = base
    for again in range(1, MAX_REOPENINGS + 1):
        existing = ctx.uow.exceptions.get(ident)
        if existing is None or existing.resolved_at is None:
            break
        ident = f"{base}-{again}"
    opened = ctx.uow.exceptions.open(
        BusinessException(
            id=ident,
            owner=problem.owner.value,
            reason_code=problem.reason_code,
            about_kind=problem.about_kind,
            about_key=problem.about_key,
            message=problem.message,
            opened_at=ctx.now,
        )
    )
    if opened:
        payload = catalog.ExceptionOpened(
            exception=ident,
            owner=problem.owner,
            reason_code=problem.reason_code[:100],
            about=catalog.BusinessRef(kind=problem.about_kind, key=problem.about_key),
            message=problem.message,
        )
        ctx.emit(OPENED, ident, catalog.data_of(payload), partitionkey=problem.about_key)
    return ident


class UnknownException(LookupError):
    """No exception with that id."""


class AlreadyResolved(ValueError):
    """The exception was settled before; a second verdict would contradict the first."""


def take_action(
    uow: UnitOfWork,
    exception_id: str,
    action: catalog.ExceptionAction,
    *,
    actor: str,
    note: str,
    now: datetime,
) -> tuple[BusinessException, catalog.ExceptionResolved]:
    """Record what a person did and settle the exception; the resolution returned is published, and the desk
    that owns the business object carries the action out (a retry that fails again opens a new exception)."""
    current = uow.exceptions.get(exception_id)
    if current is None:
        raise UnknownException(f"there is no exception {exception_id}")
    if current.resolved_at is not None:
        raise AlreadyResolved(f"exception {exception_id} was already resolved on {current.resolved_at.isoformat()}")
    updated = uow.exceptions.act(
        exception_id, ExceptionAction(action=action.value, actor=actor, at=now, note=note), resolve=True
    )
    assert updated is not None
    return updated, catalog.ExceptionResolved(exception=exception_id, action=action, resolved_by=actor, note=note)
