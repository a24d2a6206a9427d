"""One storage contract, three backends: every test here runs on the in-memory twin, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crossdock.hub.ports import UnitOfWorkFactory
from crossdock.storage.memory import MemoryUnitOfWorkFactory
from crossdock.storage.sql import migrate
from crossdock.storage.sql.engine import make_engine
from crossdock.storage.sql.uow import SqlUnitOfWorkFactory
from tests.contract.builders import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(
    params=[
        "memory",  # the twin the unit tests run on
        "sqlite",  # the single-node database
        pytest.param("postgres", marks=pytest.mark.postgres),  # the production database
    ]
)
def uow_factory(request: pytest.FixtureRequest, clock: ManualClock) -> Iterator[UnitOfWorkFactory]:
    if request.param == "memory":
        yield MemoryUnitOfWorkFactory(clock.now)
        return
    url = str(request.getfixturevalue(f"{request.param}_url"))
    # Durability settings do not change what a query answers; the contract runs faster without fsync.
    engine = make_engine(url, sqlite_synchronous="OFF", pool_size=2)
    try:
        migrate.upgrade(engine)
        yield SqlUnitOfWorkFactory(engine, clock.now)
    finally:
        engine.dispose()


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The name of the backend this run of the test uses: memory, sqlite or postgres."""
    return str(request.node.callspec.params["uow_factory"])
