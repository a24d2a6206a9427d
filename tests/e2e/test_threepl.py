"""The 3PL connector end to end through a partner's folders: releases out as X12 940s (read back with our own X12
reader) or CSV shipping orders, 945 and CSV confirmations in through the folder poller, and daily stock snapshots
reconciled against the ledger, once, with bad rows named and the file kept."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from crossdock.connectors import x12
from crossdock.connectors.threepl.wiring import ThreePlFolder
from crossdock.connectors.x12 import mapping
from crossdock.domain import catalog, documents
from crossdock.domain.inventory import DriftAction, DriftCause
from crossdock.domain.workflows.order_to_cash import OrderStatus
from crossdock.hub.ports import DeliveryFilter, DeliveryStatus
from tests.e2e.order_to_cash_estate import OrderToCashEstate, sales_order, settings_for

D = Decimal
OURS, THEIRS = "999999999", "ACME3PL"
SOURCE, OUT, ERP = "acme-3pl", "acme-3pl-out", "erp"
LOCATION = "WH-3PL"
# What the 3PL's own translator knows: its id as the sender, ours as the receiver.
THREEPL_SIDE = mapping.PartnerRules(partner_id=OURS, our_id=THEIRS)


def partner() -> dict[str, Any]:
    return {
        "role": "3pl",
        "id": THEIRS,
        "our_id": OURS,
        "location": LOCATION,
        "transport": {"path": "partners/acme", "settle_seconds": 0},
    }


@dataclass
class ThreePlEstate:
    estate: OrderToCashEstate
    root: Path

    @property
    def hub(self) -> Any:
        return self.estate.hub

    def folder(self, name: str) -> Path:
        return self.root / name

    def drop(self, name: str, content: bytes) -> None:
        (self.folder("inbound") / name).write_bytes(content)

    def poll(self) -> ThreePlFolder:
        """One pass of the worker's poll of the 3PL's folder, then the hub's rounds."""
        assert self.estate.runtime is not None
        [found] = [p for p in self.estate.runtime.pollers if isinstance(p, ThreePlFolder)]
        found.poll()
        self.estate.drain()
        return found

    def stock(self, sku: str, quantity: int) -> None:
        data = {"sku": sku, "location": LOCATION, "change": {"value": str(quantity), "unit": "EA"}, "reason": "receipt"}
        self.estate.event(ERP, catalog.InventoryAdjusted.event_type, data)
        self.estate.drain()

    def on_hand(self, sku: str) -> Decimal:
        with self.hub.begin() as uow:
            return Decimal(uow.inventory.load([sku]).position(sku, LOCATION).on_hand)

    def head(self) -> int:
        with self.hub.begin() as uow:
            return int(uow.log.head())

    def outbound(self, pattern: str) -> list[Path]:
        return sorted(self.folder("outbound").glob(pattern))

    def release_of(self, order: str) -> dict[str, Any]:
        [released] = self.estate.events(catalog.ShipmentReleased.event_type, order)
        return released


def _estate(data_dir: Path, database_url: str, file_format: str, *also: str) -> ThreePlEstate:
    options = {"format": file_format}
    settings = settings_for(
        data_dir,
        storage={"url": database_url},
        partners={"acme": partner()},
        sources={SOURCE: {"kind": "3pl", "partner": "acme", "options": options}, ERP: {"kind": "canonical"}},
        destinations={OUT: {"kind": "3pl", "partner": "acme", "options": options}},
        subscriptions=[
            {
                "destination": OUT,
                "events": [catalog.ShipmentReleased.event_type, catalog.EdiInterchangeReceived.event_type, *also],
            }
        ],
    )
    return ThreePlEstate(OrderToCashEstate(data_dir, settings), data_dir / "partners" / "acme")


@pytest.fixture
def edi(tmp_path: Path, database_url: str) -> Iterator[ThreePlEstate]:
    """An X12 3PL, once on SQLite and once on PostgreSQL (database_url)."""
    built = _estate(tmp_path, database_url, "x12")
    yield built
    built.estate.stop()


@pytest.fixture
def flat(tmp_path: Path, sqlite_url: str) -> Iterator[ThreePlEstate]:
    """A 3PL without EDI: CSV both ways."""
    built = _estate(tmp_path, sqlite_url, "csv")
    yield built
    built.estate.stop()


