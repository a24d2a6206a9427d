"""CSV batch import as an operator runs it: good rows applied, bad rows reported by line, column and reason with exit
code 1, the whole file kept under data_dir/imports/, and the same file imported again changing nothing."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from crossdock import bootstrap, config
from crossdock.entrypoints import cli
from crossdock.storage.sql import migrate
from crossdock.storage.sql import tables as t
from crossdock.storage.sql.uow import SqlUnitOfWork
from tests.e2e.conftest import OWNER

WIDE = {"COLUMNS": "250", "NO_COLOR": "1"}  # Rich tables must not wrap what we look for

ITEMS = "sku,description,base_unit,conversions,item_class\nSKU-1,Bolt M8,EA,CASE=12,A\nSKU-2,Nut M8,EA,,B\n"
CUSTOMERS = "number,name,currency,credit_limit,price_list\nC-200,Acme,EUR,5000,RETAIL\nC-201,Globex,USD,0,\n"
PRICES = "price_list,currency,sku,price\nRETAIL,EUR,SKU-1,0.45\nRETAIL,EUR,SKU-2,0.12\n"


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
            """
        ),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def hub(config_file: Path) -> Iterator[bootstrap.Runtime]:
    runtime = bootstrap.build(config.load(config_file))
    migrate.upgrade(runtime.engine)
    yield runtime
    runtime.close()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / "incoming" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def records(runtime: bootstrap.Runtime, kind: str) -> dict[str, dict[str, Any]]:
    with runtime.hub.begin() as uow:
        assert isinstance(uow, SqlUnitOfWork)
        return uow.master_records.all(kind)


def stamps(runtime: bootstrap.Runtime) -> list[tuple[str, str, Any]]:
    c = t.master_records.c
    with runtime.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.select(c.kind, c.key, c.updated_at).order_by(c.kind, c.key))]


def kept(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "imports").iterdir())


@pytest.mark.parametrize(
    ("kind", "text", "record_kind", "expected"),
    [
        # items: units and classes as the order desk needs them
        ("items", ITEMS, "item", {"SKU-1": ("base_unit", "EA"), "SKU-2": ("item_class", "B")}),
        # customers: currency and credit limit
        ("customers", CUSTOMERS, "customer", {"C-200": ("credit_limit", "5000"), "C-201": ("currency", "USD")}),
        # prices: one row per sku and price list
        ("prices", PRICES, "price", {"RETAIL:SKU-1": ("price", "0.45"), "RETAIL:SKU-2": ("price", "0.12")}),
    ],
)
def test_a_clean_master_data_file_is_applied_whole_and_kept(
    config_file: Path, hub: bootstrap.Runtime, tmp_path: Path, kind: str, text: str, record_kind: str, expected: Any
) -> None:
    file = write(tmp_path, f"{kind}.csv", text)

    result = crossdock("import", kind, str(file), "-c", str(config_file))

    assert result.exit_code == 0, result.output
    stored = records(hub, record_kind)
    assert {key: (field, stored[key][field]) for key, (field, _) in expected.items()} == expected
    (copy,) = kept(tmp_path)
    assert copy.read_bytes() == file.read_bytes(), "the kept file must be the file as it came"
    assert copy.name.endswith(f"-{kind}-{kind}.csv")


def test_good_rows_are_applied_and_each_bad_row_is_reported_by_line_column_and_reason(
    config_file: Path, hub: bootstrap.Runtime, tmp_path: Path
) -> None:
    file = write(
        tmp_path,
        "items.csv",
        "sku,description,base_unit,conversions\n"
        "SKU-1,Bolt,EA,CASE=12\n"
        "SKU-2,Nut,EA,CASE=twelve\n"  # line 3: not a number
        ",Washer,EA,\n"  # line 4: no sku
        "SKU-1,Bolt again,EA,\n"  # line 5: the same sku twice
        "SKU-4,Screw,EA,\n",
    )

    result = crossdock("import", "items", str(file), "-c", str(config_file))

    assert result.exit_code == 1, "a file with a bad row must end with exit code 1"
    assert sorted(records(hub, "item")) == ["SKU-1", "SKU-4"], "the good rows must be applied"
    rows = [line.split("│") for line in result.output.splitlines() if line.count("│") == 4]
    reported = {(cells[1].strip(), cells[2].strip()): cells[3].strip() for cells in rows if cells[1].strip().isdigit()}
    assert set(reported) == {("3", "conversions"), ("4", "sku"), ("5", "(row)")}
    assert "'twelve'" in reported[("3", "conversions")]
    assert reported[("4", "sku")] == "missing"
    assert "first on line 2" in reported[("5", "(row)")]
    assert len(kept(tmp_path)) == 1, "a file with bad rows is kept whole too"


def test_the_same_file_imported_twice_changes_nothing_the_second_time(
    config_file: Path, hub: bootstrap.Runtime, tmp_path: Path
) -> None:
    file = write(tmp_path, "customers.csv", CUSTOMERS)
    first = crossdock("import", "customers", str(file), "-c", str(config_file))
    before = (records(hub, "customer"), stamps(hub))

    second = crossdock("import", "customers", str(file), "-c", str(config_file))

    assert first.exit_code == 0 and second.exit_code == 0, second.output
    assert (records(hub, "customer"), stamps(hub)) == before, "importing the same rows again must write nothing"
    summary = {
        cells[1].strip(): cells[2].strip()
        for cells in (line.split("│") for line in second.output.splitlines() if line.count("│") == 3)
    }
    assert (summary["added"], summary["changed"], summary["unchanged"]) == ("0", "0", "2")
    assert len(kept(tmp_path)) == 2, "every import keeps its file"


