"""Property: for any run of intake batches with repeated keys, the in-memory twin and SQLite give the same
answers, so unit tests on the twin predict production."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from crossdock.hub.ports import IntakeResult, IntakeStatus, MessageStatus, NewMessage, UnitOfWorkFactory
from crossdock.storage.memory import MemoryUnitOfWorkFactory
from crossdock.storage.sql import migrate
from crossdock.storage.sql.engine import make_engine
from crossdock.storage.sql.uow import SqlUnitOfWorkFactory
from tests.contract.builders import ManualClock, new_message

Outcome = tuple[IntakeStatus, MessageStatus, str | None, int]

# Each example writes under sources of its own, so one SQLite database serves every example.
_runs = itertools.count()


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path: Path = tmp_path_factory.mktemp("twin") / "crossdock.db"
    engine = make_engine(f"sqlite:///{path}", sqlite_synchronous="OFF")
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


# (source, key, payload hash, arrives already failed): few values, so keys and payloads repeat often
messages = st.tuples(
    st.sampled_from(["shop", "edi"]),
    st.sampled_from(["id:1", "id:2", "id:3"]),
    st.sampled_from(["hash-a", "hash-b"]),
    st.booleans(),
)
batches = st.lists(st.lists(messages, min_size=1, max_size=6), min_size=1, max_size=4)


def outcomes(factory: UnitOfWorkFactory, run: int, plan: list[list[tuple[str, str, str, bool]]]) -> list[Outcome]:
    """Each result as (status, first outcome, which message), the message named by order of first sight."""
    names: dict[int, int] = {}
    seen: list[Outcome] = []
    for batch in plan:
        incoming = [
            new_message(
                source=f"{source}-{run}",
                key=key,
                payload_hash=payload,
                status=MessageStatus.FAILED if failed else MessageStatus.PENDING,
                error="unparseable" if failed else None,
            )
            for source, key, payload, failed in batch
        ]
        results: list[IntakeResult] = accept(factory, incoming)
        for r in results:
            name = names.setdefault(r.message_id, len(names))
            seen.append((r.status, r.message_status, r.error, name))
    return seen


def accept(factory: UnitOfWorkFactory, incoming: list[NewMessage]) -> list[IntakeResult]:
    with factory() as uow:
        results = uow.inbox.add(incoming)
        uow.commit()
    return results


@settings(max_examples=25, deadline=None)
@given(plan=batches)
def test_the_twin_and_sqlite_give_the_same_intake_outcomes(
    sqlite_engine: Engine, plan: list[list[tuple[str, str, str, bool]]]
) -> None:
    clock = ManualClock()
    run = next(_runs)

    twin = outcomes(MemoryUnitOfWorkFactory(clock.now), run, plan)
    sqlite = outcomes(SqlUnitOfWorkFactory(sqlite_engine, clock.now), run, plan)

    assert twin == sqlite
