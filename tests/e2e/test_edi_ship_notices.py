"""Ship notices go to the customer whose order shipped: an EDI customer subscribed to every confirmed shipment gets an
856 for its own order and none for a web order shipped from the same warehouse, and the control numbers of what it is
sent stay gap-free. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crossdock.connectors import x12
from crossdock.domain import catalog
from tests.e2e.order_to_cash_estate import OrderToCashEstate, edi_customer_settings, sales_order
from tests.e2e.test_customer_item_ids import SOURCE, XYZ, customer_850, ship

OUTBOUND = Path("partners") / "xyz" / "outbound"


@pytest.fixture
def estate(tmp_path: Path, database_url: str) -> Iterator[OrderToCashEstate]:
    built = OrderToCashEstate(tmp_path, edi_customer_settings(tmp_path, database_url, "xyz", XYZ))
    yield built
    built.stop()


def files(estate: OrderToCashEstate) -> dict[str, x12.Interchange]:
    return {p.name: x12.parse(p.read_bytes())[0] for p in sorted((estate.data_dir / OUTBOUND).glob("*.edi"))}


def segment(tx: x12.Transaction, tag: str) -> x12.Segment:
    return next(s for s in tx.segments if s.tag == tag)


def test_an_edi_customer_gets_the_856_of_its_own_order_and_none_of_a_web_order(estate: OrderToCashEstate) -> None:
    estate.receipt("A", "WH1", 20)
    estate.hub.receive(SOURCE, customer_850("PO-77", ("A", 4, None)), {})
    estate.order(sales_order("SHOP-9", ("A", 2, "2.50"), customer="WEB-RETAIL"))
    estate.drain()

    ship(estate, "SH-WEB", "SHOP-9", (1, "A", 2))
    ship(estate, "SH-EDI", "PO-77", (1, "A", 4))

    written = files(estate)
    notices = [
        (segment(tx, "BSN").value(2), segment(tx, "PRF").value(1))
        for interchange in written.values()
        for _, tx in interchange.transactions()
        if tx.set_id == "856"
    ]
    assert notices == [("SH-EDI", "PO-77")], "only the customer's own shipment is noticed to it, never the web order's"
    assert sorted(name.split("-")[0] for name in written) == ["810", "856", "997"]
    numbers = sorted(int(i.control_number) for i in written.values())
    assert numbers == list(range(1, len(written) + 1)), f"control numbers skip one: {numbers}"
    delivered = estate.events(catalog.ShipmentConfirmed.event_type, "SHOP-9")
    assert delivered, "the web order did ship; only its notice stays home"
