"""The audit trail as an auditor uses it: every API call and every admin action, through the API or the command
line, is a record naming who did it; `crossdock audit verify` holds on the untouched trail and names the first
record that was edited, removed or moved."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner, Result

from crossdock.entrypoints import cli
from crossdock.hub.ports import AuditRecord
from tests.e2e.conftest import Estate, EstateFactory, estate_settings, order
from tests.e2e.test_api_keys import call, make_key
from tests.e2e.test_orders_api import ORDER_TO_CASH, post_order, receipt, sales_order

WIDE = {"COLUMNS": "250", "NO_COLOR": "1", "USER": "auditor"}


def crossdock(*args: str) -> Result:
    return CliRunner().invoke(cli.app, list(args), env=WIDE)


def trail(estate: Estate) -> list[AuditRecord]:
    estate.flush_audit()
    with estate.hub.begin() as uow:
        return uow.audit.read(0, 10_000)


def calls(estate: Estate) -> list[dict[str, Any]]:
    return [{"actor": r.actor, **r.details} for r in trail(estate) if r.action == "api.call"]


@pytest.fixture
def config_file(make_estate: EstateFactory, tmp_path: Path) -> Path:
    path = tmp_path / "crossdock.yaml"
    path.write_text(yaml.safe_dump(estate_settings(make_estate.database_url, tmp_path, make_estate.sink.url)))
    return path


def test_every_v1_call_is_attributed_to_its_key_with_route_and_status(estate: Estate) -> None:
    reader = make_key(estate, "orders:read")
    reader_id = reader.split("_")[1]

    estate.client.get("/v1/status")
    estate.post("shop", order("SO-1"), key="k-1")
    call(estate, "GET", "/v1/status", reader)  # refused: not an admin
    call(estate, "GET", "/v1/status", None)  # refused: nobody
    call(estate, "GET", "/v1/orders/SO-404", reader)
    estate.client.get("/healthz")  # probes are not audited

    assert calls(estate) == [
        {
            "actor": estate.actor,
            "key_id": estate.key.id if estate.key else None,
            "method": "GET",
            "route": "/v1/status",
            "path": "/v1/status",
            "status": 200,
        },
        {
            "actor": estate.actor,
            "key_id": estate.key.id if estate.key else None,
            "method": "POST",
            "route": "/v1/inbound/{source}",
            "path": "/v1/inbound/shop",
            "status": 202,
        },
        {
            "actor": f"key:{reader_id}/orders-read",
            "key_id": reader_id,
            "method": "GET",
            "route": "/v1/status",
            "path": "/v1/status",
            "status": 403,
        },
        {
            "actor": "anonymous",
            "key_id": None,
            "method": "GET",
            "route": "/v1/status",
            "path": "/v1/status",
            "status": 401,
        },
        {
            "actor": f"key:{reader_id}/orders-read",
            "key_id": reader_id,
            "method": "GET",
            "route": "/v1/orders/{order_id:path}",
            "path": "/v1/orders/SO-404",
            "status": 404,
        },
    ]


def test_a_dead_letter_replay_through_the_api_is_recorded_with_the_key_that_asked(estate: Estate) -> None:
    estate.sink.program(fail_next=[{"status": 422}])
    estate.post("shop", order("SO-1"))
    estate.drain()
    [dead] = estate.deliveries("dead")

    one = estate.client.post(f"/v1/deliveries/{dead['id']}/replay", json={"note": "fixed"})
    estate.sink.program(fail_next=[{"status": 422}])
    estate.drain()
    bulk = estate.client.post("/v1/deliveries/replay", json={"destination": "erp", "note": "again"})
    dry = estate.client.post("/v1/deliveries/replay", json={"destination": "erp", "dry_run": True})

    assert one.status_code == bulk.status_code == dry.status_code == 200
    actions = [(r.actor, r.action, r.target, r.details.get("note")) for r in trail(estate) if r.action != "api.call"]
    assert actions[-2:] == [
        (estate.actor, "delivery.replay", dead["id"], "fixed"),
        (estate.actor, "deliveries.replay", "1 dead letters", "again"),
    ], "a dry run changes nothing and is only in the trail as a call"


def test_an_exception_decided_through_the_api_is_recorded_with_the_key_and_the_person(
    make_estate: EstateFactory,
) -> None:
    shop = make_estate(**copy.deepcopy(ORDER_TO_CASH))
    receipt(shop, "SKU-1", "WH1", 5)
    post_order(shop, sales_order("SO-9", customer="C-999"), key="k9")
    shop.drain()
    [exception] = shop.client.get("/v1/exceptions", params={"order": "SO-9"}).json()["items"]

    acted = shop.client.post(
        f"/v1/exceptions/{exception['id']}/actions", json={"action": "override", "actor": "ana", "note": "new"}
    )

    assert acted.status_code == 200, acted.text
    [record] = [r for r in trail(shop) if r.action == "exception.act"]
    assert (record.actor, record.target) == (shop.actor, exception["id"])
    assert record.details == {"action": "override", "decided_by": "ana", "note": "new"}


def test_admin_commands_are_recorded_with_the_operator_who_ran_them(estate: Estate, config_file: Path) -> None:
    estate.sink.program(fail_next=[{"status": 422}])
    estate.post("shop", order("SO-1"))
    estate.drain()
    [dead] = estate.deliveries("dead")
    created = crossdock("keys", "create", "--name", "ops", "--scopes", "admin", "--config", str(config_file))
    key_id = created.output.strip().splitlines()[-1].split("_")[1]

    steps = [
        crossdock("keys", "revoke", key_id, "--config", str(config_file)),
        crossdock("dlq", "replay", dead["id"], "--note", "retry", "--config", str(config_file)),
        crossdock("journal", "close-period", "2025-02", "--config", str(config_file)),
        crossdock("journal", "reopen-period", "2025-02", "--config", str(config_file)),
    ]

    assert created.exit_code == 0 and all(s.exit_code == 0 for s in steps), [s.output for s in steps]
    actions = [(r.actor, r.action, r.target) for r in trail(estate) if r.action != "api.call"]
    assert actions[-5:] == [
        ("cli:auditor", "key.create", key_id),
        ("cli:auditor", "key.revoke", key_id),
        ("cli:auditor", "delivery.replay", dead["id"]),
        ("cli:auditor", "period.close", "main:2025-02"),
        ("cli:auditor", "period.reopen", "main:2025-02"),
    ]


def test_audit_list_shows_the_records_in_order(estate: Estate, config_file: Path) -> None:
    estate.client.get("/v1/status")
    estate.flush_audit()

    listed = crossdock("audit", "list", "--json", "--config", str(config_file))
    only_keys = crossdock("audit", "list", "--action", "key.create", "--json", "--config", str(config_file))

    assert listed.exit_code == 0, listed.output
    items = json.loads(listed.output)["items"]
    assert [i["seq"] for i in items] == list(range(1, len(items) + 1))
    assert items[-1]["action"] == "api.call" and items[-1]["target"] == "GET /v1/status"
    assert {i["action"] for i in json.loads(only_keys.output)["items"]} == {"key.create"}


# ---- verification ----------------------------------------------------------------------------------------------


def _some_history(estate: Estate) -> None:
    for number in ("SO-1", "SO-2", "SO-3"):
        estate.post("shop", order(number))
    estate.client.get("/v1/status")
    estate.flush_audit()


def test_an_untouched_trail_verifies_as_intact(estate: Estate, config_file: Path) -> None:
    _some_history(estate)
    count = len(trail(estate))

    result = crossdock("audit", "verify", "--config", str(config_file))

    assert result.exit_code == 0, result.output
    assert f"{count} records, chain intact" in result.output


def _edit_details(conn: sa.Connection) -> None:
    value = "CAST(:d AS JSON)" if conn.dialect.name == "postgresql" else ":d"
    conn.execute(sa.text(f"UPDATE audit_log SET details = {value} WHERE seq = 3"), {"d": json.dumps({"status": 200})})


def _edit_actor(conn: sa.Connection) -> None:
    conn.execute(sa.text("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 3"))


def _delete(conn: sa.Connection) -> None:
    conn.execute(sa.text("DELETE FROM audit_log WHERE seq = 3"))


def _delete_and_renumber(conn: sa.Connection) -> None:
    # Closing the gap a deletion leaves does not help: the links no longer match.
    conn.execute(sa.text("DELETE FROM audit_log WHERE seq = 3"))
    conn.execute(sa.text("UPDATE audit_log SET seq = seq - 1 WHERE seq > 3"))


def _swap(conn: sa.Connection) -> None:
    conn.execute(sa.text("UPDATE audit_log SET seq = -1 WHERE seq = 3"))
    conn.execute(sa.text("UPDATE audit_log SET seq = 3 WHERE seq = 4"))
    conn.execute(sa.text("UPDATE audit_log SET seq = 4 WHERE seq = -1"))


@pytest.mark.parametrize(
    ("tamper", "broken_at", "reason"),
    [
        (_edit_details, 3, "does not match its hash"),  # a record's details rewritten
        (_edit_actor, 3, "does not match its hash"),  # blame moved to someone else
        (_delete, 4, "record 3 before it is missing"),  # a record removed
        (_delete_and_renumber, 3, "prev_hash does not match"),  # removed, and the numbers closed up
        (_swap, 3, "prev_hash does not match"),  # two records' places exchanged
    ],
)
def test_tampering_with_the_trail_is_detected_at_the_first_bad_record(
    estate: Estate, config_file: Path, tamper: Any, broken_at: int, reason: str
) -> None:
    _some_history(estate)
    with estate.runtime.engine.begin() as conn:
        tamper(conn)

    result = crossdock("audit", "verify", "--config", str(config_file))

    assert result.exit_code == 1, result.output
    assert f"Audit trail broken at record {broken_at}:" in result.output
    assert reason in result.output
