"""The benchmark behind `crossdock bench`: events through the whole hub (durable intake, processing, the log,
the outbox and real HTTP delivery to a local sink), latency at a fixed offered rate, the raw INSERT ceiling
of the same rows, a peer queue (procrastinate) on PostgreSQL, and the inventory ledger's in-memory model
(available-to-promise query latency and reservations per second at a million sku x location positions).

It prints figures and never judges them: targets belong to the reader. Every database it touches is made
for the run (a temporary SQLite file, a fresh PostgreSQL database) and removed afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import random
import resource
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from crossdock import bootstrap, config
from crossdock.config import Settings
from crossdock.domain import inventory
from crossdock.entrypoints.api.intake_writer import IntakeWriter
from crossdock.entrypoints.worker import Worker
from crossdock.hub.ports import DeliveryStatus, IntakeResult, IntakeStatus, MessageStatus
from crossdock.observability.metrics import Metrics
from crossdock.storage.sql import migrate
from crossdock.storage.sql import tables as t
from crossdock.storage.sql.engine import make_engine

SOURCE = "bench"
DESTINATION = "sink"
QUICK_EVENTS = 300
FEEDERS = 4  # threads handing prepared messages to the group-commit writer, as concurrent requests would
IN_FLIGHT_PER_FEEDER = 250  # unanswered submissions each feeder allows: ~1,000 concurrent clients in all
WARM_UP_EVENTS = 50
FIXED_RATE = 1_000
FIXED_SECONDS = 5.0
QUICK_FIXED_SECONDS = 0.3
RAW_BATCH = 500
PEER_BATCH = 500
PEER_CONCURRENCY = 16
INVENTORY_LOCATIONS = 10
INVENTORY_SKUS = 100_000  # x 10 locations: a million positions
QUICK_INVENTORY_SKUS = 1_000
ATP_QUERIES = 100_000
QUICK_ATP_QUERIES = 2_000
RESERVATIONS = 20_000
QUICK_RESERVATIONS = 500
INVENTORY_SEED = 3  # the same positions and queries on every run, so runs compare


class BenchError(Exception):
    """The benchmark could not complete a run."""


# ---- entry points --------------------------------------------------------------------------------------


def run_all(
    *, events: int = 20_000, postgres_url: str | None = None, quick: bool = False, progress: Console | None = None
) -> dict[str, Any]:
    """Run every measurement and return the figures as a JSON-ready dict."""
    n = min(events, QUICK_EVENTS) if quick else events
    if n < 1:
        raise BenchError("the number of events must be at least 1")
    seconds = QUICK_FIXED_SECONDS if quick else FIXED_SECONDS
    say = _Reporter(progress)
    figures: dict[str, Any] = {"machine": _machine(postgres_url), "quick": quick}
    with _Sink.started() as sink:
        with tempfile.TemporaryDirectory(prefix="crossdock-bench-") as tmp:
            figures["sqlite"] = _backend("sqlite", lambda: _fresh_sqlite(Path(tmp)), sink, n, seconds, say)
        if postgres_url:
            figures["postgres"] = _backend(
                "postgres", lambda: _fresh_postgres(postgres_url), sink, n, seconds, say, peer=True
            )
        else:
            figures["postgres"] = {
                "skipped": "no PostgreSQL URL given (--postgres-url or CROSSDOCK_BENCH_POSTGRES_URL)"
            }
        figures["sink_peak_rss_mb"] = sink.peak_rss_mb()
    say("x12: parsing the sample files, ours and the libraries installed")
    figures["x12"] = run_x12(quick=quick)
    # Last, so that the ledger's million positions do not raise the hub runs' peak RSS.
    figures["inventory"] = run_inventory(quick=quick, progress=progress)
    return figures


def print_table(console: Console, figures: dict[str, Any]) -> None:
    """Render the figures as tables: one column per database, and the machine they were taken on."""
    machine = figures.get("machine", {})
    console.print(
        f"[bold]Crossdock benchmark[/bold]{' (quick)' if figures.get('quick') else ''}: "
        f"{machine.get('cpu_count')} CPUs, Python {machine.get('python')}, SQLite {machine.get('sqlite')}"
        + (f", PostgreSQL {machine['postgres']}" if machine.get("postgres") else "")
    )
    backends = [name for name in ("sqlite", "postgres") if name in figures and "skipped" not in figures[name]]
    table = Table(title="Intake -> handler -> HTTP delivery, durable")
    table.add_column("figure")
    for name in backends:
        table.add_column("SQLite" if name == "sqlite" else "PostgreSQL", justify="right")
    table.add_column("target", style="dim")
    rows: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
        ("events", lambda f: f.get("events"), ""),
        ("events/s end to end", lambda f: f.get("events_per_s"), ">= 5,000 (SQLite)"),
        ("intake acknowledged/s", lambda f: f.get("intake_per_s"), ""),
        ("p50 intake -> delivered (ms)", lambda f: f.get("p50_ms"), ""),
        ("p99 intake -> delivered (ms)", lambda f: f.get("p99_ms"), ""),
        (
            f"p50 at {FIXED_RATE:,}/s offered (ms)",
            lambda f: f.get("at_1000_per_s", {}).get("p50_ms"),
            "",
        ),
        (
            f"p99 at {FIXED_RATE:,}/s offered (ms)",
            lambda f: f.get("at_1000_per_s", {}).get("p99_ms"),
            "<= 50",
        ),
        ("raw INSERT rows/s", lambda f: f.get("raw_rows_per_s"), ""),
        ("raw INSERT events/s", lambda f: f.get("raw_events_per_s"), ""),
        ("crossdock / raw", lambda f: f.get("ratio_to_raw"), ""),
        ("hub process CPU per event (ms)", lambda f: f.get("cpu_ms_per_event"), ""),
        ("sink process CPU per event (ms)", lambda f: f.get("sink_cpu_ms_per_event"), ""),
        ("orders/s to released (3 lines, stored ledger)", lambda f: f.get("orders", {}).get("orders_per_s"), ""),
        ("line reservations/s (stored ledger)", lambda f: f.get("orders", {}).get("reservations_per_s"), ""),
        ("peak RSS of this process (MB)", lambda f: f.get("peak_rss_mb"), ""),
    ]
    for label, pick, target in rows:
        table.add_row(label, *(_cell(pick(figures[name])) for name in backends), target)
    console.print(table)
    for name in ("sqlite", "postgres"):
        if "skipped" in figures.get(name, {}):
            console.print(f"[yellow]{name}: skipped[/yellow] ({figures[name]['skipped']})")
    peer = figures.get("postgres", {}).get("peer")
    if peer:
        if "error" in peer:
            console.print(f"[yellow]Peer {peer.get('name')} could not run:[/yellow] {peer['error']}")
        else:
            peers = Table(title=f"Peer on PostgreSQL: {peer['name']} {peer.get('version', '')}".strip())
            peers.add_column("figure")
            peers.add_column("value", justify="right")
            peers.add_column("target", style="dim")
            peers.add_row("jobs", _cell(peer.get("jobs")), "")
            peers.add_row("jobs/s end to end (defer + run)", _cell(peer.get("jobs_per_s")), "")
            peers.add_row("jobs deferred/s", _cell(peer.get("defer_per_s")), "")
            peers.add_row("jobs run/s", _cell(peer.get("run_per_s")), "")
            peers.add_row("crossdock on PostgreSQL / peer", _cell(peer.get("ratio")), ">= 1")
            console.print(peers)
    if "sink_peak_rss_mb" in figures:
        console.print(f"Peak RSS of the HTTP sink process: {_cell(figures['sink_peak_rss_mb'])} MB")
    if "x12" in figures:
        _print_x12(console, figures["x12"])
    if "inventory" in figures:
        _print_inventory(console, figures["inventory"])


def _print_x12(console: Console, figures: dict[str, Any]) -> None:
    if "skipped" in figures:
        console.print(f"[yellow]x12: skipped[/yellow] ({figures['skipped']})")
        return
    table = Table(title=f"X12 read: {figures['files']} sample files, {figures['bytes']:,} bytes x {figures['rounds']}")
    table.add_column("parser")
    table.add_column("files read", justify="right")
    table.add_column("MB/s", justify="right")
    for name, result in figures.items():
        if isinstance(result, dict):
            table.add_row(name, _cell(result.get("files_read")), _cell(result.get("mb_per_s")))
    console.print(table)


def _print_inventory(console: Console, figures: dict[str, Any]) -> None:
    table = Table(title=f"Inventory ledger: {figures.get('model')}, {_cell(figures.get('positions'))} positions")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target", style="dim")
    location, network = figures.get("atp_location", {}), figures.get("atp_network", {})
    rows: list[tuple[str, Any, str]] = [
        ("skus x locations", f"{_cell(figures.get('skus'))} x {_cell(figures.get('locations'))}", ""),
        ("build from positions (s)", figures.get("build_s"), ""),
        ("ATP at one location p50 (µs)", location.get("p50_us"), ""),
        ("ATP at one location p99 (µs)", location.get("p99_us"), "<= 2,000"),
        ("ATP at one location max (µs)", location.get("max_us"), ""),
        ("ATP network-wide p50 (µs)", network.get("p50_us"), ""),
        ("ATP network-wide p99 (µs)", network.get("p99_us"), "<= 2,000"),
        ("ATP network-wide max (µs)", network.get("max_us"), ""),
        (f"reservations/s ({figures.get('reservation_policy')})", figures.get("reservations_per_s"), ""),
        ("memory held by the ledger (MB, traced)", figures.get("ledger_mb"), ""),
        ("peak RSS of this process after the build (MB)", figures.get("peak_rss_mb"), ""),
    ]
    for label, value, target in rows:
        table.add_row(label, _cell(value), target)
    console.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value < 1:
            return f"{value:.3g}"
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


# ---- one database ----------------------------------------------------------------------------------------


def _backend(
    name: str,
    database: Callable[[], contextlib.AbstractContextManager[str]],
    sink: _Sink,
    n: int,
    seconds: float,
    say: _Reporter,
    *,
    peer: bool = False,
) -> dict[str, Any]:
    result: dict[str, Any] = {"events": n}
    say(f"{name}: {n:,} events through the hub at full speed")
    with database() as url:
        throughput = _crossdock_run(url, sink, n, None, say)
    result.update(throughput)
    say(f"{name}: {result['events_per_s']:,.0f} events/s, p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms")

    offered = max(int(FIXED_RATE * seconds), 1)
    say(f"{name}: {offered:,} events offered at {FIXED_RATE:,}/s")
    with database() as url:
        fixed = _crossdock_run(url, sink, offered, FIXED_RATE, say)
    result["at_1000_per_s"] = {
        "offered_per_s": FIXED_RATE,
        "events": offered,
        "seconds": seconds,
        "p50_ms": fixed["p50_ms"],
        "p99_ms": fixed["p99_ms"],
        "max_ms": fixed["max_ms"],
    }
    say(f"{name}: at {FIXED_RATE:,}/s p50 {fixed['p50_ms']:.1f} ms, p99 {fixed['p99_ms']:.1f} ms")

    say(f"{name}: raw batched INSERTs of the same rows")
    with database() as url:
        raw = _raw_run(url, n)
    result["raw_rows_per_s"] = raw["rows_per_s"]
    result["raw_events_per_s"] = raw["events_per_s"]
    result["ratio_to_raw"] = _significant(result["events_per_s"] / raw["events_per_s"])
    say(f"{name}: raw {raw['events_per_s']:,.0f} events/s ({raw['rows_per_s']:,.0f} rows/s)")

    orders = max(n // 10, 20)
    say(f"{name}: {orders:,} orders received -> validated -> reserved -> released to the warehouse")
    with database() as url:
        result["orders"] = _order_flow(url, orders)
    say(
        f"{name}: {result['orders']['orders_per_s']:,.0f} orders/s, "
        f"{result['orders']['reservations_per_s']:,.0f} line reservations/s through the stored ledger"
    )

    if peer:
        say(f"{name}: peer (procrastinate), {n:,} no-op jobs")
        with database() as url:
            result["peer"] = _peer(url, n, result["events_per_s"])
        if "jobs_per_s" in result["peer"]:
            say(f"{name}: procrastinate {result['peer']['jobs_per_s']:,.0f} jobs/s")
        else:
            say(f"{name}: procrastinate could not run: {result['peer']['error']}")
    result["peak_rss_mb"] = _peak_rss_mb()
    return result


@contextlib.contextmanager
def _fresh_sqlite(folder: Path) -> Iterator[str]:
    """A new SQLite file, with its WAL and shared-memory files removed afterwards."""
    path = folder / f"bench-{uuid.uuid4().hex[:10]}.db"
    try:
        yield f"sqlite:///{path}"
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


@contextlib.contextmanager
def _fresh_postgres(server_url: str) -> Iterator[str]:
    """A new, empty database on the given server, dropped afterwards."""
    name = f"cd_bench_{uuid.uuid4().hex[:10]}"
    base = sa.engine.make_url(server_url).set(drivername="postgresql")
    admin = base.set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # a generated identifier, not input
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---- X12 parsing against the libraries that exist ----------------------------------------------------------------

X12_SAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "samples"
X12_ROUNDS = 200
QUICK_X12_ROUNDS = 5


def run_x12(*, quick: bool = False, samples: Path = X12_SAMPLES) -> dict[str, Any]:
    """MB/s reading the valid X12 sample files, ours (read + validate) and each library installed beside it, on the
    same bytes in the same run. A library is timed on the files it can read; how many that is, is reported."""
    from crossdock.connectors import x12 as engine

    files = sorted(
        path for folder in samples.glob("x12-*") if not folder.name.endswith("-bad") for path in folder.iterdir()
    )
    if not files:
        return {"skipped": f"no X12 samples under {samples}"}
    corpus = [path.read_bytes() for path in files]
    rounds = QUICK_X12_ROUNDS if quick else X12_ROUNDS
    parsers: dict[str, Callable[[bytes], object]] = {"crossdock": lambda data: engine.parse(data, engine.LENIENT)}
    parsers.update(_x12_peers())
    figures: dict[str, Any] = {"files": len(corpus), "bytes": sum(len(d) for d in corpus), "rounds": rounds}
    for name, parse in parsers.items():
        readable = [data for data in corpus if _reads(parse, data)]
        clock = time.perf_counter()
        for _ in range(rounds):
            for data in readable:
                parse(data)
        elapsed = time.perf_counter() - clock
        size = sum(len(d) for d in readable) * rounds
        figures[name] = {
            "files_read": len(readable),
            "mb_per_s": round(size / elapsed / 1e6, 2) if elapsed else None,
        }
    return figures


def _reads(parse: Callable[[bytes], object], data: bytes) -> bool:
    try:
        parse(data)
    except Exception:  # noqa: BLE001 - a library that cannot read a file is timed without it
        return False
    return True


def _x12_peers() -> dict[str, Callable[[bytes], object]]:
    """The libraries of the bench extra, when installed (docs/edi-x12.md says why none of them is used)."""
    peers: dict[str, Callable[[bytes], object]] = {}
    try:
        import x12 as ansi_x12  # type: ignore[import-not-found,import-untyped,unused-ignore]

        peers["ansi-x12"] = lambda data: ansi_x12.parse_x12_interchange(ansi_x12.tokenize_x12(data))
    except ImportError:
        pass
    try:
        import io

        from pyx12 import x12file  # type: ignore[import-not-found,import-untyped,unused-ignore]

        def pyx12_parse(data: bytes) -> object:
            reader = x12file.X12Reader(io.StringIO(data.decode("utf-8")))
            segments = sum(1 for _ in reader)
            if reader.pop_errors():
                raise ValueError("pyx12 reported errors")
            return segments

        peers["pyx12"] = pyx12_parse
    except ImportError:
        pass
    return peers


# ---- order-to-cash through the stored ledger -------------------------------------------------------------------


ORDER_SKUS = 200
ORDER_LOCATIONS = ("WH-1", "WH-2", "WH-3")
ORDER_LINES = 3


def _order_flow(url: str, orders: int) -> dict[str, Any]:
    """Orders through intake, validation, reservation against the SQL stock ledger (locked rows on PostgreSQL) and
    release to the warehouse, one worker, no delivery targets: what order-to-cash costs on top of the runtime."""
    settings = config.load(None, overrides={"storage.url": url, "sources": {"wms": {"kind": "canonical"}}})
    runtime = bootstrap.build(settings)
    try:
        migrate.upgrade(runtime.engine)
        hub = runtime.hub
        rng = random.Random(INVENTORY_SEED)
        receipts = [
            _canonical(
                "crossdock.inventory.adjusted.v1",
                f"r-{sku}-{loc}",
                {
                    "sku": f"SKU-{sku:04d}",
                    "location": loc,
                    "change": {"value": str(rng.randint(20, 200)), "unit": "EA"},
                    "reason": "receipt",
                },
            )
            for sku in range(ORDER_SKUS)
            for loc in ORDER_LOCATIONS
        ]
        _accept_all(hub, "wms", receipts)
        hub.drain("bench-orders")
        bodies = [
            json.dumps(
                {
                    "number": f"SO-{i:07d}",
                    "customer": f"C-{i % 50}",
                    "channel": "webshop",
                    "currency": "EUR",
                    "lines": [
                        {
                            "line": n,
                            "sku": f"SKU-{rng.randrange(ORDER_SKUS):04d}",
                            "quantity": {"value": str(rng.randint(1, 5)), "unit": "EA"},
                            "unit_price": "9.90",
                        }
                        for n in range(1, ORDER_LINES + 1)
                    ],
                }
            ).encode()
            for i in range(orders)
        ]
        clock = time.perf_counter()
        _accept_all(hub, "api", bodies)
        hub.drain("bench-orders")
        elapsed = time.perf_counter() - clock
        with runtime.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT status, count(*) FROM orders GROUP BY status")).all()
        statuses: dict[str, int] = {str(status): int(count) for status, count in rows}
        if sum(statuses.values()) != orders:
            raise BenchError(f"expected {orders} orders stored, found {statuses}")
        return {
            "orders": orders,
            "lines_per_order": ORDER_LINES,
            "seconds": round(elapsed, 2),
            "orders_per_s": round(orders / elapsed, 1),
            "reservations_per_s": round(orders * ORDER_LINES / elapsed, 1),
            "statuses": statuses,
        }
    finally:
        runtime.close()


def _canonical(event_type: str, event_id: str, data: dict[str, Any]) -> bytes:
    return json.dumps(
        {"specversion": "1.0", "id": event_id, "source": "bench", "type": event_type, "data": data}
    ).encode()


def _accept_all(hub: Any, source: str, bodies: Sequence[bytes], batch: int = 500) -> None:
    now = hub.clock.now()
    for start in range(0, len(bodies), batch):
        chunk = bodies[start : start + batch]
        headers = [{"idempotency-key": f"{source}-{start + i}"} for i in range(len(chunk))]
        results = hub.accept([hub.intake.prepare(source, body, h, now) for body, h in zip(chunk, headers, strict=True)])
        refused = [r for r in results if r.status is not IntakeStatus.ACCEPTED]
        if refused:
            raise BenchError(f"intake refused {len(refused)} messages: {refused[0]}")


# ---- crossdock, end to end ----------------------------------------------------------------------------------


def _settings(url: str, sink_url: str) -> Settings:
    """The defaults, tunable like any hub through CROSSDOCK_* variables (CROSSDOCK_WORKER__BATCH_SIZE=500)."""
    return config.load(
        None,
        overrides={
            "storage.url": url,  # SQLite keeps the default FULL synchronous
            "sources": {SOURCE: {"subject_field": "id"}},
            "destinations": {DESTINATION: {"kind": "webhook", "url": sink_url}},
            "subscriptions": [{"destination": DESTINATION, "events": ["*"]}],
        },
    )


def _body(prefix: str, i: int) -> bytes:
    """An order-sized JSON message; each has its own business key, so its own partition."""
    return (
        f'{{"id":"{prefix}-{i:07d}","customer":"C{i % 977:04d}","currency":"EUR",'
        f'"lines":[{{"sku":"SKU-{i % 4099:05d}","qty":{1 + i % 7},"price":"{10 + i % 90}.50"}},'
        f'{{"sku":"SKU-{(i * 7) % 4099:05d}","qty":1,"price":"4.95"}}]}}'
    ).encode()


def _crossdock_run(url: str, sink: _Sink, n: int, rate: float | None, say: _Reporter) -> dict[str, Any]:
    """Build a hub on a fresh database, feed n events through the intake path, wait for every delivery."""
    settings = _settings(url, sink.url)
    runtime = bootstrap.build(settings)
    hub = runtime.hub
    try:
        migrate.upgrade(runtime.engine)
        # Wired as `crossdock run` wires them: the worker drains intake into its own unit of work.
        writer = IntakeWriter(
            hub.accept,
            window_ms=settings.http.intake_batch_ms,
            max_batch=settings.http.intake_batch_size,
            own_thread=False,
        )
        worker = Worker(hub, Metrics(), idle_sleep=settings.worker.idle_sleep_ms / 1000, intake=writer)
        worker.start()
        try:
            # Leases taken, HTTP connections open, statements compiled: not part of the figures.
            _feed_all(hub, writer, [_body("WARM", i) for i in range(WARM_UP_EVENTS)], 1)
            _wait_delivered(runtime.engine, WARM_UP_EVENTS, None, say)
            bodies = [_body("SO", i) for i in range(n)]
            started = datetime.now(UTC)
            clock = time.perf_counter()
            cpu, sink_cpu = _cpu_seconds(), sink.cpu_seconds()
            if rate is None:
                _feed_all(hub, writer, bodies, FEEDERS)
            else:
                _feed_at_rate(hub, writer, bodies, rate)
            acknowledged = time.perf_counter() - clock
            _wait_delivered(runtime.engine, WARM_UP_EVENTS + n, n if rate is None else None, say)
            cpu, sink_cpu = _cpu_seconds() - cpu, sink.cpu_seconds() - sink_cpu
        finally:
            worker.stop()
            writer.close()
        latencies, last = _latencies(runtime.engine, started)
    finally:
        runtime.close()
    if len(latencies) != n:
        raise BenchError(f"expected {n} delivered events after the start, found {len(latencies)}")
    elapsed = (last - started).total_seconds()
    return {
        "events_per_s": round(n / elapsed, 1),
        "intake_per_s": round(n / acknowledged, 1),
        "seconds": round(elapsed, 3),
        "p50_ms": round(_percentile(latencies, 50), 2),
        "p99_ms": round(_percentile(latencies, 99), 2),
        "max_ms": round(latencies[-1], 2),
        # CPU per event holds up better than wall time on a shared machine; the feeders are in it too.
        "cpu_ms_per_event": round(cpu * 1000 / n, 3),
        "sink_cpu_ms_per_event": round(sink_cpu * 1000 / n, 3),
    }


def _submit(hub: Any, writer: IntakeWriter, body: bytes) -> Future[IntakeResult]:
    message = hub.intake.prepare(SOURCE, body, {"content-type": "application/json"}, hub.clock.now())
    return writer.submit(message)


def _check(future: Future[IntakeResult]) -> None:
    result = future.result(timeout=120)
    if result.status is not IntakeStatus.ACCEPTED:
        raise BenchError(f"intake answered {result.status.value} for message {result.message_id}")


def _feed_all(hub: Any, writer: IntakeWriter, bodies: Sequence[bytes], feeders: int) -> None:
    """Feeder threads act as many concurrent clients, each waiting for its oldest answer past a window."""
    errors: list[BaseException] = []

    def feed(part: Sequence[bytes]) -> None:
        waiting: deque[Future[IntakeResult]] = deque()
        try:
            for body in part:
                waiting.append(_submit(hub, writer, body))
                if len(waiting) >= IN_FLIGHT_PER_FEEDER:
                    _check(waiting.popleft())
            while waiting:
                _check(waiting.popleft())
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=feed, args=(bodies[k::feeders],), daemon=True) for k in range(feeders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise BenchError(f"intake failed: {errors[0]!r}") from errors[0]


def _feed_at_rate(hub: Any, writer: IntakeWriter, bodies: Sequence[bytes], rate: float) -> None:
    """One client offering a steady rate: message i is submitted at start + i / rate."""
    futures: list[Future[IntakeResult]] = []
    start = time.perf_counter()
    for i, body in enumerate(bodies):
        ahead = start + i / rate - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
        futures.append(_submit(hub, writer, body))
    for future in futures:
        _check(future)


def _wait_delivered(engine: sa.Engine, total: int, measured: int | None, say: _Reporter) -> None:
    """Poll until `total` deliveries are delivered; fail early on a dead letter or a failed message."""
    d, m = t.deliveries.c, t.inbox_messages.c
    deadline = time.monotonic() + max(120.0, total / 20)  # a slow machine is a figure, not a failure
    with say.status("waiting for deliveries") as status:
        while True:
            with engine.connect() as conn:
                counts: dict[str, int] = {
                    row[0]: row[1] for row in conn.execute(sa.select(d.status, sa.func.count()).group_by(d.status))
                }
                failed = conn.execute(
                    sa.select(sa.func.count()).where(m.status == MessageStatus.FAILED.value)
                ).scalar_one()
            delivered = counts.get(DeliveryStatus.DELIVERED.value, 0)
            if delivered >= total:
                return
            if failed or counts.get(DeliveryStatus.DEAD.value):
                raise BenchError(f"messages failed ({failed}) or deliveries died: {counts}")
            if time.monotonic() > deadline:
                raise BenchError(f"only {delivered} of {total} deliveries were delivered in time: {counts}")
            if measured is not None:
                status(f"delivered {delivered:,} of {total:,}")
            time.sleep(0.1)


def _latencies(engine: sa.Engine, started: datetime) -> tuple[list[float], datetime]:
    """Intake-to-delivered per message of the measured run, in ms, sorted; and the last delivery time."""
    d, e, m = t.deliveries.c, t.events.c, t.inbox_messages.c
    query = (
        sa.select(m.received_at, d.delivered_at)
        .select_from(t.deliveries.join(t.events, e.id == d.event_id).join(t.inbox_messages, m.id == e.message_id))
        .where(m.received_at >= started, d.status == DeliveryStatus.DELIVERED.value)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    if not rows:
        raise BenchError("no delivered events were found")
    latencies = sorted((delivered - received).total_seconds() * 1000 for received, delivered in rows)
    return latencies, max(delivered for _, delivered in rows)


def _significant(value: float) -> float:
    """A ratio to four significant digits: small ratios keep their precision."""
    return float(f"{value:.4g}")


def _percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


# ---- the raw ceiling ---------------------------------------------------------------------------------------


def _raw_run(url: str, n: int) -> dict[str, float]:
    """The same four rows per event (inbox, event, delivery, attempt) as plain batched INSERTs, one transaction
    per batch, on an engine with the hub's durability settings."""
    engine = make_engine(url)  # FULL synchronous on SQLite, as the hub runs
    try:
        migrate.upgrade(engine)
        rows = [_raw_rows(i) for i in range(n)]
        clock = time.perf_counter()
        for start in range(0, n, RAW_BATCH):
            batch = rows[start : start + RAW_BATCH]
            with engine.begin() as conn:
                for index, table in enumerate((t.inbox_messages, t.events, t.deliveries, t.delivery_attempts)):
                    conn.execute(table.insert(), [row[index] for row in batch])
        elapsed = time.perf_counter() - clock
    finally:
        engine.dispose()
    return {"rows_per_s": round(4 * n / elapsed, 1), "events_per_s": round(n / elapsed, 1)}


