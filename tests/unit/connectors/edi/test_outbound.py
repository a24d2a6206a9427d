"""The EDI sender over real catalogue events: each type rendered for the partner's role and standard, a 997 that
says what the intake recorded, an 850 that maps back to the same order, retries that rewrite the same file, and
the outcomes (delivered, retryable, permanent) the outbox acts on."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from crossdock.config import PartnerSettings
from crossdock.connectors import edifact, x12
from crossdock.connectors.edi.inbound import EdiInbound
from crossdock.connectors.edi.outbound import EdiSender
from crossdock.connectors.edi.profiles import Profile
from crossdock.connectors.edifact.contrl import read_contrl
from crossdock.connectors.files.client import FolderTransport, Layout
from crossdock.connectors.x12 import mapping as x12_mapping
from crossdock.domain import catalog
from crossdock.domain.documents import Invoice, InvoiceLine, Quantity, Shipment, ShipmentLine
from crossdock.domain.events import Envelope
from crossdock.domain.procurement import PurchaseOrder, PurchaseOrderLine
from crossdock.hub.ports import AttemptOutcome, Delivery
from tests.conftest import SAMPLES
from tests.unit.factories import T0, make_delivery, make_stored_message

XYZ_850 = SAMPLES / "x12-850" / "nodex12_850_xyzretail_4010vics_tilde-lf.edi"
ORDERS = SAMPLES / "edifact-orders"


def profile(role: str = "customer", standard: str = "x12", **overrides: Any) -> Profile:
    fields: dict[str, Any] = {"role": role, "standard": standard, "id": "4405197800", "qualifier": "12"}
    fields |= {"our_id": "999999999", "channel": "edi-xyz", **overrides}
    return Profile("xyz", PartnerSettings.model_validate(fields))


def sender(tmp_path: Path, p: Profile | None = None) -> EdiSender:
    return EdiSender(p or profile(), FolderTransport(tmp_path, layout=Layout()))


def delivery(payload: catalog.Payload, delivery_id: str = "dlv-1", number: int = 7) -> Delivery:
    """A delivery as the hub queues it for a partner: the event, and the control numbers taken for it."""
    event = {
        "id": f"evt-{delivery_id}",
        "type": payload.event_type,
        "data": catalog.data_of(payload),
        "controlnumbers": {"interchange": number, "group": number + 100},
    }
    return make_delivery(id=delivery_id, event_id=event["id"], event_type=payload.event_type, payload=event)


def outbound(tmp_path: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted((tmp_path / "outbound").iterdir())}


def received_850() -> catalog.EdiInterchangeReceived:
    inbound = EdiInbound("edi-xyz", profile(customer="C-100", item_ids=[{"qualifier": "VN"}]))
    [received] = inbound.read(XYZ_850.read_bytes()).interchanges
    return received


def rejected_850() -> catalog.EdiInterchangeReceived:
    error = catalog.AcknowledgedError(segment="PO1", position=13, code="2", element=7, value="X")
    return catalog.EdiInterchangeReceived(
        partner="xyz",
        standard="x12",
        interchange="000003438",
        sender_qualifier="12",
        sender="4405197800",
        receiver_qualifier="ZZ",
        receiver="999999999",
        version="00401",
        status=catalog.InterchangeStatus.REJECTED,
        groups=[
            catalog.AcknowledgedGroup(
                functional_id="PO",
                control_number="1421",
                version="004010VICS",
                status="R",
                included=1,
                received=1,
                accepted=0,
                transactions=[
                    catalog.AcknowledgedTransaction(
                        set_id="850", control_number="000000010", status="R", codes=["5"], errors=[error]
                    )
                ],
            )
        ],
    )


def purchase_order() -> PurchaseOrder:
    return PurchaseOrder(
        number="PO-4711",
        supplier="S-ACME",
        currency="USD",
        ship_to="DC1",
        ordered_on=date(2024, 5, 6),
        lines=(
            PurchaseOrderLine(
                line=1,
                sku="SKU-1",
                supplier_item="AC-1",
                quantity=Quantity(value=Decimal(10), unit="EA"),
                unit_price=Decimal("2.50"),
            ),
            PurchaseOrderLine(
                line=2,
                sku="SKU-2",
                supplier_item="AC-2",
                quantity=Quantity(value=Decimal(4), unit="CS"),
                unit_price=Decimal("12.00"),
                requested_on=date(2024, 5, 20),
            ),
        ),
    )


def shipment() -> Shipment:
    return Shipment(
        number="SH-1",
        order="08292233294",
        from_location="DC1",
        carrier="UPSN",
        tracking_numbers=("1Z999",),
        shipped_at=T0,
        lines=(ShipmentLine(line=1, sku="SKU-1", quantity=Quantity(value=Decimal(3), unit="EA")),),
    )


def invoice(customer: str = "C-100") -> Invoice:
    return Invoice(
        number="INV-1",
        order="08292233294",
        shipment="SH-1",
        customer=customer,
        issued_on=date(2024, 5, 7),
        currency="USD",
        lines=(
            InvoiceLine(line=1, sku="SKU-1", quantity=Quantity(value=Decimal(3), unit="EA"), unit_price=Decimal(5)),
        ),
    )


def only_acknowledgement(data: bytes) -> tuple[x12.Interchange, x12.GroupAcknowledgement]:
    interchanges = x12.parse(data)
    [interchange] = interchanges
    [ack] = x12.read_acknowledgements(interchanges)
    return interchange, ack


def test_an_accepted_interchange_is_answered_by_a_997_accepting_its_group_and_set(tmp_path: Path) -> None:
    [result] = sender(tmp_path).send([delivery(received_850())])

    [(name, data)] = outbound(tmp_path).items()
    interchange, ack = only_acknowledgement(data)
    assert result.outcome is AttemptOutcome.DELIVERED, result.error
    assert name == "997-000000007.edi"
    assert (interchange.receiver_qualifier, interchange.receiver_id) == ("12", "4405197800")
    assert interchange.control_number == "000000007"
    assert interchange.groups[0].control_number == "107", "the group number the hub gave, not the interchange's"
    assert (ack.functional_id, ack.group_control_number, ack.status) == ("PO", "1421", "A")
    assert (ack.included, ack.received, ack.accepted_count) == (1, 1, 1)
    assert [(t.set_id, t.control_number, t.status) for t in ack.transactions] == [("850", "000000010", "A")]


def test_a_rejected_interchange_is_answered_by_a_997_rejecting_it_with_the_segment_and_element(
    tmp_path: Path,
) -> None:
    [result] = sender(tmp_path).send([delivery(rejected_850())])

    [data] = outbound(tmp_path).values()
    _, ack = only_acknowledgement(data)
    assert result.outcome is AttemptOutcome.DELIVERED, result.error
    assert (ack.status, ack.accepted_count) == ("R", 0)
    [tx] = ack.transactions
    assert (tx.status, tx.codes) == ("R", ("5",))
    [segment] = tx.segments
    assert (segment.tag, segment.position, segment.code) == ("PO1", 13, "8")
    assert [(e.position, e.code, e.bad_value) for e in segment.elements] == [(7, "2", "X")]


def test_another_partners_interchange_is_delivered_without_a_file(tmp_path: Path) -> None:
    [result] = sender(tmp_path).send([delivery(received_850().model_copy(update={"partner": "abc"}))])

    assert result.outcome is AttemptOutcome.DELIVERED
    assert outbound(tmp_path) == {}


def test_a_released_purchase_order_becomes_an_850_that_maps_back_to_the_same_lines(tmp_path: Path) -> None:
    supplier = profile("supplier", supplier="S-ACME", item_ids=[{"qualifier": "BP"}])
    released = catalog.PurchaseOrderReleased(purchase_order=purchase_order(), revision=1)

    [result] = sender(tmp_path, supplier).send([delivery(released)])

    [(name, data)] = outbound(tmp_path).items()
    [tx] = x12_mapping.transactions_of(x12.parse(data), "850")
    back = x12_mapping.purchase_order_from_850(tx, supplier.x12_rules())
    assert result.outcome is AttemptOutcome.DELIVERED, result.error
    assert name.startswith("850-")
    assert back.number == "PO-4711"
    assert back.model_dump(exclude={"requested_on"}) == purchase_order().model_dump(exclude={"requested_on"})
    assert tx.segments[0].value(1) == "00"


def test_a_later_revision_goes_as_a_replacing_850(tmp_path: Path) -> None:
    released = catalog.PurchaseOrderReleased(purchase_order=purchase_order(), revision=2, reason="price")

    sender(tmp_path, profile("supplier")).send([delivery(released)])

    [data] = outbound(tmp_path).values()
    [tx] = x12_mapping.transactions_of(x12.parse(data), "850")
    assert tx.segments[0].tag == "BEG" and tx.segments[0].value(1) == "05"


def test_another_suppliers_purchase_order_is_not_sent_to_this_one(tmp_path: Path) -> None:
    released = catalog.PurchaseOrderReleased(purchase_order=purchase_order(), revision=1)

    [result] = sender(tmp_path, profile("supplier", supplier="S-OTHER")).send([delivery(released)])

    assert result.outcome is AttemptOutcome.DELIVERED
    assert outbound(tmp_path) == {}


def test_a_confirmed_shipment_becomes_an_856_and_a_posted_invoice_an_810_for_a_customer(tmp_path: Path) -> None:
    customer = profile(customer="C-100")
    events = [
        delivery(catalog.ShipmentConfirmed(shipment=shipment()), "dlv-s", number=7),
        delivery(catalog.InvoicePosted(invoice=invoice()), "dlv-i", number=8),
    ]

    results = sender(tmp_path, customer).send(events)

    files = outbound(tmp_path)
    assert [r.outcome for r in results] == [AttemptOutcome.DELIVERED] * 2, [r.error for r in results]
    assert sorted(files) == sorted(["856-000000007.edi", "810-000000008.edi"])
    rules = customer.x12_rules()
    [asn] = x12_mapping.transactions_of(x12.parse(files["856-000000007.edi"]), "856")
    [bill] = x12_mapping.transactions_of(x12.parse(files["810-000000008.edi"]), "810")
    assert x12_mapping.shipment_from_856(asn, rules).number == "SH-1"
    assert x12_mapping.invoice_from_810(bill, rules).number == "INV-1"


def test_another_customers_invoice_is_not_sent_to_this_one(tmp_path: Path) -> None:
    [result] = sender(tmp_path, profile(customer="C-100")).send(
        [delivery(catalog.InvoicePosted(invoice=invoice("C-9")))]
    )

    assert result.outcome is AttemptOutcome.DELIVERED
    assert outbound(tmp_path) == {}


def test_a_retried_delivery_writes_the_numbers_it_was_given_under_the_same_name_and_another_its_own(
    tmp_path: Path,
) -> None:
    edi = sender(tmp_path)
    first = edi.render(delivery(received_850(), "dlv-7", number=41))
    again = edi.render(replace(delivery(received_850(), "dlv-7", number=41), attempts=3))
    other = edi.render(delivery(received_850(), "dlv-8", number=42))

    assert first is not None and other is not None
    assert first == again
    assert (first.name, other.name) == ("997-000000041.edi", "997-000000042.edi")
    assert [x12.parse(r.data)[0].control_number for r in (first, other)] == ["000000041", "000000042"]


def test_a_delivery_without_control_numbers_is_refused_for_good_and_writes_nothing(tmp_path: Path) -> None:
    unnumbered = delivery(received_850())
    unnumbered = replace(unnumbered, payload={k: v for k, v in unnumbered.payload.items() if k != "controlnumbers"})

    [result] = sender(tmp_path).send([unnumbered])

    assert result.outcome is AttemptOutcome.PERMANENT
    assert result.error is not None and "edi-unnumbered" in result.error
    assert outbound(tmp_path) == {}


def test_the_plan_names_the_sets_and_the_document_and_only_business_documents_await_an_answer(
    tmp_path: Path,
) -> None:
    edi = sender(tmp_path, profile("supplier", supplier="S-ACME"))
    released = catalog.PurchaseOrderReleased(purchase_order=purchase_order(), revision=2)
    at = T0

    po = edi.plan(
        Envelope(
            id="e1", source="t", type=released.event_type, subject="PO-4711", time=at, data=catalog.data_of(released)
        )
    )
    theirs = received_850().model_copy(update={"partner": "xyz"})
    ack = edi.plan(
        Envelope(id="e2", source="t", type=theirs.event_type, subject="x", time=at, data=catalog.data_of(theirs))
    )
    other = purchase_order().model_copy(update={"supplier": "S-OTHER"})
    elsewhere = catalog.PurchaseOrderReleased(purchase_order=other, revision=1)
    none = edi.plan(
        Envelope(id="e3", source="t", type=elsewhere.event_type, subject="x", time=at, data=catalog.data_of(elsewhere))
    )

    assert po is not None and ack is not None
    assert (po.partner, po.functional_id, po.sets, po.business_key) == ("xyz", "PO", (("850", "0001"),), "PO-4711")
    assert po.document == "purchase order PO-4711 revision 2" and po.acknowledged
    assert ack.sets == (("997", "0001"),) and not ack.acknowledged, "a 997 is never itself acknowledged"
    assert none is None, "another supplier's order is no file for this one: no number is spent on it"


@pytest.mark.parametrize(
    ("role", "payload", "problem"),
    [
        ("customer", catalog.PurchaseOrderReleased(purchase_order=purchase_order(), revision=1), "edi-wrong-role"),
        ("supplier", catalog.ShipmentConfirmed(shipment=shipment()), "edi-wrong-role"),
        (
            "customer",
            catalog.SupplierInvoiceRejected(invoice="SI-1", order="PO-1", supplier="S-1"),
            "edi-unsupported-event",
        ),
    ],
)
def test_an_event_the_partner_cannot_take_is_a_permanent_failure_naming_why(
    tmp_path: Path, role: str, payload: catalog.Payload, problem: str
) -> None:
    [result] = sender(tmp_path, profile(role)).send([delivery(payload)])

    assert result.outcome is AttemptOutcome.PERMANENT
    assert result.error is not None and problem in result.error and payload.event_type in result.error
    assert outbound(tmp_path) == {}


def test_data_the_mapping_refuses_is_a_permanent_failure_with_the_reason(tmp_path: Path) -> None:
    undated = purchase_order().model_copy(update={"ordered_on": None})
    released = catalog.PurchaseOrderReleased(purchase_order=undated, revision=1)

    [result] = sender(tmp_path, profile("supplier")).send([delivery(released)])

    assert result.outcome is AttemptOutcome.PERMANENT
    assert result.error is not None and "order date" in result.error


class BrokenTransport(FolderTransport):
    def write_outbound(self, name: str, data: bytes) -> None:
        raise OSError("disk full")


def test_a_transport_error_is_retryable(tmp_path: Path) -> None:
    edi = EdiSender(profile(), BrokenTransport(tmp_path, layout=Layout()))

    [result] = edi.send([delivery(received_850())])

    assert result.outcome is AttemptOutcome.RETRYABLE
    assert result.error is not None and "disk full" in result.error


def test_an_edifact_interchange_is_answered_by_a_contrl_acknowledging_each_message(tmp_path: Path) -> None:
    partner = profile("customer", "edifact", version="D96A", currency="EUR")
    body = (ORDERS / "vscodeedi_orders_d96a_ean008_placeholder-glns.edifact").read_bytes()
    [received] = EdiInbound("edi-xyz", partner).read(body).interchanges

    [result] = sender(tmp_path, partner).send([delivery(received)])

    [(name, data)] = outbound(tmp_path).items()
    [interchange] = edifact.parse(data)
    [message] = interchange.messages
    report = read_contrl(message)
    assert result.outcome is AttemptOutcome.DELIVERED, result.error
    assert name.startswith("contrl-")
    assert report.interchange == received.interchange and report.accepted
    expected = [t.control_number for g in received.groups for t in g.transactions]
    assert [m.reference for m in report.messages] == expected


def test_edifact_shipments_and_invoices_go_as_desadv_and_invoic(tmp_path: Path) -> None:
    partner = profile("customer", "edifact")
    events = [
        delivery(catalog.ShipmentConfirmed(shipment=shipment()), "dlv-s"),
        delivery(catalog.InvoicePosted(invoice=invoice()), "dlv-i"),
    ]

    results = sender(tmp_path, partner).send(events)

    files = outbound(tmp_path)
    assert [r.outcome for r in results] == [AttemptOutcome.DELIVERED] * 2, [r.error for r in results]
    types = sorted(m.type for data in files.values() for i in edifact.parse(data) for m in i.messages)
    assert types == ["DESADV", "INVOIC"]


def test_the_intake_records_what_the_997_is_built_from() -> None:
    # The 997 reads the statuses off the event: they must come from the real intake, not from defaults.
    events = EdiInbound("edi-xyz", profile(customer="C-100", item_ids=[{"qualifier": "VN"}])).to_events(
        make_stored_message(source="edi-xyz", body=XYZ_850.read_bytes())
    )

    [received] = [e for e in events if e.type == catalog.EdiInterchangeReceived.event_type]
    assert received.data["groups"][0]["transactions"][0]["status"] == "A"
