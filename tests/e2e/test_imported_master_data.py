"""Master data imported by CSV counts when orders are validated: a customer and a price list imported with `crossdock
import` let that customer's order at the listed price through, where configuration alone would refuse it; a
customer nobody imported or configured is still refused with its reason; an imported record wins over the reference
data of configuration for the same key, which stays the fallback; and importing the same files again changes
nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from crossdock import config
from crossdock.domain.workflows.order_to_cash import OrderStatus
from crossdock.entrypoints import cli
from crossdock.hub.ports import CUSTOMER_RECORD, PRICE_RECORD, MasterRecord, price_key
from tests.e2e.order_to_cash_estate import OrderToCashEstate, sales_order

WIDE = {"COLUMNS": "250", "NO_COLOR": "1"}
CUSTOMERS = "number,name,currency,credit_limit,price_list\nC-200,Acme,EUR,5000,TRADE\n"
PRICES = "price_list,currency,sku,price\nTRADE,EUR,A,9.00\nTRADE,EUR,B,4.00\n"
# What configuration knows: one customer (C-100, on the standard list) and the standard list, the default.
REFERENCE: dict[str, Any] = {
    "customers": [{"number": "C-100", "currency": "EUR", "credit_limit": "50", "price_list": "standard"}],
    "price_lists": {"standard": {"currency": "EUR", "prices": {"A": "10.00", "B": "5.00"}}},
    "default_price_list": "standard",
}


@pytest.fixture
def config_file(tmp_path: Path, database_url: str) -> Path:
    path = tmp_path / "crossdock.yaml"
    settings = {
        "data_dir": str(tmp_path),
        "storage": {"url": database_url},
        "sources": {"wms": {"kind": "canonical"}, "erp": {"kind": "canonical"}},
        "reference": REFERENCE,
    }
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


@pytest.fixture
def estate(tmp_path: Path, config_file: Path) -> Iterator[OrderToCashEstate]:
    built = OrderToCashEstate(tmp_path, config.load(config_file, environ={}))
    built.receipt("A", "WH1", 100)
    built.receipt("B", "WH1", 100)
    built.drain()
    yield built
    if built.runtime is not None:
        built.stop()


def imported(config_file: Path, kind: str, text: str) -> dict[str, str]:
    """Run `crossdock import KIND FILE` and return its summary (read, good, added, changed, unchanged, rejected)."""
    file = config_file.parent / "incoming" / f"{kind}.csv"
    file.parent.mkdir(exist_ok=True)
    file.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli.app, ["import", kind, str(file), "-c", str(config_file)], env=WIDE)
    assert result.exit_code == 0, result.output
    return {
        cells[1].strip(): cells[2].strip()
        for cells in (line.split("│") for line in result.output.splitlines() if line.count("│") == 3)
    }


def rejection(estate: OrderToCashEstate, order_id: str) -> list[tuple[str, str]]:
    return [(reason.code.value, reason.text) for reason in estate.state(order_id).rejection]


def test_an_imported_customer_ordering_at_its_imported_price_is_accepted_and_an_unknown_one_is_still_refused(
    estate: OrderToCashEstate, config_file: Path
) -> None:
    estate.order(sales_order("SO-0", ("A", 2, "9.00"), customer="C-200"))
    estate.drain()
    assert [code for code, _ in rejection(estate, "SO-0")] == ["customer_unknown", "price_out_of_tolerance"], (
        "before the import neither the customer nor its price is known"
    )

    imported(config_file, "customers", CUSTOMERS)
    imported(config_file, "prices", PRICES)
    estate.order(sales_order("SO-1", ("A", 2, "9.00"), ("B", 3, "4.00"), customer="C-200"))
    estate.order(sales_order("SO-2", ("A", 1, "10.00"), customer="NOBODY"))  # at the default list's price
    estate.drain()

    assert estate.state("SO-1").status is OrderStatus.RELEASED
    assert estate.available("A", "WH1") == 98
    assert rejection(estate, "SO-2") == [("customer_unknown", "customer NOBODY is unknown")]
    [refused] = estate.exceptions("SO-2")
    assert (refused.owner, refused.reason_code) == ("customer_service", "order_rejected:customer_unknown")


def test_the_imported_credit_limit_counts_against_the_customers_open_orders(
    estate: OrderToCashEstate, config_file: Path
) -> None:
    imported(config_file, "customers", "number,currency,credit_limit,price_list\nC-200,EUR,40,TRADE\n")
    imported(config_file, "prices", PRICES)

    estate.order(sales_order("SO-1", ("A", 4, "9.00"), customer="C-200"))  # 36 of 40
    estate.order(sales_order("SO-2", ("B", 2, "4.00"), customer="C-200"))  # 36 + 8 > 40
    estate.drain()

    assert estate.state("SO-1").status is OrderStatus.RELEASED
    assert [code for code, _ in rejection(estate, "SO-2")] == ["credit_limit_exceeded"]


def test_an_imported_record_wins_over_configuration_for_the_same_key_which_stays_the_fallback(
    estate: OrderToCashEstate, config_file: Path
) -> None:
    # C-100 is configured with a limit of 50 on the standard list; the import raises its limit and prices A lower
    # on the standard list. B keeps its configured price.
    imported(config_file, "customers", "number,currency,credit_limit,price_list\nC-100,EUR,1000,standard\n")
    imported(config_file, "prices", "price_list,currency,sku,price\nstandard,EUR,A,8.00\n")

    estate.order(sales_order("SO-1", ("A", 10, "8.00"), ("B", 2, "5.00"), customer="C-100"))  # 90 > 50
    estate.order(sales_order("SO-2", ("A", 1, "10.00"), customer="C-100"))  # the configured price of A
    estate.drain()

    assert estate.state("SO-1").status is OrderStatus.RELEASED, rejection(estate, "SO-1")
    assert [code for code, _ in rejection(estate, "SO-2")] == ["price_out_of_tolerance"]


def test_importing_the_same_files_again_changes_nothing(estate: OrderToCashEstate, config_file: Path) -> None:
    imported(config_file, "customers", CUSTOMERS)
    imported(config_file, "prices", PRICES)
    before = stored(estate)

    again = [imported(config_file, "customers", CUSTOMERS), imported(config_file, "prices", PRICES)]

    assert [(s["added"], s["changed"], s["unchanged"]) for s in again] == [("0", "0", "1"), ("0", "0", "2")]
    assert stored(estate) == before, "the same rows again must write nothing: same documents, same import, same time"
    estate.order(sales_order("SO-1", ("A", 1, "9.00"), customer="C-200"))
    estate.drain()
    assert estate.state("SO-1").status is OrderStatus.RELEASED


def stored(estate: OrderToCashEstate) -> list[MasterRecord | None]:
    with estate.hub.begin() as uow:
        return [
            uow.master_records.get(CUSTOMER_RECORD, "C-200"),
            uow.master_records.get(PRICE_RECORD, price_key("TRADE", "A")),
            uow.master_records.get(PRICE_RECORD, price_key("TRADE", "B")),
        ]


def test_validating_an_order_reads_master_data_once_however_many_lines_it_has(
    estate: OrderToCashEstate, config_file: Path
) -> None:
    imported(config_file, "customers", CUSTOMERS)
    imported(config_file, "prices", PRICES)
    reads: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "master_records" in statement:
            reads.append(statement)

    assert estate.runtime is not None
    engine = estate.runtime.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        lines = [("A", 1, "9.00"), ("B", 1, "4.00")] * 10
        estate.order(sales_order("SO-1", *lines, customer="C-200"))
        estate.drain()
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)

    assert estate.state("SO-1").status is OrderStatus.RELEASED
    assert len(reads) == 1, f"one read of imported master data per validation, not per line: {reads}"
