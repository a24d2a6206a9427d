"""Health and readiness: a load balancer may route to the hub only once its database schema is current."""

from __future__ import annotations

from pathlib import Path

import yaml

from crossdock.storage.sql import migrate
from tests.e2e.conftest import EstateFactory


def test_health_answers_ok_and_readiness_reports_the_current_revision_after_an_upgrade(
    make_estate: EstateFactory,
) -> None:
    estate = make_estate()

    health = estate.client.get("/healthz")
    ready = estate.client.get("/readyz")

    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "revision": migrate.head_revision(estate.runtime.engine)}


def test_a_database_that_was_never_upgraded_is_not_ready_with_migrations_pending(make_estate: EstateFactory) -> None:
    estate = make_estate(upgrade=False)

    assert estate.client.get("/healthz").status_code == 200, "alive, even when not ready"
    ready = estate.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/problem+json"
    assert ready.json()["code"] == "migrations-pending"


def test_the_event_catalogue_is_served_without_a_key_and_is_the_committed_one(make_estate: EstateFactory) -> None:
    estate = make_estate()
    served = estate.client.get("/asyncapi.json", headers={"Authorization": ""})

    assert served.status_code == 200, "the catalogue is documentation, readable like /openapi.json"
    committed = Path(__file__).resolve().parents[2] / "schemas" / "asyncapi.yaml"
    assert served.json() == yaml.safe_load(committed.read_text(encoding="utf-8"))
    assert "crossdock_order_accepted_v1" in served.json()["channels"]
