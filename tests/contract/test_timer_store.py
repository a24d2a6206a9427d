"""The timer contract: scheduled once per key, due in order, fired once, delayed with the error kept."""

from __future__ import annotations

import pytest

from crossdock.hub.ports import Timer, UnitOfWorkFactory
from tests.contract.builders import at, timer


def schedule(uow_factory: UnitOfWorkFactory, *timers: Timer) -> None:
    with uow_factory() as uow:
        for t in timers:
            uow.timers.schedule(t)
        uow.commit()


def due_keys(uow_factory: UnitOfWorkFactory, minutes: float, limit: int = 100) -> list[str]:
    with uow_factory() as uow:
        return [t.key for t in uow.timers.due(at(minutes=minutes), limit)]


def fire(uow_factory: UnitOfWorkFactory, key: str, minutes: float) -> None:
    with uow_factory() as uow:
        uow.timers.fire(key, at(minutes=minutes))
        uow.commit()


def test_a_scheduled_timer_reads_back_as_given(uow_factory: UnitOfWorkFactory) -> None:
    schedule(uow_factory, timer())

    with uow_factory() as uow:
        assert uow.timers.pending() == [timer()]


def test_schedule_is_idempotent_on_key_and_keeps_the_first(uow_factory: UnitOfWorkFactory) -> None:
    schedule(uow_factory, timer(due_at=at(hours=1)))

    schedule(uow_factory, timer(due_at=at(hours=9), kind="other"))

    with uow_factory() as uow:
        assert [(t.kind, t.due_at) for t in uow.timers.pending()] == [("sla.ship_by", at(hours=1))]


def test_schedule_tells_whether_it_added_the_timer(
    uow_factory: UnitOfWorkFactory, backend: str, request: pytest.FixtureRequest
) -> None:
    with uow_factory() as uow:
        assert uow.timers.schedule(timer(key="t")) is True
        assert uow.timers.schedule(timer(key="t")) is False


def test_due_returns_unfired_timers_due_by_now_earliest_first(uow_factory: UnitOfWorkFactory) -> None:
    schedule(
        uow_factory,
        timer(key="later", due_at=at(minutes=30)),
        timer(key="first", due_at=at(minutes=5)),
        timer(key="second", due_at=at(minutes=10)),
    )

    assert due_keys(uow_factory, 0) == []
    assert due_keys(uow_factory, 10) == ["first", "second"]
    assert due_keys(uow_factory, 60, limit=1) == ["first"]


def test_a_timer_fires_once(uow_factory: UnitOfWorkFactory) -> None:
    schedule(uow_factory, timer(key="t", due_at=at(minutes=5)))

    fire(uow_factory, "t", 6)

    assert due_keys(uow_factory, 60) == []
    with uow_factory() as uow:
        assert uow.timers.pending() == []


def test_delay_moves_the_due_time_and_keeps_the_error(uow_factory: UnitOfWorkFactory) -> None:
    schedule(uow_factory, timer(key="t", due_at=at(minutes=5)))

    with uow_factory() as uow:
        uow.timers.delay("t", at(minutes=15), "LookupError: no job registered")
        uow.commit()

    assert due_keys(uow_factory, 10) == []
    with uow_factory() as uow:
        [delayed] = uow.timers.due(at(minutes=15), 10)
    assert (delayed.due_at, delayed.last_error, delayed.fired_at) == (
        at(minutes=15),
        "LookupError: no job registered",
        None,
    )


@pytest.mark.parametrize(
    ("state", "cancelled"),
    [
        ("unfired", True),  # a timer still waiting can be called off
        ("fired", False),  # what already ran cannot be undone
        ("unknown", False),  # nothing to cancel
    ],
)
def test_cancel_removes_only_a_timer_not_yet_fired(uow_factory: UnitOfWorkFactory, state: str, cancelled: bool) -> None:
    if state != "unknown":
        schedule(uow_factory, timer(key="t", due_at=at(minutes=5)))
    if state == "fired":
        fire(uow_factory, "t", 5)

    with uow_factory() as uow:
        assert uow.timers.cancel("t") is cancelled
        uow.commit()

    assert due_keys(uow_factory, 60) == []


def test_pending_lists_unfired_timers_earliest_first_up_to_the_limit(uow_factory: UnitOfWorkFactory) -> None:
    schedule(
        uow_factory,
        timer(key="c", due_at=at(hours=3)),
        timer(key="a", due_at=at(hours=1)),
        timer(key="b", due_at=at(hours=2)),
        timer(key="done", due_at=at(minutes=1)),
    )
    fire(uow_factory, "done", 1)

    with uow_factory() as uow:
        assert [t.key for t in uow.timers.pending()] == ["a", "b", "c"]
        assert [t.key for t in uow.timers.pending(limit=2)] == ["a", "b"]


def test_prune_deletes_only_timers_fired_before_the_cut_off(uow_factory: UnitOfWorkFactory) -> None:
    schedule(
        uow_factory,
        timer(key="fired-long-ago", due_at=at(days=-10)),
        timer(key="fired-recently", due_at=at(days=-1)),
        timer(key="overdue", due_at=at(days=-10)),
    )
    with uow_factory() as uow:
        uow.timers.fire("fired-long-ago", at(days=-10))
        uow.timers.fire("fired-recently", at(days=-1))
        uow.commit()

    with uow_factory() as uow:
        assert uow.timers.prune(at(days=-7)) == 1
        uow.commit()

    # a key still present is not scheduled again; a pruned key is free to be used anew
    schedule(uow_factory, timer(key="fired-recently"), timer(key="fired-long-ago"))
    with uow_factory() as uow:
        assert [t.key for t in uow.timers.pending()] == ["overdue", "fired-long-ago"]
