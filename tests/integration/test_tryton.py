"""Tryton as the ERP, for real: a trytond server on loopback over a copy of the template database
(tests/integration/tryton/erp.py), the hub on SQLite beside it, and the Tryton connector between them, wired from
the configuration as `crossdock run` wires it (the poller is the one bootstrap built for the `kind: tryton` source).

The estate (the server per test, its clerk, hubs built from a configuration) is tests/integration/tryton/estate.py;
the clerks' work in Tryton (picking part of a shipment, posting an invoice, confirming a purchase) is done through
the same JSON-RPC client, as the Tryton desktop client would do it.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from crossdock.connectors import x12
from crossdock.connectors.tryton.client import TrytonClient
from crossdock.connectors.tryton.outbound import (
    EVENT_TYPES,
    JOURNAL_EVENT_TYPES,
    PURCHASE_EVENT_TYPES,
    BooksPolicy,
    SaleRefused,
    TrytonSender,
)
from crossdock.connectors.x12 import mapping as x12_mapping
from crossdock.domain import catalog, documents, procurement
from crossdock.domain.workflows import procure_to_pay as p2p
from crossdock.entrypoints.worker import Worker
from crossdock.observability.metrics import Metrics
from tests.integration.tryton import erp
from tests.integration.tryton import estate as tryton_estate
from tests.integration.tryton.estate import (
    ERP,
    HUB_ACCOUNTS,
    SALES,
    WMS,
    Estate,
    ship,
    stock_in_hub,
    the_sale,
    tryton_options,
)

pytestmark = pytest.mark.skipif(not erp.installed(), reason="trytond is not installed: pip install -e '.[tryton]'")

# The shared estate's fixtures, by the names pytest looks for.
tryton_template = tryton_estate.tryton_template
tryton = tryton_estate.tryton
clerk = tryton_estate.clerk
make_estate = tryton_estate.make_estate
hub_settings = tryton_estate.hub_settings
estate = tryton_estate.estate


def sales_order(number: str, customer: str, *lines: tuple[str, int, str]) -> bytes:
    order = {
        "number": number,
        "customer": customer,
        "channel": "webshop",
        "currency": erp.COMPANY_CURRENCY,
        "customer_reference": f"PO-{number}",
        "lines": [
            {"line": n, "sku": sku, "quantity": {"value": str(units), "unit": "EA"}, "unit_price": price}
            for n, (sku, units, price) in enumerate(lines, start=1)
        ],
    }
    return json.dumps(order).encode()


# ---- the proofs ------------------------------------------------------------------------------------------------------


def test_an_accepted_hub_order_becomes_a_confirmed_tryton_sale_with_its_party_lines_and_prices(
    estate: Estate, clerk: TrytonClient
) -> None:
    stock_in_hub(estate)
    estate.send("api", sales_order("SO-1001", "C-100", ("A-100", 10, "12.50"), ("B-200", 3, "4.00")), "SO-1001")
    estate.work()

    assert estate.dead_letters() == []
    sale = the_sale(clerk, "SO-1001")
    assert sale["state"] == "processing", "an order the hub accepted is confirmed in Tryton, not left as a quote"
    assert sale["party."]["code"] == "C-100", "the sale is for the customer's existing Tryton party, linked by code"
    assert sale["description"] == "PO-SO-1001"
    assert sale["shipment_address"], "raw RPC fills no addresses: the connector must"
    assert sale["untaxed_amount"] == Decimal("137.00")
    fields = ["sequence", "product.code", "quantity", "unit_price", "unit.symbol"]
    lines = clerk.read("sale.line", sale["lines"], fields)
    assert sorted(
        (ln["sequence"], ln["product."]["code"], ln["quantity"], ln["unit_price"], ln["unit."]["symbol"])
        for ln in lines
    ) == [(1, "A-100", 10.0, Decimal("12.50"), "u"), (2, "B-200", 3.0, Decimal("4.00"), "u")]

    with estate.runtime.hub.begin() as uow:
        (received,) = [e.envelope for e in uow.log.for_subject("SO-1001") if e.envelope.type == EVENT_TYPES[0]]
        (accepted,) = [e.envelope for e in uow.log.for_subject("SO-1001") if e.envelope.type == EVENT_TYPES[2]]
    again = TrytonSender(clerk)
    again.apply(received)
    again.apply(accepted)
    assert [s["id"] for s in clerk.search_read("sale.sale", [("reference", "=", "SO-1001")], ["id"])] == [sale["id"]], (
        "a delivery repeated (at least once) finds the sale it made and makes no second one"
    )

    estate.poll()
    with estate.runtime.hub.begin() as uow:
        assert uow.xrefs.external_id("order", ERP, "SO-1001") == str(sale["id"])
        assert uow.xrefs.external_id("customer", ERP, "C-100") == str(sale["party"])


def test_a_customer_tryton_does_not_know_is_created_there_and_an_unknown_item_is_a_missing_cross_reference(
    estate: Estate, clerk: TrytonClient
) -> None:
    stock_in_hub(estate)
    estate.send("api", sales_order("SO-2001", "C-777", ("A-100", 1, "12.50")), "SO-2001")
    estate.send("api", sales_order("SO-2002", "C-100", ("Z-999", 1, "1.00")), "SO-2002")
    estate.work()

    (party,) = clerk.search_read("party.party", [("code", "=", "C-777")], ["name"])
    assert the_sale(clerk, "SO-2001")["party"] == party["id"], "customers: create makes the party the order names"
    assert clerk.search_read("sale.sale", [("reference", "=", "SO-2002")], ["id"]) == []
    dead = estate.dead_letters()
    assert any("missing-cross-reference" in d and "Z-999" in d for d in dead), (
        f"items: link must refuse an item Tryton does not have, naming it: {dead}"
    )


def test_a_partial_shipment_in_tryton_comes_back_partial_its_backorder_is_seen_and_the_hub_bills_only_what_shipped(
    estate: Estate, clerk: TrytonClient
) -> None:
    stock_in_hub(estate)
    estate.send("api", sales_order("SO-3001", "C-100", ("A-100", 8, "12.50"), ("B-200", 3, "4.00")), "SO-3001")
    estate.work()
    (first,) = the_sale(clerk, "SO-3001")["shipments"]

    ship(clerk, first, {"A-100": 6.0})  # two widgets short on the shelf: Tryton keeps them on a backorder
    report = estate.poll()

    assert report.accepted == 1, f"one done shipment, one message: {report}"
    (confirmed,) = estate.events("SO-3001", catalog.ShipmentConfirmed.event_type)
    shipped = {ln["sku"]: Decimal(ln["quantity"]["value"]) for ln in confirmed["shipment"]["lines"]}
    assert shipped == {"A-100": Decimal(6), "B-200": Decimal(3)}
    assert confirmed["shipment"]["from_location"] == erp.WAREHOUSE_CODE
    order = estate.order("SO-3001")
    assert {ln.sku: (ln.shipped, ln.invoiced) for ln in order.lines} == {
        "A-100": (Decimal(6), Decimal(6)),
        "B-200": (Decimal(3), Decimal(3)),
    }, "the hub invoices what shipped, not what was ordered"
    (invoice,) = estate.events("SO-3001", catalog.InvoicePosted.event_type)
    assert Decimal(invoice["invoice"]["lines"][0]["quantity"]["value"]) == Decimal(6)

    backorders = [s for s in the_sale(clerk, "SO-3001")["shipments"] if s != first]
    assert len(backorders) == 1, "Tryton keeps what did not ship on a backorder shipment"
    (backorder,) = clerk.read("stock.shipment.out", backorders, ["number", "state"])
    with estate.runtime.hub.begin() as uow:
        assert uow.xrefs.external_id("shipment", ERP, backorder["number"]) == str(backorder["id"]), (
            "the poller sees the backorder and links it"
        )

    ship(clerk, backorder["id"], {})
    estate.poll()
    order = estate.order("SO-3001")
    assert {ln.sku: ln.shipped for ln in order.lines} == {"A-100": Decimal(8), "B-200": Decimal(3)}
    assert len(estate.events("SO-3001", catalog.InvoicePosted.event_type)) == 2


def test_polling_again_changes_nothing(estate: Estate, clerk: TrytonClient) -> None:
    stock_in_hub(estate)
    estate.send("api", sales_order("SO-4001", "C-100", ("A-100", 2, "12.50")), "SO-4001")
    estate.work()
    (shipment,) = the_sale(clerk, "SO-4001")["shipments"]
    ship(clerk, shipment, {})
    estate.poll()
    with estate.runtime.hub.begin() as uow:
        head, marks = uow.log.head(), uow.watermarks.all()

    again = estate.poll()

    assert again.accepted == 0, f"a re-read of the same Tryton state is no new message: {again}"
    # The poll re-reads a window before its watermark (late commits in Tryton): the done shipment comes again and
    # intake answers duplicate.
    assert again.duplicates == 1, again
    with estate.runtime.hub.begin() as uow:
        assert uow.log.head() == head, "nothing new happened in the hub"
        assert {key: value for key, (value, _at) in uow.watermarks.all().items()} == {
            key: value for key, (value, _at) in marks.items()
        }


def notes(clerk: TrytonClient, number: str) -> dict[str, tuple[int, str]]:
    """Product code -> (sale line id, its note)."""
    lines = clerk.read("sale.line", the_sale(clerk, number)["lines"], ["product.code", "note"])
    return {ln["product."]["code"]: (ln["id"], ln["note"]) for ln in lines}


def test_a_clerk_editing_a_sale_lines_note_after_the_hub_read_the_sale_changes_nothing(
    estate: Estate, clerk: TrytonClient
) -> None:
    stock_in_hub(estate)
    estate.send("api", sales_order("SO-4101", "C-100", ("A-100", 2, "12.50"), ("B-200", 1, "4.00")), "SO-4101")
    estate.work()
    estate.poll()  # the confirmed sale is read: each line's hub line is pinned
    lines = notes(clerk, "SO-4101")
    assert {sku: note for sku, (_id, note) in lines.items()} == {
        "A-100": "crossdock:line=1",
        "B-200": "crossdock:line=2",
    }, "each sale line names its hub line in its note"
    assert estate.xref("order_line", "SO-4101#2") == str(lines["B-200"][0])

    for line_id, _note in lines.values():
        clerk.write("sale.line", [line_id], {"note": "deliver to the back door"})
    (shipment,) = the_sale(clerk, "SO-4101")["shipments"]
    ship(clerk, shipment, {})
    estate.poll()

    (confirmed,) = estate.events("SO-4101", catalog.ShipmentConfirmed.event_type)
    assert {ln["line"]: ln["sku"] for ln in confirmed["shipment"]["lines"]} == {1: "A-100", 2: "B-200"}, (
        "the pinned cross-reference, not the note, says which hub line a sale line is"
    )
    assert {ln.sku: ln.shipped for ln in estate.order("SO-4101").lines} == {"A-100": Decimal(2), "B-200": Decimal(1)}


def test_a_note_that_lost_its_hub_line_before_the_hub_read_it_holds_the_shipments_until_it_is_put_right(
    estate: Estate, clerk: TrytonClient
) -> None:
    stock_in_hub(estate)
    estate.send("api", sales_order("SO-4201", "C-100", ("A-100", 2, "12.50"), ("B-200", 1, "4.00")), "SO-4201")
    estate.work()
    gadget, _note = notes(clerk, "SO-4201")["B-200"]
    clerk.write("sale.line", [gadget], {"note": "fragile"})  # before any poll: nothing is pinned yet
    (shipment,) = the_sale(clerk, "SO-4201")["shipments"]
    ship(clerk, shipment, {})

    held = estate.poller.poll_once()
    estate.work()

    assert held.error is not None and f"sale line {gadget}" in held.error and "SO-4201" in held.error, (
        f"the poll says which sale line of which order names no hub line: {held}"
    )
    assert "crossdock:line=" in held.error, "and what to write back"
    assert estate.events("SO-4201", catalog.ShipmentConfirmed.event_type) == [], (
        "a shipment whose lines cannot be told is not taken in without them"
    )

    clerk.write("sale.line", [gadget], {"note": "fragile crossdock:line=2"})
    estate.poll()

    (confirmed,) = estate.events("SO-4201", catalog.ShipmentConfirmed.event_type)
    assert {ln["line"]: ln["sku"] for ln in confirmed["shipment"]["lines"]} == {1: "A-100", 2: "B-200"}, (
        "put right, the shipment the stream waited at is taken in"
    )


def test_a_sale_whose_line_lost_its_hub_line_is_not_confirmed(clerk: TrytonClient) -> None:
    sender = TrytonSender(clerk)
    line = documents.SalesOrderLine(
        line=7, sku="A-100", quantity=documents.Quantity(value=Decimal(1), unit="EA"), unit_price=Decimal("12.50")
    )
    order = documents.SalesOrder(
        number="SO-4301", customer="C-100", channel="web", currency=erp.COMPANY_CURRENCY, lines=(line,)
    )
    sale_id = sender.draft(order)
    (sale,) = clerk.read("sale.sale", [sale_id], ["lines"])
    clerk.write("sale.line", sale["lines"], {"note": None})

    with pytest.raises(SaleRefused, match=r"order SO-4301: line 1 of Tryton sale .* names no hub line"):
        sender.confirm("SO-4301", documents.Money(amount=Decimal("12.50"), currency=erp.COMPANY_CURRENCY))
    (after,) = clerk.read("sale.sale", [sale_id], ["state"])
    assert after["state"] == "draft", "a person puts the line right before Tryton confirms the sale"


# The hub does not bill, so the Tryton source reads Tryton's customer invoices.
@pytest.mark.parametrize("hub_settings", [{"orders": {"hub_invoices": False}, "erp_options": {"invoices": True}}])
def test_when_tryton_bills_its_posted_invoice_for_the_shipped_quantity_is_the_hubs_invoice(
    estate: Estate, clerk: TrytonClient
) -> None:
    stock_in_hub(estate)
    estate.send("api", sales_order("SO-5001", "C-100", ("A-100", 8, "12.50")), "SO-5001")
    estate.work()
    (shipment,) = the_sale(clerk, "SO-5001")["shipments"]
    ship(clerk, shipment, {"A-100": 5.0})
    estate.poll()
    assert estate.events("SO-5001", catalog.InvoicePosted.event_type) == [], "the hub does not bill: Tryton does"

    (invoice_id,) = the_sale(clerk, "SO-5001")["invoices"]
    clerk.write("account.invoice", [invoice_id], {"invoice_date": datetime.date.today()})
    clerk.button("account.invoice", "post", [invoice_id])
    estate.poll()

    (posted,) = estate.events("SO-5001", catalog.InvoicePosted.event_type)
    (line,) = posted["invoice"]["lines"]
    assert (line["sku"], Decimal(line["quantity"]["value"]), Decimal(line["unit_price"])) == (
        "A-100",
        Decimal(5),
        Decimal("12.50"),
    )
    assert {ln.sku: ln.invoiced for ln in estate.order("SO-5001").lines} == {"A-100": Decimal(5)}


# ---- the worker polls Tryton by itself -----------------------------------------------------------------------------


def test_a_hub_started_from_its_configuration_polls_tryton_by_itself_and_a_shipment_done_there_reaches_the_order(
    make_estate: Callable[..., Estate], tryton: erp.Server, clerk: TrytonClient
) -> None:
    source = {"kind": "tryton", "poll_seconds": 0.2, "options": tryton_options(tryton)}
    estate = make_estate(sources={ERP: source, WMS: {"kind": "canonical"}})
    stock_in_hub(estate)
    estate.send("api", sales_order("SO-6001", "C-100", ("B-200", 4, "4.00")), "SO-6001")
    estate.work()
    (shipment,) = the_sale(clerk, "SO-6001")["shipments"]
    ship(clerk, shipment, {})

    estate.runtime.hub.release("test-worker")  # the worker takes over the shards at once, not when leases expire
    metrics = Metrics()
    worker = Worker(estate.runtime.hub, metrics, idle_sleep=0.01, pollers=estate.runtime.pollers)
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and estate.order("SO-6001").lines[0].shipped == 0:
            time.sleep(0.1)
    finally:
        worker.stop()

    assert {ln.sku: ln.shipped for ln in estate.order("SO-6001").lines} == {"B-200": Decimal(4)}, (
        "the worker polls the configured Tryton source on its own and the done shipment reaches the order"
    )
    polled = metrics.registry.get_sample_value(
        "crossdock_messages_received_total", {"source": ERP, "outcome": "polled"}
    )
    assert polled == 1, "the worker counts what its pollers took in, per source"


# ---- procure to pay: a purchase confirmed in Tryton, its 850, receipt and 810 --------------------------------------

SUPPLIER_PARTNER = "northern"
SUPPLIER_EDI, SUPPLIER_OUT = "edi-northern", "edi-northern-out"
OURS, THEIRS = "CROSSDOCKHUB", "NORTHERN"
SUPPLIER_CODE = erp.SUPPLIER[0]
# What the supplier's own translator knows: its id as the sender, ours as the receiver, our skus as buyer's parts.
SUPPLIER_SIDE = x12_mapping.PartnerRules(
    partner_id=OURS, our_id=THEIRS, supplier=SUPPLIER_CODE, item_ids=(x12_mapping.ItemId(qualifier="BP"),)
)
OUR_SIDE = x12_mapping.PartnerRules(
    partner_id=THEIRS, our_id=OURS, supplier=SUPPLIER_CODE, item_ids=(x12_mapping.ItemId(qualifier="BP"),)
)


def procure_to_pay_estate(make_estate: Callable[..., Estate], tryton: erp.Server) -> Estate:
    """Tryton buys from Northern Supply, an X12 supplier with a folder: its POs go out as 850s, its 810s come in,
    and what the hub receives and approves goes back to Tryton."""
    return make_estate(
        partners={
            SUPPLIER_PARTNER: {
                "role": "supplier",
                "id": THEIRS,
                "our_id": OURS,
                "supplier": SUPPLIER_CODE,
                "item_ids": [{"qualifier": "BP"}],
                "transport": {"path": "partners/northern"},
            }
        },
        sources={
            ERP: {"kind": "tryton", "options": tryton_options(tryton)},
            WMS: {"kind": "canonical"},
            SUPPLIER_EDI: {"kind": "edi", "partner": SUPPLIER_PARTNER},
        },
        destinations={
            SALES: {
                "kind": "tryton",
                "options": tryton_options(tryton),
                "retry": {"base_seconds": 0.01, "max_delay_seconds": 0.05},
            },
            SUPPLIER_OUT: {"kind": "edi", "partner": SUPPLIER_PARTNER},
        },
        subscriptions=[
            {"destination": SUPPLIER_OUT, "events": [catalog.PurchaseOrderReleased.event_type]},
            {"destination": SALES, "events": list(PURCHASE_EVENT_TYPES)},
        ],
        procurement={"suppliers": [{"number": SUPPLIER_CODE, "currency": erp.COMPANY_CURRENCY}]},
    )


def confirmed_purchase(clerk: TrytonClient, product_code: str, units: float, price: str) -> dict[str, Any]:
    """A buyer orders from Northern Supply in Tryton and confirms the purchase (Tryton drafts its invoice on order)."""
    (party,) = clerk.search_read("party.party", [("code", "=", SUPPLIER_CODE)], ["addresses"])
    (product,) = clerk.search_read("product.product", [("code", "=", product_code)], ["default_uom"])
    (warehouse,) = clerk.search_read("stock.location", [("code", "=", erp.WAREHOUSE_CODE)], ["id"])
    (purchase_id,) = clerk.create(
        "purchase.purchase",
        [
            {
                "party": party["id"],
                "invoice_address": party["addresses"][0],
                "warehouse": warehouse["id"],
                "lines": [
                    [
                        "create",
                        [
                            {
                                "type": "line",
                                "product": product["id"],
                                "quantity": units,
                                "unit": product["default_uom"],
                                "unit_price": Decimal(price),
                                "description": product_code,
                            }
                        ],
                    ]
                ],
            }
        ],
    )
    clerk.button("purchase.purchase", "quote", [purchase_id])
    clerk.button("purchase.purchase", "confirm", [purchase_id])
    (purchase,) = clerk.read("purchase.purchase", [purchase_id], ["number", "state", "invoice_method", "moves"])
    return purchase


def goods_receipt(number: str, order: str, units: int) -> bytes:
    """The warehouse counts line 1 of the purchase order in at Tryton's warehouse."""
    receipt = procurement.GoodsReceipt(
        number=number,
        order=order,
        location=erp.WAREHOUSE_CODE,
        lines=(
            procurement.ReceiptLine(line=1, sku="A-100", quantity=documents.Quantity(value=Decimal(units), unit="EA")),
        ),
    )
    posted = catalog.GoodsReceiptPosted(receipt=receipt)
    body = {"specversion": "1.0", "id": number, "source": WMS, "type": catalog.type_of(posted)}
    return json.dumps({**body, "data": catalog.data_of(posted)}).encode()


