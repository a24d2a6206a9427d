"""Fixtures for the process-level proofs: a configuration writer, the process keeper (hub, workers, sink;
every one killed at teardown, their logs printed when the test failed) and engines on the hub's database."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import Engine

from crossdock.storage.sql.engine import make_engine
from tests.integration.harness import HubConfig, Processes, free_port


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


CALL_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def processes(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Processes]:
    running = Processes(tmp_path)
    yield running
    running.kill_all()
    if request.node.stash.get(CALL_FAILED, False):
        print(running.logs())


@pytest.fixture
def hub_config(tmp_path: Path) -> Callable[..., HubConfig]:
    """Write a hub configuration: a generic source `shop` (subject `id`, partition `partition`) whose every
    event goes to the webhook destination `sink` (`sink_options` merged into it). Keyword overrides are merged
    one level deep into the settings."""

    def write(
        database_url: str, sink_url: str, *, sink_options: dict[str, Any] | None = None, **overrides: Any
    ) -> HubConfig:
        port = free_port()
        settings: dict[str, Any] = {
            "data_dir": str(tmp_path / "data"),
            "storage": {"url": database_url},
            "http": {"host": "127.0.0.1", "port": port},
            "worker": {"idle_sleep_ms": 5, "lease_seconds": 3},
            # These proofs are about delivery, not governance: the API takes calls without a key.
            "api": {"auth": "off"},
            "sources": {
                "shop": {
                    "kind": "generic",
                    "event_type": "crossdock.shop.message.v1",
                    "subject_field": "id",
                    "partition_field": "partition",
                }
            },
            "destinations": {
                "sink": {
                    "kind": "webhook",
                    "url": sink_url,
                    "timeout_seconds": 5,
                    "retry": {"base_seconds": 0.2, "max_delay_seconds": 2, "max_attempts": 50},
                    **(sink_options or {}),
                }
            },
            "subscriptions": [{"destination": "sink", "events": ["*"]}],
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(settings.get(key), dict):
                settings[key] = {**settings[key], **value}
            else:
                settings[key] = value
        path = tmp_path / "crossdock.yaml"
        path.write_text(yaml.safe_dump(settings, sort_keys=False))
        return HubConfig(path=path, database_url=database_url, port=port, settings=settings)

    return write


@pytest.fixture
def database() -> Iterator[Callable[[str], Engine]]:
    """Open an engine on the hub's database, to read what the processes wrote; disposed at teardown."""
    engines: list[Engine] = []

    def open_engine(url: str) -> Engine:
        engine = make_engine(url)
        engines.append(engine)
        return engine

    yield open_engine
    for engine in engines:
        engine.dispose()
