"""A silent or failing source is an exception for integration announced like every other: exception.opened when the
watch raises it and exception.resolved when the source recovers, each published once through the processor, into
the log and to the destinations that subscribe to exceptions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from crossdock.domain import catalog
from crossdock.hub import silence
from crossdock.hub.inbox import Processor
from crossdock.hub.ports import StoredEvent, Timer, UnitOfWork
from crossdock.hub.router import Router
from crossdock.hub.silence import Activity, SourceWatch, Watch
from crossdock.hub.timers import Timers
from crossdock.storage.memory import MemoryUnitOfWorkFactory
from tests.unit.factories import T0

SHOP = Watch("shop", "source", ("shop",), timedelta(minutes=30))


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


@dataclass
class Figures:
    now: dict[str, Activity] = field(default_factory=dict)

    def activity(self, uow: UnitOfWork, sources: Sequence[str], since: datetime) -> Mapping[str, Activity]:
        return {source: self.now[source] for source in sources if source in self.now}


@dataclass
class Watched:
    begin: MemoryUnitOfWorkFactory
    figures: Figures
    job: SourceWatch
    queued: list[StoredEvent] = field(default_factory=list)  # what the outbox was asked to deliver

    def check(self, at: datetime) -> None:
        with self.begin() as uow:
            self.job.check(Timer("periodic:source-watch", silence.TIMER_KIND, at), uow, at)
            uow.commit()

    def logged(self) -> list[StoredEvent]:
        with self.begin() as uow:
            return uow.log.read(0, 1000)


def watched() -> Watched:
    figures = Figures()
    queued: list[StoredEvent] = []
    processor = Processor(
        adapters={}, router=Router(), enqueue_deliveries=lambda uow, stored, now: queued.extend(stored)
    )
    job = SourceWatch([SHOP], figures, watching_since=T0)
    job.register(Timers(), processor.publish)  # as bootstrap does; the test fires the checks itself
    return Watched(MemoryUnitOfWorkFactory(lambda: T0), figures, job, queued)


def test_a_silent_source_is_announced_once_for_integration_however_often_it_is_checked() -> None:
    watch = watched()
    watch.figures.now["shop"] = Activity(last_received=minutes(0))

    for at in (minutes(31), minutes(32), minutes(90)):
        watch.check(at)

    (event,) = watch.logged()
    opened = catalog.payload_as(event.envelope, catalog.ExceptionOpened)
    assert event.envelope.type == catalog.ExceptionOpened.event_type
    assert (opened.owner, opened.reason_code) == (catalog.ExceptionOwner.INTEGRATION, silence.SILENT)
    assert (opened.about.kind, opened.about.key, event.envelope.partition) == ("source", "shop", "shop")
    assert [e.envelope.id for e in watch.queued] == [event.envelope.id], "queued for delivery once"


def test_a_source_that_sends_again_is_announced_resolved_once() -> None:
    watch = watched()
    watch.figures.now["shop"] = Activity(last_received=minutes(0))
    watch.check(minutes(40))
    watch.figures.now["shop"] = Activity(last_received=minutes(41), received=1)

    watch.check(minutes(42))
    watch.check(minutes(43))

    opened, resolved = watch.logged()
    settled = catalog.payload_as(resolved.envelope, catalog.ExceptionResolved)
    assert resolved.envelope.type == catalog.ExceptionResolved.event_type
    assert settled.exception == catalog.payload_as(opened.envelope, catalog.ExceptionOpened).exception
    assert (settled.action, settled.resolved_by) == (catalog.ExceptionAction.ACCEPT, silence.ACTOR)
    assert "sent again" in settled.note


def test_a_source_failing_its_records_is_announced_opened_then_resolved() -> None:
    watch = watched()
    watch.figures.now["shop"] = Activity(last_received=minutes(5), received=10, failing=9)
    watch.check(minutes(6))
    watch.figures.now["shop"] = Activity(last_received=minutes(7), received=30, failing=9)
    watch.check(minutes(8))

    opened, resolved = watch.logged()
    assert (opened.envelope.type, resolved.envelope.type) == (
        catalog.ExceptionOpened.event_type,
        catalog.ExceptionResolved.event_type,
    )
    assert catalog.payload_as(opened.envelope, catalog.ExceptionOpened).reason_code == silence.FAILING
    assert "healthy again" in catalog.payload_as(resolved.envelope, catalog.ExceptionResolved).note


def test_silent_again_after_recovering_is_a_new_exception_announced_anew() -> None:
    watch = watched()
    watch.figures.now["shop"] = Activity(last_received=minutes(0))
    watch.check(minutes(40))
    watch.figures.now["shop"] = Activity(last_received=minutes(41), received=1)
    watch.check(minutes(42))
    watch.check(minutes(80))

    kinds = [e.envelope.type for e in watch.logged()]
    ids = [catalog.payload_as(e.envelope, catalog.ExceptionOpened).exception for e in watch.logged()[::2]]
    opened, resolved = catalog.ExceptionOpened.event_type, catalog.ExceptionResolved.event_type
    assert kinds == [opened, resolved, opened]
    assert len(set(ids)) == 2, "the second spell of silence is its own exception"
