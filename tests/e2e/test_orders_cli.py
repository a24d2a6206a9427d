"""The order-to-cash commands as an operator types them: orders, exceptions, availability, and reconciling a
stock count file (twice: the second run changes nothing)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from crossdock import bootstrap, config
from crossdock.entrypoints import cli
from crossdock.hub.ports import ExceptionFilter, ExceptionStatus
from crossdock.storage.sql import migrate
from tests.e2e.conftest import OWNER

WIDE = {"COLUMNS": "250", "NO_COLOR": "1"}  # Rich tables must not wrap the ids we look for


def crossdock(*args: str) -> Result:
    return CliRunner().invoke(cli.app, list(args), env=WIDE)


@pytest.fixture
def config_file(tmp_path: Path, sqlite_url: str) -> Path:
    path = tmp_path / "crossdock.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            data_dir: {tmp_path}
            storage:
              url: {sqlite_url}
            sources:
              wms:
                kind: canonical
            reference:
              customers:
                - {{number: C-100, currency: EUR, credit_limit: "10000"}}
            inventory:
              channels: [web]
            """
        ),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def hub(config_file: Path) -> Iterator[bootstrap.Runtime]:
    """The hub the commands look at, running in this process on the same database."""
    runtime = bootstrap.build(config.load(config_file))
    migrate.upgrade(runtime.engine)
    yield runtime
    runtime.close()


def receipt(runtime: bootstrap.Runtime, sku: str, location: str, quantity: int) -> None:
    data = {"sku": sku, "location": location, "change": {"value": str(quantity), "unit": "EA"}, "reason": "receipt"}
    event = {
        "specversion": "1.0",
        "id": f"rcv-{sku}-{location}",
        "source": "wms",
        "type": "crossdock.inventory.adjusted.v1",
    }
    runtime.hub.receive("wms", json.dumps(event | {"data": data}).encode(), {})


def place(runtime: bootstrap.Runtime, number: str, customer: str = "C-100", quantity: int = 3) -> None:
    order = {
        "number": number,
        "customer": customer,
        "channel": "web",
        "currency": "EUR",
        "lines": [{"line": 1, "sku": "SKU-1", "quantity": {"value": str(quantity), "unit": "EA"}, "unit_price": "10"}],
    }
    runtime.hub.receive("api", json.dumps(order).encode(), {"idempotency-key": number})


def on_hand(runtime: bootstrap.Runtime, sku: str, location: str) -> Decimal:
    with runtime.hub.begin() as uow:
        return uow.inventory.load([sku]).position(sku, location).on_hand


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_orders_are_listed_and_shown_with_lines_and_history(config_file: Path, hub: bootstrap.Runtime) -> None:
    receipt(hub, "SKU-1", "WH1", 5)
    place(hub, "SO-1")
    hub.hub.drain(OWNER)
    cfg = ("--config", str(config_file))

    listed = crossdock("orders", "list", *cfg)
    shown = crossdock("orders", "show", "SO-1", *cfg)
    shown_json = as_json(crossdock("orders", "show", "SO-1", "--json", *cfg))
    missing = crossdock("orders", "show", "SO-404", *cfg)

    assert listed.exit_code == 0, listed.output
    assert "1 orders" in listed.output and "SO-1" in listed.output and "30.00 EUR" in listed.output
    assert shown.exit_code == 0, shown.output
    assert "Order SO-1: released (revision 1), customer C-100, channel web" in shown.output
    assert "crossdock.order.accepted.v1" in shown.output and "3 units released but not shipped" in shown.output
    assert shown_json["lines"][0]["reserved"] == "3"
    assert (missing.exit_code, "No order SO-404" in missing.output) == (1, True)


