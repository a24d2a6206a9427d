"""The trace an operator follows, through the API and the command line, after real flows: an order taken by the API,
rejected, overridden by a person, shipped, invoiced and paid, its events delivered to an ERP that failed once; and a
purchase order answered by a supplier in X12 files with a match exception accepted by finance. Traced by the order
number, the PO number, an X12 control number, a correlation id and a webshop's own id, each timeline shows the raw
message in, the state changes, the deliveries with every attempt, and the exception with its action."""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from crossdock.connectors.x12 import mapping
from crossdock.domain import catalog
from crossdock.entrypoints import cli
from crossdock.hub.ports import CrossReference
from tests.e2e import order_to_cash_harness as h
from tests.e2e.conftest import Estate, EstateFactory
from tests.e2e.procure_to_pay_estate import (
    acknowledgement,
    behind_the_api,
    edi_supplier_settings,
    goods_receipt,
    purchase_order,
    ship_notice,
    supplier_invoice,
)
from tests.e2e.test_orders_api import ORDER_TO_CASH, receipt, sales_order
from tests.e2e.test_procure_to_pay_edi import ACME, DESTINATION, SOURCE, SUPPLIER_SIDE, EdiEstate, interchange

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

WIDE = {"COLUMNS": "300", "NO_COLOR": "1"}  # Rich tables must not wrap the titles looked for
SHOPIFY_ID = "gid-5550001"


def crossdock(*args: str) -> Result:
    return CliRunner().invoke(cli.app, list(args), env=WIDE)


def write_config(path: Path, settings: dict[str, Any]) -> Path:
    path.write_text(json.dumps(settings), encoding="utf-8")  # JSON is YAML
    return path