@pytest.fixture
def cancelling(tmp_path: Path, sqlite_url: str) -> Iterator[ThreePlEstate]:
    """A 3PL without EDI that is also sent release cancellations."""
    built = _estate(tmp_path, sqlite_url, "csv", catalog.ReleaseCancelled.event_type)
    yield built
    built.estate.stop()


def shipping_advice(shipment: documents.Shipment, control: int) -> bytes:
    """A 945 as the 3PL's translator writes it."""
    tx = mapping.shipment_to_945(shipment, THREEPL_SIDE)
    built = mapping.build_interchange(
        THREEPL_SIDE,
        [tx],
        mapping.ControlNumbers(interchange=control, group=control),
        datetime(2025, 3, 3, 16, tzinfo=UTC),
    )
    return x12.write(built)


def shipment(order: str, quantity: int, number: str = "SHP-1") -> documents.Shipment:
    return documents.Shipment(
        number=number,
        order=order,
        from_location=LOCATION,
        carrier="UPSN",
        tracking_numbers=("1Z999AA10123456784",),
        shipped_at=datetime(2025, 3, 3, 15, 30, tzinfo=UTC),
        lines=(documents.ShipmentLine(line=1, sku="A", quantity=documents.Quantity(value=D(quantity), unit="EA")),),
    )


def snapshot(*rows: str, header: str = "sku,location,on_hand,as_of") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


# ---- out ------------------------------------------------------------------------------------------------------------


def test_a_release_to_the_3pl_goes_out_as_a_940_that_reads_back_as_the_release(edi: ThreePlEstate) -> None:
    edi.stock("A", 10)
    edi.estate.order(sales_order("SO-1", ("A", 4, "5.00"), customer="C1"))
    edi.estate.drain()

    [written] = edi.outbound("940-*.edi")
    [interchange] = x12.parse(written.read_bytes())
    assert (interchange.sender_id.strip(), interchange.receiver_id.strip()) == (OURS, THEIRS)
    [(_, tx)] = list(interchange.transactions())
    order = mapping.warehouse_order_from_940(tx, THREEPL_SIDE)
    released = edi.release_of("SO-1")
    assert (order.order, order.release, order.warehouse) == ("SO-1", released["release"], LOCATION)
    assert order.ship_to is not None and order.ship_to.id == "C1"
    assert [(line.line, line.sku, line.quantity.value) for line in order.lines] == [(1, "A", D(4))]
    with edi.hub.begin() as uow:
        [sent] = uow.interchanges.find(partner="acme")
    assert (sent.functional_id, sent.status) == ("OW", "awaiting")  # its 997 is expected


def test_a_release_from_another_location_writes_nothing_for_the_3pl(edi: ThreePlEstate) -> None:
    data = {"sku": "A", "location": "WH-OWN", "change": {"value": "10", "unit": "EA"}, "reason": "receipt"}
    edi.estate.event(ERP, catalog.InventoryAdjusted.event_type, data)
    edi.estate.order(sales_order("SO-9", ("A", 2, "5.00")))
    edi.estate.drain()
    assert edi.release_of("SO-9")["from_location"] == "WH-OWN"
    assert edi.outbound("*") == []


def cancel(estate: ThreePlEstate, order: str, number: str, quantity: int) -> None:
    request = {"order": order, "cancellation": number, "lines": [{"line_id": "1", "quantity": str(quantity)}]}
    estate.estate.event(ERP, catalog.OrderCancellationRequested.event_type, request | {"reason": "customer"})
    estate.estate.drain()


def cancel_rows(path: Path) -> list[list[str]]:
    header, *rows = path.read_text().splitlines()
    assert header == "release,order,warehouse,line,sku,cancelled,unit,reason"
    return [row.split(",") for row in rows]


def test_a_csv_3pl_gets_a_cancel_file_per_shipping_order_newest_first_with_the_total_cancelled(
    cancelling: ThreePlEstate,
) -> None:
    cancelling.stock("A", 2)
    cancelling.estate.order(sales_order("SO-6", ("A", 4, "5.00")))
    cancelling.estate.drain()
    cancelling.stock("A", 2)  # the backordered half is reserved and released on its own
    first, second = (r["release"] for r in cancelling.estate.events(catalog.ShipmentReleased.event_type, "SO-6"))

    cancel(cancelling, "SO-6", "CAN-1", 3)
    outbound = cancelling.folder("outbound")
    newest, older = outbound / f"cancel-{second}.csv", outbound / f"cancel-{first}.csv"
    assert cancel_rows(newest) == [[second, "SO-6", LOCATION, "1", "A", "2", "EA", "lines cancelled"]]
    assert cancel_rows(older) == [[first, "SO-6", LOCATION, "1", "A", "1", "EA", "lines cancelled"]]

    cancel(cancelling, "SO-6", "CAN-2", 1)
    # The older shipping order's file now says 2 in all: it replaces the one the 3PL may not have read yet.
    assert cancel_rows(older) == [[first, "SO-6", LOCATION, "1", "A", "2", "EA", "lines cancelled"]]
    assert cancel_rows(newest)[0][5] == "2"
    assert sorted(p.name for p in cancelling.outbound("cancel-*.csv")) == sorted([newest.name, older.name])


