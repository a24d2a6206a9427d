from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from crossdock.connectors import x12
from crossdock.connectors.x12 import mapping
from crossdock.domain import documents
from tests.unit.connectors.x12.mapping.helpers import AT, read_back, rules, trailer_counts
from tests.unit.connectors.x12.mapping.test_po850 import purchase_order


def shipment() -> documents.Shipment:
    return documents.Shipment(
        number="SH-1",
        order="PO-1001",
        from_location="DC",
        shipped_at=AT,
        lines=(documents.ShipmentLine(line=1, sku="SKU-1", quantity=documents.Quantity(value=Decimal(1), unit="EA")),),
    )


def test_an_interchange_of_several_kinds_gets_one_group_per_kind_with_consecutive_numbers() -> None:
    partner = rules("BP")
    sets = [
        mapping.purchase_order_to_850(purchase_order(), partner),
        mapping.shipment_to_856(shipment(), partner),
        mapping.purchase_order_to_850(purchase_order(number="PO-2"), partner),
    ]

    interchange = mapping.build_interchange(
        partner, sets, mapping.ControlNumbers(interchange=905, group=17, transaction=31), AT
    )
    text = x12.render(interchange)

    assert [
        (g.functional_id, g.control_number, [t.control_number for t in g.transactions]) for g in interchange.groups
    ] == [
        ("PO", "17", ["0031", "0032"]),
        ("SH", "18", ["0033"]),
    ]
    assert text.startswith(
        "ISA*00*          *00*          *ZZ*CROSSDOCK      *ZZ*PARTNER        *240301*1430*U*00401*000000905*0*P*>~"
        "GS*PO*CROSSDOCK*PARTNER*20240301*1430*17*X*004010~"
    )
    assert trailer_counts(text) == {"SE": ["12", "12", "12"], "GE": ["2", "1"], "IEA": ["2"]}
    assert len(read_back(text)) == 3


def test_se01_counts_every_segment_from_st_to_se() -> None:
    partner = rules("BP")
    text = x12.render(
        mapping.build_interchange(
            partner, [mapping.shipment_to_856(shipment(), partner)], mapping.ControlNumbers(1, 1), AT
        )
    )

    segments = [s for s in text.split("~") if s]
    st, se = (
        next(i for i, s in enumerate(segments) if s.startswith("ST*")),
        next(i for i, s in enumerate(segments) if s.startswith("SE*")),
    )
    assert segments[se] == f"SE*{se - st + 1}*0001"


def test_a_5010_partner_gets_the_repetition_separator_its_version_and_its_local_time() -> None:
    partner = rules("BP", version="005010", timezone="Asia/Tokyo", usage="T", our_qualifier="01", our_id="123456789")

    interchange = mapping.build_interchange(
        partner, [mapping.purchase_order_to_850(purchase_order(), partner)], mapping.ControlNumbers(2, 2), AT
    )
    text = x12.render(interchange)

    assert text.startswith(
        "ISA*00*          *00*          *01*123456789      *ZZ*PARTNER        *240301*2330*^*00501*000000002*0*T*>~"
    )
    assert "*005010~" in text
    read_back(text)


def test_the_sets_own_control_numbers_are_kept_when_asked() -> None:
    partner = rules("BP")
    tx = mapping.purchase_order_to_850(purchase_order(), partner, control_number="7777")

    interchange = mapping.build_interchange(partner, [tx], mapping.ControlNumbers(1, 1, transaction=None), AT)

    assert interchange.groups[0].transactions[0].control_number == "7777"


def test_envelopes_refuse_what_cannot_be_sent() -> None:
    partner = rules("BP")
    with pytest.raises(mapping.X12MappingError, match="at least one transaction set"):
        mapping.build_interchange(partner, [], mapping.ControlNumbers(1, 1), AT)
    with pytest.raises(ValueError, match="ISA13"):
        mapping.ControlNumbers(interchange=1_000_000_000, group=1)
    with pytest.raises(ValueError, match="timezone"):
        mapping.build_interchange(
            partner, [mapping.shipment_to_856(shipment(), partner)], mapping.ControlNumbers(1, 1), datetime(2024, 1, 1)
        )
    other = x12.Transaction(set_id="999", control_number="0001")
    assert mapping.build_interchange(partner, [other], mapping.ControlNumbers(1, 1), AT).groups[0].functional_id == "FA"


@pytest.mark.parametrize(
    "bad",
    [
        {"version": "003040"},  # only 004010 and 005010 (with suffixes)
        {"timezone": "Mars/Olympus"},
        {"currency": "XYZ"},
        {"item_ids": ()},  # at least one qualifier
        {"partner_id": "X" * 16},  # ISA06/08 is 15 characters
    ],
)
def test_partner_rules_refuse_settings_that_cannot_work(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        mapping.PartnerRules.model_validate({"partner_id": "P", "our_id": "US", **bad})


def test_partner_dates_units_and_ids_follow_the_rules() -> None:
    partner = mapping.PartnerRules(
        partner_id="P",
        our_id="US",
        date_format="%d%m%Y",
        units={"CA": "CASE", "CT": "CASE"},
        item_ids=(mapping.ItemId(qualifier="BP"), mapping.ItemId(qualifier="UP", cross_reference={"0123": "SKU-1"})),
    )

    assert partner.parse_date("31122024") == date(2024, 12, 31)
    assert rules().parse_date("991231") == date(1999, 12, 31)  # YYMMDD from an older sender
    assert (partner.unit_in("CT"), partner.unit_out("CASE"), partner.unit_in("YD"), partner.unit_out("EA")) == (
        "CASE",
        "CA",
        "YD",
        "EA",
    )
    assert partner.unit_out("PALLET") is None
    # The document's own ids win under their qualifier; ids derived from the sku fill in the rest.
    assert partner.ids_for("SKU-1", {"VP": "V-1", "BP": "B-7"}) == [("BP", "B-7"), ("UP", "0123"), ("VP", "V-1")]
    assert partner.sku_for([("UP", "0123")]) == "SKU-1" and partner.sku_for([("UP", "9999")]) is None
