"""The event catalogue: every type is a versioned past-tense fact, data is read as its payload, old versions upcast."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from crossdock.domain import catalog
from crossdock.domain.catalog import (
    EVENT_TYPES,
    AdjustmentReason,
    BusinessRef,
    Catalogue,
    ExceptionAction,
    ExceptionOwner,
    Payload,
    TransferStage,
)
from crossdock.domain.documents import Money, Quantity, Reservation
from crossdock.domain.errors import InvalidEvent, InvalidPayload, UnknownEventType
from tests.unit.domain.test_documents import make_invoice, make_order, make_payment, make_shipment, qty
from tests.unit.domain.test_procurement import make_ack, make_notice, make_po, make_receipt, make_supplier_invoice
from tests.unit.factories import make_envelope

PROPERTY = settings(deadline=None, max_examples=200)


def make_reservation(**overrides: Any) -> Reservation:
    fields: dict[str, Any] = {
        "order": "SO-1001",
        "line": 1,
        "sku": "WIDGET-1",
        "location": "WH-EAST",
        "quantity": qty(24),
    }
    return Reservation(**(fields | overrides))


def journal_lines(*rows: tuple[str, str, str]) -> tuple[catalog.JournalLine, ...]:
    return tuple(catalog.JournalLine(account=a, debit=Decimal(d), credit=Decimal(c)) for a, d, c in rows)


# One valid example of every event type: the round-trip test fails for a type added without one.
EXAMPLES: dict[str, Callable[[], Payload]] = {
    "crossdock.order.received.v1": lambda: catalog.OrderReceived(order=make_order()),
    "crossdock.order.accepted.v1": lambda: catalog.OrderAccepted(
        order="SO-1001", customer="C-100", total=Money(amount=Decimal("60.00"), currency="EUR")
    ),
    "crossdock.order.rejected.v1": lambda: catalog.OrderRejected(
        order="SO-1001", reasons=(catalog.Reason(code="credit_limit", message="over by 120.00 EUR"),)
    ),
    "crossdock.order.changed.v1": lambda: catalog.OrderChanged(order=make_order(), revision=2),
    "crossdock.order.cancelled.v1": lambda: catalog.OrderCancelled(order="SO-1001", lines=(2,), reason="customer"),
    "crossdock.order.cancelled.v2": lambda: catalog.OrderCancelledV2(
        order="SO-1001",
        whole=False,
        lines=(catalog.CancelledLine(line_id="2", sku="GADGET-7", quantity=Decimal(3)),),
        reason="customer",
    ),
    "crossdock.order.backordered.v1": lambda: catalog.OrderBackordered(
        order="SO-1001", lines=(catalog.BackorderedLine(line_id="2", sku="GADGET-7", quantity=Decimal(5)),)
    ),
    "crossdock.order.closed.v1": lambda: catalog.OrderClosed(
        order="SO-1001",
        invoiced=Money(amount=Decimal("60.00"), currency="EUR"),
        paid=Money(amount=Decimal("70.00"), currency="EUR"),
        credit=Money(amount=Decimal("10.00"), currency="EUR"),
    ),
    "crossdock.order.cancellation_requested.v1": lambda: catalog.OrderCancellationRequested(
        order="SO-1001",
        cancellation="CX-1",
        lines=(catalog.LineCancellation(line_id="2", quantity=Decimal(3)),),
        reason="customer",
    ),
    "crossdock.order.close_requested.v1": lambda: catalog.OrderCloseRequested(order="SO-1001", reason="customer gone"),
    "crossdock.inventory.reserved.v1": lambda: catalog.InventoryReserved(
        order="SO-1001",
        reservations=(make_reservation(),),
        backorders=(catalog.Backorder(line=2, sku="GADGET-7", quantity=qty(5)),),
    ),
    "crossdock.inventory.released.v1": lambda: catalog.InventoryReleased(
        reservations=(make_reservation(),), reason="order cancelled"
    ),
    "crossdock.inventory.adjusted.v1": lambda: catalog.InventoryAdjusted(
        sku="WIDGET-1", location="WH-EAST", change=qty(-3), reason=AdjustmentReason.CYCLE_COUNT, reference="CC-7"
    ),
    "crossdock.inventory.moved.v1": lambda: catalog.InventoryMoved(
        transfer="TR-1",
        sku="WIDGET-1",
        quantity=qty(48),
        from_location="WH-EAST",
        to_location="3PL-WEST",
        stage=TransferStage.DISPATCHED,
    ),
    "crossdock.inventory.availability_changed.v1": lambda: catalog.AvailabilityChanged(
        sku="WIDGET-1", channel="webshop", available=qty(120)
    ),
    "crossdock.shipment.release_cancelled.v1": lambda: catalog.ReleaseCancelled(
        order="SO-1",
        lines=(catalog.CancelledLine(line_id="1", sku="WIDGET", quantity=Decimal(2)),),
        reason="lines cancelled",
        from_location="WH-EAST",
    ),
    "crossdock.shipment.picked.v1": lambda: catalog.ShipmentPicked(
        release="REL-1",
        order="SO-1001",
        from_location="WH-EAST",
        lines=(catalog.HandledLine(line=1, sku="WIDGET", quantity=qty(0)),),  # picked short: none found
    ),
    "crossdock.shipment.packed.v1": lambda: catalog.ShipmentPacked(
        release="REL-1",
        order="SO-1001",
        from_location="WH-EAST",
        packages=(catalog.Parcel(package="PKG-1", tracking_number="1Z999AA10123456784"),),
        lines=(catalog.HandledLine(line=1, sku="WIDGET", quantity=qty(2)),),
    ),
    "crossdock.shipment.released.v1": lambda: catalog.ShipmentReleased(
        release="REL-1", order="SO-1001", from_location="WH-EAST", lines=make_shipment().lines
    ),
    "crossdock.shipment.confirmed.v1": lambda: catalog.ShipmentConfirmed(shipment=make_shipment()),
    "crossdock.invoice.posted.v1": lambda: catalog.InvoicePosted(invoice=make_invoice()),
    "crossdock.payment.applied.v1": lambda: catalog.PaymentApplied(payment=make_payment()),
    "crossdock.creditmemo.posted.v1": lambda: catalog.CreditMemoPosted.model_validate(
        {
            "credit_memo": make_invoice().model_dump()
            | {"number": "CM-1", "invoice": "INV-1", "reason": "returned", "issued_on": date(2024, 6, 1)}
        }
    ),
    "crossdock.journal.posted.v1": lambda: catalog.JournalPosted(
        entry="JE-1",
        sequence=1,
        period="2024-05",
        posted_on=date(2024, 5, 6),
        currency="EUR",
        source=BusinessRef(kind="invoice", key="INV-1"),
        lines=journal_lines(("1200", "72.00", "0"), ("4000", "0", "60.00"), ("2200", "0", "12.00")),
    ),
    "crossdock.exception.opened.v1": lambda: catalog.ExceptionOpened(
        exception="EX-1",
        owner=ExceptionOwner.WAREHOUSE,
        reason_code="not_released_in_time",
        about=BusinessRef(kind="order", key="SO-1001"),
        message="accepted 45 minutes ago, not released",
    ),
    "crossdock.exception.resolved.v1": lambda: catalog.ExceptionResolved(
        exception="EX-1", action=ExceptionAction.RETRY, resolved_by="ops@example.com"
    ),
    "crossdock.purchaseorder.issued.v1": lambda: catalog.PurchaseOrderIssued(purchase_order=make_po()),
    "crossdock.purchaseorder.released.v1": lambda: catalog.PurchaseOrderReleased(
        purchase_order=make_po(), revision=2, withdrawn=(3,), reason="revision 2"
    ),
    "crossdock.purchaseorder.transmitted.v1": lambda: catalog.PurchaseOrderTransmitted(
        order="PO-1", revision=1, transmission="000000905", channel="x12"
    ),
    "crossdock.purchaseorder.acknowledged.v1": lambda: catalog.PurchaseOrderAcknowledged(acknowledgement=make_ack()),
    "crossdock.purchaseorder.changed.v1": lambda: catalog.PurchaseOrderChanged(purchase_order=make_po(), revision=2),
    "crossdock.purchaseorder.cancellation_requested.v1": lambda: catalog.PurchaseOrderCancellationRequested(
        order="PO-1",
        cancellation="PCX-1",
        lines=(catalog.PurchaseOrderLineCancellation(line_id="2", quantity=Decimal(5)),),
        reason="range discontinued",
    ),
    "crossdock.purchaseorder.revised.v1": lambda: catalog.PurchaseOrderRevised(
        order="PO-1",
        revision=1,
        acknowledgement="855-1",
        decided_by=catalog.RevisionDecider.POLICY,
        lines=(
            catalog.RevisedLine(
                line_id="1",
                sku="SKU-1",
                quantity=Decimal(10),
                unit_price=Decimal("10.00"),
                delivery_on=date(2024, 5, 22),
            ),
        ),
    ),
    "crossdock.purchaseorder.cancelled.v1": lambda: catalog.PurchaseOrderCancelled(
        order="PO-1",
        whole=False,
        lines=(catalog.PurchaseOrderCancelledLine(line_id="2", sku="SKU-2", quantity=Decimal(5)),),
        reason="range discontinued",
    ),
    "crossdock.purchaseorder.closed.v1": lambda: catalog.PurchaseOrderClosed(
        order="PO-1",
        received=Money(amount=Decimal("100.00"), currency="EUR"),
        invoiced=Money(amount=Decimal("103.00"), currency="EUR"),
    ),
    "crossdock.asn.received.v1": lambda: catalog.ShipNoticeReceived(notice=make_notice()),
    "crossdock.receipt.posted.v1": lambda: catalog.GoodsReceiptPosted(receipt=make_receipt()),
    "crossdock.receipt.matched.v1": lambda: catalog.ReceiptMatched(
        receipt="GR-1",
        order="PO-1",
        supplier="SUP-1",
        notice="SH-1",
        location="WH-1",
        currency="EUR",
        lines=(
            catalog.MatchedReceiptLine(
                line_id="1",
                sku="SKU-1",
                received=Decimal(8),
                accepted=Decimal(8),
                unit_price=Decimal("10.00"),
                noticed=Decimal(10),
                variances=(catalog.ReceiptVariance.SHORT_OF_NOTICE,),
            ),
        ),
    ),
    "crossdock.supplierinvoice.received.v1": lambda: catalog.SupplierInvoiceReceived(invoice=make_supplier_invoice()),
    "crossdock.supplierinvoice.approved.v1": lambda: catalog.SupplierInvoiceApproved(
        invoice="INV-9",
        order="PO-1",
        supplier="SUP-1",
        currency="EUR",
        lines=(
            catalog.ApprovedInvoiceLine(
                line_id="1",
                sku="SKU-1",
                quantity=Decimal(10),
                unit_price=Decimal("10.30"),
                po_unit_price=Decimal("10.00"),
            ),
        ),
        tax=Decimal("20.60"),
        total=Decimal("123.60"),
        overridden=True,
        note="price rise agreed",
    ),
    "crossdock.supplierinvoice.match_failed.v1": lambda: catalog.SupplierInvoiceMatchFailed(
        invoice="INV-9",
        order="PO-1",
        supplier="SUP-1",
        owner=ExceptionOwner.FINANCE,
        reasons=(
            catalog.MatchFailure(code="quantity_not_received", message="10 invoiced, 8 received", line_id="1"),
            catalog.MatchFailure(code="price_out_of_tolerance", message="10.30 against 10.00", line_id="1"),
        ),
    ),
    "crossdock.supplierinvoice.rejected.v1": lambda: catalog.SupplierInvoiceRejected(
        invoice="INV-9", order="PO-1", supplier="SUP-1", reason="send a credit note for 2 units"
    ),
    "crossdock.edi.interchange_received.v1": lambda: catalog.EdiInterchangeReceived(
        partner="acme",
        standard="x12",
        interchange="000000042",
        sender_qualifier="ZZ",
        sender="ACME",
        receiver_qualifier="ZZ",
        receiver="CROSSDOCK",
        version="00401",
        status=catalog.InterchangeStatus.PARTIALLY_ACCEPTED,
        groups=[
            catalog.AcknowledgedGroup(
                functional_id="PO",
                control_number="7",
                version="004010",
                status="P",
                included=2,
                received=2,
                accepted=1,
                transactions=[
                    catalog.AcknowledgedTransaction(set_id="850", control_number="0001", status="A"),
                    catalog.AcknowledgedTransaction(
                        set_id="850",
                        control_number="0002",
                        status="R",
                        codes=["5"],
                        errors=[catalog.AcknowledgedError(segment="PO1", position=4, code="2", element=6)],
                    ),
                ],
            )
        ],
        issues=["error: syntax-note: PO1 syntax note P0607 is not met"],
    ),
    "crossdock.edi.item_ids_received.v1": lambda: catalog.EdiItemIdsReceived(
        partner="acme",
        order="PO-77",
        qualifier="BP",
        items=(catalog.PartnerItem(sku="SKU-1", partner_item="CUST-1"),),
    ),
    "crossdock.edi.acknowledgement_received.v1": lambda: catalog.EdiAcknowledgementReceived(
        partner="acme",
        standard="x12",
        interchange="000000901",
        groups=[catalog.AcknowledgedGroup(functional_id="PO", control_number="12", status="A", accepted=1)],
    ),
}


# Published versions a newer version supersedes: their data is read as the newer one, through an upcaster.
SUPERSEDED = {"crossdock.order.cancelled.v1": "crossdock.order.cancelled.v2"}
CURRENT_TYPES = sorted(set(EVENT_TYPES) - set(SUPERSEDED))


def envelope_of(payload: Payload, **overrides: Any) -> Any:
    return make_envelope(type=catalog.type_of(payload), data=catalog.data_of(payload), **overrides)


# ---------------------------------------------------------------------------------------------------------------
# The catalogue itself


def test_the_catalogue_holds_every_fact_of_order_to_cash_and_procure_to_pay() -> None:
    nouns_and_verbs = {
        "order": [
            "received",
            "accepted",
            "rejected",
            "changed",
            "cancelled",
            "backordered",
            "closed",
            "cancellation_requested",
            "close_requested",
        ],
        "inventory": ["reserved", "released", "adjusted", "moved", "availability_changed"],
        "shipment": ["released", "release_cancelled", "picked", "packed", "confirmed"],
        "invoice": ["posted"],
        "payment": ["applied"],
        "creditmemo": ["posted"],
        "journal": ["posted"],
        "exception": ["opened", "resolved"],
    }
    procure_to_pay = {
        "purchaseorder": [
            "issued",
            "released",
            "transmitted",
            "acknowledged",
            "changed",
            "cancellation_requested",
            "revised",
            "cancelled",
            "closed",
        ],
        "asn": ["received"],
        "receipt": ["posted", "matched"],
        "supplierinvoice": ["received", "approved", "match_failed", "rejected"],
    }
    edi = {"edi": ["interchange_received", "acknowledgement_received", "item_ids_received"]}
    expected = {
        f"crossdock.{noun}.{verb}.v1"
        for catalogue in (nouns_and_verbs, procure_to_pay, edi)
        for noun, verbs in catalogue.items()
        for verb in verbs
    }
    assert set(EVENT_TYPES) == expected | {"crossdock.order.cancelled.v2"}


@pytest.mark.parametrize("type_name", sorted(EVENT_TYPES))
def test_every_type_is_a_versioned_fact_in_the_past_tense(type_name: str) -> None:
    namespace, _noun, verb, version = type_name.split(".")
    assert namespace == "crossdock"
    assert re.fullmatch(r"v[1-9][0-9]*", version)
    assert verb.endswith("ed"), f"{type_name}: events are facts, named in the past tense"
    assert EVENT_TYPES[type_name].event_type == type_name  # type: ignore[attr-defined]
    assert make_envelope(type=type_name).type == type_name  # the envelope accepts the name


@pytest.mark.parametrize("type_name", CURRENT_TYPES)
def test_every_payload_survives_a_trip_through_an_envelope(type_name: str) -> None:
    payload = EXAMPLES[type_name]()
    envelope = envelope_of(payload)
    assert envelope.type == type_name
    assert catalog.payload_of(envelope) == payload
    assert catalog.payload_as(envelope, type(payload)) == payload
    # What goes on the wire is plain JSON: decimals travel as strings, so no float ever rounds money.
    assert type(envelope.model_validate_json(envelope.model_dump_json())) is type(envelope)


@pytest.mark.parametrize("type_name", sorted(SUPERSEDED))
def test_a_superseded_version_still_validates_its_own_data_and_is_read_as_the_newer_one(type_name: str) -> None:
    payload = EXAMPLES[type_name]()
    assert type(payload).model_validate(catalog.data_of(payload)) == payload
    assert isinstance(catalog.payload_of(envelope_of(payload)), EVENT_TYPES[SUPERSEDED[type_name]])


def test_payloads_are_frozen_facts() -> None:
    payload = EXAMPLES["crossdock.order.accepted.v1"]()
    with pytest.raises(ValidationError, match="frozen"):
        payload.order = "SO-2"  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------------------------
# Reading data as a payload


@pytest.mark.parametrize(
    ("type_name", "data", "message"),
    [
        # a required field is missing
        ("crossdock.order.accepted.v1", {"order": "SO-1", "customer": "C-1"}, "data.total: Field required"),
        # a nested document is wrong deep down: the path names the line and the field
        (
            "crossdock.order.received.v1",
            {"order": make_order().model_dump(mode="json") | {"currency": "EUX"}},
            "data.order.currency: Value error, 'EUX' is not an ISO 4217 currency code",
        ),
        # an enum value the catalogue does not know
        (
            "crossdock.exception.resolved.v1",
            {"exception": "EX-1", "action": "ignore"},
            "data.action: Input should be 'retry', 'override', 'cancel' or 'accept'",
        ),
        # the wrong JSON type
        (
            "crossdock.order.changed.v1",
            {"order": make_order().model_dump(mode="json"), "revision": "two"},
            "data.revision",
        ),
    ],
)
def test_data_that_does_not_fit_names_the_type_and_the_field(
    type_name: str, data: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidPayload) as error:
        catalog.payload_of(make_envelope(id="evt-9", type=type_name, data=data))
    assert str(error.value).startswith(f"{type_name} event evt-9: ")
    assert message in str(error.value)
    assert isinstance(error.value, InvalidEvent)


def test_a_type_outside_the_catalogue_is_refused_by_name() -> None:
    with pytest.raises(UnknownEventType, match=r"crossdock\.order\.shipped\.v1 is not in the event catalogue"):
        catalog.payload_of(make_envelope(type="crossdock.order.shipped.v1"))


def test_a_handler_asking_for_the_wrong_payload_model_is_told_so() -> None:
    envelope = envelope_of(EXAMPLES["crossdock.order.accepted.v1"]())
    with pytest.raises(InvalidEvent, match="carries OrderAccepted, not OrderRejected"):
        catalog.payload_as(envelope, catalog.OrderRejected)


def test_fields_a_newer_producer_adds_are_ignored_by_an_older_reader() -> None:
    payload = EXAMPLES["crossdock.order.accepted.v1"]()
    envelope = make_envelope(type=payload.event_type, data=catalog.data_of(payload) | {"priority": "rush"})
    assert catalog.payload_of(envelope) == payload


# ---------------------------------------------------------------------------------------------------------------
# Rules a payload enforces on itself


@pytest.mark.parametrize(
    ("build", "field", "message"),
    [
        # a reservation event about another order's reservations
        (
            lambda: catalog.InventoryReserved(order="SO-2", reservations=(make_reservation(),)),
            "",
            "belong to order(s) SO-1001, not SO-2",
        ),
        # nothing reserved and nothing backordered says nothing
        (lambda: catalog.InventoryReserved(order="SO-1"), "", "at least one reservation or backorder"),
        # a transfer to where it came from
        (
            lambda: catalog.InventoryMoved(
                transfer="TR-1",
                sku="A",
                quantity=qty(1),
                from_location="WH",
                to_location="WH",
                stage=TransferStage.RECEIVED,
            ),
            "",
            "must go somewhere else than WH",
        ),
        # published availability is never negative
        (
            lambda: catalog.AvailabilityChanged(sku="A", channel="webshop", available=qty(-1)),
            "available",
            "never below 0",
        ),
        # an adjustment by nothing
        (
            lambda: catalog.InventoryAdjusted(
                sku="A", location="WH", change=qty(0), reason=AdjustmentReason.CORRECTION
            ),
            "change",
            "an adjustment of zero changes nothing",
        ),
        # cancelling one line twice in one event
        (lambda: catalog.OrderCancelled(order="SO-1", lines=(1, 1), reason="x"), "lines", "more than once"),
        # the same, in v2
        (
            lambda: catalog.OrderCancelledV2(
                order="SO-1",
                whole=False,
                lines=(catalog.CancelledLine(line_id="1"), catalog.CancelledLine(line_id="1")),
            ),
            "",
            "line 1 is listed more than once",
        ),
        # a part of an order cancelled without saying which part
        (lambda: catalog.OrderCancelledV2(order="SO-1", whole=False), "", "names at least one line"),
        # asking to cancel no lines at all (the whole order is asked for with no `lines`)
        (
            lambda: catalog.OrderCancellationRequested(order="SO-1", cancellation="CX-1", lines=()),
            "lines",
            "needs at least one entry",
        ),
        # asking to cancel a line twice in one request
        (
            lambda: catalog.OrderCancellationRequested(
                order="SO-1",
                cancellation="CX-1",
                lines=(
                    catalog.LineCancellation(line_id="1", quantity=Decimal(1)),
                    catalog.LineCancellation(line_id="1", quantity=Decimal(2)),
                ),
            ),
            "lines",
            "line 1 is listed more than once",
        ),
        # a backorder of nothing
        (
            lambda: catalog.BackorderedLine(line_id="1", sku="A", quantity=Decimal(0)),
            "quantity",
            "greater than 0",
        ),
        # a closed order's figures in two currencies
        (
            lambda: catalog.OrderClosed(
                order="SO-1",
                invoiced=Money(amount=Decimal(10), currency="EUR"),
                paid=Money(amount=Decimal(10), currency="USD"),
                credit=Money(amount=Decimal(0), currency="EUR"),
            ),
            "",
            "in the order's one currency",
        ),
        # a rejection without a reason
        (lambda: catalog.OrderRejected(order="SO-1", reasons=()), "reasons", "needs at least one entry"),
        # debits and credits differ
        (
            lambda: catalog.JournalPosted.model_validate(
                catalog.data_of(EXAMPLES["crossdock.journal.posted.v1"]())
                | {"lines": journal_lines(("1200", "72.00", "0"), ("4000", "0", "60.00"))}
            ),
            "",
            "debits 72.00 and credits 60.00 must be equal",
        ),
        # a journal line on both sides at once
        (
            lambda: catalog.JournalLine(account="1200", debit=Decimal(1), credit=Decimal(1)),
            "",
            "a line is either a debit or a credit",
        ),
        # a journal line of zero
        (lambda: catalog.JournalLine(account="1200"), "", "a line is either a debit or a credit"),
        # a period that is not a month
        (
            lambda: catalog.JournalPosted.model_validate(
                catalog.data_of(EXAMPLES["crossdock.journal.posted.v1"]()) | {"period": "2024-13"}
            ),
            "period",
            "should match pattern",
        ),
    ],
)
def test_a_payload_that_breaks_its_own_rule_is_refused(
    build: Callable[[], BaseModel], field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as error:
        build()
    [problem] = error.value.errors()
    assert ".".join(str(part) for part in problem["loc"]) == field
    assert message in problem["msg"]


def test_a_cancellation_without_lines_cancels_the_whole_order() -> None:
    assert catalog.OrderCancelled(order="SO-1", reason="customer").whole_order
    assert not catalog.OrderCancelled(order="SO-1", lines=(2,), reason="customer").whole_order


def test_a_request_without_lines_asks_to_cancel_the_whole_order() -> None:
    assert catalog.OrderCancellationRequested(order="SO-1", cancellation="CX-1").lines is None


amounts = st.decimals(min_value=Decimal("0.01"), max_value=1_000_000, places=2)


@PROPERTY
@given(debits=st.lists(amounts, min_size=1, max_size=6), credits=st.lists(amounts, min_size=1, max_size=6))
def test_a_journal_entry_is_accepted_exactly_when_it_balances(debits: list[Decimal], credits: list[Decimal]) -> None:
    lines = [{"account": "D", "debit": d} for d in debits] + [{"account": "C", "credit": c} for c in credits]
    data = catalog.data_of(EXAMPLES["crossdock.journal.posted.v1"]()) | {"lines": lines}
    if sum(debits) == sum(credits):
        assert len(catalog.JournalPosted.model_validate(data).lines) == len(lines)
    else:
        with pytest.raises(ValidationError, match="must be equal"):
            catalog.JournalPosted.model_validate(data)


# ---------------------------------------------------------------------------------------------------------------
# Upcasting


class Shipped1(Payload):
    event_type: ClassVar[str] = "test.parcel.shipped.v1"
    weight_grams: int


class Shipped2(Payload):
    event_type: ClassVar[str] = "test.parcel.shipped.v2"
    weight: Quantity


class Shipped3(Payload):
    event_type: ClassVar[str] = "test.parcel.shipped.v3"
    weight: Quantity
    fragile: bool


def parcel_catalogue() -> Catalogue:
    parcels = Catalogue([Shipped1, Shipped2, Shipped3])

    @parcels.register_upcaster("test.parcel.shipped.v1", "test.parcel.shipped.v2")
    def _grams_to_weight(data: dict[str, Any]) -> dict[str, Any]:
        grams = data.pop("weight_grams")
        return data | {"weight": {"value": str(grams), "unit": "G"}}

    @parcels.register_upcaster("test.parcel.shipped.v2", "test.parcel.shipped.v3")
    def _not_fragile_unless_said(data: dict[str, Any]) -> dict[str, Any]:
        return data | {"fragile": False}

    return parcels


def test_an_old_version_is_read_as_the_newest_through_each_upcaster_in_turn() -> None:
    envelope = make_envelope(type="test.parcel.shipped.v1", data={"weight_grams": 1500})
    assert parcel_catalogue().payload_of(envelope) == Shipped3(
        weight=Quantity(value=Decimal(1500), unit="G"), fragile=False
    )
    assert envelope.data == {"weight_grams": 1500}  # the stored fact is never rewritten


def test_upcasting_returns_the_newest_type_and_its_data() -> None:
    parcels = parcel_catalogue()
    assert parcels.upcast("test.parcel.shipped.v2", {"weight": {"value": "1", "unit": "KG"}}) == (
        "test.parcel.shipped.v3",
        {"weight": {"value": "1", "unit": "KG"}, "fragile": False},
    )
    assert parcels.upcast("test.parcel.shipped.v3", {"fragile": True}) == ("test.parcel.shipped.v3", {"fragile": True})


def test_an_upcast_payload_that_does_not_fit_names_both_versions() -> None:
    envelope = make_envelope(id="evt-3", type="test.parcel.shipped.v1", data={"weight_grams": "heavy"})
    with pytest.raises(
        InvalidPayload, match=r"test\.parcel\.shipped\.v1 \(read as test\.parcel\.shipped\.v3\) event evt-3"
    ):
        parcel_catalogue().payload_of(envelope)


@pytest.mark.parametrize(
    ("from_type", "to_type", "message"),
    [
        ("test.parcel.shipped.v2", "test.parcel.shipped.v1", "later version of the same event"),  # backwards
        ("test.parcel.shipped.v1", "test.parcel.shipped.v1", "later version of the same event"),  # onto itself
        ("test.parcel.lost.v1", "test.parcel.shipped.v2", "later version of the same event"),  # another event
        ("test.parcel.shipped.v3", "test.parcel.shipped.v4", "not in the catalogue"),  # to a version nobody defined
        ("test.parcel.shipped.v1", "test.parcel.shipped.v3", "already has an upcaster"),  # a second path from v1
        ("test.parcel.shipped", "test.parcel.shipped.v2", "not a versioned event type name"),  # no version
    ],
)
def test_an_upcaster_only_lifts_one_version_to_a_later_one_of_the_same_event(
    from_type: str, to_type: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        parcel_catalogue().register_upcaster(from_type, to_type)


def test_a_type_cannot_be_declared_twice() -> None:
    with pytest.raises(ValueError, match=r"test\.parcel\.shipped\.v1 is declared twice"):
        Catalogue([Shipped1, Shipped1])


@pytest.mark.parametrize("type_name", CURRENT_TYPES)
def test_the_newest_version_of_every_type_is_read_as_it_is(type_name: str) -> None:
    data = catalog.data_of(EXAMPLES[type_name]())
    assert catalog.upcast(type_name, data) == (type_name, data)


@pytest.mark.parametrize(
    ("v1", "v2"),
    [
        # lines cancelled by number become lines by id, each cancelled for whatever was open on it
        (
            {"order": "SO-1", "lines": [2, 3], "reason": "customer"},
            {
                "order": "SO-1",
                "whole": False,
                "lines": [{"line_id": "2", "quantity": None}, {"line_id": "3", "quantity": None}],
                "reason": "customer",
            },
        ),
        # no lines in v1 meant the whole order
        (
            {"order": "SO-1", "reason": "duplicate order"},
            {"order": "SO-1", "whole": True, "lines": [], "reason": "duplicate order"},
        ),
    ],
)
def test_a_v1_cancellation_is_read_as_v2_with_the_whole_open_quantity_of_each_line(
    v1: dict[str, Any], v2: dict[str, Any]
) -> None:
    assert catalog.upcast("crossdock.order.cancelled.v1", v1) == ("crossdock.order.cancelled.v2", v2)
    payload = catalog.payload_as(make_envelope(type="crossdock.order.cancelled.v1", data=v1), catalog.OrderCancelledV2)
    assert payload == catalog.OrderCancelledV2.model_validate(v2)
    assert all(line.quantity is None and line.sku is None for line in payload.lines)


def test_v1_data_that_never_fitted_v1_is_reported_against_v1() -> None:
    with pytest.raises(InvalidPayload) as error:
        catalog.payload_of(
            make_envelope(id="evt-9", type="crossdock.order.cancelled.v1", data={"order": "SO-1", "lines": [0]})
        )
    message = str(error.value)
    assert message.startswith("crossdock.order.cancelled.v1 event evt-9: ")
    assert "data.lines.0: Input should be greater than or equal to 1" in message
    assert "data.reason: Field required" in message