def test_a_cancellation_of_another_locations_release_writes_nothing_for_the_3pl(cancelling: ThreePlEstate) -> None:
    data = {"sku": "A", "location": "WH-OWN", "change": {"value": "10", "unit": "EA"}, "reason": "receipt"}
    cancelling.estate.event(ERP, catalog.InventoryAdjusted.event_type, data)
    cancelling.estate.order(sales_order("SO-7", ("A", 2, "5.00")))
    cancelling.estate.drain()

    cancel(cancelling, "SO-7", "CAN-1", 1)

    [cancelled] = cancelling.estate.events(catalog.ReleaseCancelled.event_type, "SO-7")
    assert cancelled["from_location"] == "WH-OWN"
    assert cancelling.outbound("*") == []
    with cancelling.hub.begin() as uow:
        [sent] = uow.outbox.find(DeliveryFilter(event_type=catalog.ReleaseCancelled.event_type, status=None))
    assert sent.status is DeliveryStatus.DELIVERED


# ---- confirmations in -----------------------------------------------------------------------------------------------


def test_a_945_in_the_folder_confirms_the_shipment_and_is_answered_with_a_997(edi: ThreePlEstate) -> None:
    edi.stock("A", 10)
    edi.estate.order(sales_order("SO-2", ("A", 4, "5.00")))
    edi.estate.drain()
    edi.drop("945_0001.edi", shipping_advice(shipment("SO-2", 4), control=501))
    edi.poll()

    state = edi.estate.state("SO-2")
    assert state.status is OrderStatus.INVOICED  # shipped in full, and the hub bills what shipped
    [confirmed] = edi.estate.events(catalog.ShipmentConfirmed.event_type, "SO-2")
    assert confirmed["shipment"]["tracking_numbers"] == ["1Z999AA10123456784"]
    assert edi.on_hand("A") == D(6)
    assert [p.name for p in edi.folder("archive").iterdir() if p.name.endswith("945_0001.edi")]
    [ack] = edi.outbound("997-*.edi")
    [answer] = x12.parse(ack.read_bytes())
    assert [tx.set_id for _, tx in answer.transactions()] == ["997"]


def test_a_csv_3pl_gets_a_csv_shipping_order_and_its_csv_confirmation_ships_part_of_the_order(
    flat: ThreePlEstate,
) -> None:
    flat.stock("A", 10)
    flat.estate.order(sales_order("SO-3", ("A", 4, "5.00"), customer="C1"))
    flat.estate.drain()
    release = flat.release_of("SO-3")["release"]
    [written] = flat.outbound("release-*.csv")
    assert written.name == f"release-{release}.csv"
    rows = written.read_text().splitlines()
    assert rows[0].split(",")[:3] == ["release", "order", "customer"]
    assert rows[1].split(",") == [release, "SO-3", "C1", "", "", LOCATION, "1", "A", "4", "EA"]

    flat.drop(
        "confirm-0001.csv",
        b"shipment,order,line,sku,quantity,unit,carrier,tracking,shipped_at\n"
        b"SHP-3,SO-3,1,A,3,EA,UPSN,1Z1;1Z2,2025-03-03T15:30:00+00:00\n",
    )
    flat.poll()
    state = flat.estate.state("SO-3")
    assert state.status is OrderStatus.PARTIALLY_SHIPPED
    assert state.lines[0].shipped == D(3)
    [confirmed] = flat.estate.events(catalog.ShipmentConfirmed.event_type, "SO-3")
    assert confirmed["shipment"]["tracking_numbers"] == ["1Z1", "1Z2"]