def _raw_rows(i: int) -> tuple[dict[str, Any], ...]:
    now = datetime.now(UTC)
    body = _body("SO", i)
    subject = f"SO-{i:07d}"
    event_id = str(uuid.uuid4())
    delivery_id = str(uuid.uuid4())
    envelope = {
        "id": event_id,
        "source": f"crossdock/{SOURCE}",
        "type": "crossdock.message.received.v1",
        "subject": subject,
        "time": now.isoformat(),
        "data": {"id": subject, "customer": f"C{i % 977:04d}", "lines": [{"sku": "SKU-00001", "qty": 1}]},
        "specversion": "1.0",
        "datacontenttype": "application/json",
    }
    return (
        {
            "id": i + 1,
            "source": SOURCE,
            "key": f"biz:{subject}:{uuid.uuid4().hex}{uuid.uuid4().hex}",
            "payload_hash": uuid.uuid4().hex * 2,
            "body": body,
            "headers": {"content-type": "application/json"},
            "received_at": now,
            "partition_key": subject,
            "shard": i % 16,
            "status": MessageStatus.PROCESSED.value,
            "error": None,
            "replays": 0,
            "processed_at": now,
        },
        {
            "position": i + 1,
            "id": event_id,
            "type": envelope["type"],
            "subject": subject,
            "partition_key": subject,
            "correlation_id": event_id,
            "message_id": i + 1,
            "time": now,
            "recorded_at": now,
            "envelope": envelope,
        },
        {
            "id": delivery_id,
            "event_id": event_id,
            "event_type": envelope["type"],
            "subject": subject,
            "destination": DESTINATION,
            "partition_key": subject,
            "shard": i % 16,
            "payload": {**envelope, "position": i + 1},
            "status": DeliveryStatus.DELIVERED.value,
            "attempts": 1,
            "replays": 0,
            "created_at": now,
            "queued_at": now,
            "next_attempt_at": now,
            "last_error": None,
            "delivered_at": now,
        },
        {
            "delivery_id": delivery_id,
            "number": 1,
            "at": now,
            "outcome": "delivered",
            "status_code": 200,
            "error": None,
            "duration_ms": 1.0,
        },
    )


