"""Real processes for the runtime's process-level proofs: the hub (`crossdock run`), workers-only processes
(`crossdock worker`) and the local webhook sink, each a subprocess on a free port; a concurrent sender that
retries like a real one; and direct reads of the hub's database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

CLI = [sys.executable, "-m", "crossdock.entrypoints.cli"]
READY_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float, what: str, every: float = 0.05) -> None:
    """Poll `check` until it holds; fail naming `what` when the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


@dataclass
class Proc:
    """One child process, started in its own session so that it and anything it spawns die together."""

    name: str
    args: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("CROSSDOCK_CONFIG", None)
        with self.log_path.open("ab") as log:
            log.write(f"---- start {' '.join(self.args)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown hook runs, as in a power cut of the process."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not go within a few seconds."""
        if self.popen is None or self.popen.poll() is not None:
            if self.popen is not None:
                self.popen.wait()
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
            self.popen.wait(timeout=5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            self.kill()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class HubConfig:
    path: Path
    database_url: str
    port: int
    settings: dict[str, Any]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Processes:
    """Starts hub, worker and sink processes for one test and kills every one of them at teardown."""

    tmp_path: Path
    started: list[Proc] = field(default_factory=list)

    def _proc(self, name: str, args: list[str]) -> Proc:
        proc = Proc(name, args, self.tmp_path / f"{name}.log")
        self.started.append(proc)
        return proc.start()

    def sink(self) -> Sink:
        port = free_port()
        proc = self._proc(f"sink-{port}", [sys.executable, "-m", "crossdock.devtools.sink", "--port", str(port)])
        sink = Sink(proc, f"http://127.0.0.1:{port}")
        wait_until(lambda: _answers(f"{sink.url}/_sink/received", proc), READY_TIMEOUT, "the sink to listen")
        return sink

    def hub(self, config: HubConfig, name: str = "hub", log_level: str = "WARNING", workers: bool = True) -> Proc:
        """`crossdock run`: API, worker and timers in one process (API only with workers=False); returns once
        /readyz says ready."""
        args = [*CLI, "run", "--config", str(config.path), "--port", str(config.port), "--log-level", log_level]
        if not workers:
            args.append("--no-workers")
        proc = self._proc(name, args)
        wait_until(lambda: _answers(f"{config.base_url}/readyz", proc), READY_TIMEOUT, f"{name} to be ready")
        return proc

    def worker(self, config: HubConfig, name: str = "worker", log_level: str = "WARNING") -> Proc:
        """`crossdock worker`: no API; the schema must be current (see `upgrade`)."""
        return self._proc(name, [*CLI, "worker", "--config", str(config.path), "--log-level", log_level])

    def upgrade(self, config: HubConfig) -> None:
        result = subprocess.run(
            [*CLI, "db", "upgrade", "--config", str(config.path)], capture_output=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stderr.decode(errors="replace")

    def kill_all(self) -> None:
        for proc in reversed(self.started):
            proc.kill()

    def logs(self) -> str:
        return "\n".join(f"==== {p.name} (pid {p.popen.pid if p.popen else '-'})\n{p.log_tail()}" for p in self.started)


@dataclass
class Sink:
    proc: Proc
    url: str

    @property
    def hook(self) -> str:
        return f"{self.url}/hook"

    def received(self) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/_sink/received", timeout=30)
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    def unique(self) -> int:
        response = httpx.get(f"{self.url}/_sink/received", timeout=30)
        response.raise_for_status()
        return int(response.json()["unique"])


def _answers(url: str, proc: Proc) -> bool:
    if not proc.alive():
        pytest.fail(f"{proc.name} exited with {proc.popen.returncode if proc.popen else '?'}:\n{proc.log_tail()}")
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def rows(engine: Engine, query: str, **params: Any) -> list[sa.Row[Any]]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(query), params))


def lease_owners(engine: Engine, pool: str) -> dict[int, str]:
    """Which owner holds each real shard of a pool right now (presence rows and expired leases left out)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    found = rows(
        engine,
        "SELECT shard, owner FROM shard_leases WHERE pool = :pool AND shard >= 0 AND owner IS NOT NULL "
        "AND expires_at > :now",
        pool=pool,
        now=now,
    )
    return {int(shard): str(owner) for shard, owner in found}


def pid_of(owner: str) -> int:
    """Worker owner ids read host:pid:nonce."""
    return int(owner.split(":")[-2])


# ---- the sender ------------------------------------------------------------------------------------------


def order(partition: str, seq: int) -> dict[str, Any]:
    """One inbound message of the `shop` source: its own id, its partition and its place in the partition."""
    return {"id": f"{partition}-{seq:05d}", "partition": partition, "seq": seq, "lines": [{"sku": "A-1", "qty": 1}]}


def orders(partitions: int, per_partition: int) -> dict[str, list[dict[str, Any]]]:
    return {f"p{p:03d}": [order(f"p{p:03d}", seq) for seq in range(per_partition)] for p in range(partitions)}


@dataclass
class Sender:
    """Posts messages to the hub's intake like a real sender: each with its own Idempotency-Key, `in_flight`
    at a time, one partition's messages in their order, and every message retried with the same key until it
    is acknowledged (a connection error or a 5xx means: try again).

    Each of the `in_flight` lanes has a client of its own with one connection and takes whole partitions from
    a shared queue; one shared pool of many connections costs more CPU per request than the hub under test."""

    base_url: str
    in_flight: int = 32
    acknowledged: int = 0
    retries: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    async def send(self, by_partition: dict[str, list[dict[str, Any]]], timeout: float) -> None:
        todo: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
        for messages in by_partition.values():
            todo.put_nowait(messages)
        lanes = [self._lane(todo) for _ in range(min(self.in_flight, len(by_partition)))]
        await asyncio.wait_for(asyncio.gather(*lanes), timeout)

    async def _lane(self, todo: asyncio.Queue[list[dict[str, Any]]]) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=self.base_url, limits=limits, timeout=10, verify=False) as client:
            while not todo.empty():
                for message in todo.get_nowait():
                    await self._until_acknowledged(client, message)

    async def _until_acknowledged(self, client: httpx.AsyncClient, message: dict[str, Any]) -> None:
        key = f"key-{message['id']}"
        while True:
            try:
                response = await client.post("/v1/inbound/shop", json=message, headers={"Idempotency-Key": key})
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code in (200, 202):
                self.acknowledged += 1
                self.outcomes[message["id"]] = response.status_code
                return
            if response is not None and response.status_code < 500:
                raise AssertionError(f"intake refused {message['id']}: {response.status_code} {response.text}")
            self.retries += 1
            await asyncio.sleep(0.05)

    async def wait_acknowledged(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.acknowledged < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {self.acknowledged} of {count} messages acknowledged in {timeout}s")
            await asyncio.sleep(0.01)


# ---- what the sink saw -----------------------------------------------------------------------------------


def delivered(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The requests the sink answered with success, in arrival order. A request whose sender died half-way
    through its body is recorded by the sink too, without a parsed event: it was not a delivery."""
    return [item for item in items if item["status"] == 200 and item["event_id"] is not None]


def first_arrivals(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each successful delivery id once, at its first arrival, in arrival order."""
    seen: set[str] = set()
    first = []
    for item in delivered(items):
        if item["delivery_id"] not in seen:
            seen.add(item["delivery_id"])
            first.append(item)
    return first


def out_of_order(first: list[dict[str, Any]]) -> dict[str, list[int]]:
    """Partitions whose sequence numbers did not arrive increasing, with the order they arrived in."""
    arrived: dict[str, list[int]] = {}
    for item in first:
        arrived.setdefault(item["data"]["partition"], []).append(item["data"]["seq"])
    return {p: seqs for p, seqs in arrived.items() if seqs != sorted(seqs) or len(set(seqs)) != len(seqs)}


def log_out_of_order(engine: Engine) -> dict[str, list[int]]:
    """Partitions whose events do not stand in the log in their sequence order."""
    by_partition: dict[str, list[int]] = {}
    for _position, partition, envelope in rows(
        engine, "SELECT position, partition_key, envelope FROM events ORDER BY position"
    ):
        data = (json.loads(envelope) if isinstance(envelope, str) else envelope)["data"]
        by_partition.setdefault(partition, []).append(int(data["seq"]))
    return {p: seqs for p, seqs in by_partition.items() if seqs != sorted(seqs)}