def test_a_csv_confirmation_with_a_bad_row_is_refused_naming_the_line_and_column(flat: ThreePlEstate) -> None:
    flat.drop(
        "confirm-0002.csv",
        b"shipment,order,line,sku,quantity,shipped_at\nSHP-4,SO-4,1,A,three,2025-03-03\n",
    )
    flat.poll()
    [kept] = [p for p in flat.folder("error").iterdir() if p.name.endswith("confirm-0002.csv")]
    reason = (flat.folder("error") / (kept.name + ".reason.txt")).read_text()
    assert "line 2, column quantity: 'three' is not a number" in reason


# ---- stock snapshots ------------------------------------------------------------------------------------------------


def test_a_stock_snapshot_reconciles_posting_what_no_pending_movement_explains(edi: ThreePlEstate) -> None:
    edi.stock("A", 10)
    edi.stock("B", 5)
    edi.estate.order(sales_order("SO-5", ("A", 4, "5.00")))  # released, not confirmed shipped yet
    edi.estate.drain()
    edi.drop("stock_20250303.csv", snapshot("A,WH-3PL,6,2025-03-03", "B,WH-3PL,3,2025-03-03"))
    folder = edi.poll()

    assert (edi.on_hand("A"), edi.on_hand("B")) == (D(10), D(3))
    [(name, report)] = folder.snapshots.reconciled
    drifts = {d.sku: d for d in report.drifts}
    # A: 4 fewer counted, and 4 are reserved for an order the 3PL is shipping: explained, nothing posted.
    assert (drifts["A"].cause, drifts["A"].action) == (DriftCause.UNCONFIRMED_SHIPMENT, DriftAction.WAIT)
    # B: 2 fewer and nothing explains it: the 3PL's count is taken.
    assert (drifts["B"].cause, drifts["B"].action, drifts["B"].unexplained) == (
        DriftCause.UNKNOWN,
        DriftAction.ADJUST,
        D(2),
    )
    assert name == "stock_20250303.csv"
    assert [p.name for p in edi.folder("archive").iterdir() if p.name.endswith("stock_20250303.csv")]


def test_the_same_snapshot_twice_changes_nothing(edi: ThreePlEstate) -> None:
    edi.stock("B", 5)
    content = snapshot("B,WH-3PL,3,2025-03-03")
    edi.drop("stock_20250303.csv", content)
    edi.poll()
    head = edi.head()
    edi.drop("STOCK_20250303_resent.csv", content)  # the same count again, under another name
    edi.poll()
    assert edi.on_hand("B") == D(3)
    assert edi.head() == head
    assert len(list(edi.folder("archive").iterdir())) == 2
    assert list(edi.folder("inbound").iterdir()) == []


def test_a_snapshot_with_bad_rows_names_each_by_line_and_column_and_is_kept_in_error(edi: ThreePlEstate) -> None:
    edi.stock("A", 10)
    head = edi.head()
    edi.drop(
        "stock_20250304.csv",
        snapshot("A,WH-3PL,9,2025-03-04", "B,WH-3PL,ten,2025-03-04", "C,WH-OWN,1,2025-03-04", "D,WH-3PL,1,yesterday"),
    )
    edi.poll()
    [kept] = [p for p in edi.folder("error").iterdir() if p.name.endswith("stock_20250304.csv")]
    reason = (edi.folder("error") / (kept.name + ".reason.txt")).read_text()
    assert "line 3, column on_hand: 'ten' is not a number" in reason
    assert "line 4, column location: 'WH-OWN' is not this 3PL's location (WH-3PL)" in reason
    assert "line 5, column as_of: 'yesterday' is not an ISO date or time" in reason
    # A count leaves nothing out of a location: with rows of WH-3PL unreadable, none of it is reconciled.
    assert "line 2: held back" in reason
    assert (edi.on_hand("A"), edi.head()) == (D(10), head)


def test_a_snapshot_older_than_one_reconciled_is_refused(edi: ThreePlEstate) -> None:
    edi.stock("B", 5)
    edi.drop("stock_20250305.csv", snapshot("B,WH-3PL,4,2025-03-05"))
    edi.poll()
    edi.drop("stock_20250304.csv", snapshot("B,WH-3PL,1,2025-03-04"))  # arrives late
    edi.poll()
    assert edi.on_hand("B") == D(4)
    [kept] = [p for p in edi.folder("error").iterdir() if p.name.endswith("stock_20250304.csv")]
    reason = (edi.folder("error") / (kept.name + ".reason.txt")).read_text()
    assert reason.startswith("stale:")