# ---- the peer ----------------------------------------------------------------------------------------------


def _peer(url: str, n: int, crossdock_per_s: float) -> dict[str, Any]:
    """procrastinate on its own fresh database: defer n no-op jobs in batches, run a worker until none is left."""
    try:
        figures = asyncio.run(_procrastinate(url, n))
    except Exception as exc:  # noqa: BLE001 - the peer's failure is a figure, not a crash
        return {"name": "procrastinate", "error": f"{exc.__class__.__name__}: {exc}"}
    figures["ratio"] = _significant(crossdock_per_s / figures["jobs_per_s"])
    return figures


async def _procrastinate(url: str, n: int) -> dict[str, Any]:
    import procrastinate
    from procrastinate import metadata

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url, min_size=2, max_size=20))

    @app.task(name="noop")
    async def noop() -> None:
        return None

    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        clock = time.perf_counter()
        for start in range(0, n, PEER_BATCH):
            await noop.batch_defer_async(*({} for _ in range(min(PEER_BATCH, n - start))))
        deferred = time.perf_counter()
        await app.run_worker_async(
            wait=False, concurrency=PEER_CONCURRENCY, install_signal_handlers=False, listen_notify=False
        )
        finished = time.perf_counter()
        done = await app.connector.execute_query_one_async(
            "SELECT count(*) AS n FROM procrastinate_jobs WHERE status = 'succeeded'"
        )
    if done["n"] != n:
        raise BenchError(f"procrastinate finished {done['n']} of {n} jobs")
    return {
        "name": "procrastinate",
        "version": metadata.extract_metadata().get("version", ""),
        "jobs": n,
        "concurrency": PEER_CONCURRENCY,
        "jobs_per_s": round(n / (finished - clock), 1),
        "defer_per_s": round(n / (deferred - clock), 1),
        "run_per_s": round(n / (finished - deferred), 1),
    }


