"""Shipment tracking and invoice status as a portal reads them: where an order's goods left from, with carrier,
tracking numbers and how much of each shipment is billed; what an invoice bills, what was paid against it and what
is still open; and a key bound to one sales channel seeing nothing of another's."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.e2e.conftest import Estate, EstateFactory
from tests.e2e.test_api_keys import call, make_key
from tests.e2e.test_orders_api import ORDER_TO_CASH, get, post_order, receipt, sales_order, wms_event


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