def trace(estate_client: TestClient, key: str) -> dict[str, Any]:
    response = estate_client.get(f"/v1/trace/{key}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def of_kind(timeline: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [entry for entry in timeline["entries"] if entry["kind"] == kind]


# ---- order to cash ---------------------------------------------------------------------------------------------


@pytest.fixture
def shop(make_estate: EstateFactory) -> Estate:
    settings = copy.deepcopy(ORDER_TO_CASH)
    settings["sources"].update({h.BANK: {"kind": "canonical"}, "shopify": {"kind": "canonical"}})
    return make_estate(**settings)


def order_to_cash(shop: Estate) -> dict[str, Any]:
    """SO-9 from an unknown customer: rejected, overridden, shipped, invoiced, paid; the ERP fails once."""
    receipt(shop, "SKU-1", "WH1", 5)
    shop.drain()
    shop.sink.program(fail_next=[{"status": 503}])
    shop.clock.advance(5)
    body = sales_order("SO-9", customer="C-999")
    response = shop.client.post(
        "/v1/orders",
        content=json.dumps(body).encode(),
        headers={"Idempotency-Key": "k9", "content-type": "application/json", "x-correlation-id": "corr-so-9"},
    )
    assert response.status_code == 202, response.text
    shop.drain()
    shop.clock.advance(60)
    shop.drain()  # the ERP's retry
    with shop.hub.begin() as uow:
        uow.xrefs.link(CrossReference("order", "shopify", "SO-9", SHOPIFY_ID), shop.clock.now())
        uow.commit()
    [exception] = shop.client.get("/v1/exceptions", params={"order": "SO-9"}).json()["items"]
    shop.clock.advance(300)
    acted = shop.client.post(
        f"/v1/exceptions/{exception['id']}/actions",
        json={"action": "override", "actor": "ana", "note": "new customer, account being opened"},
    )
    assert acted.status_code == 200, acted.text
    shop.drain()
    shop.clock.advance(3600)
    shipped = h.shipment("SH-9", "SO-9", "WH1", [(1, "SKU-1", 3)])
    assert shop.post("wms", h.cloudevent(shipped, "wms-ship-9")).status_code == 202
    shop.drain()
    shop.clock.advance(86400)
    paid = h.payment("PAY-9", "C-999", h.invoice_number("SH-9"), Decimal("30"), shop.clock.now().date())
    assert shop.post(h.BANK, h.cloudevent(paid, "bank-pay-9", source=h.BANK)).status_code == 202
    shop.drain()
    return {"exception": exception["id"], "message": response.json()["message_id"]}


def assert_whole_order_story(timeline: dict[str, Any], made: dict[str, Any]) -> None:
    """The raw order in, what the hub decided and the state it ended in, every delivery with each attempt and its
    answer, and the exception with the person's action; in time order with durations."""
    [message] = [m for m in of_kind(timeline, "message") if m["detail"]["id"] == made["message"]]
    assert json.loads(message["detail"]["payload"])["number"] == "SO-9", "the raw payload as it came"
    assert message["detail"]["payload_truncated"] is False
    assert message["detail"]["headers"].get("authorization") in (None, "***")
    decided = [e["detail"]["type"] for e in of_kind(timeline, "decision")]
    for expected in (catalog.OrderRejected, catalog.OrderAccepted, catalog.InvoicePosted, catalog.ExceptionOpened):
        assert expected.event_type in decided, f"the decision {expected.event_type} is in the timeline"
    assert [e["title"] for e in of_kind(timeline, "state")] == ["order SO-9 is closed"]
    answers = [(a["detail"]["outcome"], a["detail"]["status_code"]) for a in of_kind(timeline, "attempt")]
    assert answers[0] == ("retryable", 503) and ("delivered", 200) in answers, "each attempt with its answer"
    assert all(d["detail"]["destination"] == "erp" for d in of_kind(timeline, "delivery"))
    [opened] = of_kind(timeline, "exception")
    assert opened["detail"]["reason_code"] and opened["links"]["exception"].endswith(made["exception"])
    [action] = of_kind(timeline, "action")
    assert (action["detail"]["action"], action["detail"]["actor"]) == ("override", "ana")
    assert action["detail"]["note"] == "new customer, account being opened"
    assert any(e["detail"].get("type") == catalog.PaymentApplied.event_type for e in timeline["entries"])
    times = [datetime.fromisoformat(e["at"]) for e in timeline["entries"]]
    assert times == sorted(times)
    assert timeline["duration_ms"] == (times[-1] - times[0]).total_seconds() * 1000
    assert max(e["duration_ms"] or 0 for e in timeline["entries"]) >= 86_400_000, "the wait for payment shows"


@pytest.mark.parametrize(
    "key",
    [
        "SO-9",  # the order number
        "corr-so-9",  # the correlation id the portal sent with the order
        SHOPIFY_ID,  # the webshop's own id, linked in the cross-references
        "PAY-9",  # the payment's reference
        "SH-9",  # the warehouse's shipment number, posted to the journal
        "INV-SH-9",  # the invoice the hub made of that shipment
    ],
)
def test_an_order_is_traced_through_the_api_by_any_of_its_ids(shop: Estate, key: str) -> None:
    made = order_to_cash(shop)

    timeline = trace(shop.client, key)

    assert [(o["kind"], o["key"]) for o in timeline["objects"]] == [("order", "SO-9")]
    assert_whole_order_story(timeline, made)
    assert [m["id"] for m in timeline["messages"]], "the grouped view is kept beside the timeline"


def test_the_trace_by_the_webshops_id_says_how_the_id_was_understood(shop: Estate) -> None:
    order_to_cash(shop)

    timeline = trace(shop.client, SHOPIFY_ID)

    assert timeline["matches"] == [{"as": "xref", "target": "SO-9", "note": f"order {SHOPIFY_ID} in shopify"}]
    [xref] = of_kind(timeline, "xref")
    assert xref["title"] == f"order SO-9 is {SHOPIFY_ID} in shopify"


def test_an_order_is_traced_on_the_command_line_as_a_table_and_as_json(
    shop: Estate, tmp_path: Path, database_url: str
) -> None:
    made = order_to_cash(shop)
    config_file = write_config(
        tmp_path / "cli.yaml",
        {"data_dir": str(tmp_path), "storage": {"url": database_url}, "sources": {"shopify": {"kind": "canonical"}}},
    )

    table = crossdock("trace", SHOPIFY_ID, "--config", str(config_file))
    as_json = crossdock("trace", "SO-9", "--json", "--config", str(config_file))
    unknown = crossdock("trace", "SO-404", "--config", str(config_file))

    assert table.exit_code == 0, table.output
    assert f"message #{made['message']} from api: processed" in table.output
    assert "attempt 1 to erp: retryable 503" in table.output
    assert "override by ana on exception" in table.output
    assert "order SO-9 is closed" in table.output
    assert as_json.exit_code == 0, as_json.output
    assert_whole_order_story(json.loads(as_json.stdout), made)
    assert unknown.exit_code == 1 and "Nothing matches 'SO-404'" in unknown.output


def test_an_id_nothing_knows_is_a_404_problem(shop: Estate) -> None:
    order_to_cash(shop)

    response = shop.client.get("/v1/trace/SO-404")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "nothing-found"


# ---- procure to pay over X12 -----------------------------------------------------------------------------------


@pytest.fixture
def supplier(tmp_path: Path, database_url: str) -> Iterator[EdiEstate]:
    settings = edi_supplier_settings(tmp_path, database_url, {"acme": ACME})
    with behind_the_api(EdiEstate(tmp_path, settings)) as built:
        yield built


def procure_to_pay(supplier: EdiEstate) -> dict[str, Any]:
    """PO-1 out as an 850; the supplier's 855 (ISA13 101), 856 (102) and 810 (103) back; a short receipt; the
    invoice's match exception accepted by finance."""
    ordered = purchase_order()
    supplier.issue(ordered)
    supplier.drain()
    files = {
        101: interchange(mapping.acknowledgement_to_855(acknowledgement(line_1=10), SUPPLIER_SIDE, order=ordered), 101),
        102: interchange(mapping.ship_notice_to_856(ship_notice(), SUPPLIER_SIDE), 102),
        103: interchange(
            mapping.supplier_invoice_to_810(supplier_invoice(tax="20.60", line_1=(10, "10.30")), SUPPLIER_SIDE), 103
        ),
    }
    for control in (101, 102):
        assert supplier.post_file(files[control]).status_code == 202
        supplier.later(hours=2)
    supplier.receive(goods_receipt(line_1=8))
    supplier.later(days=1)
    assert supplier.post_file(files[103]).status_code == 202
    supplier.later(hours=1)
    match = supplier.exception("invoice_match")
    supplier.later(hours=3)
    supplier.act(match.id, catalog.ExceptionAction.ACCEPT, note="agreed by phone")
    return {"exception": match.id, "files": files}


def assert_whole_purchase_story(timeline: dict[str, Any], made: dict[str, Any]) -> None:
    messages = {m["detail"]["key"]: m["detail"] for m in of_kind(timeline, "message")}
    edi = [m for m in messages.values() if m["source"] == SOURCE]
    assert {m["payload"].encode() for m in edi} >= {made["files"][101]}, "the supplier's 855 as it came, raw"
    assert [e["title"] for e in of_kind(timeline, "state")] == ["purchase order PO-1 is partially_received"]
    decided = {e["detail"]["type"] for e in of_kind(timeline, "decision")}
    assert (
        catalog.PurchaseOrderReleased.event_type in decided and catalog.SupplierInvoiceMatchFailed.event_type in decided
    )
    out = [
        d
        for d in of_kind(timeline, "delivery")
        if d["detail"]["event_type"] == catalog.PurchaseOrderReleased.event_type
    ]
    assert [d["detail"]["destination"] for d in out] == [DESTINATION], "the 850 went to the supplier's folder"
    attempts = [a for a in of_kind(timeline, "attempt") if a["detail"]["delivery_id"] == out[0]["detail"]["id"]]
    assert [(a["detail"]["number"], a["detail"]["outcome"]) for a in attempts] == [(1, "delivered")]
    reasons = [e["detail"]["reason_code"] for e in of_kind(timeline, "exception")]
    assert "invoice_match" in reasons
    [action] = [a for a in of_kind(timeline, "action") if a["detail"]["exception"] == made["exception"]]
    assert (action["detail"]["action"], action["detail"]["actor"], action["detail"]["note"]) == (
        "accept",
        "ana",
        "agreed by phone",
    )
    times = [datetime.fromisoformat(e["at"]) for e in timeline["entries"]]
    assert times == sorted(times)


@pytest.mark.parametrize(
    "key",
    [
        "PO-1",  # the purchase order number
        "000000101",  # the ISA13 of the supplier's 855, as written in the file
        "102",  # the ISA13 of its 856, without the zeros
    ],
)
def test_a_purchase_order_answered_in_x12_is_traced_by_its_number_or_a_control_number(
    supplier: EdiEstate, key: str
) -> None:
    made = procure_to_pay(supplier)

    timeline = trace(supplier.client, key)

    assert [(o["kind"], o["key"]) for o in timeline["objects"]] == [("purchase_order", "PO-1")]
    assert_whole_purchase_story(timeline, made)


def test_a_purchase_order_is_traced_on_the_command_line_by_a_control_number(
    supplier: EdiEstate, tmp_path: Path, database_url: str
) -> None:
    made = procure_to_pay(supplier)
    config_file = write_config(
        tmp_path / "cli.yaml",
        {
            "data_dir": str(tmp_path),
            "storage": {"url": database_url},
            "partners": {"acme": ACME},
            "sources": {SOURCE: {"kind": "edi", "partner": "acme"}},
        },
    )

    table = crossdock("trace", "101", "--config", str(config_file))
    as_json = crossdock("trace", "acme:000000103", "--json", "--config", str(config_file))

    assert table.exit_code == 0, table.output
    assert "purchase order PO-1" in table.output and "accept by ana on exception invoice_match" in table.output
    assert as_json.exit_code == 0, as_json.output
    assert_whole_purchase_story(json.loads(as_json.stdout), made)