def test_an_exception_is_listed_shown_and_overridden_from_the_command_line(
    config_file: Path, hub: bootstrap.Runtime
) -> None:
    receipt(hub, "SKU-1", "WH1", 5)
    place(hub, "SO-2", customer="C-999")
    hub.hub.drain(OWNER)
    cfg = ("--config", str(config_file))
    [exception] = as_json(crossdock("exceptions", "list", "--order", "SO-2", "--json", *cfg))["items"]

    listed = crossdock("exceptions", "list", *cfg)
    shown = crossdock("exceptions", "show", exception["id"], *cfg)
    acted = crossdock("exceptions", "act", exception["id"], "override", "--actor", "ana", "--note", "vetted", *cfg)
    again = crossdock("exceptions", "act", exception["id"], "cancel", "--actor", "bo", *cfg)
    unknown = crossdock("exceptions", "act", "EX-NOPE", "retry", *cfg)

    assert exception["reason_code"].startswith("order_rejected")
    assert listed.exit_code == 0 and exception["id"] in listed.output and "customer_service" in listed.output
    assert shown.exit_code == 0 and "customer C-999 is unknown" in shown.output
    assert acted.exit_code == 0, acted.output
    assert f"override recorded on {exception['id']} by ana" in acted.output and "vetted" in acted.output
    assert (again.exit_code, "already resolved" in again.output) == (1, True)
    assert (unknown.exit_code, "No exception EX-NOPE" in unknown.output) == (1, True)
    assert as_json(crossdock("orders", "show", "SO-2", "--json", *cfg))["status"] == "released"


def test_availability_shows_network_locations_and_channels(config_file: Path, hub: bootstrap.Runtime) -> None:
    receipt(hub, "SKU-1", "WH1", 5)
    receipt(hub, "SKU-1", "WH2", 2)
    hub.hub.drain(OWNER)

    table = crossdock("availability", "SKU-1", "--config", str(config_file))
    figures = as_json(crossdock("availability", "SKU-1", "--json", "--config", str(config_file)))

    assert table.exit_code == 0, table.output
    assert "Availability of SKU-1 (EA)" in table.output and "channel web" in table.output
    assert figures["network"]["on_hand"] == "7"
    assert [(p["location"], p["on_hand"]) for p in figures["locations"]] == [("WH1", "5"), ("WH2", "2")]
    assert figures["channels"] == [{"channel": "web", "available": "7"}]


def test_reconciling_a_count_twice_posts_its_corrections_once(
    config_file: Path, hub: bootstrap.Runtime, tmp_path: Path
) -> None:
    receipt(hub, "SKU-1", "WH1", 5)
    receipt(hub, "SKU-2", "WH1", 4)
    hub.hub.drain(OWNER)
    count = tmp_path / "count.csv"
    count.write_text("sku,location,on_hand\nSKU-1,WH1,7\nSKU-2,WH1,4\nSKU-3,WH1,1\n", encoding="utf-8")
    cfg = ("--config", str(config_file))

    first = crossdock("reconcile", "inventory", str(count), "--source", "wms", *cfg)
    after_first = {sku: on_hand(hub, sku, "WH1") for sku in ("SKU-1", "SKU-2", "SKU-3")}
    second = as_json(crossdock("reconcile", "inventory", str(count), "--source", "wms", "--json", *cfg))
    after_second = {sku: on_hand(hub, sku, "WH1") for sku in ("SKU-1", "SKU-2", "SKU-3")}

    assert first.exit_code == 0, first.output
    assert "adjustments posted" in first.output and "no pending movement explains it" in first.output
    assert after_first == {"SKU-1": Decimal(7), "SKU-2": Decimal(4), "SKU-3": Decimal(1)}
    assert after_second == after_first
    assert (second["checked"], second["matched"], second["drifts"], second["adjustments"]) == (3, 3, [], 0)
    assert second["reconciliation"] == first.output.split("Reconciliation ")[1].split()[0]


def test_a_reconciliation_reports_each_drift_with_its_cause_and_action(
    config_file: Path, hub: bootstrap.Runtime, tmp_path: Path
) -> None:
    receipt(hub, "SKU-1", "WH1", 5)
    hub.hub.drain(OWNER)
    count = tmp_path / "count.json"
    count.write_text(json.dumps([{"sku": "SKU-1", "location": "WH1", "on_hand": 3}]), encoding="utf-8")

    report = as_json(
        crossdock(
            "reconcile", "inventory", str(count), "--source", "wms", "--id", "CC-1", "--json", "-c", str(config_file)
        )
    )

    assert report["reconciliation"] == "CC-1"
    assert (report["checked"], report["matched"], report["adjustments"]) == (1, 0, 1)
    [drift] = report["drifts"]
    assert {k: drift[k] for k in ("sku", "location", "ledger", "counted", "drift", "cause", "action")} == {
        "sku": "SKU-1",
        "location": "WH1",
        "ledger": "5",
        "counted": "3",
        "drift": "-2",
        "cause": "unknown",
        "action": "adjust",
    }
    assert on_hand(hub, "SKU-1", "WH1") == Decimal(3)


