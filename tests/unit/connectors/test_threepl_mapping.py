"""A 3PL's flat files: CSV shipping orders out, CSV confirmations and daily stock snapshots in, every refusal named
by line and column."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from crossdock.connectors import batch_import
from crossdock.connectors.threepl import client, mapping
from crossdock.connectors.wms.mapping import ShipTo
from crossdock.domain import catalog
from crossdock.hub.errors import MappingError

D = Decimal
HEADER = b"shipment,order,line,sku,quantity,unit,carrier,tracking,shipped_at\n"


def test_a_confirmation_groups_rows_by_shipment_and_leaves_out_lines_shipped_at_zero() -> None:
    content = HEADER + (
        b"S1,SO-1,1,A,3,EA,UPSN,1Z1,2025-03-03T15:30:00+00:00\n"
        b"S1,SO-1,2,B,0,EA,UPSN,,2025-03-03T15:30:00+00:00\n"
        b"\n"
        b"S2,SO-2,1,C,1,,,,2025-03-03\n"
    )
    first, second = mapping.shipments_from_csv(content, "WH-3PL")
    assert (first.number, first.order, first.from_location, first.tracking_numbers) == (
        "S1",
        "SO-1",
        "WH-3PL",
        ("1Z1",),
    )
    assert [(ln.line, ln.quantity.value) for ln in first.lines] == [(1, D(3))]
    assert second.shipped_at == datetime(2025, 3, 3, tzinfo=UTC)  # a bare date: its start, UTC
    assert second.lines[0].quantity.unit == "EA"


def test_rows_of_one_shipment_that_disagree_on_its_order_are_refused_at_the_later_row() -> None:
    content = HEADER + b"S1,SO-1,1,A,3,EA,,,2025-03-03\nS1,SO-2,2,B,1,EA,,,2025-03-03\n"
    with pytest.raises(MappingError, match="line 3, column order: shipment S1 says 'SO-1' on line 2"):
        mapping.shipments_from_csv(content, "WH-3PL")


def test_every_bad_row_of_a_confirmation_is_named() -> None:
    content = HEADER + b"S1,SO-1,x,A,3,EA,,,2025-03-03\nS2,SO-2,1,B,-1,EA,,,2025-03-03\nS3,,1,C,1,EA,,,2025-03-03\n"
    with pytest.raises(MappingError) as refused:
        mapping.shipments_from_csv(content, "WH-3PL")
    assert str(refused.value).split("; ") == [
        "line 4, column order: missing",
        "line 2, column line: 'x' is not a line number",
        "line 3, column quantity: '-1' is not a quantity (a number of zero or more)",
    ]


def test_a_confirmation_without_a_required_column_is_refused_at_its_header() -> None:
    with pytest.raises(MappingError, match="line 1: the header lacks column shipped_at"):
        mapping.shipments_from_csv(b"shipment,order,line,sku,quantity\nS1,SO-1,1,A,1\n", "WH-3PL")


def test_a_snapshot_is_the_count_of_each_sku_at_the_location_as_of_its_latest_row() -> None:
    content = b"sku,as_of,location,on_hand\nA,2025-03-03,WH-3PL,6\nB,2025-03-03T06:00:00+00:00,WH-3PL,0\n"
    read = mapping.read_snapshot("stock.csv", content, "WH-3PL")
    assert read.counts == {("A", "WH-3PL"): D(6), ("B", "WH-3PL"): D(0)}
    assert read.as_of == datetime(2025, 3, 3, 6, tzinfo=UTC)
    assert (read.errors, read.rows) == ((), 2)


def test_a_snapshot_row_error_names_the_line_of_the_file_itself_blank_and_quoted_lines_included() -> None:
    content = (
        b'sku,location,on_hand,as_of\n\n"A",WH-3PL,6,2025-03-03\n"B\nB",WH-3PL,x,2025-03-03\nC,WH-3PL,1,2025-03-03\n'
    )
    read = mapping.read_snapshot("stock.csv", content, None)
    [error] = read.errors
    assert (error.line, error.column) == (5, "on_hand")  # the quoted sku spans lines 4 and 5
    assert read.counts == {}  # the location has a row that could not be read: none of it is counted
    assert "line 3: held back" in read.report() and "line 6: held back" in read.report()


def test_a_snapshot_without_as_of_is_refused_whole() -> None:
    with pytest.raises(batch_import.ImportFileError, match="line 1: the header lacks column as_of"):
        mapping.read_snapshot("stock.csv", b"sku,location,on_hand\nA,WH-3PL,1\n", "WH-3PL")


def test_a_3pl_counts_only_its_own_location() -> None:
    content = b"sku,location,on_hand,as_of\nA,WH-3PL,1,2025-03-03\nA,WH-NORTH,5,2025-03-03\n"
    read = mapping.read_snapshot("stock.csv", content, "WH-3PL")
    assert read.counts == {("A", "WH-3PL"): D(1)}
    [error] = read.errors
    assert (error.line, error.column) == (3, "location")


def test_a_release_becomes_one_csv_row_per_line() -> None:
    released = catalog.ShipmentReleased.model_validate(
        {
            "release": "REL-1",
            "order": "SO-1",
            "from_location": "WH-3PL",
            "lines": [
                {"line": 1, "sku": "A", "quantity": {"value": "4", "unit": "EA"}},
                {"line": 3, "sku": "B, large", "quantity": {"value": "1.5", "unit": "KG"}},
            ],
        }
    )
    rows = mapping.shipping_order_csv(released, ShipTo("C1", "Contoso", "PO-77")).decode().splitlines()
    assert rows == [
        ",".join(mapping.ORDER_COLUMNS),
        "REL-1,SO-1,C1,Contoso,PO-77,WH-3PL,1,A,4,EA",
        'REL-1,SO-1,C1,Contoso,PO-77,WH-3PL,3,"B, large",1.5,KG',
    ]


@pytest.mark.parametrize(
    ("name", "snapshot"),
    [
        ("stock_20250303.csv", True),
        ("STOCK_20250303.CSV", True),  # the 3PL's system shouts
        ("945_0001.edi", False),
        ("confirm-stock.csv", False),  # the pattern is anchored at the start
    ],
)
def test_snapshot_files_are_told_apart_by_name(name: str, snapshot: bool) -> None:
    assert client.is_snapshot(client.DEFAULT_SNAPSHOTS, name) is snapshot
