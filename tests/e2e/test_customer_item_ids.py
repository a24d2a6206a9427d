"""A customer's own item ids go back to it: an X12 850 that names its lines by the buyer's part number (BP) is kept
as cross-references (kind item, system the partner), and the 856 and 810 the hub writes for that order name every
item by the same BP, next to our sku; an order without BPs leaves none. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crossdock.connectors import x12
from crossdock.connectors.x12 import mapping
from crossdock.domain import catalog
from tests.e2e.order_to_cash_estate import START, OrderToCashEstate, edi_customer_settings

OURS, THEIRS = "999999999", "4405197800"
SOURCE = "edi-xyz"  # where the customer's interchanges come in (edi_customer_settings names it)
XYZ = {
    "role": "customer",
    "id": THEIRS,
    "qualifier": "12",
    "our_id": OURS,
    "customer": "C1",
    "currency": "EUR",
    "item_ids": [{"qualifier": "VN"}],
    "transport": {"path": "partners/xyz"},
}
# What the customer's translator writes as the sender: we are its partner.
THEIR_RULES = mapping.PartnerRules(partner_id=OURS, our_id=THEIRS, our_qualifier="12", currency="EUR")


@pytest.fixture
def estate(tmp_path: Path, database_url: str) -> Iterator[OrderToCashEstate]:
    built = OrderToCashEstate(tmp_path, edi_customer_settings(tmp_path, database_url, "xyz", XYZ))
    yield built
    built.stop()


def customer_850(number: str, *lines: tuple[str, int, str | None]) -> bytes:
    """The customer's 850: per line our sku as VN (the qualifier its profile reads) and its own part number as BP."""
    segments = [x12.Segment("BEG", ("00", "SA", number, "", START.strftime("%Y%m%d")))]
    for n, (sku, quantity, buyer_part) in enumerate(lines, start=1):
        ids = ("VN", sku, *(("BP", buyer_part) if buyer_part else ()))
        segments.append(x12.Segment("PO1", (str(n), str(quantity), "EA", "2.50", "PE", *ids)))
    segments.append(x12.Segment("CTT", (str(len(lines)),)))
    tx = x12.Transaction(set_id="850", control_number="0001", segments=tuple(segments))
    built = mapping.build_interchange(THEIR_RULES, [tx], mapping.ControlNumbers(interchange=41, group=41), START)
    return x12.write(built)


def written(estate: OrderToCashEstate, kind: str) -> list[x12.Segment]:
    """The segments of every `kind` file in the customer's outbound folder."""
    folder = estate.data_dir / "partners" / "xyz" / "outbound"
    return [
        segment
        for path in sorted(folder.glob(f"{kind}-*.edi"))
        for interchange in x12.parse(path.read_bytes())
        for _, tx in interchange.transactions()
        for segment in tx.segments
    ]


def item_ids(segments: list[x12.Segment], tag: str, first: int) -> list[dict[str, str]]:
    """(qualifier -> id) of each `tag` segment, read from its element `first` on."""
    out = []
    for segment in segments:
        if segment.tag == tag:
            values = [segment.value(n) for n in range(first, len(segment.elements) + 1)]
            out.append({q: v for q, v in zip(values[::2], values[1::2], strict=False) if q})
    return out


def ship(estate: OrderToCashEstate, number: str, order: str, *lines: tuple[int, str, int]) -> None:
    """The warehouse confirms what left WH1 for the order, and when (an 856 says when it shipped)."""
    shipped = [{"line": n, "sku": sku, "quantity": {"value": str(q), "unit": "EA"}} for n, sku, q in lines]
    shipment = {"number": number, "order": order, "from_location": "WH1", "shipped_at": START.isoformat()}
    estate.event("wms", catalog.ShipmentConfirmed.event_type, {"shipment": shipment | {"lines": shipped}})
    estate.drain()


def test_the_856_and_810_going_back_name_each_item_by_the_customers_own_part_number(
    estate: OrderToCashEstate,
) -> None:
    estate.receipt("A", "WH1", 10)
    estate.receipt("B", "WH1", 10)
    response = estate.hub.receive(SOURCE, customer_850("PO-77", ("A", 4, "CUST-A"), ("B", 2, "CUST-B")), {})
    estate.drain()
    assert response.message_id is not None
    with estate.hub.begin() as uow:
        kept = {(r.hub_id, r.external_id) for r in uow.xrefs.find(kind="item", system="xyz")}
    assert kept == {("A", "CUST-A"), ("B", "CUST-B")}, "the customer's part numbers are kept per sku"

    ship(estate, "SH-1", "PO-77", (1, "A", 4), (2, "B", 2))

    shipped = item_ids(written(estate, "856"), "LIN", 2)
    billed = item_ids(written(estate, "810"), "IT1", 6)
    assert [ids.get("BP") for ids in shipped] == ["CUST-A", "CUST-B"], f"856 item levels: {shipped}"
    assert [ids.get("BP") for ids in billed] == ["CUST-A", "CUST-B"], f"810 lines: {billed}"
    assert [ids.get("VN") for ids in billed] == ["A", "B"], "our sku still travels under the customer's qualifier"


def test_an_order_without_part_numbers_sends_our_ids_only(estate: OrderToCashEstate) -> None:
    estate.receipt("A", "WH1", 10)
    estate.hub.receive(SOURCE, customer_850("PO-78", ("A", 3, None)), {})
    estate.drain()
    ship(estate, "SH-2", "PO-78", (1, "A", 3))

    with estate.hub.begin() as uow:
        assert uow.xrefs.find(kind="item", system="xyz") == []
    [shipped] = item_ids(written(estate, "856"), "LIN", 2)
    [billed] = item_ids(written(estate, "810"), "IT1", 6)
    assert "BP" not in shipped and "BP" not in billed
    assert shipped.get("VN") == billed.get("VN") == "A"
