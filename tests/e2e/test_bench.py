"""`crossdock bench --quick`: the benchmark runs end to end and reports every figure it promises, as positive
numbers, in the documented JSON shape, the inventory ledger's model included. It says nothing about how fast:
timings belong to the full run."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from crossdock.entrypoints import bench, cli

THROUGHPUT_FIGURES = (
    "events_per_s",
    "intake_per_s",
    "p50_ms",
    "p99_ms",
    "raw_rows_per_s",
    "raw_events_per_s",
    "ratio_to_raw",
    "peak_rss_mb",
)
INVENTORY_FIGURES = ("build_s", "ledger_mb", "peak_rss_mb", "reservations_per_s")
LATENCY_FIGURES = ("p50_us", "p99_us", "max_us")


def assert_positive(figures: dict[str, Any], names: tuple[str, ...], where: str) -> None:
    for name in names:
        value = figures.get(name)
        assert isinstance(value, int | float) and not isinstance(value, bool), f"{where}.{name} is {value!r}"
        assert value > 0, f"{where}.{name} should be a positive measurement, got {value}"


def assert_backend_measured(figures: dict[str, Any], where: str) -> None:
    assert figures["events"] == bench.QUICK_EVENTS, f"{where}: a quick run feeds {bench.QUICK_EVENTS} events"
    assert_positive(figures, THROUGHPUT_FIGURES, where)
    assert_positive(figures["at_1000_per_s"], ("p50_ms", "p99_ms"), f"{where}.at_1000_per_s")
    assert figures["p50_ms"] <= figures["p99_ms"], f"{where}: the median cannot exceed the 99th percentile"
    assert figures["ratio_to_raw"] == pytest.approx(figures["events_per_s"] / figures["raw_events_per_s"], rel=0.01)


def assert_inventory_measured(figures: dict[str, Any]) -> None:
    assert figures["model"] == "in-memory ledger state", "the figures must say they measure the domain model"
    assert figures["positions"] == bench.QUICK_INVENTORY_SKUS * bench.INVENTORY_LOCATIONS
    assert figures["positions"] == figures["skus"] * figures["locations"]
    assert figures["reservations"] == bench.QUICK_RESERVATIONS
    assert figures["reservation_policy"] == "fewest_shipments"
    assert_positive(figures, INVENTORY_FIGURES, "inventory")
    for query in ("atp_location", "atp_network"):
        assert figures[query]["queries"] == bench.QUICK_ATP_QUERIES
        assert_positive(figures[query], LATENCY_FIGURES, f"inventory.{query}")
        p50, p99, worst = (figures[query][name] for name in LATENCY_FIGURES)
        assert p50 <= p99 <= worst, f"inventory.{query}: percentiles must rise towards the maximum"


def test_quick_bench_prints_every_figure_as_json_and_says_why_postgres_was_skipped() -> None:
    result = CliRunner().invoke(cli.app, ["bench", "--quick", "--json"], env={"CROSSDOCK_BENCH_POSTGRES_URL": ""})

    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["machine"]["cpu_count"] >= 1
    assert figures["machine"]["python"] and figures["machine"]["sqlite"]
    assert_backend_measured(figures["sqlite"], "sqlite")
    assert "PostgreSQL" in figures["postgres"]["skipped"], "a skipped database must say why"
    assert figures["sink_peak_rss_mb"] > 0
    assert_inventory_measured(figures["inventory"])
    x12 = figures["x12"]
    assert x12["crossdock"]["files_read"] == x12["files"], "our engine reads every valid sample"
    assert x12["crossdock"]["mb_per_s"] > 0
    orders = figures["sqlite"]["orders"]
    assert orders["statuses"] == {"released": orders["orders"]}, "every benchmarked order reached the warehouse"
    assert orders["orders_per_s"] > 0 and orders["reservations_per_s"] > 0
    table = Console(record=True, width=200)
    bench.print_table(table, figures)
    printed = table.export_text()
    assert "ATP at one location p99" in printed, "the table shows the inventory section too"
    assert "X12 read" in printed, "the table shows the X12 section too"


@pytest.mark.postgres
def test_quick_bench_on_postgres_compares_the_hub_with_the_peer_queue(postgres_server_url: str) -> None:
    progress = Console(record=True, width=200, force_terminal=False)

    figures = bench.run_all(events=20_000, postgres_url=postgres_server_url, quick=True, progress=progress)

    assert_backend_measured(figures["postgres"], "postgres")
    peer = figures["postgres"]["peer"]
    assert peer["name"] == "procrastinate"
    assert "error" not in peer, f"the peer could not run: {peer.get('error')}"
    assert_positive(peer, ("jobs_per_s", "defer_per_s", "run_per_s", "ratio"), "postgres.peer")
    assert peer["jobs"] == bench.QUICK_EVENTS
    assert "postgres: raw" in progress.export_text(), "progress lines go to the console that was given"
    table = Console(record=True, width=200)
    bench.print_table(table, figures)
    rendered = table.export_text()
    assert "PostgreSQL" in rendered and "procrastinate" in rendered
    assert "Inventory ledger: in-memory ledger state" in rendered, "the table shows the inventory section too"
