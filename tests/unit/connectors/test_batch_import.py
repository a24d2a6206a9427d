"""Reading CSV batch files: each good row becomes a domain record, each bad one an error naming its line, column and
reason, and only what spoils the whole file (encoding, header) refuses it whole."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossdock.connectors import batch_import
from crossdock.connectors.batch_import import ImportFileError, PriceEntry, RowError, StockCount
from crossdock.domain.documents import Customer, Item
from tests.unit.factories import PROPERTY


def parse(kind: str, text: str) -> batch_import.Parsed:
    return batch_import.parse(kind, f"{kind}.csv", text.encode("utf-8"))


def errors(parsed: batch_import.Parsed) -> list[tuple[int, str | None]]:
    return [(e.line, e.column) for e in parsed.errors]


def test_items_become_items_with_their_unit_conversions() -> None:
    parsed = parse("items", "sku,description,base_unit,conversions,item_class\nSKU-1,Bolt,EA,CASE=12;PAL=480,A\n")

    assert parsed.records == [
        (
            2,
            Item(
                sku="SKU-1",
                description="Bolt",
                base_unit="EA",
                conversions={"CASE": Decimal(12), "PAL": Decimal(480)},
                item_class="A",
            ),
        )
    ]
    assert parsed.errors == []


def test_customers_become_customers_and_empty_optional_cells_keep_their_defaults() -> None:
    parsed = parse("customers", "number,name,currency,credit_limit,price_list\nC-1,,EUR,250.50,\n")

    assert parsed.records == [(2, Customer(number="C-1", currency="EUR", credit_limit=Decimal("250.50")))]


def test_prices_become_one_entry_per_sku_and_price_list() -> None:
    parsed = parse("prices", "price_list,currency,sku,price\nRETAIL,EUR,SKU-1,0.45\nTRADE,USD,SKU-1,0.40\n")

    assert [record for _, record in parsed.records] == [
        PriceEntry("RETAIL", "EUR", "SKU-1", Decimal("0.45")),
        PriceEntry("TRADE", "USD", "SKU-1", Decimal("0.40")),
    ]


@pytest.mark.parametrize(
    ("kind", "text", "line", "column", "reason"),
    [
        ("items", "sku,conversions\nSKU-1,CASE\n", 2, "conversions", "is not UNIT=FACTOR"),  # no factor
        ("items", "sku,conversions\nSKU-1,CASE=0\n", 2, "conversions", "greater than 0"),  # a zero factor
        ("items", "sku,base_unit,conversions\nSKU-1,EA,EA=2\n", 2, "conversions", "must convert at 1"),  # base unit
        ("customers", "number,currency,credit_limit\nC-1,EURO,10\n", 2, "currency", "'EURO'"),  # not ISO 4217
        ("customers", "number,currency,credit_limit\nC-1,EUR,-1\n", 2, "credit_limit", "greater than or equal"),
        ("customers", "number,currency,credit_limit\nC-1,,10\n", 2, "currency", "missing"),  # a required cell empty
        ("prices", "price_list,currency,sku,price\nR,EUR,SKU-1,abc\n", 2, "price", "'abc' is not a number"),
        ("prices", "price_list,currency,sku,price\nR,EUR,SKU-1,-2\n", 2, "price", "below zero"),
        ("stock", "sku,location,on_hand\nSKU-1,WH1,NaN\n", 2, "on_hand", "is not a number"),  # not finite
        ("stock", "sku,location,on_hand\nSKU-1,WH1,-3\n", 2, "on_hand", "zero or more"),
        ("stock", "sku,location,on_hand\nSKU-1,WH1,3,extra\n", 2, None, "4 values, but the header has 3"),
    ],
)
def test_a_bad_row_is_reported_by_line_column_and_reason(
    kind: str, text: str, line: int, column: str | None, reason: str
) -> None:
    parsed = parse(kind, text)

    assert parsed.records == []
    assert errors(parsed) == [(line, column)]
    assert reason in parsed.errors[0].reason


def test_good_rows_around_bad_ones_are_kept_with_their_own_line_numbers() -> None:
    parsed = parse("stock", "sku,location,on_hand\nSKU-1,WH1,1\n\nSKU-2,WH1,x\nSKU-3,WH1,3\n")

    assert [(line, count.sku) for line, count in parsed.records] == [(2, "SKU-1"), (5, "SKU-3")]
    assert errors(parsed) == [(4, "on_hand")]
    assert parsed.rows == 3, "a blank line is not a row"


@pytest.mark.parametrize(
    ("kind", "text", "says"),
    [
        ("items", "sku\nSKU-1\nSKU-1\n", "sku SKU-1 appears again (first on line 2)"),  # one item twice
        (
            "prices",
            "price_list,currency,sku,price\nR,EUR,A,1\nR,EUR,A,2\n",
            "sku A on price list R appears again (first on line 2)",
        ),
        (
            "stock",
            "sku,location,on_hand\nA,WH1,1\nA,WH1,2\n",
            "A at WH1 appears again (first on line 2)",
        ),  # one position counted twice
    ],
)
def test_a_key_given_twice_keeps_the_first_row_and_reports_the_second(kind: str, text: str, says: str) -> None:
    parsed = parse(kind, text)

    assert [line for line, _ in parsed.records] == [2]
    assert parsed.errors == [RowError(3, None, says)]


def test_a_price_list_keeps_the_currency_of_its_first_row() -> None:
    parsed = parse("prices", "price_list,currency,sku,price\nR,EUR,A,1\nR,USD,B,2\n")

    assert errors(parsed) == [(3, "currency")]
    assert "price list R is in EUR (line 2), not USD" in parsed.errors[0].reason


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "the file is empty"),  # not even a header
        (b"number,name\nC-1,A\n", "line 1: the header lacks column currency, credit_limit"),  # required columns
        (b"number,currency,credit_limit,colour\n", "line 1: unknown column colour"),  # a column we do not know
        (b"number,currency,credit_limit,currency\n", "line 1: column currency appears twice"),
        (b"number,currency,credit_limit\nC-1,EUR,\xff\n", "not UTF-8 text (byte 37)"),  # another encoding
    ],
)
def test_what_spoils_the_whole_file_refuses_it_naming_the_file(content: bytes, says: str) -> None:
    with pytest.raises(ImportFileError) as refused:
        batch_import.parse("customers", "customers.csv", content)

    assert str(refused.value).startswith("customers.csv")
    assert says in str(refused.value)


def test_a_header_written_by_a_spreadsheet_with_a_byte_order_mark_and_spaces_is_read() -> None:
    parsed = batch_import.parse("stock", "s.csv", "\ufeffsku , location,on_hand\r\nA,WH1,2\r\n".encode())

    assert parsed.records == [(2, StockCount("A", "WH1", Decimal(2)))]


def test_a_stock_location_with_an_unreadable_row_is_held_back_whole() -> None:
    parsed = parse("stock", "sku,location,on_hand\nA,WH1,1\nB,WH1,?\nA,WH2,5\n")

    snapshot, held = batch_import.stock_snapshot(parsed)

    assert snapshot == {("A", "WH2"): Decimal(5)}
    assert [(e.line, e.cells["location"]) for e in held] == [(2, "WH1")]
    assert "line 3" in held[0].reason


def test_a_bad_stock_row_without_a_location_holds_back_every_location() -> None:
    parsed = parse("stock", "sku,location,on_hand\nA,WH1,1\nB,,1\nA,WH2,5\n")

    snapshot, held = batch_import.stock_snapshot(parsed)

    assert snapshot == {}
    assert [e.line for e in held] == [2, 4]


@PROPERTY
@given(st.lists(st.one_of(st.integers(min_value=0, max_value=10**6), st.sampled_from(["x", "-1", ""])), max_size=30))
def test_every_row_is_either_a_record_or_an_error_never_both_never_neither(counts: list[int | str]) -> None:
    text = "sku,location,on_hand\n" + "".join(f"SKU-{i},WH1,{count}\n" for i, count in enumerate(counts))

    parsed = parse("stock", text)

    lines = sorted([line for line, _ in parsed.records] + [e.line for e in parsed.errors])
    assert lines == list(range(2, len(counts) + 2))
    assert [line for line, _ in parsed.records] == [i + 2 for i, count in enumerate(counts) if isinstance(count, int)]