def test_a_tryton_po_goes_out_as_an_850_and_its_810_is_matched_and_posted_in_tryton(
    make_estate: Callable[..., Estate], tryton: erp.Server, clerk: TrytonClient
) -> None:
    estate = procure_to_pay_estate(make_estate, tryton)
    purchase = confirmed_purchase(clerk, "A-100", 10, "6.25")
    po = purchase["number"]

    estate.poll()

    # The purchase is the hub's PO, released to the supplier's channel: an 850 in its outbound folder.
    outbound = estate.runtime.settings.data_dir / "partners" / "northern" / "outbound"
    (written,) = sorted(outbound.glob("850-*.edi"))
    [sent] = x12.parse(written.read_bytes())
    assert (sent.sender_id, sent.receiver_id) == (OURS, THEIRS)
    [(_, tx)] = list(sent.transactions())
    back = x12_mapping.purchase_order_from_850(tx, OUR_SIDE)
    assert (back.number, back.supplier, back.currency, back.ship_to) == (po, SUPPLIER_CODE, "EUR", erp.WAREHOUSE_CODE)
    assert [(ln.line, ln.sku, ln.quantity.value, ln.unit_price) for ln in back.lines] == [
        (1, "A-100", Decimal(10), Decimal("6.25"))
    ]
    assert estate.xref("purchase_order", po) == str(purchase["id"])
    with estate.runtime.hub.begin() as uow:
        record = uow.purchase_orders.load(po)
    assert record is not None and record.status == p2p.POStatus.SENT.value

    # Eight of the ten arrive: Tryton's supplier shipment is received and done for eight, two still awaited.
    estate.send(WMS, goods_receipt("GR-1", po, 8), "GR-1")
    estate.work()
    assert estate.dead_letters() == []
    shipments = clerk.search_read("stock.shipment.in", [("reference", "=", "GR-1")], ["state", "incoming_moves"])
    assert len(shipments) == 1, "the hub's receipt becomes one Tryton supplier shipment, under the receipt's number"
    (shipment,) = shipments
    assert shipment["state"] == "done", "the goods the hub received are received and done in Tryton"
    moves = clerk.read("stock.move", shipment["incoming_moves"], ["quantity", "state", "product.code"])
    assert [(m["product."]["code"], m["quantity"], m["state"]) for m in moves] == [("A-100", 8.0, "done")]
    (after,) = clerk.read("purchase.purchase", [purchase["id"]], ["moves"])
    waiting = clerk.read("stock.move", after["moves"], ["quantity", "state"])
    assert [m["quantity"] for m in waiting if m["state"] == "draft"] == [2.0], "Tryton still awaits the other two"

    # The supplier bills the eight in an 810 built by its own translator; the hub matches it three ways.
    invoice = procurement.SupplierInvoice(
        number="INV-77",
        supplier=SUPPLIER_CODE,
        order=po,
        currency="EUR",
        issued_on=datetime.date.today(),
        lines=(
            procurement.SupplierInvoiceLine(
                line=1,
                sku="A-100",
                quantity=documents.Quantity(value=Decimal(8), unit="EA"),
                unit_price=Decimal("6.25"),
            ),
        ),
        total=Decimal("50.00"),
    )
    at = datetime.datetime.now(datetime.UTC)
    interchange = x12_mapping.build_interchange(
        SUPPLIER_SIDE,
        [x12_mapping.supplier_invoice_to_810(invoice, SUPPLIER_SIDE)],
        x12_mapping.ControlNumbers(interchange=501, group=501),
        at,
    )
    result = estate.runtime.hub.receive(SUPPLIER_EDI, x12.write(interchange), {"content-type": "application/edi-x12"})
    assert result.error is None, result.error
    estate.work()

    assert estate.events(po, catalog.SupplierInvoiceApproved.event_type), "the 810 matched the PO and the receipt"
    assert estate.dead_letters() == []
    bills = clerk.search_read(
        "account.invoice",
        [("type", "=", "in"), ("reference", "=", "INV-77")],
        ["state", "total_amount", "lines", "party.code"],
    )
    assert len(bills) == 1, "the approved invoice is one Tryton supplier invoice, under the supplier's number"
    (billed,) = bills
    assert (billed["state"], billed["total_amount"], billed["party."]["code"]) == ("posted", Decimal("50.00"), "V-300")
    (line,) = clerk.read("account.invoice.line", billed["lines"], ["quantity", "unit_price", "origin"])
    assert (line["quantity"], line["unit_price"]) == (8.0, Decimal("6.25")), "Tryton bills what the supplier billed"
    assert str(line["origin"]).startswith("purchase.line,"), "the supplier invoice is the purchase's own"

    # Delivered again (at least once): the shipment and the invoice are found, nothing is made twice.
    again = TrytonSender(clerk, books=BooksPolicy())
    for event_type in PURCHASE_EVENT_TYPES:
        (sent_before,) = [e.envelope for e in estate.log_of(po) if e.envelope.type == event_type]
        again.apply(sent_before)
    assert len(clerk.search_read("stock.shipment.in", [("reference", "=", "GR-1")], ["id"])) == 1
    assert len(clerk.search_read("account.invoice", [("reference", "=", "INV-77")], ["id"])) == 1


