"""Shipment tracking and invoice status as a portal reads them: where an order's goods left from, with carrier,
tracking numbers and how much of each shipment is billed, also when an ERP bills; what an invoice bills, what was paid
and credited against it and what is still open; what an order's prepayments settled; and a key bound to one sales
channel seeing nothing of another's."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from tests.e2e.conftest import Estate, EstateFactory
from tests.e2e.test_api_keys import call, make_key
from tests.e2e.test_orders_api import ACCOUNTS, ORDER_TO_CASH, get, post_order, receipt, sales_order, wms_event


def shipment(number: str, order: str, units: int, **extra: Any) -> dict[str, Any]:
    return {
        "shipment": {
            "number": number,
            "order": order,
            "from_location": "WH1",
            "lines": [{"line": 1, "sku": "SKU-1", "quantity": {"value": str(units), "unit": "EA"}}],
            **extra,
        }
    }


def payment(reference: str, invoice: str, amount: str) -> dict[str, Any]:
    return {
        "payment": {
            "reference": reference,
            "customer": "C-100",
            "amount": amount,
            "currency": "EUR",
            "received_on": "2025-03-10",
            "applications": [{"invoice": invoice, "amount": amount}],
        }
    }


@pytest.fixture
def shop(make_estate: EstateFactory) -> Estate:
    """Order-to-cash with a WMS and a bank posting canonical events; the hub bills each shipment."""
    settings = copy.deepcopy(ORDER_TO_CASH)
    settings["sources"]["bank"] = {"kind": "canonical"}
    return make_estate(**settings)


def ship(shop: Estate, number: str, order: str, units: int, **extra: Any) -> None:
    event = wms_event(f"ship-{number}", "crossdock.shipment.confirmed.v1", shipment(number, order, units, **extra))
    assert shop.post("wms", event).status_code == 202
    shop.drain()


def pay(shop: Estate, reference: str, invoice: str, amount: str) -> None:
    event = wms_event(f"pay-{reference}", "crossdock.payment.applied.v1", payment(reference, invoice, amount))
    assert shop.post("bank", event).status_code == 202
    shop.drain()


def test_an_orders_shipments_show_where_they_left_from_with_carrier_tracking_lines_and_billing(shop: Estate) -> None:
    receipt(shop, "SKU-1", "WH1", 5)
    post_order(shop, sales_order("SO-1"), key="portal-1")
    shop.drain()

    before = get(shop, "/v1/orders/SO-1/shipments")
    ship(shop, "SH-1", "SO-1", 2, carrier="DHL", tracking_numbers=["TRK-1", "TRK-2"], shipped_at="2025-03-03T15:00:00Z")
    after = get(shop, "/v1/orders/SO-1/shipments")
    one = get(shop, "/v1/shipments/SH-1")

    assert before["shipments"] == [], "nothing has left yet"
    assert [(r["location"], r["lines"][0]["quantity"]) for r in before["releases"]] == [
        ("WH1", {"value": "3", "unit": "EA"})
    ]
    assert [(a["line_id"], a["awaiting"]) for a in before["awaiting_shipment"]] == [("1", "3")]
    [shipped] = after["shipments"]
    assert shipped == one, "the shipment reads the same on its own as in its order's list"
    assert {k: shipped[k] for k in ("shipment", "order", "channel", "location", "carrier", "tracking_numbers")} == {
        "shipment": "SH-1",
        "order": "SO-1",
        "channel": "web",
        "location": "WH1",
        "carrier": "DHL",
        "tracking_numbers": ["TRK-1", "TRK-2"],
    }
    assert (shipped["status"], shipped["shipped_at"]) == ("invoiced", "2025-03-03T15:00:00+00:00")
    assert shipped["lines"] == [
        {"line_id": "1", "sku": "SKU-1", "quantity": {"value": "2", "unit": "EA"}, "shipped": "2", "invoiced": "2"}
    ]
    assert shipped["invoices"] == [{"invoice": "INV-SH-1", "link": "/v1/invoices/INV-SH-1"}]
    assert [(a["line_id"], a["awaiting"]) for a in after["awaiting_shipment"]] == [("1", "1")], "one unit still to go"


def test_an_invoice_shows_what_it_bills_each_payment_applied_and_what_stays_open(shop: Estate) -> None:
    receipt(shop, "SKU-1", "WH1", 5)
    post_order(shop, sales_order("SO-2"), key="portal-2")
    shop.drain()
    ship(shop, "SH-2", "SO-2", 2)

    unpaid = get(shop, "/v1/invoices/INV-SH-2")
    pay(shop, "PAY-1", "INV-SH-2", "5")
    partly = get(shop, "/v1/invoices/INV-SH-2")
    pay(shop, "PAY-2", "INV-SH-2", "15")
    settled = get(shop, "/v1/invoices/INV-SH-2")

    assert (unpaid["order"], unpaid["shipment"], unpaid["customer"], unpaid["status"]) == (
        "SO-2",
        "SH-2",
        "C-100",
        "open",
    )
    assert unpaid["amounts"] == {
        "currency": "EUR",
        "net": "20.00",
        "tax": "0.00",
        "total": "20.00",
        "paid": "0.00",
        "credited": "0.00",
        "open": "20.00",
    }
    assert [(line["line_id"], line["quantity"]["value"], line["unit_price"]) for line in unpaid["lines"]] == [
        ("1", "2", "10")
    ]
    assert partly["status"] == "partially_paid"
    assert (partly["amounts"]["paid"], partly["amounts"]["open"]) == ("5.00", "15.00")
    assert [(p["payment"], p["amount"], p["received_on"]) for p in partly["payments"]] == [("PAY-1", "5", "2025-03-10")]
    assert (settled["status"], settled["amounts"]["open"]) == ("paid", "0.00")
    assert [p["payment"] for p in settled["payments"]] == ["PAY-1", "PAY-2"]


def credit_memo(number: str, invoice: str, units: int, reason: str = "damaged in transit") -> dict[str, Any]:
    return {
        "credit_memo": {
            "number": number,
            "customer": "C-100",
            "invoice": invoice,
            "issued_on": "2025-03-12",
            "reason": reason,
            "currency": "EUR",
            "lines": [{"line": 1, "sku": "SKU-1", "quantity": {"value": str(units), "unit": "EA"}, "unit_price": "10"}],
        }
    }


def credit(shop: Estate, event_id: str, memo: dict[str, Any]) -> None:
    assert shop.post("bank", wms_event(event_id, "crossdock.creditmemo.posted.v1", memo)).status_code == 202
    shop.drain()


def test_a_shipment_an_erp_bills_is_found_by_its_number_in_the_api_and_the_trace(make_estate: EstateFactory) -> None:
    settings = copy.deepcopy(ORDER_TO_CASH)
    settings["orders"] = {"hub_invoices": False}  # the ERP bills: the hub posts no invoice for the shipment
    settings["accounting"] = {"accounts": ACCOUNTS}  # and no unit cost: no journal entry names the shipment
    shop = make_estate(**settings)
    receipt(shop, "SKU-1", "WH1", 5)
    post_order(shop, sales_order("SO-E"), key="portal-e")
    shop.drain()
    ship(shop, "SH-E", "SO-E", 2, carrier="UPS")

    found = get(shop, "/v1/shipments/SH-E")
    traced = get(shop, "/v1/trace/SH-E")

    assert (found["order"], found["carrier"], found["status"], found["invoices"]) == ("SO-E", "UPS", "shipped", [])
    with shop.hub.begin() as uow:
        assert uow.journal.for_source("SH-E") == [], "nothing in the journal leads to the shipment"
    assert {"as": "shipment", "target": "SO-E", "note": "shipment SH-E of order SO-E"} in traced["matches"]
    assert [o["key"] for o in traced["objects"]] == ["SO-E"]
    confirmed = [e["detail"] for e in traced["entries"] if e["detail"].get("type") == "crossdock.shipment.confirmed.v1"]
    assert [d["data"]["shipment"]["number"] for d in confirmed] == ["SH-E"], "its confirmation is on the timeline"


def test_an_invoice_lists_the_credit_memos_against_it_and_they_reduce_what_is_open(shop: Estate) -> None:
    receipt(shop, "SKU-1", "WH1", 5)
    post_order(shop, sales_order("SO-C"), key="portal-c")
    shop.drain()
    ship(shop, "SH-C", "SO-C", 2)
    pay(shop, "PAY-C", "INV-SH-C", "5")

    credit(shop, "cm-1", credit_memo("CM-1", "INV-SH-C", 1))
    once = get(shop, "/v1/invoices/INV-SH-C")
    credit(shop, "cm-1-resent", credit_memo("CM-1", "INV-SH-C", 1))  # the same memo sent again under another id
    again = get(shop, "/v1/invoices/INV-SH-C")
    credit(shop, "cm-2", credit_memo("CM-2", "INV-SH-C", 1, reason="price agreed down"))
    settled = get(shop, "/v1/invoices/INV-SH-C")

    assert [(m["credit_memo"], m["total"], m["reason"]) for m in once["credit_memos"]] == [
        ("CM-1", "10.00", "damaged in transit")
    ]
    assert (once["amounts"]["paid"], once["amounts"]["credited"], once["amounts"]["open"]) == ("5.00", "10.00", "5.00")
    assert once["status"] == "partially_paid"
    assert again == once, "a credit memo counts once, however often it arrives"
    assert [m["credit_memo"] for m in settled["credit_memos"]] == ["CM-1", "CM-2"]
    assert (settled["amounts"]["credited"], settled["amounts"]["open"]) == ("20.00", "0.00"), "never below zero"
    assert settled["status"] == "paid"


def test_an_invoice_credited_in_full_and_not_paid_is_credited_not_paid(shop: Estate) -> None:
    receipt(shop, "SKU-1", "WH1", 5)
    post_order(shop, sales_order("SO-F"), key="portal-f")
    shop.drain()
    ship(shop, "SH-F", "SO-F", 1)

    credit(shop, "cm-f", credit_memo("CM-F", "INV-SH-F", 1, reason="returned unopened"))
    found = get(shop, "/v1/invoices/INV-SH-F")

    assert (found["status"], found["amounts"]["paid"], found["amounts"]["open"]) == ("credited", "0.00", "0.00")


def test_an_order_shows_each_prepayment_what_it_settled_of_which_invoice_and_what_became_credit(
    make_estate: EstateFactory,
) -> None:
    settings = copy.deepcopy(ORDER_TO_CASH)
    settings["sources"]["bank"] = {"kind": "canonical"}
    settings["accounting"]["accounts"] = ACCOUNTS | {"customer_deposit": "2350"}
    shop = make_estate(**settings)
    receipt(shop, "SKU-1", "WH1", 5)
    post_order(shop, sales_order("SO-P"), key="portal-p")  # 3 units at 10.00: 30.00
    shop.drain()
    prepayment = payment("PRE-P", "unused", "25.00")
    prepayment["payment"] |= {"applications": [], "order": "SO-P"}
    assert shop.post("bank", wms_event("pre-p", "crossdock.payment.applied.v1", prepayment)).status_code == 202
    shop.drain()

    held = get(shop, "/v1/orders/SO-P")
    ship(shop, "SH-P", "SO-P", 2)  # invoiced 20.00, settled from the prepayment
    applied = get(shop, "/v1/orders/SO-P")
    invoice = get(shop, "/v1/invoices/INV-SH-P")
    cancel = {"order": "SO-P", "cancellation": "CX-P", "lines": [{"line_id": "1", "quantity": "1"}], "reason": "short"}
    assert shop.post("wms", wms_event("cx-p", "crossdock.order.cancellation_requested.v1", cancel)).status_code == 202
    shop.drain()
    ended = get(shop, "/v1/orders/SO-P")

    def figures(order: dict[str, Any]) -> tuple[Decimal, ...]:
        [one] = order["prepayments"]
        return tuple(Decimal(one[name]) for name in ("amount", "applied", "released", "held"))

    assert [p["payment"] for p in held["prepayments"]] == ["PRE-P"]
    assert held["prepayments"][0]["received_on"] == "2025-03-10"
    assert figures(held) == (25, 0, 0, 25) and held["prepayments"][0]["applications"] == []
    assert Decimal(held["amounts"]["paid"]) == 25, "a prepayment is paid for the order"
    assert figures(applied) == (25, 20, 0, 5)
    assert [(a["invoice"], Decimal(a["amount"]), a["link"]) for a in applied["prepayments"][0]["applications"]] == [
        ("INV-SH-P", 20, "/v1/invoices/INV-SH-P")
    ]
    assert [(p["payment"], Decimal(p["amount"]), p["prepayment"]) for p in invoice["payments"]] == [("PRE-P", 20, True)]
    assert (invoice["status"], invoice["amounts"]["open"]) == ("paid", "0.00"), "settled by the prepayment"
    assert ended["status"] == "closed"
    assert figures(ended) == (25, 20, 5, 0), "what the order no longer needs is released as the customer's credit"
    assert Decimal(ended["amounts"]["credit"]) == 5


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/v1/shipments/SH-NONE", "shipment-not-found"),  # no invoice or journal entry names it
        ("/v1/invoices/INV-NONE", "invoice-not-found"),  # no order claims it
        ("/v1/orders/SO-NONE/shipments", "order-not-found"),  # no such order
    ],
)
def test_what_the_hub_does_not_know_is_a_404_problem_with_its_code(shop: Estate, path: str, code: str) -> None:
    response = shop.client.get(path)

    assert (response.status_code, response.json()["code"]) == (404, code)
    assert response.headers["content-type"] == "application/problem+json"


def test_a_key_bound_to_a_channel_sees_its_channels_shipments_and_invoices_and_nothing_of_another(
    shop: Estate,
) -> None:
    receipt(shop, "SKU-1", "WH1", 5)
    post_order(shop, sales_order("SO-3"), key="portal-3")
    shop.drain()
    ship(shop, "SH-3", "SO-3", 3)
    web = make_key(shop, "orders:read", channel="web")
    market = make_key(shop, "orders:read", channel="market")
    stock_only = make_key(shop, "inventory:read")
    paths = ("/v1/orders/SO-3/shipments", "/v1/shipments/SH-3", "/v1/invoices/INV-SH-3")

    seen = [call(shop, "GET", path, web).status_code for path in paths]
    hidden = [call(shop, "GET", path, market).json()["code"] for path in paths]
    refused = [call(shop, "GET", path, stock_only).status_code for path in paths]

    assert seen == [200, 200, 200]
    assert hidden == ["order-not-found", "shipment-not-found", "invoice-not-found"], "as if they did not exist"
    assert refused == [403, 403, 403], "reading them takes orders:read"


def test_every_call_is_in_the_audit_trail_under_its_route(shop: Estate) -> None:
    shop.client.get("/v1/invoices/INV-NONE")
    shop.flush_audit()

    with shop.hub.begin() as uow:
        calls = [r for r in uow.audit.read(after=0, limit=1000) if r.action == "api.call"]

    assert [(r.actor, r.details["route"], r.details["status"]) for r in calls][-1:] == [
        (shop.actor, "/v1/invoices/{invoice_id:path}", 404)
    ]


def test_the_openapi_document_gives_each_route_its_response_model_and_problems(shop: Estate) -> None:
    document = shop.client.get("/openapi.json").json()
    paths = document["paths"]

    for path, refusal in (
        ("/v1/orders/{order_id}/shipments", "order-not-found"),
        ("/v1/shipments/{shipment_id}", "shipment-not-found"),
        ("/v1/invoices/{invoice_id}", "invoice-not-found"),
    ):
        operation = paths[path]["get"]
        answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
        problem = operation["responses"]["404"]["content"]["application/problem+json"]["schema"]
        assert "$ref" in answer, f"{path} answers a documented model"
        assert (
            refusal in problem["properties"]["code"]["enum"] and refusal in operation["responses"]["404"]["description"]
        )
    invoice = document["components"]["schemas"]["Invoice"]["properties"]
    assert {"amounts", "payments", "status"} <= set(invoice)
