"""The trace over the in-memory stores: one id (an order or PO number, a correlation id, another system's id, an
invoice or payment number, an EDI control number) gives the whole timeline of its business transaction, in time
order with durations, and nothing of other transactions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from crossdock.domain import catalog, documents
from crossdock.domain.events import Envelope
from crossdock.domain.workflows import order_to_cash as otc
from crossdock.domain.workflows import procure_to_pay as p2p
from crossdock.hub import trace as tracing
from crossdock.hub.ports import (
    Attempt,
    AttemptOutcome,
    BusinessException,
    CrossReference,
    DeliveryStatus,
    DeliveryUpdate,
    ExceptionAction,
    MessageStatus,
    NewDelivery,
    NewMessage,
    OrderRecord,
    PurchaseOrderRecord,
    SentInterchange,
    UnitOfWork,
)
from crossdock.storage.memory import MemoryUnitOfWorkFactory
from tests.unit.factories import T0

OPERATOR = "crossdock/operator"
SCOPE = tracing.Scope(systems=("shop", "wms", "shopify", "erp"), edi_partners=("acme",), edi_sources=("edi-acme",))


def at(seconds: float) -> Any:
    return T0 + timedelta(seconds=seconds)


class Estate:
    """Writes to the memory twin what the runtime would have written for a flow, step by step."""

    def __init__(self) -> None:
        self.begin = MemoryUnitOfWorkFactory(lambda: T0)
        self.uow: UnitOfWork = self.begin().__enter__()

    def message(
        self,
        source: str,
        key: str,
        body: bytes,
        seconds: float,
        *,
        partition: str = "",
        headers: Mapping[str, str] | None = None,
        failed: str | None = None,
    ) -> int:
        [result] = self.uow.inbox.add(
            [NewMessage(source, key, key, body, dict(headers or {}), at(seconds), partition or key, 0)]
        )
        status = MessageStatus.FAILED if failed else MessageStatus.PROCESSED
        self.uow.inbox.mark([result.message_id], status, failed, at(seconds))
        return result.message_id

    def event(
        self,
        event_id: str,
        event_type: str,
        subject: str,
        seconds: float,
        *,
        message_id: int | None = None,
        cause: str | None = None,
        correlation: str | None = None,
        data: dict[str, Any] | None = None,
        source: str = "crossdock/api",
    ) -> Envelope:
        envelope = Envelope(
            id=event_id,
            source=source,
            type=event_type,
            subject=subject,
            time=at(seconds),
            data=data or {},
            causationid=cause,
            correlationid=correlation,
        )
        self.uow.log.append([(envelope, message_id)])
        return envelope

    def delivery(self, envelope: Envelope, destination: str, seconds: float, answers: list[int]) -> str:
        """Delivered after the answers given (an HTTP status each, one second apart); 2xx ends it."""
        delivery_id = f"dlv-{envelope.id}-{destination}"
        self.uow.outbox.enqueue(
            [
                NewDelivery(
                    delivery_id,
                    envelope.id,
                    envelope.type,
                    envelope.subject,
                    destination,
                    envelope.subject,
                    0,
                    {"id": envelope.id},
                    at(seconds),
                    at(seconds),
                )
            ]
        )
        for n, status in enumerate(answers, start=1):
            ok = status < 300
            attempt = Attempt(
                delivery_id,
                n,
                at(seconds + n),
                AttemptOutcome.DELIVERED if ok else AttemptOutcome.RETRYABLE,
                status,
                None if ok else f"HTTP {status}",
                12.5,
            )
            update = DeliveryUpdate(
                delivery_id,
                DeliveryStatus.DELIVERED if ok else DeliveryStatus.PENDING,
                n,
                at(seconds + n + 1),
                attempt.error,
                at(seconds + n) if ok else None,
                attempt,
            )
            self.uow.outbox.record([update])
        return delivery_id

    def order(self, number: str, status: otc.OrderStatus, seconds: float, seen: frozenset[str] = frozenset()) -> None:
        state = otc.OrderState(order_id=number, status=status, currency="EUR", seen=seen)
        record = OrderRecord(number, status.value, state.model_dump(mode="json"), channel="webshop", customer_id="C1")
        self.uow.orders.save(record, at(seconds))

    def purchase_order(self, number: str, seconds: float) -> None:
        state = p2p.POState(po_id=number, status=p2p.POStatus.ACKNOWLEDGED, currency="EUR")
        record = PurchaseOrderRecord(number, state.status.value, state.model_dump(mode="json"), supplier_id="SUP-1")
        self.uow.purchase_orders.save(record, at(seconds))

    def exception(self, about: str, seconds: float, action: tuple[str, str, float] | None = None) -> str:
        ident = f"order:{about}:rejected"
        self.uow.exceptions.open(
            BusinessException(ident, "customer_service", "credit_limit", "order", about, "over limit", at(seconds))
        )
        self.event(f"{ident}-opened", catalog.ExceptionOpened.event_type, ident, seconds, cause="evt-received")
        if action is not None:
            verb, actor, when = action
            self.uow.exceptions.act(ident, ExceptionAction(verb, actor, at(when), "agreed by phone"), resolve=True)
            self.event(
                f"{ident}-resolved", catalog.ExceptionResolved.event_type, ident, when, cause="op-1", source=OPERATOR
            )
        return ident

    def trace(self, key: str, **options: Any) -> tracing.Timeline:
        return tracing.trace(self.uow, key, SCOPE, **options)


@pytest.fixture
def estate() -> Estate:
    return Estate()


def order_to_cash(estate: Estate) -> dict[str, Any]:
    """SO-1 placed through the API, accepted after an override, delivered to the ERP at the second try, shipped,
    invoiced and paid; SO-2 placed beside it."""
    body = json.dumps({"number": "SO-1", "customer": "C1"}).encode()
    message = estate.message(
        "api", "idem:po-77", body, 0, partition="SO-1", headers={"authorization": "Bearer cdk_x_secret", "x-a": "1"}
    )
    received = estate.event("evt-received", catalog.OrderReceived.event_type, "SO-1", 1, message_id=message)
    estate.delivery(received, "erp", 2, [503, 200])
    exception = estate.exception("SO-1", 3, action=("override", "ops:jane", 60))
    accepted = estate.event(
        "evt-accepted",
        catalog.OrderAccepted.event_type,
        "SO-1",
        60,
        cause="op-1",
        correlation="corr-1",
        source=OPERATOR,
    )
    estate.delivery(accepted, "erp", 61, [200])
    # A CloudEvent from the warehouse: its causation is the sender's own event id, which the log does not hold.
    estate.event(
        "evt-shipped", catalog.ShipmentConfirmed.event_type, "SO-1", 120, cause="wms-ce-1", source="crossdock/wms"
    )
    estate.event("evt-invoiced", catalog.InvoicePosted.event_type, "SO-1", 121, cause="evt-shipped")
    estate.uow.links.link(tracing.INVOICE_LINK, "INV-SH-1", "SO-1")
    payment = catalog.PaymentApplied(
        payment=documents.Payment(
            reference="PAY-1",
            customer="C1",
            amount=Decimal("10"),
            currency="EUR",
            received_on=T0.date(),
            applications=(documents.PaymentApplication(invoice="INV-SH-1", amount=Decimal("10")),),
        )
    )
    estate.event("evt-paid", payment.event_type, "PAY-1", 180, data=catalog.data_of(payment))
    estate.order("SO-1", otc.OrderStatus.CLOSED, 181, seen=frozenset({"received", "payment:PAY-1:INV-SH-1"}))
    estate.message("api", "idem:po-78", b'{"number": "SO-2"}', 5, partition="SO-2")
    estate.event("evt-other", catalog.OrderReceived.event_type, "SO-2", 6)
    estate.order("SO-2", otc.OrderStatus.RECEIVED, 6)
    return {"message": message, "exception": exception}


def kinds(timeline: tracing.Timeline) -> list[tuple[str, str]]:
    return [(entry.kind, entry.title) for entry in timeline.entries]


def test_an_order_number_gives_its_whole_timeline_in_time_order_with_durations(estate: Estate) -> None:
    made = order_to_cash(estate)

    timeline = estate.trace("SO-1")

    titles = [title for _, title in kinds(timeline)]
    assert titles[0] == f"message #{made['message']} from api: processed", "the raw message comes first"
    assert [e.kind for e in timeline.entries if e.kind in ("attempt",)] == ["attempt"] * 3
    assert "attempt 1 to erp: retryable 503" in titles and "attempt 2 to erp: delivered 200" in titles
    assert "exception credit_limit for customer_service: over limit" in titles
    assert "override by ops:jane on exception credit_limit" in titles
    assert titles[-1] == "order SO-1 is closed", "the state the transaction ended in comes last"
    assert not any("SO-2" in title for title in titles), "another order's timeline is left out"
    times = [entry.at for entry in timeline.entries]
    assert times == sorted(times), "entries are in time order"
    assert timeline.entries[0].duration_ms is None
    for before, entry in zip(timeline.entries, timeline.entries[1:], strict=False):
        assert entry.duration_ms == (entry.at - before.at).total_seconds() * 1000, "duration is since the entry before"
        assert entry.elapsed_ms == (entry.at - timeline.entries[0].at).total_seconds() * 1000
    assert timeline.duration_ms == 181_000
    assert [(o.kind, o.key, o.status) for o in timeline.objects] == [("order", "SO-1", "closed")]


def test_an_event_caused_by_another_is_a_decision_and_an_event_from_outside_is_not(estate: Estate) -> None:
    order_to_cash(estate)

    entries = {e.detail.get("id"): e for e in estate.trace("SO-1").entries if e.kind in ("event", "decision")}

    assert entries["evt-received"].kind == "event"
    assert entries["evt-shipped"].kind == "event", "a sender's causation id does not make an event a decision"
    assert entries["evt-invoiced"].kind == "decision", "caused by the shipment, an event in the log"
    assert entries["evt-accepted"].kind == "decision", "what an operator's action led to"
    assert entries["evt-accepted"].detail["causationid"] == "op-1", "the order's history fields are reused"
    assert entries["evt-accepted"].links == {"order": "/v1/orders/SO-1"}


def test_the_exception_action_says_who_why_and_when_right_before_the_resolution_it_caused(estate: Estate) -> None:
    made = order_to_cash(estate)

    timeline = estate.trace("SO-1")

    [action] = [e for e in timeline.entries if e.kind == "action"]
    assert (action.detail["actor"], action.detail["note"], action.at) == ("ops:jane", "agreed by phone", at(60))
    assert action.links == {"exception": f"/v1/exceptions/{made['exception'].replace(':', '%3A')}"}
    after = timeline.entries[timeline.entries.index(action) + 1]
    assert after.detail.get("type") == catalog.ExceptionResolved.event_type


def test_the_raw_payload_is_shown_and_cut_with_a_flag_when_it_is_too_large(estate: Estate) -> None:
    body = b'{"number": "SO-9", "note": "' + b"x" * 500 + b'"}'
    estate.message("api", "idem:big", body, 0, partition="SO-9")
    estate.order("SO-9", otc.OrderStatus.RECEIVED, 1)

    whole = estate.trace("SO-9").entries[0].detail
    cut = estate.trace("SO-9", payload_limit=100).entries[0].detail

    assert (whole["payload"], whole["payload_truncated"], whole["payload_bytes"]) == (body.decode(), False, len(body))
    assert (cut["payload"], cut["payload_truncated"], cut["payload_bytes"]) == (body[:100].decode(), True, len(body))


def test_a_binary_payload_is_shown_in_base64(estate: Estate) -> None:
    estate.message("files", "f-1", b"\xff\xfe\x00EDI", 0, partition="SO-7")
    estate.order("SO-7", otc.OrderStatus.RECEIVED, 1)

    detail = estate.trace("SO-7").entries[0].detail

    assert (detail["payload"], detail["payload_encoding"]) == ("//4ARURJ", "base64")


def test_headers_that_authenticate_the_sender_are_never_shown(estate: Estate) -> None:
    order_to_cash(estate)

    [message] = [e for e in estate.trace("SO-1").entries if e.kind == "message"]

    assert message.detail["headers"] == {"authorization": "***", "x-a": "1"}
    assert "secret" not in json.dumps(estate.trace("SO-1").as_dict())


def test_a_message_that_failed_before_any_event_is_part_of_its_orders_trace(estate: Estate) -> None:
    order_to_cash(estate)
    failed = estate.message("api", "idem:po-79", b"{not json", 200, partition="SO-1", failed="not a valid SalesOrder")

    titles = [title for _, title in kinds(estate.trace("SO-1"))]

    assert f"message #{failed} from api: failed" in titles


def test_a_correlation_id_leads_to_the_whole_timeline_of_the_order_its_events_are_about(estate: Estate) -> None:
    order_to_cash(estate)

    timeline = estate.trace("corr-1")

    assert [m.found_as for m in timeline.matches] == ["correlation"]
    assert [o.key for o in timeline.objects] == ["SO-1"]
    assert [e.kind for e in timeline.entries] == [e.kind for e in estate.trace("SO-1").entries]


def test_another_systems_id_leads_to_the_order_through_the_cross_references(estate: Estate) -> None:
    order_to_cash(estate)
    estate.uow.xrefs.link(CrossReference("order", "shopify", "SO-1", "5550001"), at(0.5))

    timeline = estate.trace("5550001")

    assert [(m.found_as, m.target) for m in timeline.matches] == [("xref", "SO-1")]
    assert [o.key for o in timeline.objects] == ["SO-1"]
    [xref] = [e for e in timeline.entries if e.kind == "xref"]
    assert xref.title == "order SO-1 is 5550001 in shopify"
    assert any(e.kind == "attempt" for e in timeline.entries)


def test_an_invoice_number_leads_to_its_order_and_a_payment_reference_too(estate: Estate) -> None:
    order_to_cash(estate)

    by_invoice = estate.trace("INV-SH-1")
    by_payment = estate.trace("PAY-1")

    assert [o.key for o in by_invoice.objects] == ["SO-1"]
    assert [o.key for o in by_payment.objects] == ["SO-1"]
    assert any(e.detail.get("id") == "evt-paid" for e in estate.trace("SO-1").entries), "the payment is reached"


def test_an_id_nothing_knows_gives_an_empty_timeline(estate: Estate) -> None:
    order_to_cash(estate)

    timeline = estate.trace("SO-404")

    assert not timeline.found and timeline.entries == () and timeline.as_dict()["entries"] == []


# ---- EDI ----------------------------------------------------------------------------------------------------------


def edi_file(estate: Estate, isa13: str, gs06: str, *, orders: tuple[str, ...] = ("PO-1",)) -> int:
    """An 855 file from ACME answering `orders` (one set each), as intake keys it and the EDI source maps it."""
    sets = ",".join(f"{gs06}/{n:04d}" for n, _ in enumerate(orders, start=1))
    message = estate.message("edi-acme", f"x12:ZZ/ACME:{isa13}:{sets}", b"ISA*00*...~", 10, partition=orders[0])
    for n, po in enumerate(orders):
        estate.event(f"ack-{isa13}-{n}", catalog.PurchaseOrderAcknowledged.event_type, po, 10, message_id=message)
    received = estate.event(
        f"ic-{isa13}", catalog.EdiInterchangeReceived.event_type, f"acme:{isa13}", 10, message_id=message
    )
    estate.delivery(received, "edi-acme-out", 11, [200])
    return message


@pytest.mark.parametrize(
    "control",
    [
        "000000101",  # ISA13 as written in the file
        "101",  # the same without its leading zeros
        "acme:000000101",  # the interchange's own subject: partner and ISA13
        "7001",  # GS06: found in the dedupe keys of the partner's messages
    ],
)
def test_an_interchange_control_number_leads_to_the_purchase_orders_it_answered(estate: Estate, control: str) -> None:
    estate.purchase_order("PO-1", 0)
    estate.purchase_order("PO-3", 0)
    message = edi_file(estate, "000000101", "7001")
    edi_file(estate, "000000102", "7002", orders=("PO-3",))  # another file of the partner, which must stay out

    timeline = estate.trace(control)

    assert [o.key for o in timeline.objects] == ["PO-1"]
    titles = [title for _, title in kinds(timeline)]
    assert f"message #{message} from edi-acme: processed" in titles
    assert "delivery dlv-ic-000000101-edi-acme-out to edi-acme-out: delivered" in titles
    assert "purchase order PO-1 is acknowledged" in titles
    assert not any("000000102" in title for title in titles)


def test_another_purchase_order_in_the_same_file_is_shown_but_not_followed(estate: Estate) -> None:
    estate.purchase_order("PO-1", 0)
    estate.purchase_order("PO-2", 0)
    edi_file(estate, "000000103", "7003", orders=("PO-1", "PO-2"))
    estate.event("po-2-issued", catalog.PurchaseOrderIssued.event_type, "PO-2", 0)

    by_po = estate.trace("PO-1")
    by_file = estate.trace("103")

    assert [o.key for o in by_po.objects] == ["PO-1"]
    assert not any(e.detail.get("id") == "po-2-issued" for e in by_po.entries)
    assert [o.key for o in by_file.objects] == ["PO-1", "PO-2"], "a file traced by its number shows all it carried"


def test_the_control_number_of_an_interchange_the_hub_sent_leads_to_its_purchase_order(estate: Estate) -> None:
    estate.purchase_order("PO-5", 0)
    released = estate.event("po-5-released", catalog.PurchaseOrderReleased.event_type, "PO-5", 1)
    delivery = estate.delivery(released, "edi-acme-out", 2, [200])
    estate.uow.interchanges.save(
        SentInterchange(
            delivery, "acme", "x12", "000000555", "555", "PO", (("850", "0001"),), "purchase order PO-5", "PO-5",
            released.id, at(2), at(3600), "accepted", at(3), at(60),
        )
    )  # fmt: skip

    timeline = estate.trace("555")

    assert [(m.found_as, m.target) for m in timeline.matches] == [("edi_sent_interchange", "PO-5")]
    [sent] = [e for e in timeline.entries if e.kind == "delivery"]
    assert sent.detail["interchange"]["acknowledgement"] == "accepted"
    assert sent.detail["interchange"]["interchange"] == "000000555"


@pytest.mark.parametrize(
    "control",
    [
        "acme:000000555",  # what the EDI desk's acknowledgement exceptions are about: partner and ISA13
        "acme:555",  # the same without its leading zeros
    ],
)
def test_a_sent_interchange_named_partner_colon_number_leads_to_its_purchase_order_and_its_exceptions(
    estate: Estate, control: str
) -> None:
    estate.purchase_order("PO-5", 0)
    released = estate.event("po-5-released", catalog.PurchaseOrderReleased.event_type, "PO-5", 1)
    delivery = estate.delivery(released, "edi-acme-out", 2, [200])
    estate.uow.interchanges.save(
        SentInterchange(
            delivery, "acme", "x12", "000000555", "555", "PO", (("850", "0001"),), "purchase order PO-5", "PO-5",
            released.id, at(2), at(3600), "awaiting", at(3),
        )
    )  # fmt: skip
    overdue = BusinessException(
        "EX-ACK-555", "edi", "acknowledgement-overdue", "edi_interchange", "acme:000000555", "no 997", at(3600)
    )
    estate.uow.exceptions.open(overdue)
    estate.event("ex-ack-555-opened", catalog.ExceptionOpened.event_type, "EX-ACK-555", 3600)

    timeline = estate.trace(control)

    assert [(m.found_as, m.target) for m in timeline.matches] == [("edi_sent_interchange", "PO-5")]
    assert [o.key for o in timeline.objects] == ["PO-5"]
    assert "EX-ACK-555" in [e.detail.get("id") for e in timeline.entries if e.kind == "exception"], (
        "the acknowledgement exception about the interchange is part of its trace"
    )


def test_another_partners_interchange_of_the_same_number_is_not_found_by_partner_colon_number(
    estate: Estate,
) -> None:
    estate.purchase_order("PO-5", 0)
    released = estate.event("po-5-released", catalog.PurchaseOrderReleased.event_type, "PO-5", 1)
    delivery = estate.delivery(released, "edi-acme-out", 2, [200])
    estate.uow.interchanges.save(
        SentInterchange(
            delivery, "acme", "x12", "000000555", "555", "PO", (("850", "0001"),), "purchase order PO-5", "PO-5",
            released.id, at(2), at(3600), "accepted", at(3), at(60),
        )
    )  # fmt: skip

    assert not estate.trace("harbor:000000555").found
    assert estate.trace("000000555").found, "the bare number still finds it, whoever it was sent to"


def test_an_id_with_a_control_character_names_nothing(estate: Estate) -> None:
    order_to_cash(estate)

    assert not estate.trace("SO-1\x00").found
    assert estate.trace("  SO-1 ").found, "blanks around a pasted id are not part of it"