# ---- the hub's journal in Tryton's books ---------------------------------------------------------------------------


def test_a_hub_journal_entry_is_posted_as_a_tryton_move_and_its_confirmation_is_linked(
    make_estate: Callable[..., Estate], clerk: TrytonClient
) -> None:
    estate = make_estate(
        accounting={"accounts": HUB_ACCOUNTS},
        # Goods received accrue against GR/IR: in Tryton, merchandise and accrued expenses.
        sales_options={"post_journal": True, "accounts": {"1400": "1.3.1", "2150": "2.2.1"}},
        subscriptions=[{"destination": SALES, "events": list(JOURNAL_EVENT_TYPES)}],
    )
    issued = catalog.PurchaseOrderIssued(
        purchase_order=procurement.PurchaseOrder(
            number="PO-HUB-1",
            supplier=SUPPLIER_CODE,
            currency="EUR",
            ship_to=erp.WAREHOUSE_CODE,
            lines=(
                procurement.PurchaseOrderLine(
                    line=1, sku="A-100", quantity=documents.Quantity(value=Decimal(4), unit="EA"), unit_price=Decimal(5)
                ),
            ),
        )
    )
    body = {"specversion": "1.0", "id": "po-hub-1", "source": WMS, "type": catalog.type_of(issued)}
    estate.send(WMS, json.dumps({**body, "data": catalog.data_of(issued)}).encode(), "po-hub-1")
    estate.send(WMS, goods_receipt("GR-9", "PO-HUB-1", 4), "GR-9")
    estate.work()

    assert estate.dead_letters() == []
    (entry,) = [e.envelope.data for e in _journal_events(estate)]
    moves = clerk.search_read(
        "account.move", [("description", "like", f"crossdock:{entry['entry']} %")], ["state", "lines", "number"]
    )
    assert len(moves) == 1, "the hub's journal entry is one Tryton move, its description naming the entry"
    (move,) = moves
    assert move["state"] == "posted", "the move is posted, not left as a draft"
    lines = clerk.read("account.move.line", move["lines"], ["account.code", "debit", "credit"])
    assert sorted((ln["account."]["code"], ln["debit"], ln["credit"]) for ln in lines) == [
        ("1.3.1", Decimal("20.00"), Decimal(0)),
        ("2.2.1", Decimal(0), Decimal("20.00")),
    ]

    estate.poll()
    assert estate.xref("journal_entry", entry["entry"]) == str(move["id"]), "Tryton's move is recorded as the entry's"
    (posted,) = _journal_events(estate)
    TrytonSender(clerk, books=BooksPolicy(post_journal=True, accounts={"1400": "1.3.1", "2150": "2.2.1"})).apply(
        posted.envelope
    )
    assert len(clerk.search_read("account.move", [("description", "like", "crossdock:%")], ["id"])) == 1, (
        "a journal entry delivered again finds its move and posts no second one"
    )


