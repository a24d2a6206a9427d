"""The admin API as operators use it: an inventory count posted and kept as a reconciliation run (the same run the
command line keeps), runs listed and read with every drift explained; each connector's health, backlog and breaker;
each trading partner's profile without secrets, with its last interchanges and open acknowledgement exceptions."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from crossdock.hub.ports import (
    BusinessException,
    ExceptionFilter,
    ExceptionStatus,
    SentInterchange,
)
from tests.e2e.conftest import Estate, EstateFactory, estate_settings, merge, order
from tests.e2e.test_api_keys import call, crossdock, make_key
from tests.e2e.test_orders_api import ORDER_TO_CASH, get, receipt


def counted(*positions: tuple[str, str, Any], source: str = "wms", **extra: Any) -> dict[str, Any]:
    return {
        "source": source,
        "counts": [{"sku": sku, "location": location, "on_hand": on_hand} for sku, location, on_hand in positions],
        **extra,
    }


def on_hand(estate: Estate, sku: str, location: str) -> str:
    [position] = get(estate, "/v1/availability", sku=sku, location=location)["locations"]
    return str(position["on_hand"])


@pytest.fixture
def shop(make_estate: EstateFactory) -> Estate:
    return make_estate(**copy.deepcopy(ORDER_TO_CASH))


# ---- reconciliation ------------------------------------------------------------------------------------------


def test_a_posted_count_is_reconciled_once_kept_as_a_run_and_answered_the_same_when_posted_again(
    shop: Estate,
) -> None:
    receipt(shop, "SKU-1", "WH1", 5)
    receipt(shop, "SKU-2", "WH1", 4)
    shop.drain()

    first = shop.client.post(
        "/v1/reconciliations/inventory", json=counted(("SKU-1", "WH1", 7), ("SKU-2", "WH1", 4), ("SKU-3", "WH1", "1"))
    )
    after_first = [on_hand(shop, sku, "WH1") for sku in ("SKU-1", "SKU-2", "SKU-3")]
    # The same figures in another order and notation: the same count.
    again = shop.client.post(
        "/v1/reconciliations/inventory", json=counted(("SKU-3", "WH1", 1), ("SKU-2", "WH1", "4.0"), ("SKU-1", "WH1", 7))
    )

    assert first.status_code == 201, first.text
    run = first.json()
    assert first.headers["location"] == run["link"] == f"/v1/reconciliations/{run['reconciliation']}"
    assert run["reconciliation"].startswith("wms-") and run["actor"] == shop.actor and run["repeated"] is False
    assert (run["checked"], run["matched"], run["drifted"], run["adjusted"], run["exceptions_raised"]) == (
        3,
        1,
        2,
        2,
        0,
    )
    assert [(d["sku"], d["ledger"], d["counted"], d["drift"], d["action"]) for d in run["drifts"]] == [
        ("SKU-1", "5", "7", "2", "adjust"),
        ("SKU-3", "0", "1", "1", "adjust"),
    ]
    assert all(d["explanation"] and d["adjustment"] for d in run["drifts"]), "every drift says why and what was done"
    assert after_first == ["7", "4", "1"]
    assert again.status_code == 200, again.text
    assert again.json() == {**run, "repeated": True}, "the first run is the answer"
    assert [on_hand(shop, sku, "WH1") for sku in ("SKU-1", "SKU-2", "SKU-3")] == after_first, "nothing posted twice"


def test_runs_are_listed_newest_first_and_read_with_their_drift_per_location_and_exception(
    make_estate: EstateFactory,
) -> None:
    # The ERP owns WH2's on-hand: a WMS count there may not correct it, so its drift waits for a person.
    settings = merge(ORDER_TO_CASH, {"inventory": {"authority": [{"location": "WH2", "owner": "erp"}]}})
    shop = make_estate(**settings)
    receipt(shop, "SKU-1", "WH1", 5)
    shop.drain()

    first = shop.client.post("/v1/reconciliations/inventory", json=counted(("SKU-1", "WH1", 4), id="CC-1"))
    shop.clock.advance(60)
    second = shop.client.post(
        "/v1/reconciliations/inventory", json=counted(("SKU-1", "WH1", 4), ("SKU-1", "WH2", 2), id="CC-2")
    )
    listed = get(shop, "/v1/reconciliations")["items"]
    only_erp = get(shop, "/v1/reconciliations", source="erp")["items"]
    detail = get(shop, "/v1/reconciliations/CC-2")

    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert [run["reconciliation"] for run in listed] == ["CC-2", "CC-1"]
    assert only_erp == []
    assert {k: v for k, v in detail.items() if k not in ("drifts", "by_location", "exceptions")} == listed[0]
    assert [(d["location"], d["drift"], d["action"]) for d in detail["drifts"]] == [("WH2", "2", "exception")]
    assert detail["by_location"] == [
        {
            "location": "WH2",
            "drifted": 1,
            "adjusted": 0,
            "waiting": 0,
            "ignored": 0,
            "raised": 1,
            "drift": "2",
            "unexplained": "2",
        }
    ]
    with shop.hub.begin() as uow:
        opened = uow.exceptions.find(ExceptionFilter(status=ExceptionStatus.OPEN, about_key="SKU-1@WH2"))
    assert detail["exceptions"] == [{"id": e.id, "status": "open", "about": "SKU-1@WH2"} for e in opened]
    assert len(opened) == 1
    assert on_hand(shop, "SKU-1", "WH2") == "0", "not the counting system's to correct"


@pytest.mark.parametrize(
    ("body", "status", "code", "named"),
    [
        # the same position twice: the command line's rule
        (counted(("SKU-1", "WH1", 1), ("SKU-1", "WH1", 2)), 422, "invalid-count", "body.counts.1"),
        (counted(("SKU-1", "WH1", -1)), 422, "invalid-request", "body.counts.0.on_hand"),  # below zero
        (counted(("SKU-1", "WH1", "lots")), 422, "invalid-request", "body.counts.0.on_hand"),  # not a number
        (counted(("SKU-1", " ", 1)), 422, "invalid-request", "body.counts.0.location"),  # blank location
        (counted(), 422, "invalid-request", "body.counts"),  # nothing counted
    ],
)
def test_a_bad_count_is_refused_naming_where_and_nothing_is_posted(
    shop: Estate, body: dict[str, Any], status: int, code: str, named: str
) -> None:
    receipt(shop, "SKU-1", "WH1", 5)
    shop.drain()

    response = shop.client.post("/v1/reconciliations/inventory", json=body)

    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert named in response.json()["detail"]
    assert on_hand(shop, "SKU-1", "WH1") == "5"
    assert get(shop, "/v1/reconciliations")["items"] == []


def test_an_id_reused_for_another_count_is_a_conflict_and_changes_nothing(shop: Estate) -> None:
    receipt(shop, "SKU-1", "WH1", 5)
    shop.drain()
    assert shop.client.post("/v1/reconciliations/inventory", json=counted(("SKU-1", "WH1", 6), id="CC-9")).is_success

    reused = shop.client.post("/v1/reconciliations/inventory", json=counted(("SKU-1", "WH1", 9), id="CC-9"))

    assert (reused.status_code, reused.json()["code"], reused.json()["reconciliation"]) == (
        409,
        "reconciliation-conflict",
        "CC-9",
    )
    assert on_hand(shop, "SKU-1", "WH1") == "6"


def test_an_unknown_run_is_a_404_and_reconciling_takes_the_admin_scope(shop: Estate) -> None:
    reader = make_key(shop, "orders:read", "inventory:read")

    missing = shop.client.get("/v1/reconciliations/NOPE")
    refused = call(shop, "POST", "/v1/reconciliations/inventory", reader, json=counted(("SKU-1", "WH1", 1)))

    assert (missing.status_code, missing.json()["code"]) == (404, "reconciliation-not-found")
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")


def test_a_reconciliation_over_the_api_is_audited_and_sets_the_drift_gauges(shop: Estate) -> None:
    receipt(shop, "SKU-1", "WH1", 5)
    shop.drain()

    run = shop.client.post("/v1/reconciliations/inventory", json=counted(("SKU-1", "WH1", 2))).json()
    shop.flush_audit()
    metrics = shop.client.get("/metrics").text

    with shop.hub.begin() as uow:
        records = [r for r in uow.audit.read(after=0, limit=1000) if r.action == "inventory.reconcile"]
    assert [(r.actor, r.target, r.details["drifts"], r.details["adjustments"]) for r in records] == [
        (shop.actor, run["reconciliation"], 1, 1)
    ]
    assert 'crossdock_reconciliation_drift{action="adjust",location="WH1",source="wms"} 1.0' in metrics
    [drift] = run["drifts"]
    gauge = f'crossdock_reconciliation_unexplained_units{{location="WH1",source="wms"}} {float(drift["unexplained"])}'
    assert gauge in metrics and drift["unexplained"] == "3"


def test_the_command_line_keeps_its_run_where_the_api_reads_it(
    shop: Estate, make_estate: EstateFactory, tmp_path: Path
) -> None:
    receipt(shop, "SKU-1", "WH1", 5)
    shop.drain()
    config = tmp_path / "crossdock.yaml"
    settings = estate_settings(make_estate.database_url, tmp_path, shop.sink.url, **ORDER_TO_CASH)
    config.write_text(yaml.safe_dump(settings))
    count = tmp_path / "count.csv"
    count.write_text("sku,location,on_hand\nSKU-1,WH1,3\n", encoding="utf-8")

    result = crossdock("reconcile", "inventory", str(count), "--source", "wms", "--id", "CLI-1", "-c", str(config))
    reused = crossdock("reconcile", "inventory", str(count), "--source", "wms", "--id", "CLI-1", "-c", str(config))
    count.write_text("sku,location,on_hand\nSKU-1,WH1,9\n", encoding="utf-8")
    conflict = crossdock("reconcile", "inventory", str(count), "--source", "wms", "--id", "CLI-1", "-c", str(config))

    assert result.exit_code == 0, result.output
    assert reused.exit_code == 0 and "was run before" in reused.output
    assert conflict.exit_code == 2 and "another count" in " ".join(conflict.output.split())
    [run] = get(shop, "/v1/reconciliations")["items"]
    assert (run["reconciliation"], run["actor"].startswith("cli:"), run["adjusted"]) == ("CLI-1", True, 1)
    assert on_hand(shop, "SKU-1", "WH1") == "3"


# ---- connectors ----------------------------------------------------------------------------------------------


def test_connectors_show_their_kind_health_backlog_last_traffic_and_breaker(make_estate: EstateFactory) -> None:
    estate = make_estate(destinations={"erp": {"breaker": {"failure_threshold": 3, "reset_seconds": 30}}})
    estate.post("shop", order("SO-1"))
    estate.post("shop", order("SO-2"))

    waiting = get(estate, "/v1/connectors")
    estate.drain()
    healthy = get(estate, "/v1/connectors")
    estate.sink.program(always={"status": 503})
    for number in ("SO-3", "SO-4", "SO-5"):
        estate.post("shop", order(number))
    estate.drain()
    failing = get(estate, "/v1/connectors")

    shop = {s["name"]: s for s in waiting["sources"]}["shop"]
    assert (shop["kind"], shop["health"], shop["pending"], shop["failed"]) == ("generic", "ok", 2, 0)
    assert shop["last_message_at"] is not None
    assert {s["name"]: s["health"] for s in waiting["sources"]}["stock"] == "idle", "nothing received yet"
    assert {s["name"]: s["pending"] for s in healthy["sources"]}["shop"] == 0, "the backlog was processed"
    [erp] = healthy["destinations"]
    assert (erp["kind"], erp["health"], erp["breaker"], erp["pending"]) == ("webhook", "ok", "closed", 0)
    assert erp["last_delivered_at"] is not None
    [erp] = failing["destinations"]
    assert (erp["health"], erp["breaker"], erp["failures"]) == ("down", "open", 3)
    assert erp["open_until"] is not None and erp["pending"] == 3, "waiting for the breaker to let them through"


# ---- partners ------------------------------------------------------------------------------------------------

PARTNERS: dict[str, Any] = {
    "partners": {
        "acme": {
            "role": "customer",
            "id": "ACME",
            "our_id": "CROSSDOCK",
            "customer": "C-100",
            "transport": {
                "sftp": {
                    "host": "sftp.acme.example",
                    "username": "crossdock",
                    "known_hosts": "known_hosts",
                    "password": "hunter2-secret",
                }
            },
        }
    },
    "sources": {"acme-in": {"kind": "edi", "partner": "acme"}},
}


def test_a_partner_shows_its_profile_without_secrets_its_last_interchanges_and_open_acknowledgement_exceptions(
    make_estate: EstateFactory,
) -> None:
    estate = make_estate(**copy.deepcopy(PARTNERS))
    now = estate.clock.now()
    sent = SentInterchange(
        "d-1", "acme", "x12", "000000007", "7", "PR", (("855", "0001"),), "855", "SO-1", "e-1", now, now, "awaiting"
    )
    with estate.hub.begin() as uow:
        uow.interchanges.save(sent)
        for ident, about in (("EX-ACK-1", "acme:000000007"), ("EX-ACK-2", "other:000000007")):
            uow.exceptions.open(
                BusinessException(
                    ident, "customer_service", "acknowledgement_overdue", "edi_interchange", about, "late", now
                )
            )
        uow.commit()
    assert estate.post("acme-in", b"not an interchange").status_code == 422, "kept, failed: still the last received"

    listed = get(estate, "/v1/partners")["items"]
    one = get(estate, "/v1/partners/acme")
    raw = estate.client.get("/v1/partners/acme").text
    missing = estate.client.get("/v1/partners/nobody")

    assert [p["name"] for p in listed] == ["acme"]
    assert {k: one[k] for k in ("standard", "role", "their_id", "our_id", "customer", "sources")} == {
        "standard": "x12",
        "role": "customer",
        "their_id": "ACME",
        "our_id": "CROSSDOCK",
        "customer": "C-100",
        "sources": ["acme-in"],
    }
    assert one["transport"]["kind"] == "sftp" and one["transport"]["host"] == "sftp.acme.example"
    assert "hunter2-secret" not in raw and "password" not in raw and "username" not in raw, "no secret, no login"
    assert (one["last_sent"]["interchange"], one["last_sent"]["status"]) == ("000000007", "awaiting")
    assert (one["last_received"]["source"], one["last_received"]["status"]) == ("acme-in", "failed")
    assert [e["id"] for e in one["open_exceptions"]] == ["EX-ACK-1"], "only this partner's"
    assert (missing.status_code, missing.json()["code"]) == (404, "partner-not-found")