def test_a_drift_the_counting_system_may_not_correct_opens_an_exception(
    tmp_path: Path, config_file: Path, hub: bootstrap.Runtime
) -> None:
    # The hub that took the receipt was built before this rule; the command reads it: the ERP owns WH1's on-hand.
    owned = config_file.read_text(encoding="utf-8") + "  authority:\n    - {location: WH1, owner: erp}\n"
    config_file.write_text(owned, encoding="utf-8")
    receipt(hub, "SKU-1", "WH1", 5)
    hub.hub.drain(OWNER)
    count = tmp_path / "count.csv"
    count.write_text("sku,location,on_hand\nSKU-1,WH1,2\n", encoding="utf-8")

    report = as_json(
        crossdock("reconcile", "inventory", str(count), "--source", "wms", "--json", "-c", str(config_file))
    )

    [drift] = report["drifts"]
    assert (drift["action"], report["adjustments"]) == ("exception", 0)
    with hub.hub.begin() as uow:
        opened = uow.exceptions.find(ExceptionFilter(status=ExceptionStatus.OPEN, about_key="SKU-1@WH1"))
    assert report["exceptions"] == [e.id for e in opened] and len(opened) == 1
    assert on_hand(hub, "SKU-1", "WH1") == Decimal(5)


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ("sku,location,on_hand\nSKU-1,WH1,7\nSKU-2,WH1,lots\n", "count.csv line 3, column on_hand"),  # not a number
        ("sku,location,on_hand\nSKU-1,WH1,7\n,WH1,1\n", "count.csv line 3, column sku"),  # no sku
        ("sku,location,on_hand\nSKU-1,WH1,-1\n", "count.csv line 2, column on_hand"),  # below zero
        ("sku,location,on_hand\nSKU-1,WH1,7\nSKU-1,WH1,8\n", "count.csv line 3: SKU-1 at WH1 is counted again"),
        ("sku,where,on_hand\nSKU-1,WH1,7\n", "count.csv line 1: the header lacks column location"),  # bad header
    ],
)
def test_a_bad_row_in_a_count_file_is_refused_naming_its_line_and_column(
    config_file: Path, hub: bootstrap.Runtime, tmp_path: Path, content: str, named: str
) -> None:
    receipt(hub, "SKU-1", "WH1", 5)
    hub.hub.drain(OWNER)
    count = tmp_path / "count.csv"
    count.write_text(content, encoding="utf-8")

    result = crossdock("reconcile", "inventory", str(count), "--source", "wms", "--config", str(config_file))

    assert result.exit_code == 2
    assert named in " ".join(result.output.split())
    assert on_hand(hub, "SKU-1", "WH1") == Decimal(5), "nothing was posted"


def test_a_bad_entry_in_a_json_count_is_refused_naming_it(config_file: Path, tmp_path: Path) -> None:
    count = tmp_path / "count.json"
    count.write_text('[{"sku": "SKU-1", "location": "WH1", "on_hand": 2},\n {"sku": "SKU-2", "on_hand": 1}]')

    result = crossdock("reconcile", "inventory", str(count), "--source", "wms", "--config", str(config_file))

    assert result.exit_code == 2
    assert "count.json entry 2, column location: missing" in " ".join(result.output.split())


def test_a_period_closed_from_the_command_line_takes_no_entries_and_reopening_it_is_recorded(
    config_file: Path, hub: bootstrap.Runtime
) -> None:
    closed = crossdock("journal", "close-period", "2025-03", "--config", str(config_file))
    assert closed.exit_code == 0, closed.output
    with hub.hub.begin() as uow:
        assert uow.journal.ledger("main", []).closed_periods == frozenset({"2025-03"})
    reopened = crossdock("journal", "reopen-period", "2025-03", "--config", str(config_file))
    assert reopened.exit_code == 0, reopened.output
    with hub.hub.begin() as uow:
        assert uow.journal.ledger("main", []).closed_periods == frozenset()


def test_a_period_that_is_not_a_month_is_refused_with_the_expected_form(config_file: Path) -> None:
    result = crossdock("journal", "close-period", "2025-13", "--config", str(config_file))
    assert result.exit_code == 2
    assert "YYYY-MM" in result.output


def test_the_journal_lists_entries_in_sequence_with_balanced_totals(config_file: Path, hub: bootstrap.Runtime) -> None:
    result = crossdock("journal", "list", "--json", "--config", str(config_file))
    assert result.exit_code == 0, result.output
    page = json.loads(result.stdout)
    assert page["ledger"] == "main" and page["items"] == [] and page["totals"] == {}
