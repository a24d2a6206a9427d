"""Rules only the in-memory twin needs spelled out: like SQLite it has one writer at a time, and misuse that
would hang or silently pass on a database fails loudly instead."""

from __future__ import annotations

import threading
import time

import pytest

from crossdock.storage.memory import MemoryUnitOfWorkFactory
from tests.contract.builders import ManualClock, replay, timer


def test_a_second_unit_of_work_waits_until_the_first_one_ends() -> None:
    factory = MemoryUnitOfWorkFactory(ManualClock().now)
    seen: list[list[str]] = []
    entered = threading.Event()

    def reader() -> None:
        entered.set()
        with factory() as uow:
            seen.append([r.target for r in uow.replays.recent()])

    with factory() as uow:
        uow.replays.add(replay(target="dlv-1"))
        thread = threading.Thread(target=reader)
        thread.start()
        assert entered.wait(5)
        thread.join(timeout=0.2)  # it cannot get in while this unit of work is open
        assert thread.is_alive()
        uow.commit()
    thread.join(timeout=5)

    assert seen == [["dlv-1"]]


def test_opening_a_unit_of_work_inside_another_in_the_same_thread_fails_at_once() -> None:
    factory = MemoryUnitOfWorkFactory(ManualClock().now)
    started = time.monotonic()

    with factory(), pytest.raises(RuntimeError, match="already open"):
        factory().__enter__()

    assert time.monotonic() - started < 5
    with factory() as uow:  # the first one released the lock on exit
        assert uow.replays.recent() == []


def test_a_unit_of_work_held_open_too_long_makes_others_time_out() -> None:
    factory = MemoryUnitOfWorkFactory(ManualClock().now, busy_timeout=0.05)
    failures: list[BaseException] = []

    def other() -> None:
        try:
            with factory():
                pass
        except TimeoutError as exc:
            failures.append(exc)

    with factory():
        thread = threading.Thread(target=other)
        thread.start()
        thread.join(timeout=5)

    assert len(failures) == 1


def test_stores_refuse_work_outside_the_with_block() -> None:
    uow = MemoryUnitOfWorkFactory(ManualClock().now)()

    with pytest.raises(RuntimeError, match="not open"):
        uow.replays.add(replay())


def test_a_unit_of_work_can_be_used_again_after_it_ends() -> None:
    uow = MemoryUnitOfWorkFactory(ManualClock().now)()
    with uow:
        uow.replays.add(replay(target="first"))
        uow.commit()

    with uow:
        uow.replays.add(replay(target="second"))
        uow.commit()

    with uow:
        assert [r.target for r in uow.replays.recent()] == ["second", "first"]


def test_changing_a_returned_record_does_not_change_what_is_stored() -> None:
    factory = MemoryUnitOfWorkFactory(ManualClock().now)
    with factory() as uow:
        uow.timers.schedule(timer(key="t", payload={"a": [1]}))
        [found] = uow.timers.pending()
        found.payload["a"].append(2)

        assert uow.timers.pending()[0].payload == {"a": [1]}
