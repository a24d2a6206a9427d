"""Procure-to-pay with a supplier that speaks X12: the issue's purchase order goes out as an 850 in the partner's
folder, the supplier's 855, 856 and 810 come back as interchanges posted to its edi source, each answered by a 997;
the short receipt and the invoice 3 % over end in a resolved match exception and balanced books, and a resent
file is a duplicate at intake."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from crossdock.connectors import x12
from crossdock.connectors.x12 import mapping
from crossdock.domain import catalog
from crossdock.domain.workflows.procure_to_pay import InvoiceStatus, POStatus
from crossdock.hub.ports import ExceptionStatus
from tests.e2e.procure_to_pay_estate import (
    GR_IR,
    INPUT_TAX,
    INVENTORY,
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
OURS, THEIRS = "999999999", "ACME"
SOURCE, DESTINATION = "edi-acme", "edi-acme-out"
# The supplier echoes our sku as the buyer's part number (BP), beside its own (VP) where it has one.
ACME: dict[str, Any] = {
    "role": "supplier",
    "id": THEIRS,
    "our_id": OURS,
    "supplier": "SUP-1",
    "item_ids": [{"qualifier": "BP"}],
    "transport": {"path": "partners/acme"},
}
# What the supplier's own translator knows: its id as the sender, ours as the receiver, the same item ids.
SUPPLIER_SIDE = mapping.PartnerRules(
    partner_id=OURS, our_id=THEIRS, supplier="SUP-1", item_ids=(mapping.ItemId(qualifier="BP"),)
)
OUR_SIDE = mapping.PartnerRules(
    partner_id=THEIRS, our_id=OURS, supplier="SUP-1", item_ids=(mapping.ItemId(qualifier="BP"),)
)


class EdiEstate(ApiEstate):
    """The procure-to-pay estate with the supplier on X12: its files are posted to the intake over HTTP."""

    def post_file(self, body: bytes) -> httpx.Response:
        return self.post_interchange(SOURCE, body, "application/edi-x12")


@pytest.fixture
def estate(tmp_path: Path, database_url: str) -> Iterator[EdiEstate]:
    settings = edi_supplier_settings(tmp_path, database_url, {"acme": ACME})
    with behind_the_api(EdiEstate(tmp_path, settings)) as built:
        yield built


def interchange(tx: x12.Transaction, control: int, at: datetime = START) -> bytes:
    """One set as the supplier sends it: its id as ISA06, ours as ISA08, ISA13 and GS06 `control`."""
    built = mapping.build_interchange(
        SUPPLIER_SIDE, [tx], mapping.ControlNumbers(interchange=control, group=control), at
    )
    return x12.write(built)


def test_the_issue_case_through_x12_files_with_a_supplier_ends_in_balanced_books_and_a_997_for_every_file(
    estate: EdiEstate,
) -> None:
    ordered = purchase_order()
    estate.issue(ordered)
    estate.drain()

    # The PO reached the supplier's folder as an 850 from us to them, and reads back as the PO we issued.
    [written] = estate.outbound("850")
    [sent] = x12.parse(written.read_bytes())
    assert (sent.sender_id, sent.receiver_id) == (OURS, THEIRS)
    [(_, tx)] = list(sent.transactions())
    back = mapping.purchase_order_from_850(tx, OUR_SIDE)
    assert (back.number, back.supplier, back.currency, back.ship_to) == ("PO-1", "SUP-1", "EUR", "WH1")
    assert [(ln.line, ln.sku, ln.supplier_item, ln.quantity, ln.unit_price) for ln in back.lines] == [
        (ln.line, ln.sku, ln.supplier_item, ln.quantity, ln.unit_price) for ln in ordered.lines
    ]
    assert estate.state().status is POStatus.SENT

    # The supplier answers in X12: 12 -> 10 on line 1, then ships those 10 in two cartons.
    ack_855 = interchange(mapping.acknowledgement_to_855(acknowledgement(line_1=10), SUPPLIER_SIDE, order=ordered), 101)
    asn_856 = interchange(mapping.ship_notice_to_856(ship_notice(), SUPPLIER_SIDE), 102)
    for body in (ack_855, asn_856):
        response = estate.post_file(body)
        assert response.status_code == 202, response.text
    estate.drain()
    assert estate.state().status is POStatus.SHIPPED
    [revised] = estate.events(catalog.PurchaseOrderRevised.event_type, "PO-1")
    assert revised["decided_by"] == "policy" and revised["lines"][0]["quantity"] == "10"

    estate.receive(goods_receipt(line_1=8))  # the warehouse, canonical: two short of the notice
    estate.drain()
    assert estate.state().status is POStatus.PARTIALLY_RECEIVED
    assert estate.exception("receipt_variance").message == "line 1: short_of_notice"
    assert estate.balance(GR_IR) == D("-80.00")

    invoice_810 = interchange(
        mapping.supplier_invoice_to_810(supplier_invoice(tax="20.60", line_1=(10, "10.30")), SUPPLIER_SIDE), 103
    )
    assert estate.post_file(invoice_810).status_code == 202
    estate.drain()

    # Every supplier file was answered by a 997 from us, accepting its group and set.
    answered = {}
    for path in estate.outbound("997"):
        [ack_interchange] = x12.parse(path.read_bytes())
        assert (ack_interchange.sender_id, ack_interchange.receiver_id) == (OURS, THEIRS)
        [ack] = x12.read_acknowledgements([ack_interchange])
        answered[ack.group_control_number] = (
            ack.functional_id,
            ack.status,
            [(t.set_id, t.status) for t in ack.transactions],
        )
    assert answered == {
        "101": ("PR", "A", [("855", "A")]),
        "102": ("SH", "A", [("856", "A")]),
        "103": ("IN", "A", [("810", "A")]),
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

    # The supplier's translator sends the 856 again, byte for byte: a duplicate at intake, nothing moves.
    notices = len(estate.events(catalog.ShipNoticeReceived.event_type, "PO-1"))
    journal, acks, state = estate.journal(), estate.outbound("997"), estate.state()
    again = estate.post_file(asn_856)
    estate.drain()
    assert again.json()["duplicate"] is True
    assert len(estate.events(catalog.ShipNoticeReceived.event_type, "PO-1")) == notices == 1
    assert (estate.journal(), estate.outbound("997"), estate.state()) == (journal, acks, state)

    # The two missing units arrive without a notice and line 2 is cancelled: GR/IR clears.
    estate.receive(goods_receipt("GR-2", asn=None, line_1=2))
    estate.cancel_lines("PO-1", "CX-1", line_2=5)
    estate.drain()
    assert estate.state().status is POStatus.CLOSED
    balanced(estate)
    assert estate.balance(GR_IR) == 0 and estate.balance(INVENTORY) == D("100.00")
    assert len(estate.outbound("850")) == 1, "a cancellation is not subscribed to this channel"