def test_a_row_that_changed_since_the_last_import_updates_its_record_only(
    config_file: Path, hub: bootstrap.Runtime, tmp_path: Path
) -> None:
    crossdock("import", "prices", str(write(tmp_path, "p1.csv", PRICES)), "-c", str(config_file))
    untouched = [row for row in stamps(hub) if row[1] == "RETAIL:SKU-2"]

    result = crossdock(
        "import", "prices", str(write(tmp_path, "p2.csv", PRICES.replace("0.45", "0.49"))), "-c", str(config_file)
    )

    assert result.exit_code == 0, result.output
    assert records(hub, "price")["RETAIL:SKU-1"]["price"] == "0.49"
    assert [row for row in stamps(hub) if row[1] == "RETAIL:SKU-2"] == untouched


def test_a_file_missing_a_required_column_is_refused_whole_naming_it(
    config_file: Path, hub: bootstrap.Runtime, tmp_path: Path
) -> None:
    file = write(tmp_path, "customers.csv", "number,name,credit_limit\nC-200,Acme,5000\n")

    result = crossdock("import", "customers", str(file), "-c", str(config_file))

    assert result.exit_code == 2
    assert "customers.csv line 1: the header lacks column currency" in result.output
    assert records(hub, "customer") == {}


def receipt(runtime: bootstrap.Runtime, sku: str, location: str, quantity: int) -> None:
    data = {"sku": sku, "location": location, "change": {"value": str(quantity), "unit": "EA"}, "reason": "receipt"}
    event = {"specversion": "1.0", "id": f"rcv-{sku}-{location}", "source": "wms"}
    event["type"] = "crossdock.inventory.adjusted.v1"
    runtime.hub.receive("wms", json.dumps(event | {"data": data}).encode(), {})


def on_hand(runtime: bootstrap.Runtime, sku: str, location: str) -> Decimal:
    with runtime.hub.begin() as uow:
        return uow.inventory.load([sku]).position(sku, location).on_hand


def positions(runtime: bootstrap.Runtime) -> dict[str, Decimal]:
    wanted = [("SKU-1", "WH1"), ("SKU-2", "WH1"), ("SKU-1", "WH2"), ("SKU-3", "WH2")]
    return {f"{sku}@{location}": on_hand(runtime, sku, location) for sku, location in wanted}


def test_a_stock_snapshot_feeds_the_reconciliation_and_the_same_file_twice_changes_nothing(
    config_file: Path, hub: bootstrap.Runtime, tmp_path: Path
) -> None:
    receipt(hub, "SKU-1", "WH2", 3)
    hub.hub.drain(OWNER)
    file = write(tmp_path, "snapshot.csv", "sku,location,on_hand\nSKU-1,WH2,6\nSKU-3,WH2,2\n")
    cfg = ("--config", str(config_file))

    first = crossdock("import", "stock", str(file), "--source", "wms", *cfg)
    after_first = positions(hub)
    second = crossdock("import", "stock", str(file), "--source", "wms", *cfg)

    assert first.exit_code == 0 and second.exit_code == 0, second.output
    assert (after_first["SKU-1@WH2"], after_first["SKU-3@WH2"]) == (Decimal(6), Decimal(2))
    assert positions(hub) == after_first, "the same snapshot again must post nothing"
    summary = {
        cells[1].strip(): cells[2].strip()
        for cells in (line.split("│") for line in second.output.splitlines() if line.count("│") == 3)
    }
    assert (summary["adjustments posted"], summary["drifted"], summary["matched"]) == ("0", "0", "2")


def test_a_location_with_an_unreadable_row_is_held_back_whole_and_the_others_are_reconciled(
    config_file: Path, hub: bootstrap.Runtime, tmp_path: Path
) -> None:
    receipt(hub, "SKU-1", "WH1", 5)
    receipt(hub, "SKU-2", "WH1", 4)
    receipt(hub, "SKU-1", "WH2", 3)
    hub.hub.drain(OWNER)
    file = write(
        tmp_path,
        "snapshot.csv",
        "sku,location,on_hand\n"
        "SKU-1,WH1,7\n"  # line 2: good, but its location has a bad row
        "SKU-2,WH1,minus one\n"  # line 3: bad; leaving it out would count SKU-2 at WH1 as zero
        "SKU-1,WH2,6\n"
        "SKU-3,WH2,2\n",
    )

    result = crossdock("import", "stock", str(file), "--source", "wms", "--config", str(config_file))

    assert result.exit_code == 1
    assert "'minus one' is not a number" in result.output
    assert "held back: line 3 at this location could not be read" in result.output
    assert positions(hub) == {
        "SKU-1@WH1": Decimal(5),
        "SKU-2@WH1": Decimal(4),
        "SKU-1@WH2": Decimal(6),
        "SKU-3@WH2": Decimal(2),
    }, "WH1 must be left as it was (a bad row there is not a count of zero); WH2 must be reconciled"