def _journal_events(estate: Estate) -> list[Any]:
    with estate.runtime.hub.begin() as uow:
        return [e for e in uow.log.read(0, 1000) if e.envelope.type == catalog.JournalPosted.event_type]


@pytest.mark.parametrize("hub_settings", [{"sales_options": {"items": "create"}}])
def test_an_item_tryton_does_not_know_is_created_there_sold_in_the_orders_unit_when_items_may_be_created(
    estate: Estate, clerk: TrytonClient
) -> None:
    stock_in_hub(estate)
    estate.send("api", sales_order("SO-6001", "C-100", ("N-500", 2, "7.00")), "SO-6001")
    estate.work()

    assert estate.dead_letters() == [], "Tryton requires a sale unit on a salable product: the connector must set it"
    fields = ["code", "salable", "default_uom.symbol", "sale_uom.symbol", "list_price"]
    (template,) = clerk.search_read("product.template", [("code", "=", "N-500")], fields)
    assert (template["default_uom."]["symbol"], template["sale_uom."]["symbol"]) == ("u", "u")
    assert template["salable"] and template["list_price"] == Decimal("7.00")
    (line,) = clerk.read("sale.line", the_sale(clerk, "SO-6001")["lines"], ["product.code", "quantity"])
    assert (line["product."]["code"], line["quantity"]) == ("N-500", 2.0)
