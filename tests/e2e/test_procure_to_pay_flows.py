"""Procure-to-pay through the runtime, canonical CloudEvents in, one business rule per test: the issue's end-to-end
purchase order with balanced books, out-of-order arrivals, overdue timers, changes routed to procurement, duplicates
posted once, and the read side (API and CLI)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from crossdock.domain import catalog
from crossdock.domain.procurement import PurchaseOrderLine
from crossdock.domain.workflows.procure_to_pay import InvoiceStatus, POStatus
from crossdock.entrypoints import cli, cli_governance
from crossdock.entrypoints.api.app import create_app
from crossdock.hub import governance
from crossdock.hub.ports import ExceptionStatus, IntakeStatus
from tests.e2e.procure_to_pay_estate import (
    GR_IR,
    INPUT_TAX,
    INVENTORY,
    PAYABLES,
    VARIANCE,
    ProcureToPayEstate,
    acknowledgement,
    balanced,
    goods_receipt,
    purchase_order,
    qty,
    settings_for,
    ship_notice,
    supplier_invoice,
)

with warnings.catch_warnings():
    # Starlette asks for the `httpx2` fork under its test client; plain httpx still works and is what we ship.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

D = Decimal
ACCEPT = catalog.ExceptionAction.ACCEPT


@pytest.fixture
def make(tmp_path: Path, database_url: str) -> Iterator[Any]:
    """Estates on SQLite and on PostgreSQL (each test runs on both)."""
    built: list[ProcureToPayEstate] = []

    def make_estate(**sections: Any) -> ProcureToPayEstate:
        estate = ProcureToPayEstate(tmp_path, settings_for(tmp_path, database_url, **sections))
        built.append(estate)
        return estate

    yield make_estate
    for estate in built:
        if estate.runtime is not None:
            estate.stop()


def test_a_po_with_an_855_change_a_partial_asn_a_short_receipt_and_an_invoice_3_percent_over_ends_in_balanced_books(
    make: Any,
) -> None:
    estate = make()
    estate.issue(purchase_order())
    estate.drain()
    # The PO went to the supplier's channel as it stands, and counts as sent from that hand-over.
    [released] = estate.released()
    assert released["type"] == catalog.PurchaseOrderReleased.event_type
    assert released["data"]["revision"] == 1
    assert [line["quantity"]["value"] for line in released["data"]["purchase_order"]["lines"]] == ["12", "5"]
    assert released["data"]["purchase_order"]["lines"][0]["supplier_item"] == "VP-1"
    assert estate.state().status is POStatus.SENT

    estate.acknowledge(acknowledgement(line_1=10))  # 12 -> 10: within the 20 % the policy allows
    estate.notice(ship_notice())  # line 1 only: 10 in two cartons
    estate.drain()
    assert estate.state().status is POStatus.SHIPPED
    [revised] = estate.events(catalog.PurchaseOrderRevised.event_type, "PO-1")
    assert revised["decided_by"] == "policy" and revised["lines"][0]["quantity"] == "10"

    estate.receive(goods_receipt(line_1=8))  # two short of the notice
    estate.drain()
    assert estate.state().status is POStatus.PARTIALLY_RECEIVED
    assert estate.on_hand("SKU-1") == 8, "what arrived in good condition is stocked at the receiving location"
    short = estate.exception("receipt_variance")
    assert (short.owner, short.message) == ("procurement", "line 1: short_of_notice")
    [matched] = estate.events(catalog.ReceiptMatched.event_type, "PO-1")
    assert matched["lines"][0]["variances"] == ["short_of_notice"]
    assert estate.balance(GR_IR) == D("-80.00"), "the receipt is accrued at the PO price"

    estate.invoice(supplier_invoice(tax="20.60", line_1=(10, "10.30")))  # 3 % over, and 2 units not received
    estate.drain()
    match = estate.exception("invoice_match")
    assert match.owner == "finance", "a quantity not received is finance's, even with the price off too"
    [failed] = estate.events(catalog.SupplierInvoiceMatchFailed.event_type, "PO-1")
    assert [r["code"] for r in failed["reasons"]] == ["quantity_not_received", "price_out_of_tolerance"]
    assert not estate.events(catalog.SupplierInvoiceApproved.event_type), "nothing is approved before a decision"
    assert estate.balance(PAYABLES) == 0

    # Finance accepts it: the price rise was agreed, the two missing units are on their way.
    resolved = estate.act(match.id, ACCEPT, note="agreed by phone")
    assert resolved.status is ExceptionStatus.RESOLVED
    [approved] = estate.events(catalog.SupplierInvoiceApproved.event_type, "PO-1")
    assert approved["overridden"] is True and approved["note"] == "agreed by phone"
    assert estate.state().invoices[0].status is InvoiceStatus.APPROVED
    balanced(estate)
    assert estate.balance(GR_IR) == D("20.00"), "billed for two units not received yet"
    assert (estate.balance(VARIANCE), estate.balance(INPUT_TAX)) == (D("3.00"), D("20.60"))
    assert estate.balance(PAYABLES) == D("-123.60")

    # The two units arrive without a notice, and the buyer cancels line 2, which never shipped: the PO closes.
    estate.receive(goods_receipt("GR-2", asn=None, line_1=2))
    estate.cancel_lines("PO-1", "CX-1", line_2=5)
    estate.drain()
    assert estate.state().status is POStatus.CLOSED
    assert estate.events(catalog.PurchaseOrderClosed.event_type, "PO-1")
    balanced(estate)
    assert estate.balance(GR_IR) == 0, "accrued 80 + 20, cleared 100"
    assert estate.balance(INVENTORY) == D("100.00")
    assert estate.balance(PAYABLES) == D("-123.60")
    assert estate.on_hand("SKU-1") == 10 and estate.on_hand("SKU-2") == 0
    # The cancellation reached the supplier's channel too.
    assert [e["type"] for e in estate.released()][-1] == catalog.PurchaseOrderCancelled.event_type


def test_a_receipt_before_its_ship_notice_waits_for_it_and_then_stocks_and_accrues_once(make: Any) -> None:
    estate = make()
    estate.issue(purchase_order())
    estate.acknowledge(acknowledgement())
    estate.receive(goods_receipt(line_1=10))  # against SH-1, which has not arrived
    estate.drain()
    state = estate.state()
    assert [fact.kind for fact in state.held] == ["received"], "held for its notice, not dropped"
    assert estate.on_hand("SKU-1") == 0 and estate.journal() == []

    estate.notice(ship_notice())
    estate.drain()
    state = estate.state()
    assert not state.held and state.line("1") is not None and state.line("1").received == 10
    assert estate.on_hand("SKU-1") == 10
    [accrual] = estate.journal()
    assert accrual.source.document_number == "PO-1/GR-1"
    assert estate.balance(GR_IR) == D("-100.00")


def test_an_acknowledged_po_whose_ship_notice_is_overdue_asks_procurement_once(make: Any) -> None:
    estate = make()
    estate.issue(purchase_order())
    estate.acknowledge(acknowledgement())
    estate.drain()
    assert not estate.exceptions(), "no deadline has passed"

    estate.later(days=9)  # 12 March 09:00: a notice was due on the 13th at 00:00 (a day before the goods)
    assert not estate.exceptions()
    estate.later(hours=15)
    overdue = estate.exception("ship_notice_overdue")
    assert (overdue.owner, overdue.about_kind) == ("procurement", "purchase_order")
    assert "ship-notice-overdue since 2025-03-13T00:00:00+00:00" in overdue.message
    estate.later(days=1)
    assert len(estate.exceptions()) == 1, "a deadline passes once"
    # The acknowledgement came in time: its own timer was disarmed and never fired.
    assert not [e for e in estate.exceptions() if e.reason_code == "acknowledgement_overdue"]


def test_an_unanswered_po_asks_procurement_who_may_cancel_it_at_the_supplier(make: Any) -> None:
    estate = make(procurement={"acknowledge_within_hours": 24})
    estate.issue(purchase_order())
    estate.drain()
    estate.later(hours=23)
    assert not estate.exceptions()
    estate.later(hours=2)
    overdue = estate.exception("acknowledgement_overdue")
    assert overdue.owner == "procurement"
    assert "no acknowledgement from the supplier" in overdue.message

    estate.act(overdue.id, catalog.ExceptionAction.CANCEL, note="ordered elsewhere")
    assert estate.state().status is POStatus.CANCELLED
    cancelled = estate.released()[-1]
    assert cancelled["type"] == catalog.PurchaseOrderCancelled.event_type and cancelled["data"]["whole"] is True


def test_an_invoice_off_price_that_procurement_rejects_goes_back_to_the_supplier_unposted(make: Any) -> None:
    estate = make()
    estate.issue(purchase_order())
    estate.acknowledge(acknowledgement())
    estate.receive(goods_receipt(asn=None, line_1=12))
    estate.invoice(supplier_invoice(line_1=(12, "10.50")))  # 5 % over, everything received: prices only
    estate.drain()
    match = estate.exception("invoice_match")
    assert match.owner == "procurement", "a price alone is procurement's to settle"

    estate.act(match.id, catalog.ExceptionAction.CANCEL, note="send a corrected invoice")
    assert estate.state().invoices[0].status is InvoiceStatus.REJECTED
    [rejected] = estate.events(catalog.SupplierInvoiceRejected.event_type, "PO-1")
    assert rejected["reason"] == "send a corrected invoice"
    assert estate.balance(PAYABLES) == 0 and estate.balance(GR_IR) == D("-120.00"), "the accrual waits for a bill"


def test_an_acknowledgement_beyond_the_change_policy_waits_for_procurement_who_accepts_it(make: Any) -> None:
    estate = make()
    estate.issue(purchase_order())
    estate.acknowledge(acknowledgement(line_1=6))  # half the quantity: beyond the 20 % the policy takes
    estate.drain()
    assert estate.state().status is POStatus.CHANGES_PENDING
    pending = estate.exception("acknowledgement_changes")
    assert pending.owner == "procurement" and "12 -> 6" in pending.message
    assert not estate.events(catalog.PurchaseOrderRevised.event_type)

    estate.act(pending.id, ACCEPT, note="half now, the rest next month")
    state = estate.state()
    assert state.status is POStatus.ACKNOWLEDGED
    assert state.line("1") is not None and state.line("1").open == 6
    [revised] = estate.events(catalog.PurchaseOrderRevised.event_type, "PO-1")
    assert revised["decided_by"] == "procurement"


def test_refusing_the_changes_sends_the_po_again_as_ordered(make: Any) -> None:
    estate = make()
    estate.issue(purchase_order())
    estate.acknowledge(acknowledgement(line_1=6))
    estate.drain()
    estate.act(estate.exception("acknowledgement_changes").id, catalog.ExceptionAction.RETRY)
    first, again = estate.released()
    assert again["data"]["revision"] == 1 and "refused" in again["data"]["reason"]
    assert [line["quantity"]["value"] for line in again["data"]["purchase_order"]["lines"]] == ["12", "5"]
    assert estate.state().status is POStatus.SENT, "it waits for a new answer"
    assert first["id"] != again["id"]


def test_a_buyers_revision_goes_to_the_supplier_with_the_lines_it_drops_and_revalues_what_was_accrued(
    make: Any,
) -> None:
    estate = make()
    estate.issue(purchase_order())
    estate.acknowledge(acknowledgement())
    estate.receive(goods_receipt(asn=None, line_1=4))
    estate.drain()
    # Revision 2: line 1 up to 20 at a lower price, line 2 (nothing of it shipped) dropped.
    revision = purchase_order(lines=[PurchaseOrderLine(line=1, sku="SKU-1", quantity=qty(20), unit_price=D("9.50"))])
    estate.send("erp", catalog.PurchaseOrderChanged(purchase_order=revision, revision=2))
    estate.drain()
    again = estate.released()[-1]["data"]
    assert (again["revision"], again["withdrawn"], again["reason"]) == (2, [2], "revision 2")
    assert [line["quantity"]["value"] for line in again["purchase_order"]["lines"]] == ["20"]
    record = estate.record("PO-1")
    assert record is not None and record.document is not None and len(record.document["lines"]) == 1
    # The 4 units accrued at 10.00 are worth 9.50 now: the accrual follows, so the invoice will clear it exactly.
    assert estate.balance(GR_IR) == D("-38.00") and estate.balance(INVENTORY) == D("38.00")
    balanced(estate)


def test_a_receipt_sent_twice_stocks_and_posts_once(make: Any) -> None:
    estate = make()
    estate.issue(purchase_order())
    estate.acknowledge(acknowledgement())
    estate.notice(ship_notice())
    first = estate.receive(goods_receipt(line_1=8), event_id="wms-1")
    estate.drain()
    assert estate.receive(goods_receipt(line_1=8), event_id="wms-1").status is IntakeStatus.DUPLICATE
    # The warehouse sends the same receipt again under a new message id: a new message, the same receipt.
    again = estate.receive(goods_receipt(line_1=8), event_id="wms-2")
    estate.drain()
    assert again.message_id != first.message_id
    assert estate.on_hand("SKU-1") == 8
    assert len(estate.journal()) == 1 and estate.balance(GR_IR) == D("-80.00")
    assert len(estate.events(catalog.ReceiptMatched.event_type, "PO-1")) == 1
    assert estate.state().line("1").received == 8


def test_a_supplier_invoice_for_a_po_not_known_yet_waits_for_it_and_is_then_matched_and_posted(make: Any) -> None:
    estate = make()
    estate.invoice(supplier_invoice("INV-1", "PO-7", line_1=(12, "10.00")))
    estate.drain()
    assert estate.record("PO-7") is None, "nothing to match it against yet"
    with estate.hub.begin() as uow:
        [(_kind, key, parked)] = uow.links.parked()
    assert key == "PO-7" and parked.type == catalog.SupplierInvoiceReceived.event_type

    estate.issue(purchase_order("PO-7"))
    estate.drain()
    state = estate.state("PO-7")
    assert state.invoices[0].status is InvoiceStatus.AWAITING_RECEIPT, "it bills goods still expected"
    assert estate.balance(PAYABLES) == 0

    estate.acknowledge(acknowledgement("PO-7"))
    estate.receive(goods_receipt(order="PO-7", asn=None, line_1=12))
    estate.drain()
    assert estate.state("PO-7").invoices[0].status is InvoiceStatus.APPROVED
    assert len(estate.events(catalog.SupplierInvoiceApproved.event_type, "PO-7")) == 1
    balanced(estate)
    assert estate.balance(GR_IR) == 0 and estate.balance(PAYABLES) == D("-120.00")
    with estate.hub.begin() as uow:
        assert uow.links.parked() == []


def test_a_po_counts_as_sent_only_when_its_channel_says_so_if_configured(make: Any) -> None:
    estate = make(procurement={"sent_on": "transmission"})
    estate.issue(purchase_order())
    estate.drain()
    assert len(estate.released()) == 1
    assert estate.state().status is POStatus.ISSUED, "released, not yet transmitted"
    payload = catalog.PurchaseOrderTransmitted(order="PO-1", revision=1, transmission="ISA-000000001", channel="x12")
    estate.send("supplier-edi", payload)
    estate.drain()
    assert estate.state().status is POStatus.SENT


def test_purchase_orders_are_read_through_the_api_and_the_cli(make: Any, tmp_path: Path) -> None:
    estate = make()
    estate.issue(purchase_order())
    estate.acknowledge(acknowledgement(line_1=10))
    estate.notice(ship_notice())
    estate.receive(goods_receipt(line_1=8))
    estate.invoice(supplier_invoice(line_1=(8, "10.30")))
    estate.drain()
    runtime = estate.runtime
    _, admin = cli_governance.create_key(
        runtime.hub.begin, estate.clock.now(), name="buyer", scopes=[governance.ORDERS_READ], created_by="test"
    )
    _, shop = cli_governance.create_key(
        runtime.hub.begin,
        estate.clock.now(),
        name="shop",
        scopes=[governance.ORDERS_READ],
        channel="web",
        created_by="test",
    )
    with TestClient(create_app(runtime)) as client:
        listed = client.get("/v1/purchase-orders", headers={"Authorization": f"Bearer {admin}"})
        one = client.get("/v1/purchase-orders/PO-1", headers={"Authorization": f"Bearer {admin}"})
        missing = client.get("/v1/purchase-orders/PO-404", headers={"Authorization": f"Bearer {admin}"})
        refused = client.get("/v1/purchase-orders/PO-1", headers={"Authorization": f"Bearer {shop}"})
        anonymous = client.get("/v1/purchase-orders")
    assert listed.status_code == 200 and [po["purchase_order"] for po in listed.json()["items"]] == ["PO-1"]
    view = one.json()
    assert view["status"] == "partially_received" and view["supplier"] == "SUP-1"
    line = view["lines"][0]
    assert (line["ordered"], line["acknowledged"], line["noticed"], line["received"]) == ("12", "10", "10", "8")
    assert line["variances"]["received"] == "-2"
    [invoice] = view["invoices"]
    assert invoice["status"] == "exception" and invoice["lines"][0]["price_variance"] == "0.30"
    assert invoice["match"][0] == {
        "line_id": "1",
        "received": "8",
        "invoiced_before": "0",
        "quantity_ok": True,
        "price_ok": False,
    }
    assert {e["reason_code"] for e in view["exceptions"]} == {"receipt_variance", "invoice_match"}
    assert "7 units not received" in view["open_reasons"]  # 2 of line 1, all 5 of line 2
    assert catalog.PurchaseOrderReleased.event_type in [event["type"] for event in view["history"]]
    assert missing.status_code == 404 and missing.json()["code"] == "purchase-order-not-found"
    assert refused.status_code == 403, "a key for one sales channel sees no purchase orders"
    assert anonymous.status_code == 401

    env = {"COLUMNS": "250", "NO_COLOR": "1"}
    settings = ["--data-dir", str(tmp_path)]
    if runtime.settings.storage.url is not None:
        config_file = tmp_path / "crossdock.yaml"
        config_file.write_text(f"storage:\n  url: {runtime.settings.storage.url.get_secret_value()}\n")
        settings = ["--config", str(config_file)]
    shown = CliRunner().invoke(cli.app, ["purchase-orders", "show", "PO-1", "--json", *settings], env=env)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["lines"][0]["received"] == "8"
    table = CliRunner().invoke(cli.app, ["purchase-orders", "list", "--supplier", "SUP-1", *settings], env=env)
    assert table.exit_code == 0 and "PO-1" in table.output and "partially_received" in table.output