# ---- the inventory ledger ---------------------------------------------------------------------------------


def run_inventory(*, quick: bool = False, progress: Console | None = None) -> dict[str, Any]:
    """The stock ledger's pure model, in memory: build a state of skus x locations positions, then time
    available-to-promise queries (one location, and network-wide) and chained reservations on random skus.
    Storage is not in these figures: they are what a handler's domain call costs once its rows are loaded."""
    say = _Reporter(progress)
    skus = QUICK_INVENTORY_SKUS if quick else INVENTORY_SKUS
    queries = QUICK_ATP_QUERIES if quick else ATP_QUERIES
    reservations = QUICK_RESERVATIONS if quick else RESERVATIONS
    policy = inventory.ReservationPolicy.FEWEST_SHIPMENTS
    rng = random.Random(INVENTORY_SEED)
    sku_ids = [f"SKU-{i:06d}" for i in range(skus)]
    location_ids = [f"WH-{i:02d}" for i in range(INVENTORY_LOCATIONS)]
    say(f"inventory: {skus * INVENTORY_LOCATIONS:,} positions ({skus:,} skus x {INVENTORY_LOCATIONS} locations)")

    def load_positions() -> list[inventory.StockPosition]:
        # A Decimal per row, as a database driver hands them over: the memory figure counts them all.
        return [
            inventory.StockPosition(sku, location, on_hand=Decimal(rng_positions.randrange(201)))
            for sku in sku_ids
            for location in location_ids
        ]

    rng_positions = random.Random(INVENTORY_SEED)
    ledger_mb = _ledger_size_mb(load_positions)
    rng_positions = random.Random(INVENTORY_SEED)
    positions = load_positions()
    clock = time.perf_counter()
    state = inventory.LedgerState.build(positions=positions)
    build_s = time.perf_counter() - clock
    del positions  # the state holds them; the list was only the loaded rows
    peak_rss_mb = _peak_rss_mb()
    say(f"inventory: built in {build_s:.2f} s")

    def at_one_location(sku: str, location: str) -> Decimal:
        return inventory.available_to_promise(state, sku, location)

    def network_wide(sku: str, _location: str) -> Decimal:
        return inventory.available_to_promise(state, sku)

    keys = [(rng.choice(sku_ids), rng.choice(location_ids)) for _ in range(queries)]
    atp_location = _query_latency(at_one_location, keys)
    atp_network = _query_latency(network_wide, keys)
    say(
        f"inventory: ATP p99 {atp_location['p99_us']:.1f} µs at one location, "
        f"{atp_network['p99_us']:.1f} µs network-wide"
    )

    requests = [(rng.choice(sku_ids), Decimal(rng.randint(1, 20))) for _ in range(reservations)]
    clock = time.perf_counter()
    for number, (sku, quantity) in enumerate(requests):
        # Each reservation sees the state the previous one left, as consecutive orders would.
        state = inventory.reserve_stock(state, f"SO-{number:07d}", "1", sku, quantity, policy).state
    reserve_s = time.perf_counter() - clock
    held = sum(1 for _ in state.reservations())
    if held != reservations:
        raise BenchError(f"expected {reservations} reservations in the ledger, found {held}")
    say(f"inventory: {reservations / reserve_s:,.0f} reservations/s")
    return {
        "model": "in-memory ledger state",
        "skus": skus,
        "locations": INVENTORY_LOCATIONS,
        "positions": skus * INVENTORY_LOCATIONS,
        "build_s": round(build_s, 3),
        "ledger_mb": ledger_mb,
        "peak_rss_mb": peak_rss_mb,
        "atp_location": atp_location,
        "atp_network": atp_network,
        "reservations": reservations,
        "reservation_policy": policy.value,
        "reservations_per_s": round(reservations / reserve_s, 1),
    }


