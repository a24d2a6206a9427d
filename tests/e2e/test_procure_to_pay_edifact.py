"""Procure-to-pay with a supplier that speaks EDIFACT, through real files: the purchase order goes out as ORDERS in the
partner's folder (decimal comma, as its profile says), the supplier's ORDRSP, a partial DESADV and an INVOIC come
back as interchanges posted to its edi source, each answered by a CONTRL; the short receipt and the invoice 3 % over
the PO price end in a resolved match exception and balanced books, and a resent DESADV or INVOIC changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from crossdock.connectors import edifact
from crossdock.connectors.edifact import mapping, writer
from crossdock.connectors.edifact.contrl import read_contrl
from crossdock.domain import catalog
from crossdock.domain.workflows.procure_to_pay import InvoiceStatus, POStatus
from crossdock.hub.ports import ExceptionStatus
from tests.e2e.procure_to_pay_estate import (
    GR_IR,
    INPUT_TAX,
    PAYABLES,
    START,
    VARIANCE,
    ApiEstate,
    acknowledgement,
    balanced,
    behind_the_api,
    edi_supplier_settings,
    goods_receipt,
    purchase_order,
    ship_notice,
    supplier_invoice,
)

D = Decimal
OURS, THEIRS = "4000000000006", "5400000000003"  # GLNs, qualifier 14 (EAN)
SOURCE, DESTINATION = "edi-acme", "edi-acme-out"
COMMA = edifact.Delimiters(decimal=",")
ACME: dict[str, Any] = {
    "standard": "edifact",
    "role": "supplier",
    "id": THEIRS,
    "qualifier": "14",
    "our_id": OURS,
    "our_qualifier": "14",
    "version": "D96A",
    "supplier": "SUP-1",
    "currency": "EUR",
    "separators": {"decimal": ","},
    "transport": {"path": "partners/acme"},
}
# How we read what we sent and what the supplier sends: our sku is the buyer's item number.
AS_BUYER = mapping.MappingOptions(item_ids=mapping.BUYER_ITEM_IDS, currency="EUR")


class EdifactEstate(ApiEstate):
    """The procure-to-pay estate with the supplier on EDIFACT: its files are posted to the intake over HTTP."""

    def post_file(self, body: bytes) -> httpx.Response:
        return self.post_interchange(SOURCE, body, "application/edifact")


@pytest.fixture
def estate(tmp_path: Path, database_url: str) -> Iterator[EdifactEstate]:
    settings = edi_supplier_settings(tmp_path, database_url, {"acme": ACME})
    with behind_the_api(EdifactEstate(tmp_path, settings)) as built:
        yield built


def from_supplier(message: edifact.Message, reference: str, at: datetime = START) -> bytes:
    """One message as the supplier sends it: its GLN as the UNB sender, ours as the recipient, decimal comma."""
    built = writer.interchange(
        reference, sender=(THEIRS, "14"), recipient=(OURS, "14"), prepared=at, messages=[message], delimiters=COMMA
    )
    return edifact.render(built)


def test_the_issue_case_through_edifact_files_with_a_supplier_ends_in_balanced_books_and_a_contrl_for_every_file(
    estate: EdifactEstate,
) -> None:
    ordered = purchase_order()
    estate.issue(ordered)
    estate.drain()

    # The PO reached the supplier's folder as ORDERS from us to them, with decimal commas, and reads back as issued.
    [written] = estate.outbound("orders")
    data = written.read_bytes()
    [sent] = edifact.parse(data)
    [message] = sent.messages
    assert (sent.sender, sent.recipient) == (OURS, THEIRS)
    assert data.startswith(b"UNA:+,? '") and b"PRI+AAA:4,25'" in data
    back, refs = mapping.to_purchase_order(message, sent, AS_BUYER)
    assert (back.number, back.supplier, back.currency, back.ship_to) == ("PO-1", "SUP-1", "EUR", "WH1")
    assert [(ln.line, ln.sku, ln.supplier_item, ln.quantity, ln.unit_price) for ln in back.lines] == [
        (ln.line, ln.sku, ln.supplier_item, ln.quantity, ln.unit_price) for ln in ordered.lines
    ]
    assert {ln.requested_on for ln in back.lines} == {ordered.requested_on}, "each line says when it is due"
    assert refs.lines[0].item_ids == (("IN", "SKU-1"), ("SA", "VP-1")), "the supplier's own number travels as SA"
    assert estate.state().status is POStatus.SENT

    # The supplier answers in EDIFACT: 12 -> 10 on line 1, then despatches those 10 in two cartons.
    ordrsp = from_supplier(
        mapping.acknowledgement_message(acknowledgement(line_1=10), "1", ordered, decimal_mark=","), "101"
    )
    desadv = from_supplier(mapping.ship_notice_message(ship_notice(), "1", decimal_mark=","), "102")
    for body in (ordrsp, desadv):
        response = estate.post_file(body)
        assert response.status_code == 202, response.text
    estate.drain()
    assert estate.state().status is POStatus.SHIPPED
    [revised] = estate.events(catalog.PurchaseOrderRevised.event_type, "PO-1")
    assert revised["decided_by"] == "policy" and revised["lines"][0]["quantity"] == "10"
    [notice] = estate.events(catalog.ShipNoticeReceived.event_type, "PO-1")
    assert [(ln["line"], ln["quantity"]["value"], ln["pack"]) for ln in notice["notice"]["lines"]] == [
        (1, "6", "00012345600000000017"),
        (1, "4", "00012345600000000024"),
    ]

    estate.receive(goods_receipt(line_1=8))  # the warehouse, canonical: two short of the notice
    estate.drain()
    assert estate.state().status is POStatus.PARTIALLY_RECEIVED
    assert estate.exception("receipt_variance").message == "line 1: short_of_notice"
    assert estate.balance(GR_IR) == D("-80.00")

    invoice = supplier_invoice(tax="20.60", line_1=(10, "10.30"))  # 3 % over the PO's 10.00, tolerance 2 %
    invoic = from_supplier(mapping.supplier_invoice_message(invoice, "1", decimal_mark=","), "103")
    assert b"PRI+AAA:10,30'" in invoic
    assert estate.post_file(invoic).status_code == 202
    estate.drain()

    # Every supplier file was answered by a CONTRL from us, acknowledging its interchange and message.
    answered = {}
    for path in estate.outbound("contrl"):
        [contrl] = edifact.parse(path.read_bytes())
        assert (contrl.sender, contrl.recipient) == (OURS, THEIRS)
        report = read_contrl(contrl.messages[0])
        answered[report.interchange] = (report.accepted, [(m.message_type, m.accepted) for m in report.messages])
    assert answered == {
        "101": (True, [("ORDRSP", True)]),
        "102": (True, [("DESADV", True)]),
        "103": (True, [("INVOIC", True)]),
    }

    match = estate.exception("invoice_match")
    assert match.owner == "finance"
    [failed] = estate.events(catalog.SupplierInvoiceMatchFailed.event_type, "PO-1")
    assert [r["code"] for r in failed["reasons"]] == ["quantity_not_received", "price_out_of_tolerance"]
    assert estate.balance(PAYABLES) == 0

    resolved = estate.act(match.id, catalog.ExceptionAction.ACCEPT, note="agreed by phone")
    assert resolved.status is ExceptionStatus.RESOLVED
    assert estate.state().invoices[0].status is InvoiceStatus.APPROVED
    balanced(estate)
    assert estate.balance(GR_IR) == D("20.00"), "billed for two units not received yet"
    assert (estate.balance(VARIANCE), estate.balance(INPUT_TAX)) == (D("3.00"), D("20.60"))
    assert estate.balance(PAYABLES) == D("-123.60")

    # The supplier's translator sends the DESADV and the INVOIC again, byte for byte: duplicates, nothing moves.
    journal, contrls, state = estate.journal(), estate.outbound("contrl"), estate.state()
    for body in (desadv, invoic):
        again = estate.post_file(body)
        assert again.status_code in (200, 202) and again.json()["duplicate"] is True
    estate.drain()
    assert len(estate.events(catalog.ShipNoticeReceived.event_type, "PO-1")) == 1
    assert len(estate.events(catalog.SupplierInvoiceReceived.event_type, "PO-1")) == 1
    assert (estate.journal(), estate.outbound("contrl"), estate.state()) == (journal, contrls, state)
