"""Watching the sources: one that has sent nothing for longer than it should (a shop that stopped sending orders, a
supplier whose files stopped), or whose messages are taken in but mostly fail or dead-letter (a sync that reports
success while failing its records), opens one exception for integration, which closes by itself once the source is
heard from again, or is healthy again. Both go through hub/handlers/exceptions.py, so they are announced
(exception.opened, exception.resolved) like every other exception.

Owns: the rules (pure functions of the figures and the time) and the periodic job that applies them. Must not: read
configuration or query storage itself (an ActivityReader gives the figures), nor keep time (the timer passes it).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from crossdock.domain import catalog
from crossdock.domain.events import Envelope, derive_id
from crossdock.hub.handlers import exceptions
from crossdock.hub.ports import BusinessException, ExceptionFilter, ExceptionStatus, Timer, UnitOfWork
from crossdock.hub.router import HandlerContext
from crossdock.hub.timers import Publish, Timers

log = logging.getLogger(__name__)

OWNER = catalog.ExceptionOwner.INTEGRATION
SILENT = "source-silent"
FAILING = "source-failing"
TIMER_KIND = "source-watch"
ACTOR = "crossdock/source-watch"
# The cause of the events a check publishes: never stored itself, it gives them stable ids.
CHECK_TYPE = "crossdock.source.checked.v1"

# The processor's publish: appends events, runs their handlers and queues their deliveries in the unit of work.


@dataclass(frozen=True)
class Watch:
    """What is expected of one source, or of a partner's inbound files (which feed one or more sources)."""

    name: str
    about_kind: str  # "source" or "partner"
    sources: tuple[str, ...]
    expect_every: timedelta | None = None  # None: it may stay quiet for as long as it likes

    def __post_init__(self) -> None:
        if self.expect_every is not None and self.expect_every <= timedelta(0):
            raise ValueError(f"{self.about_kind} {self.name}: the expected interval must be longer than zero")


@dataclass(frozen=True)
class FailingRule:
    """A source is failing when, over `window`, at least `at_least` of its messages came and `share` or more of
    them failed or had a delivery dead-lettered."""

    share: float = 0.5
    at_least: int = 5
    window: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if not 0 < self.share <= 1:
            raise ValueError(f"the failing share must be above 0 and at most 1, not {self.share}")
        if self.at_least < 1:
            raise ValueError(f"the failing rule needs at least one message, not {self.at_least}")


@dataclass(frozen=True)
class Activity:
    """What a source did: when it last sent, and over the failing window how many messages came and how many of
    them failed or had a delivery dead-lettered."""

    last_received: datetime | None = None
    received: int = 0
    failing: int = 0


class ActivityReader(Protocol):
    def activity(self, uow: UnitOfWork, sources: Sequence[str], since: datetime) -> Mapping[str, Activity]:
        """Per source, read in the caller's unit of work: its last message kept, and its messages since `since`."""


def combined(activity: Mapping[str, Activity], sources: Sequence[str]) -> Activity:
    seen = [activity[s] for s in sources if s in activity]
    lasts = [a.last_received for a in seen if a.last_received is not None]
    return Activity(max(lasts, default=None), sum(a.received for a in seen), sum(a.failing for a in seen))


def silence(watch: Watch, seen: Activity, now: datetime, watching_since: datetime) -> str | None:
    """Why the watch counts as silent, or None. A source that never sent is measured from when watching began."""
    if watch.expect_every is None:
        return None
    heard = seen.last_received or watching_since
    if now - heard <= watch.expect_every:
        return None
    expected = _duration(watch.expect_every)
    if seen.last_received is None:
        return (
            f"{watch.about_kind} {watch.name} has sent nothing since watching began at {watching_since.isoformat()} "
            f"(expected every {expected})"
        )
    return (
        f"{watch.about_kind} {watch.name} has sent nothing since {seen.last_received.isoformat()}, "
        f"{_duration(now - seen.last_received)} ago (expected every {expected})"
    )


def failing(watch: Watch, seen: Activity, rule: FailingRule) -> str | None:
    """Why the watch counts as failing its records, or None."""
    if seen.received < rule.at_least or seen.failing < rule.share * seen.received:
        return None
    return (
        f"{watch.about_kind} {watch.name}: {seen.failing} of the {seen.received} messages received in the last "
        f"{_duration(rule.window)} failed or were dead-lettered ({100 * seen.failing // seen.received}%)"
    )


