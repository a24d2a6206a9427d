"""The audit-log contract: records chain onto the last one across units of work, read back exactly as hashed,
and concurrent appenders never fork the chain."""

from __future__ import annotations

import threading
from typing import Any

from crossdock.hub import governance
from crossdock.hub.ports import AuditEntry, UnitOfWorkFactory
from tests.contract.builders import at


def entry(n: int, **details: Any) -> AuditEntry:
    return AuditEntry(
        actor="key:0123456789ab/ops",
        action="delivery.replay",
        target=f"dlv-{n}",
        at=at(seconds=n, microseconds=7),
        details={"note": "fixed", "n": n, "nested": {"ids": [1, 2], "ratio": 0.5, "none": None}, **details},
    )


def test_records_chain_across_units_of_work_and_verify(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        first = uow.audit.append([entry(1), entry(2)])
        uow.commit()
    with uow_factory() as uow:
        second = uow.audit.append([entry(3)])
        uow.commit()

    with uow_factory() as uow:
        stored = uow.audit.read()
        last = uow.audit.last()

    assert [r.seq for r in stored] == [1, 2, 3]
    assert stored == first + second, "what is read back is exactly what was hashed"
    assert stored[0].prev_hash == governance.GENESIS_HASH
    assert [r.prev_hash for r in stored[1:]] == [r.hash for r in stored[:-1]]
    assert last == stored[-1]
    assert governance.verify(stored).intact


def test_read_pages_by_sequence(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.audit.append([entry(n) for n in range(1, 6)])
        uow.commit()

    with uow_factory() as uow:
        assert [r.seq for r in uow.audit.read(after=2, limit=2)] == [3, 4]
        assert uow.audit.read(after=5) == []


def test_an_append_that_is_rolled_back_leaves_no_gap(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.audit.append([entry(1)])
        uow.commit()
    with uow_factory() as uow:
        uow.audit.append([entry(2)])
    with uow_factory() as uow:
        uow.audit.append([entry(3)])
        uow.commit()

    with uow_factory() as uow:
        stored = uow.audit.read()
    assert [(r.seq, r.target) for r in stored] == [(1, "dlv-1"), (2, "dlv-3")]
    assert governance.verify(stored).intact


def test_an_empty_trail_has_no_last_record_and_verifies(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        assert uow.audit.last() is None
        assert uow.audit.read() == []
        assert uow.audit.append([]) == []
    assert governance.verify([]).intact


def test_concurrent_appenders_never_fork_the_chain(uow_factory: UnitOfWorkFactory) -> None:
    errors: list[BaseException] = []

    def append(worker: int) -> None:
        try:
            for n in range(10):
                with uow_factory() as uow:
                    uow.audit.append([entry(n, worker=worker)])
                    uow.commit()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    with uow_factory() as uow:
        stored = uow.audit.read()
    assert [r.seq for r in stored] == list(range(1, 41))
    assert governance.verify(stored).intact
