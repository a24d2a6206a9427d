"""What the EDI intake reads besides documents: a partner's CONTRL becomes an acknowledgement naming the interchange it
answers (UCI) with each message's action and errors (UCM, UCS, UCD), whatever the partner's role; a customer's 850
that names its lines by the buyer's part number (BP) tells the hub those ids per sku, and the 855 for that order
echoes them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from crossdock.config import PartnerSettings
from crossdock.connectors import edifact, x12
from crossdock.connectors.edi.inbound import EdiInbound
from crossdock.connectors.edi.profiles import Profile
from crossdock.connectors.edifact import contrl, writer
from crossdock.connectors.x12 import mapping
from crossdock.domain import catalog
from crossdock.hub.errors import MappingError
from tests.unit.factories import make_stored_message

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
OURS, THEIRS = "4000000000006", "5400000000003"


def adapter(role: str, standard: str, **overrides: Any) -> EdiInbound:
    fields: dict[str, Any] = {"role": role, "standard": standard, "id": THEIRS, "our_id": OURS, **overrides}
    return EdiInbound("edi-acme", Profile("acme", PartnerSettings.model_validate(fields)))


def our_orders(reference: str = "000000007") -> edifact.Interchange:
    """An interchange as we send one to a supplier: one ORDERS, message reference 1."""
    body = [edifact.Segment.of("BGM", "220", "PO-1", "9"), edifact.Segment.of("QTY", ("21", "4", "PCE"))]
    message = writer.message("1", "ORDERS", body)
    return writer.interchange(reference, sender=(OURS, "14"), recipient=(THEIRS, "14"), prepared=AT, messages=[message])


def contrl_file(*segments: edifact.Segment, reference: str = "900") -> bytes:
    message = writer.message("1", "CONTRL", list(segments), version="D", release="3")
    built = writer.interchange(
        reference, sender=(THEIRS, "14"), recipient=(OURS, "14"), prepared=AT, messages=[message]
    )
    return edifact.render(built)


def acknowledgement(role: str, body: bytes) -> catalog.EdiAcknowledgementReceived:
    events = adapter(role, "edifact").to_events(make_stored_message(source="edi-acme", body=body))
    [found] = [e for e in events if e.type == catalog.EdiAcknowledgementReceived.event_type]
    return catalog.payload_as(found, catalog.EdiAcknowledgementReceived)


@pytest.mark.parametrize("role", ["supplier", "customer", "3pl"])
def test_a_partners_contrl_rejecting_a_message_names_the_interchange_the_message_and_the_element(role: str) -> None:
    ours = our_orders()
    issue = edifact.Issue(
        "invalid-value",
        "12",
        "unit not known",
        edifact.Place(message="1", message_type="ORDERS", segment=3, tag="QTY", element=1, component=3),
    )
    body = edifact.render(contrl.acknowledge(ours, [issue], reference="900", prepared=AT))

    ack = acknowledgement(role, body)

    assert (ack.partner, ack.standard, ack.interchange, ack.acknowledges) == ("acme", "edifact", "900", "000000007")
    [group] = ack.groups
    assert (group.control_number, group.functional_id, group.status) == ("", "ORDERS", "R")
    [message] = group.transactions
    assert (message.set_id, message.control_number, message.status) == ("ORDERS", "1", contrl.REJECTED)
    assert [(e.position, e.element, e.component, e.code) for e in message.errors] == [(3, 1, 3, "12")]


def test_a_contrl_saying_the_interchange_was_received_is_an_acceptance_of_it() -> None:
    body = contrl_file(edifact.Segment.of("UCI", "000000007", (OURS, "14"), (THEIRS, "14"), contrl.RECEIVED))

    ack = acknowledgement("supplier", body)

    assert ack.acknowledges == "000000007"
    assert [(g.control_number, g.status, g.transactions) for g in ack.groups] == [("", "A", [])]


def test_a_contrl_is_never_answered_by_a_contrl() -> None:
    body = contrl_file(edifact.Segment.of("UCI", "000000007", (OURS, "14"), (THEIRS, "14"), contrl.ACCEPTED))

    events = adapter("supplier", "edifact").to_events(make_stored_message(source="edi-acme", body=body))

    [received] = [e for e in events if e.type == catalog.EdiInterchangeReceived.event_type]
    groups = catalog.payload_as(received, catalog.EdiInterchangeReceived).groups
    assert {g.functional_id for g in groups} == {"CONTRL"}, "the partner's destination skips acknowledgements"


@pytest.mark.parametrize(
    ("segments", "rule"),
    [
        # 0083 has no action 9
        ((edifact.Segment.of("UCI", "000000007", (OURS, "14"), (THEIRS, "14"), "9"),), "contrl-action: UCI"),
        # a message report with an action outside the code list
        (
            (
                edifact.Segment.of("UCI", "000000007", (OURS, "14"), (THEIRS, "14"), "7"),
                edifact.Segment.of("UCM", "1", ("ORDERS", "D", "96A", "UN"), "X"),
            ),
            "contrl-action: UCM 1",
        ),
        # a CONTRL that does not start with UCI answers nothing we can name
        ((edifact.Segment.of("UCM", "1", ("ORDERS", "D", "96A", "UN"), "7"),), "contrl-expected"),
    ],
)
def test_a_contrl_that_cannot_be_judged_is_refused_naming_the_rule(
    segments: tuple[edifact.Segment, ...], rule: str
) -> None:
    with pytest.raises(MappingError, match=rule):
        adapter("supplier", "edifact").read(contrl_file(*segments))


# ---- the buyer's part numbers -----------------------------------------------------------------------------------


CUSTOMER = mapping.PartnerRules(
    partner_id="THEM", our_id="US", item_ids=(mapping.ItemId(qualifier="VN"),), customer="C-1", currency="EUR"
)


def customer_850() -> x12.Transaction:
    segments = (
        x12.Segment("BEG", ("00", "SA", "PO-77", "", "20260302")),
        x12.Segment("PO1", ("1", "4", "EA", "2.50", "PE", "VN", "A", "BP", "CUST-A")),
        x12.Segment("PO1", ("2", "1", "EA", "9.00", "PE", "VN", "C")),
        x12.Segment("PO1", ("3", "2", "EA", "4.00", "PE", "BP", "CUST-B", "VN", "B")),
        x12.Segment("CTT", ("3",)),
    )
    return x12.Transaction(set_id="850", control_number="0001", segments=segments)


def test_a_customers_850_tells_the_hub_its_part_number_for_each_sku_that_has_one() -> None:
    built = mapping.build_interchange(
        mapping.PartnerRules(partner_id="US", our_id="THEM"), [customer_850()], mapping.ControlNumbers(5, 5), AT
    )
    inbound = adapter("customer", "x12", id="THEM", our_id="US", customer="C-1", item_ids=[{"qualifier": "VN"}])

    events = inbound.to_events(make_stored_message(source="edi-acme", body=x12.write(built)))

    [named] = [e for e in events if e.type == catalog.EdiItemIdsReceived.event_type]
    payload = catalog.payload_as(named, catalog.EdiItemIdsReceived)
    assert (named.subject, payload.partner, payload.order, payload.qualifier) == ("PO-77", "acme", "PO-77", "BP")
    assert [(i.sku, i.partner_item) for i in payload.items] == [("A", "CUST-A"), ("B", "CUST-B")]


def test_the_855_for_a_customers_order_echoes_the_part_numbers_its_850_used() -> None:
    tx = customer_850()
    order = mapping.sales_order_from_850(tx, CUSTOMER)
    by_sku = mapping.buyer_items_from_850(tx, CUSTOMER)

    ack = mapping.sales_order_to_855(
        order,
        CUSTOMER,
        acknowledged_on=date(2026, 3, 2),
        buyer_items={line.line: by_sku[line.sku] for line in order.lines if line.sku in by_sku},
    )

    lines = [dict(zip(s.elements[5::2], s.elements[6::2], strict=False)) for s in ack.segments if s.tag == "PO1"]
    assert [ids.get("BP") for ids in lines] == ["CUST-A", None, "CUST-B"]
    assert [ids.get("VN") for ids in lines] == ["A", "C", "B"]
