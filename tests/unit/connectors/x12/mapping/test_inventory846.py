from __future__ import annotations

from decimal import Decimal

import pytest

from crossdock.connectors.x12 import mapping
from crossdock.domain import catalog, documents
from tests.unit.connectors.x12.mapping.helpers import AT, read_back, rules, sent, trailer_counts

CUSTOMER = mapping.PartnerRules(
    partner_id="RETAILER",
    our_id="US",
    item_ids=(
        mapping.ItemId(qualifier="VP"),
        mapping.ItemId(qualifier="UP", cross_reference={"012345678905": "SKU-1"}),
    ),
)


def position(sku: str, value: str, location: str | None = None, unit: str = "EA") -> mapping.Availability:
    return mapping.Availability(
        sku=sku, available=documents.Quantity(value=Decimal(value), unit=unit), location=location
    )


def test_availability_goes_out_as_one_846_per_location_that_validates_cleanly() -> None:
    positions = [
        position("SKU-1", "40", "DC-EAST"),
        position("SKU-2", "0", "DC-EAST"),
        position("SKU-1", "12", "DC-WEST"),
        position("SKU-3", "7.5", None, "CASE"),
    ]

    sets = mapping.inventory_advices(positions, CUSTOMER, reference="AV-1", as_of=AT)
    text = sent(CUSTOMER, list(sets))

    back = read_back(text)
    assert trailer_counts(text) == {"SE": ["6", "9", "7"], "GE": ["3"], "IEA": ["1"]}
    assert "GS*IB*" in text
    assert [str(seg) for seg in back[1].segments] == [
        "BIA*00*SI*AV-1-2*20240301*1430",
        "N1*WH**92*DC-EAST",
        "LIN**VP*SKU-1*UP*012345678905",
        "QTY*33*40*EA",
        "LIN**VP*SKU-2",
        "QTY*33*0*EA",
        "CTT*2",
    ]
    assert [a for tx in back for a in mapping.availability_from_846(tx, CUSTOMER)] == [
        positions[3],
        positions[0],
        positions[1],
        positions[2],
    ]


def test_a_partner_that_knows_only_upcs_gets_the_cross_referenced_ones() -> None:
    upc_only = rules(timezone="UTC").model_copy(
        update={"item_ids": (mapping.ItemId(qualifier="UP", cross_reference={"012345678905": "SKU-1"}),)}
    )

    tx = mapping.inventory_advice_to_846([position("SKU-1", "3")], upc_only, reference="AV-2", as_of=AT)
    assert str(tx.segments[1]) == "LIN**UP*012345678905"
    with pytest.raises(mapping.X12MappingError, match=r"^846, segment LIN, element LIN02: sku SKU-9 has no item id"):
        mapping.inventory_advice_to_846([position("SKU-9", "3")], upc_only, reference="AV-2", as_of=AT)


def test_a_channel_availability_event_becomes_a_position() -> None:
    event = catalog.AvailabilityChanged(
        sku="SKU-1", channel="edi-retailer", available=documents.Quantity(value=Decimal(9), unit="EA")
    )

    assert mapping.Availability.of(event, "DC-EAST") == position("SKU-1", "9", "DC-EAST")


def test_one_846_is_of_one_location_and_lists_a_sku_once() -> None:
    with pytest.raises(mapping.X12MappingError, match="one 846 is of one location"):
        mapping.inventory_advice_to_846(
            [position("A", "1", "X"), position("B", "1", "Y")], CUSTOMER, reference="R", as_of=AT
        )
    with pytest.raises(mapping.X12MappingError, match="sku A is listed twice"):
        mapping.inventory_advice_to_846([position("A", "1"), position("A", "2")], CUSTOMER, reference="R", as_of=AT)
