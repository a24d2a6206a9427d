"""End-to-end harness: a whole hub built from settings, driven through its HTTP API in-process, delivering to
a real HTTP sink, with a clock the test steps by hand.

Workers are not started: a test calls `estate.drain()` (the rounds a worker would run), so every retry wait,
breaker reset and Retry-After is crossed by moving the clock, never by sleeping. The API asks for keys as it does in
production: each estate creates an admin key in its database and its client sends it with every request.
"""

from __future__ import annotations

import copy
import json
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from crossdock import bootstrap, config
from crossdock.entrypoints import cli_governance
from crossdock.entrypoints.api import auth
from crossdock.entrypoints.api.app import create_app
from crossdock.hub import governance
from crossdock.hub.ports import ApiKey
from crossdock.hub.runtime import Hub, RoundResult
from crossdock.storage.sql import migrate

with warnings.catch_warnings():
    # Starlette asks for the `httpx2` fork under its test client; plain httpx still works and is what we ship.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
OWNER = "e2e-worker"
ORDER_EVENT = "crossdock.order.placed.v1"
STOCK_EVENT = "crossdock.stock.changed.v1"


class SteppingClock:
    """Time stands still until the test moves it."""

    def __init__(self, start: datetime = START) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when


# ---- the HTTP sink --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SinkServer:
    """The local webhook target, running in its own process; programmed and read over HTTP."""

    url: str
    control: httpx.Client

    def program(
        self,
        *,
        fail_next: list[dict[str, Any]] | None = None,
        always: dict[str, Any] | str | None = "keep",
    ) -> None:
        body: dict[str, Any] = {}
        if fail_next:
            body["fail_next"] = fail_next
        if always != "keep":
            body["always"] = always
        self.control.post(f"{self.url}/_sink/program", json=body).raise_for_status()

    def heal(self) -> None:
        """Stop failing: every later request succeeds."""
        self.program(always=None)

    def reset(self) -> None:
        self.control.post(f"{self.url}/_sink/reset").raise_for_status()

    def received(self) -> list[dict[str, Any]]:
        response = self.control.get(f"{self.url}/_sink/received")
        response.raise_for_status()
        return list(response.json()["items"])

    def accepted(self) -> list[dict[str, Any]]:
        """Requests the sink answered with success."""
        return [item for item in self.received() if item["status"] == 200]


def _start_sink() -> tuple[subprocess.Popen[bytes], str]:
    for _ in range(5):
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "crossdock.devtools.sink", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{url}/_sink/received", timeout=1).status_code == 200:
                    return process, url
            except httpx.TransportError:
                time.sleep(0.05)
        process.kill()
        process.wait()
        if process.stderr is not None:
            process.stderr.close()
    raise RuntimeError("the HTTP sink did not start")


@pytest.fixture(scope="session")
def sink_server() -> Iterator[SinkServer]:
    process, url = _start_sink()
    with httpx.Client(timeout=10) as control:
        yield SinkServer(url, control)
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stderr is not None:
        process.stderr.close()


@pytest.fixture
def sink(sink_server: SinkServer) -> SinkServer:
    """The sink, empty and healthy at the start of each test."""
    sink_server.reset()
    return sink_server


# ---- settings -------------------------------------------------------------------------------------------


def merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: nested mappings are merged, anything else replaces."""
    merged = copy.deepcopy(base)
    for name, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(name), dict):
            merged[name] = merge(merged[name], value)
        else:
            merged[name] = copy.deepcopy(value)
    return merged


def estate_settings(database_url: str, data_dir: Path, sink_url: str, **overrides: Any) -> dict[str, Any]:
    """A small estate: a webshop posting orders, a stock feed, and an ERP webhook taking every event."""
    base: dict[str, Any] = {
        "data_dir": str(data_dir),
        "storage": {"url": database_url},
        "http": {"intake_batch_ms": 5},
        "worker": {"shards": 4, "batch_size": 50},
        "sources": {
            "shop": {"event_type": ORDER_EVENT, "subject_field": "number"},
            "stock": {"event_type": STOCK_EVENT, "subject_field": "sku"},
        },
        "destinations": {
            "erp": {
                "kind": "webhook",
                "url": f"{sink_url}/erp",
                "timeout_seconds": 5,
                "retry": {"base_seconds": 1, "max_delay_seconds": 60, "max_attempts": 10},
                "breaker": {"failure_threshold": 5, "reset_seconds": 30},
            },
        },
        "subscriptions": [{"destination": "erp", "events": ["crossdock.*"]}],
    }
    return merge(base, overrides)


def order(number: str, **extra: Any) -> dict[str, Any]:
    return {"number": number, "customer": "C-100", "lines": [{"sku": "SKU-1", "qty": 2}], **extra}


# ---- the estate: runtime + API client + clock + sink ----------------------------------------------------


@dataclass
class Estate:
    runtime: bootstrap.Runtime
    client: TestClient
    clock: SteppingClock
    sink: SinkServer
    closers: list[Callable[[], None]] = field(default_factory=list)
    key: ApiKey | None = None  # the admin key the client sends (None: the database was not migrated)

    @property
    def hub(self) -> Hub:
        return self.runtime.hub

    @property
    def actor(self) -> str:
        """How the audit trail and replay records name the client's key."""
        assert self.key is not None
        return auth.actor_of(self.key)

    def flush_audit(self) -> None:
        """Wait until the records of the calls made so far are in the audit trail."""
        self.client.app.state.audit.flush()  # type: ignore[attr-defined]

    def post(self, source: str, body: Any, *, key: str | None = None) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"content-type": "application/json"}
        if key is not None:
            headers["idempotency-key"] = key
        response: httpx.Response = self.client.post(f"/v1/inbound/{source}", content=content, headers=headers)
        return response

    def drain(self) -> RoundResult:
        return self.hub.drain(OWNER)

    def work_once(self) -> RoundResult:
        return self.hub.work_once(OWNER)

    def delivery(self, delivery_id: str) -> dict[str, Any]:
        response: httpx.Response = self.client.get(f"/v1/deliveries/{delivery_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def deliveries(self, status: str | None = None, **params: str) -> list[dict[str, Any]]:
        query = {"status": status, **params} if status else dict(params)
        response = self.client.get("/v1/deliveries", params=query)
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    def all_deliveries(self) -> list[dict[str, Any]]:
        return [d for status in ("pending", "delivered", "dead") for d in self.deliveries(status)]

    def status(self) -> dict[str, Any]:
        response = self.client.get("/v1/status")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def breaker(self, endpoint: str) -> dict[str, Any]:
        found = [e for e in self.status()["endpoints"] if e["endpoint"] == endpoint]
        assert found, f"no breaker state recorded for {endpoint}"
        return dict(found[0])


@dataclass
class EstateFactory:
    """Builds estates on one database; a second build on the same database is a restart with new settings."""

    database_url: str
    data_dir: Path
    sink: SinkServer
    clock: SteppingClock = field(default_factory=SteppingClock)
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def settings(self, **overrides: Any) -> config.Settings:
        return config.Settings.model_validate(
            estate_settings(self.database_url, self.data_dir, self.sink.url, **overrides)
        )

    def runtime(self, *, upgrade: bool = True, **overrides: Any) -> bootstrap.Runtime:
        runtime = bootstrap.build(self.settings(**overrides), clock=self.clock)
        self._closers.append(runtime.close)
        if upgrade:
            migrate.upgrade(runtime.engine)
        return runtime

    def __call__(self, *, upgrade: bool = True, **overrides: Any) -> Estate:
        runtime = self.runtime(upgrade=upgrade, **overrides)
        key, headers = None, {}
        if upgrade:
            key, token = admin_key(runtime)
            headers = {"Authorization": f"Bearer {token}"}
        client = TestClient(create_app(runtime), headers=headers)
        client.__enter__()
        self._closers.append(lambda: client.__exit__(None, None, None))
        return Estate(runtime, client, self.clock, self.sink, key=key)

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()


def admin_key(runtime: bootstrap.Runtime, name: str = "e2e-admin") -> tuple[ApiKey, str]:
    """An admin key stored as `crossdock keys create` stores it; returns the key and its token."""
    hub = runtime.hub
    return cli_governance.create_key(hub.begin, hub.clock.now(), name=name, scopes=[governance.ADMIN], created_by="e2e")


@pytest.fixture
def make_estate(database_url: str, tmp_path: Path, sink: SinkServer) -> Iterator[EstateFactory]:
    factory = EstateFactory(database_url, tmp_path, sink)
    yield factory
    factory.close()


@pytest.fixture
def estate(make_estate: EstateFactory) -> Estate:
    """The default estate, migrated and serving."""
    return make_estate()
