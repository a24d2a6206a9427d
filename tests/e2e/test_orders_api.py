"""The order-to-cash experience API as a portal and an operator use it: orders posted with an Idempotency-Key,
read back with their lines and history; availability; exceptions decided; the journal read."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Estate, EstateFactory

ACCOUNTS = {
    "receivable": "1200",
    "revenue": "4000",
    "tax_payable": "2200",
    "cogs": "5000",
    "inventory": "1400",
    "cash": "1000",
    "customer_credit": "2300",
}
ORDER_TO_CASH: dict[str, Any] = {
    "sources": {"wms": {"kind": "canonical"}},
    "reference": {"customers": [{"number": "C-100", "currency": "EUR", "credit_limit": "10000"}]},
    "inventory": {"channels": ["web"], "buffers": {"defaults": {"web": {"kind": "absolute", "value": "1"}}}},
    "accounting": {"accounts": ACCOUNTS, "unit_costs": {"SKU-1": "4.00"}},
}


def sales_order(number: str, quantity: int = 3, *, customer: str = "C-100", **extra: Any) -> dict[str, Any]:
    return {
        "number": number,
        "customer": customer,
        "channel": "web",
        "currency": "EUR",
        "lines": [{"line": 1, "sku": "SKU-1", "quantity": {"value": str(quantity), "unit": "EA"}, "unit_price": "10"}],
        **extra,
    }


def wms_event(event_id: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"specversion": "1.0", "id": event_id, "source": "wms", "type": event_type, "data": data}


def receipt(estate: Estate, sku: str, location: str, quantity: int) -> None:
    data = {"sku": sku, "location": location, "change": {"value": str(quantity), "unit": "EA"}, "reason": "receipt"}
    response = estate.post("wms", wms_event(f"rcv-{sku}-{location}", "crossdock.inventory.adjusted.v1", data))
    assert response.status_code == 202, response.text


def post_order(estate: Estate, body: Any, key: str | None) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    response: httpx.Response = estate.client.post("/v1/orders", content=content, headers=headers)
    return response


def get(estate: Estate, path: str, **params: Any) -> dict[str, Any]:
    response = estate.client.get(path, params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture
def shop(make_estate: EstateFactory) -> Estate:
    """An estate with order-to-cash configured: one known customer, a WMS posting canonical stock events."""
    return make_estate(**copy.deepcopy(ORDER_TO_CASH))


def test_an_order_is_taken_once_per_key_reserved_against_stock_and_read_back_with_its_history(shop: Estate) -> None:
    receipt(shop, "SKU-1", "WH1", 5)

    first = post_order(shop, sales_order("SO-1"), key="portal-1")
    again = post_order(shop, sales_order("SO-1"), key="portal-1")
    shop.drain()

    assert first.status_code == 202, first.text
    assert first.json() | {"received_at": None} == {
        "order": "SO-1",
        "message_id": first.json()["message_id"],
        "status": "pending",
        "duplicate": False,
        "received_at": None,
        "links": {"order": "/v1/orders/SO-1", "message": f"/v1/messages/{first.json()['message_id']}"},
    }
    assert again.status_code == 200, again.text
    assert (again.json()["message_id"], again.json()["duplicate"]) == (first.json()["message_id"], True)
    view = get(shop, first.json()["links"]["order"])
    assert (view["status"], view["channel"], view["customer"], view["currency"], view["revision"]) == (
        "released",
        "web",
        "C-100",
        "EUR",
        1,
    )
    [line] = view["lines"]
    assert {k: line[k] for k in ("line_id", "sku", "ordered", "reserved", "backordered", "released", "shipped")} == {
        "line_id": "1",
        "sku": "SKU-1",
        "ordered": "3",
        "reserved": "3",
        "backordered": "0",
        "released": "3",
        "shipped": "0",
    }
    assert view["amounts"] == {
        "currency": "EUR",
        "total": "30.00",
        "invoiced": "0",
        "paid": "0",
        "balance_due": "0",
        "credit": "0",
    }
    assert view["open_reasons"] == ["3 units released but not shipped"]
    assert [t["stage"] for t in view["sla_timers"]] == ["released-not-shipped"]
    types = [event["type"] for event in view["history"]]
    assert types == [
        "crossdock.order.received.v1",
        "crossdock.order.accepted.v1",
        "crossdock.inventory.reserved.v1",
        "crossdock.shipment.released.v1",
    ]
    positions = [event["position"] for event in view["history"]]
    assert positions == sorted(positions)
    assert view["history"][0]["source"] == "crossdock/api"
    assert view["history"][1]["causationid"] == view["history"][0]["id"]


def test_an_order_larger_than_the_stock_is_partly_reserved_and_the_rest_backordered(shop: Estate) -> None:
    receipt(shop, "SKU-1", "WH1", 2)

    assert post_order(shop, sales_order("SO-2", quantity=5), key="portal-2").status_code == 202
    shop.drain()

    [line] = get(shop, "/v1/orders/SO-2")["lines"]
    assert (line["ordered"], line["reserved"], line["backordered"]) == ("5", "2", "3")


def test_orders_are_listed_with_filters(shop: Estate) -> None:
    receipt(shop, "SKU-1", "WH1", 5)
    post_order(shop, sales_order("SO-3"), key="k3")
    post_order(shop, sales_order("SO-4", customer="C-404"), key="k4")
    shop.drain()

    everything = get(shop, "/v1/orders")["items"]
    rejected = get(shop, "/v1/orders", status="rejected")["items"]

    assert sorted(o["order"] for o in everything) == ["SO-3", "SO-4"]
    assert [(o["order"], o["customer"], o["link"]) for o in rejected] == [("SO-4", "C-404", "/v1/orders/SO-4")]
    assert get(shop, "/v1/orders", customer="C-100", limit=1)["items"][0]["order"] == "SO-3"


def test_an_order_without_an_idempotency_key_is_refused_naming_the_header(shop: Estate) -> None:
    response = post_order(shop, sales_order("SO-5"), key=None)

    assert response.status_code == 428
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "idempotency-key-required"
    assert "Idempotency-Key" in response.json()["detail"]
    assert get(shop, "/v1/status")["messages"] == {}, "nothing was stored"


def test_the_same_key_with_another_order_is_a_conflict(shop: Estate) -> None:
    assert post_order(shop, sales_order("SO-6"), key="reused").status_code == 202

    response = post_order(shop, sales_order("SO-6", quantity=4), key="reused")

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency-conflict"


def test_a_body_that_is_not_a_sales_order_is_refused_naming_the_field_and_kept_failed(shop: Estate) -> None:
    body = sales_order("SO-7")
    del body["currency"]

    response = post_order(shop, body, key="bad-1")
    repeat = post_order(shop, body, key="bad-1")

    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "invalid-order"
    assert problem["errors"] == [{"where": "currency", "problem": "Field required"}]
    assert "currency" in problem["detail"]
    kept = get(shop, f"/v1/messages/{problem['message_id']}")
    assert (kept["source"], kept["status"]) == ("api", "failed")
    assert "currency" in kept["error"]
    assert (repeat.status_code, repeat.json()["message_id"], repeat.json()["duplicate"]) == (
        422,
        problem["message_id"],
        True,
    )
    shop.drain()
    assert shop.client.get("/v1/orders/SO-7").status_code == 404


def test_a_body_that_is_not_json_is_refused_and_kept(shop: Estate) -> None:
    response = post_order(shop, b"{not json", key="bad-2")

    assert response.status_code == 422
    assert response.json()["code"] == "invalid-order"
    assert get(shop, f"/v1/messages/{response.json()['message_id']}")["status"] == "failed"


def test_an_unknown_order_is_a_404_problem(shop: Estate) -> None:
    response = shop.client.get("/v1/orders/SO-404")

    assert response.status_code == 404
    assert response.json()["code"] == "order-not-found"


def test_availability_follows_adjustments_and_reservations_per_location_and_channel(shop: Estate) -> None:
    receipt(shop, "SKU-1", "WH1", 5)
    receipt(shop, "SKU-1", "WH2", 2)
    receipt(shop, "SKU-2", "WH1", 1)
    shop.drain()

    before = get(shop, "/v1/availability", sku="SKU-1")
    post_order(shop, sales_order("SO-8", quantity=4), key="k8")
    shop.drain()
    after = get(shop, "/v1/availability", sku="SKU-1")
    one_location = get(shop, "/v1/availability", sku="SKU-1", location="WH2")

    assert before["network"] == {"on_hand": "7", "in_transit": "0", "reserved": "0", "available": "7"}
    assert [(p["location"], p["available"]) for p in before["locations"]] == [("WH1", "5"), ("WH2", "2")]
    assert before["channels"] == [{"channel": "web", "available": "6"}], "the web channel keeps one unit back"
    assert after["network"] == {"on_hand": "7", "in_transit": "0", "reserved": "4", "available": "3"}
    assert after["channels"] == [{"channel": "web", "available": "2"}]
    assert [p["location"] for p in one_location["locations"]] == ["WH2"]
    unknown = shop.client.get("/v1/availability", params={"sku": "SKU-1", "channel": "fax"})
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown-channel")


def test_availability_without_a_sku_pages_through_positions(shop: Estate) -> None:
    receipt(shop, "SKU-1", "WH1", 5)
    receipt(shop, "SKU-1", "WH2", 2)
    receipt(shop, "SKU-2", "WH1", 1)
    shop.drain()

    first = get(shop, "/v1/availability", limit=2)
    second = get(shop, "/v1/availability", limit=2, after=first["next"])
    at_wh1 = get(shop, "/v1/availability", location="WH1")

    assert [(p["sku"], p["location"]) for p in first["items"]] == [("SKU-1", "WH1"), ("SKU-1", "WH2")]
    assert [(p["sku"], p["location"], p["on_hand"]) for p in second["items"]] == [("SKU-2", "WH1", "1")]
    assert second["next"] is None
    assert [(p["sku"], p["location"]) for p in at_wh1["items"]] == [("SKU-1", "WH1"), ("SKU-2", "WH1")]
    bad = shop.client.get("/v1/availability", params={"after": "nonsense"})
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid-cursor")


def test_overriding_the_rejection_of_an_unknown_customer_moves_the_order_on(shop: Estate) -> None:
    receipt(shop, "SKU-1", "WH1", 5)
    post_order(shop, sales_order("SO-9", customer="C-999"), key="k9")
    shop.drain()
    rejected = get(shop, "/v1/orders/SO-9")
    [exception] = get(shop, "/v1/exceptions", order="SO-9")["items"]

    acted = shop.client.post(
        f"/v1/exceptions/{exception['id']}/actions",
        json={"action": "override", "actor": "ana", "note": "new customer, account being opened"},
    )
    again = shop.client.post(f"/v1/exceptions/{exception['id']}/actions", json={"action": "cancel", "actor": "bo"})
    moved = get(shop, "/v1/orders/SO-9")

    assert rejected["status"] == "rejected"
    assert [r["code"] for r in rejected["rejection"]] == ["customer_unknown"]
    assert [e["id"] for e in rejected["exceptions"]] == [exception["id"]]
    assert (exception["owner"], exception["about"], exception["status"]) == (
        "customer_service",
        {"kind": "order", "key": "SO-9"},
        "open",
    )
    assert acted.status_code == 200, acted.text
    assert acted.json()["status"] == "resolved"
    assert [(a["action"], a["actor"], a["note"]) for a in acted.json()["actions"]] == [
        ("override", "ana", "new customer, account being opened")
    ]
    assert (again.status_code, again.json()["code"]) == (409, "exception-resolved")
    assert moved["status"] == "released"
    assert moved["lines"][0]["reserved"] == "3"
    assert moved["exceptions"] == []
    assert get(shop, "/v1/exceptions", order="SO-9")["items"] == []
    assert [e["id"] for e in get(shop, "/v1/exceptions", order="SO-9", status="resolved")["items"]] == [exception["id"]]
    assert get(shop, f"/v1/exceptions/{exception['id']}")["status"] == "resolved"


def test_an_unknown_exception_is_a_404_and_an_unknown_action_a_422(shop: Estate) -> None:
    shown = shop.client.get("/v1/exceptions/EX-NOPE")
    acted = shop.client.post("/v1/exceptions/EX-NOPE/actions", json={"action": "retry", "actor": "ana"})
    nonsense = shop.client.post("/v1/exceptions/EX-NOPE/actions", json={"action": "shrug", "actor": "ana"})

    assert (shown.status_code, shown.json()["code"]) == (404, "exception-not-found")
    assert (acted.status_code, acted.json()["code"]) == (404, "exception-not-found")
    assert (nonsense.status_code, nonsense.json()["code"]) == (422, "invalid-request")


def test_the_journal_lists_posted_entries_in_sequence_with_balanced_page_totals(shop: Estate) -> None:
    receipt(shop, "SKU-1", "WH1", 5)
    post_order(shop, sales_order("SO-10"), key="k10")
    shop.drain()
    shipment = {
        "shipment": {
            "number": "SH-10",
            "order": "SO-10",
            "from_location": "WH1",
            "lines": [{"line": 1, "sku": "SKU-1", "quantity": {"value": "3", "unit": "EA"}}],
        }
    }
    shop.post("wms", wms_event("ship-10", "crossdock.shipment.confirmed.v1", shipment))
    shop.drain()

    journal = get(shop, "/v1/journal")
    first_only = get(shop, "/v1/journal", limit=1)
    rest = get(shop, "/v1/journal", after=first_only["next"])

    assert journal["ledger"] == "main"
    assert [entry["sequence"] for entry in journal["items"]] == list(range(1, len(journal["items"]) + 1))
    assert {entry["rule"] for entry in journal["items"]} == {"invoice", "shipment"}
    assert journal["totals"]["EUR"]["debit"] == journal["totals"]["EUR"]["credit"]
    assert [e["sequence"] for e in first_only["items"] + rest["items"]] == [e["sequence"] for e in journal["items"]]
    assert get(shop, "/v1/orders/SO-10")["status"] == "invoiced"


def test_an_order_number_with_url_characters_is_linked_and_found(shop: Estate) -> None:
    posted = post_order(shop, sales_order("SO/11?b=2 #x"), key="k11")
    shop.drain()

    link = posted.json()["links"]["order"]

    assert link == "/v1/orders/SO%2F11%3Fb%3D2%20%23x"
    assert get(shop, link)["order"] == "SO/11?b=2 #x"


def test_the_openapi_document_describes_the_order_body_and_its_required_key(shop: Estate) -> None:
    operation = get(shop, "/openapi.json")["paths"]["/v1/orders"]["post"]

    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"number", "customer", "channel", "currency", "lines"} <= set(schema["required"])
    assert "$ref" not in json.dumps(schema), "definitions are inlined so that the document resolves"
    assert {"name": "Idempotency-Key", "in": "header", "required": True, "schema": {"type": "string"}} in operation[
        "parameters"
    ]
