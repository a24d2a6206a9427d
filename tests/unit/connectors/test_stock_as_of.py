"""When a stock count was taken: the batch import's stock layout reads an optional `as_of` column (an ISO date or
time), a 3PL's snapshot requires it, and the snapshot is as of its latest row."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from crossdock.connectors import batch_import
from crossdock.connectors.batch_import import StockCount
from crossdock.connectors.threepl import mapping

D = Decimal


def parse(text: str) -> batch_import.Parsed:
    return batch_import.parse("stock", "stock.csv", text.encode("utf-8"))


@pytest.mark.parametrize(
    ("given", "taken_at"),
    [
        ("2025-03-03", datetime(2025, 3, 3, tzinfo=UTC)),  # a date: its start, UTC
        ("2025-03-03T06:30:00", datetime(2025, 3, 3, 6, 30, tzinfo=UTC)),  # a time without an offset: UTC
        ("2025-03-03T08:30:00+02:00", datetime(2025, 3, 3, 6, 30, tzinfo=UTC)),  # an offset is kept
    ],
)
def test_a_stock_rows_as_of_says_when_it_was_counted(given: str, taken_at: datetime) -> None:
    parsed = parse(f"sku,location,on_hand,as_of\nA,WH1,4,{given}\n")

    assert parsed.errors == []
    assert parsed.records == [(2, StockCount(sku="A", location="WH1", on_hand=D(4), as_of=taken_at))]


def test_a_stock_file_without_as_of_is_still_a_count() -> None:
    parsed = parse("sku,location,on_hand\nA,WH1,4\n")

    assert parsed.records == [(2, StockCount(sku="A", location="WH1", on_hand=D(4), as_of=None))]


def test_an_empty_as_of_cell_means_the_row_does_not_say() -> None:
    parsed = parse("sku,location,on_hand,as_of\nA,WH1,4,\n")

    assert parsed.errors == []
    assert parsed.records[0][1].as_of is None


def test_an_as_of_that_is_not_a_date_is_a_row_error_naming_the_column() -> None:
    parsed = parse("sku,location,on_hand,as_of\nA,WH1,4,yesterday\nB,WH1,1,2025-03-03\n")

    [error] = parsed.errors
    assert (error.line, error.column) == (2, "as_of")
    assert "'yesterday' is not an ISO date or time" in error.reason
    assert [count.sku for _line, count in parsed.records] == ["B"], "the good row is kept"


def test_a_reader_may_require_an_optional_column() -> None:
    with pytest.raises(batch_import.ImportFileError, match=r"stock\.csv line 1: the header lacks column as_of"):
        batch_import.parse("stock", "stock.csv", b"sku,location,on_hand\nA,WH1,4\n", also_required=("as_of",))
    parsed = batch_import.parse(
        "stock", "stock.csv", b"sku,location,on_hand,as_of\nA,WH1,4,\n", also_required=("as_of",)
    )
    assert [(e.line, e.column, e.reason) for e in parsed.errors] == [(2, "as_of", "missing")]


def test_only_a_layouts_own_optional_column_can_be_required() -> None:
    with pytest.raises(batch_import.ImportFileError, match="price is not an optional column of a stock file"):
        batch_import.parse("stock", "stock.csv", b"sku,location,on_hand\n", also_required=("price",))


def test_a_3pl_snapshot_row_without_its_as_of_is_named_and_holds_its_location_back() -> None:
    content = b"sku,location,on_hand,as_of\nA,WH-3PL,6,2025-03-04\nB,WH-3PL,2,\n"

    read = mapping.read_snapshot("stock.csv", content, "WH-3PL")

    assert [(e.line, e.column, e.reason) for e in read.errors] == [(3, "as_of", "missing")]
    assert read.counts == {}, "a count leaves nothing out of a location: a row without its time holds it back"
    assert read.as_of == datetime(2025, 3, 4, tzinfo=UTC)


def test_a_3pl_snapshot_is_as_of_its_latest_row_whatever_the_row_order() -> None:
    content = b"sku,location,on_hand,as_of\nA,WH-3PL,6,2025-03-04T06:00:00Z\nB,WH-3PL,2,2025-03-03\n"

    read = mapping.read_snapshot("stock.csv", content, "WH-3PL")

    assert read.as_of == datetime(2025, 3, 4, 6, tzinfo=UTC)
    assert read.counts == {("A", "WH-3PL"): D(6), ("B", "WH-3PL"): D(2)}
