"""Shared fixtures: the databases every storage-touching test runs against.

`make test` starts a throwaway PostgreSQL and sets CROSSDOCK_TEST_POSTGRES_URL. Without it, PostgreSQL tests
are skipped on a developer's machine but fail under CI, so a missing server is never a silent pass.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"


def _server_url() -> str | None:
    url = os.environ.get("CROSSDOCK_TEST_POSTGRES_URL")
    if url is None and os.environ.get("CI"):
        pytest.fail("CROSSDOCK_TEST_POSTGRES_URL is not set: run the suite with `make test`, which starts PostgreSQL")
    return url


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    url = _server_url()
    if url is None:
        pytest.skip("no PostgreSQL: run `make test` to start a throwaway server")
    return url


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty database on the throwaway server, dropped after the test."""
    name = f"cd_{uuid.uuid4().hex[:12]}"
    admin = postgres_server_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield postgres_server_url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'crossdock.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))
