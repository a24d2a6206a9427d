"""The EDI intake adapter over the real samples: dedupe keys from the envelopes, each set mapped by the partner's
role, one interchange_received per interchange, and refusals that name the rule and the place."""

from __future__ import annotations

from typing import Any

import pytest

from crossdock.config import PartnerSettings
from crossdock.connectors.edi.inbound import EdiInbound
from crossdock.connectors.edi.profiles import Profile, ProfileError
from crossdock.connectors.x12 import STRICT, Tolerance
from crossdock.domain import catalog
from crossdock.hub.errors import MappingError
from tests.conftest import SAMPLES
from tests.unit.factories import make_stored_message

XYZ_850 = SAMPLES / "x12-850" / "nodex12_850_xyzretail_4010vics_tilde-lf.edi"
TWO_855 = SAMPLES / "x12-855" / "staedi_855_two-transactions_one-group.edi"


def adapter(role: str = "customer", standard: str = "x12", **overrides: Any) -> EdiInbound:
    fields: dict[str, Any] = {"role": role, "standard": standard, "id": "XYZ", "our_id": "US", **overrides}
    return EdiInbound("edi-xyz", Profile("xyz", PartnerSettings.model_validate(fields)))


def customer() -> EdiInbound:
    return adapter(customer="C-XYZ", channel="edi-xyz", item_ids=[{"qualifier": "VN"}])


def test_the_x12_key_is_the_sender_the_interchange_and_every_group_and_set() -> None:
    identity = adapter("supplier").identify(TWO_855.read_bytes(), {})

    assert identity.key == "x12:ZZ/ALEXANDRE0JACOB:000001337:0001/0001,0001/0002"
    assert identity.business_key == identity.partition_key == "ORDER1"


def test_a_resent_file_keeps_its_key_and_a_file_with_a_new_set_gets_another() -> None:
    body = XYZ_850.read_bytes()
    other = body.replace(b"ST*850*000000010~", b"ST*850*000000011~").replace(b"SE*33*000000010", b"SE*33*000000011")

    first, again, changed = (customer().identify(b, {}) for b in (body, body, other))

    assert first.key == again.key
    assert first.key != changed.key
    assert first.business_key == "08292233294"


def test_the_edifact_key_is_the_sender_the_interchange_reference_and_the_messages() -> None:
    body = (SAMPLES / "edifact-desadv" / "phpedifact_desadv_d96a_books.edi").read_bytes()

    identity = adapter("3pl", "edifact").identify(body, {})

    assert identity.key == "edifact:1556150:1:142"


def test_a_customer_850_becomes_an_order_for_the_partners_customer_and_an_accepted_interchange() -> None:
    events = customer().to_events(make_stored_message(source="edi-xyz", body=XYZ_850.read_bytes()))

    order, received = events
    assert (order.type, order.subject, order.partitionkey) == (
        "crossdock.order.received.v1",
        "08292233294",
        "08292233294",
    )
    assert order.data["order"]["customer"] == "C-XYZ"
    assert order.data["order"]["channel"] == "edi-xyz"
    assert received.type == "crossdock.edi.interchange_received.v1"
    payload = catalog.payload_as(received, catalog.EdiInterchangeReceived)
    assert payload.status is catalog.InterchangeStatus.ACCEPTED
    assert [(g.functional_id, g.control_number, g.status) for g in payload.groups] == [("PO", "1421", "A")]
    assert [(t.set_id, t.control_number, t.status) for t in payload.groups[0].transactions] == [
        ("850", "000000010", "A")
    ]


def test_event_ids_are_the_same_each_time_the_file_is_mapped() -> None:
    message = make_stored_message(source="edi-xyz", body=XYZ_850.read_bytes())

    assert [e.id for e in customer().to_events(message)] == [e.id for e in customer().to_events(message)]


@pytest.mark.parametrize(
    ("folder", "name", "role", "extra", "expected"),
    [
        # two 855s in one group: two acknowledgements of order ORDER1
        ("x12-855", "staedi_855_two-transactions_one-group.edi", "supplier", {}, ["purchaseorder.acknowledged"] * 2),
        # an Ariba-style 810 with a BOM and an unpadded ISA
        ("x12-810", "edinet_810a_ariba-style_bom_unpadded-isa.edi", "supplier", {}, ["supplierinvoice.received"]),
        # the crossdock 856 (S/O/T/P/I): one notice per order level, two orders
        (
            "x12-856",
            "ediengine_856_crossdock_sotpi_newline-terminated.edi",
            "supplier",
            {"item_ids": [{"qualifier": "UP"}, {"qualifier": "EN"}]},
            ["asn.received"] * 2,
        ),
        # three 997s in three interchanges
        ("x12-997", "staedi_997_5010_three-interchanges.edi", "supplier", {}, ["edi.acknowledgement_received"] * 3),
    ],
)
def test_each_set_becomes_its_canonical_event_by_the_partners_role(
    folder: str, name: str, role: str, extra: dict[str, Any], expected: list[str]
) -> None:
    body = (SAMPLES / folder / name).read_bytes()

    events = adapter(role, **extra).to_events(make_stored_message(body=body))

    documents = [e.type.removeprefix("crossdock.").removesuffix(".v1") for e in events]
    assert [d for d in documents if d != "edi.interchange_received"] == expected
    assert "edi.interchange_received" in documents


def test_a_997_received_carries_its_group_and_set_statuses() -> None:
    body = (SAMPLES / "x12-997" / "staedi_997_5010_rejected-with-ak3-ak4.edi").read_bytes()

    event = adapter("supplier").to_events(make_stored_message(body=body))[0]

    ack = catalog.payload_as(event, catalog.EdiAcknowledgementReceived)
    assert ack.groups[0].status == "R"
    assert any(t.errors for t in ack.groups[0].transactions)


def test_a_refused_file_names_the_rule_and_the_place() -> None:
    body = (SAMPLES / "x12-bad" / "ediengine_850_syntax-note-violations.edi").read_bytes()

    with pytest.raises(MappingError, match=r"syntax-note: .*interchange 000003438, group 1421, transaction 850"):
        customer().to_events(make_stored_message(body=body))


def test_a_mapping_error_names_the_interchange_the_set_the_segment_and_the_element() -> None:
    with pytest.raises(
        MappingError, match=r"interchange 000003438, group 1421, 850 000000010, segment 13 PO1, element PO106"
    ):
        adapter("customer").to_events(make_stored_message(body=XYZ_850.read_bytes()))


def test_a_set_the_role_does_not_send_is_refused_by_name() -> None:
    with pytest.raises(MappingError, match="mapping-unsupported-set: a 850 from a supplier partner"):
        adapter("supplier", item_ids=[{"qualifier": "VN"}]).to_events(make_stored_message(body=XYZ_850.read_bytes()))


def test_leniency_comes_from_the_preset_and_each_quirk_named() -> None:
    profile = Profile(
        "p", PartnerSettings(role="customer", id="P", our_id="US", leniency="strict", quirks={"syntax_notes": "warn"})
    )

    assert profile.x12_leniency() != STRICT
    assert profile.x12_leniency().syntax_notes is Tolerance.WARN
    assert profile.x12_leniency().byte_order_mark is Tolerance.REFUSE


def test_an_unknown_quirk_is_a_profile_error() -> None:
    profile = Profile("p", PartnerSettings(role="customer", id="P", our_id="US", quirks={"no_such": True}))

    with pytest.raises(ProfileError, match="unknown X12 quirk 'no_such'"):
        profile.x12_leniency()