def _query_latency(query: Callable[[str, str], Decimal], keys: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Each query timed on its own, in microseconds: the clock's own cost (well under a microsecond) included."""
    elapsed: list[float] = []
    for sku, location in keys:
        started = time.perf_counter_ns()
        query(sku, location)
        elapsed.append((time.perf_counter_ns() - started) / 1000)
    elapsed.sort()
    return {
        "queries": len(keys),
        "p50_us": round(_percentile(elapsed, 50), 2),
        "p99_us": round(_percentile(elapsed, 99), 2),
        "max_us": round(elapsed[-1], 2),
    }


# ---- the sink and the machine ------------------------------------------------------------------------------


@dataclass
class _Sink:
    """The local webhook target, in a process of its own so that its work is not counted as the hub's."""

    process: subprocess.Popen[bytes]
    url: str

    @classmethod
    @contextlib.contextmanager
    def started(cls) -> Iterator[_Sink]:
        port = _free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "crossdock.devtools.sink", "--port", str(port), "--no-bodies"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        sink = cls(process, f"http://127.0.0.1:{port}/hook")
        try:
            sink._wait_ready(port)
            yield sink
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _wait_ready(self, port: int) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"the HTTP sink exited with status {self.process.returncode}")
            try:
                httpx.get(f"http://127.0.0.1:{port}/_sink/reset", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise BenchError("the HTTP sink did not start within 20 s")

    def cpu_seconds(self) -> float:
        """User plus system CPU the sink has used so far."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float | None:
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
        return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _ledger_size_mb(load_positions: Callable[[], list[inventory.StockPosition]]) -> float:
    """Bytes the built ledger holds, traced allocation by allocation.

    Process RSS moves with whatever else the allocator frees or keeps, so it cannot size one structure; the
    traced build is separate from the timed one because tracing slows every allocation.
    """
    tracemalloc.start()
    try:
        state = inventory.LedgerState.build(positions=load_positions())
        held, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del state
    return round(held / 2**20, 1)


def _peak_rss_mb() -> float:
    """This process's high-water mark so far (ru_maxrss is in KiB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _machine(postgres_url: str | None) -> dict[str, Any]:
    machine: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
    }
    if postgres_url:
        try:
            url = sa.engine.make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
            with psycopg.connect(url, connect_timeout=5) as conn:
                row = conn.execute("SHOW server_version").fetchone()
            machine["postgres"] = row[0] if row else None
        except psycopg.Error as exc:
            machine["postgres"] = f"unreachable: {exc}"
    return machine


class _Reporter:
    """Progress lines on a console when one is given; silence otherwise."""

    def __init__(self, console: Console | None) -> None:
        self.console = console

    def __call__(self, text: str) -> None:
        if self.console is not None:
            self.console.print(f"[dim]{datetime.now(UTC):%H:%M:%S}[/dim] {text}")

    @contextlib.contextmanager
    def status(self, text: str) -> Iterator[Callable[[str], None]]:
        if self.console is None:
            yield lambda _text: None
            return
        with self.console.status(text) as live:
            yield lambda update: live.update(update)