def verdicts(
    watches: Sequence[Watch],
    activity: Mapping[str, Activity],
    rule: FailingRule,
    now: datetime,
    watching_since: datetime,
) -> dict[tuple[Watch, str], str | None]:
    """For every watch and reason: why it holds now, or None when it does not (an open exception then closes)."""
    found: dict[tuple[Watch, str], str | None] = {}
    for watch in watches:
        seen = combined(activity, watch.sources)
        found[(watch, SILENT)] = silence(watch, seen, now, watching_since)
        if watch.about_kind == "source":
            found[(watch, FAILING)] = failing(watch, seen, rule)
    return found


def _duration(span: timedelta) -> str:
    minutes = span.total_seconds() / 60
    if minutes < 120:
        return f"{minutes:g} minutes"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} hours"
    return f"{minutes / 1440:.1f} days"


@dataclass
class SourceWatch:
    """The periodic job: reads the figures, opens an exception for a watch that went silent or failing (once: an
    open one is left as it is), and resolves the open ones whose cause is gone."""

    watches: Sequence[Watch]
    reader: ActivityReader
    watching_since: datetime
    rule: FailingRule = field(default_factory=FailingRule)
    every: timedelta = timedelta(minutes=1)
    publish: Publish | None = None  # None: stored but not announced (a check run without a processor)

    def register(self, timers: Timers, publish: Publish | None = None) -> None:
        if publish is not None:
            self.publish = publish
        if self.watches:
            timers.register(TIMER_KIND, self.check, every=self.every)

    def check(self, timer: Timer, uow: UnitOfWork, now: datetime) -> None:
        sources = sorted({source for watch in self.watches for source in watch.sources})
        activity = self.reader.activity(uow, sources, now - self.rule.window)
        for (watch, reason), why in verdicts(self.watches, activity, self.rule, now, self.watching_since).items():
            current = _open(uow, watch, reason)
            if why is not None and current is None:
                self._raise(uow, watch, reason, why, now)
            elif why is None and current is not None:
                self._clear(uow, current, watch, combined(activity, watch.sources), now)

    def _raise(self, uow: UnitOfWork, watch: Watch, reason: str, why: str, now: datetime) -> None:
        ctx = _context(uow, watch, reason, "opened", now)
        problem = exceptions.Problem(
            owner=OWNER, reason_code=reason, about_kind=watch.about_kind, about_key=watch.name, message=why
        )
        # Keyed on when this spell began: each spell is its own exception, however many a flaky source has.
        ident = exceptions.open_exception(ctx, problem, key=now.isoformat())
        self._announce(uow, ctx, now)
        log.warning("exception %s for %s: %s", ident, OWNER.value, why)

    def _clear(self, uow: UnitOfWork, current: BusinessException, watch: Watch, seen: Activity, now: datetime) -> None:
        if current.reason_code == SILENT and seen.last_received is not None:
            note = f"{watch.about_kind} {watch.name} sent again at {seen.last_received.isoformat()}"
        else:
            note = f"{watch.about_kind} {watch.name} is healthy again"
        _, resolution = exceptions.take_action(
            uow, current.id, catalog.ExceptionAction.ACCEPT, actor=ACTOR, note=note, now=now
        )
        ctx = _context(uow, watch, current.reason_code, "resolved", now)
        ctx.emit(exceptions.RESOLVED, current.id, catalog.data_of(resolution), partitionkey=watch.name)
        self._announce(uow, ctx, now)
        log.info("exception %s resolved: %s", current.id, note)

    def _announce(self, uow: UnitOfWork, ctx: HandlerContext, now: datetime) -> None:
        if ctx.emitted and self.publish is not None:
            self.publish(uow, ctx.emitted, None, now)


def _context(uow: UnitOfWork, watch: Watch, reason: str, what: str, now: datetime) -> HandlerContext:
    cause = Envelope(
        id=derive_id("source-watch", watch.about_kind, watch.name, reason, what, now.isoformat()),
        source=ACTOR,
        type=CHECK_TYPE,
        subject=watch.name,
        time=now,
        partitionkey=watch.name,
    )
    return HandlerContext(uow=uow, now=now, cause=cause)


def _open(uow: UnitOfWork, watch: Watch, reason: str) -> BusinessException | None:
    found = uow.exceptions.find(
        ExceptionFilter(
            status=ExceptionStatus.OPEN, owner=OWNER.value, about_key=watch.name, reason_code=reason, limit=10
        )
    )
    return next((e for e in found if e.about_kind == watch.about_kind), None)
