"""The http connector end to end, with the example mapping under examples/http-mapping: an ERP's signed webhook mapped
by Python into an order the hub accepts, and the hub's verdict PUT back to a fake REST API that enforces its token and
idempotency keys; a wrong mapping fails its message with the function and field named, and replays once fixed."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from crossdock import config
from crossdock.connectors.http import Event, Received
from crossdock.domain import catalog
from crossdock.domain.workflows.order_to_cash import FULFILMENT
from crossdock.entrypoints import cli_governance
from crossdock.entrypoints.api.app import create_app
from crossdock.hub import governance
from crossdock.hub.ports import Delivery, DeliveryFilter, DeliveryStatus, MessageStatus
from tests.e2e.order_to_cash_estate import OrderToCashEstate, settings_for
from tests.fakes.http_target import FakeHttpTarget

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "http-mapping"
ERP, OUT = "erp", "erp-out"
THIS_MODULE = __name__  # the broken mapping below is imported by the hub under this name
STATUS_PATH = "/api/sales-documents/{}/status"


def order_in_reading_positions(request: Received) -> Event:
    """A mapping with a bug an integrator makes: it reads the lines from `positions`, which the ERP does not send."""
    doc = request.json()["doc"]
    lines = [
        {"line": p["pos"], "sku": p["material"], "quantity": {"value": p["qty"]}, "unit_price": p["net_price"]}
        for p in doc.get("positions", [])
    ]
    order = {"number": doc["doc_no"], "customer": doc["sold_to"], "channel": "erp", "currency": doc["currency"]}
    return Event(type=catalog.OrderReceived.event_type, data={"order": order | {"lines": lines}})


def salesdoc(number: str, *items: tuple[str, str, str], event_id: str | None = None) -> dict[str, Any]:
    """The ERP's webhook for a created sales document: (material, qty, net price) per position."""
    return {
        "event": "salesdoc.created",
        "event_id": event_id or f"wh-{number}",
        "doc": {
            "doc_no": number,
            "sold_to": "C-1001",
            "currency": "EUR",
            "created": "2025-03-03T08:15:00+01:00",
            "po_ref": f"PO-{number}",
            "items": [
                {"pos": 10 * n, "material": sku, "qty": qty, "uom": "EA", "net_price": price}
                for n, (sku, qty, price) in enumerate(items, start=1)
            ],
        },
    }


@pytest.fixture
def target() -> Iterator[FakeHttpTarget]:
    fake = FakeHttpTarget()
    fake.start()
    yield fake
    fake.stop()


@dataclass
class ErpEstate:
    estate: OrderToCashEstate
    target: FakeHttpTarget
    database_url: str
    token: str = ""
    client: TestClient | None = None

    def connect(self) -> None:
        """The API of the hub as built, with an admin key (made once: it lives in the database)."""
        assert self.estate.runtime is not None
        if not self.token:
            _, self.token = cli_governance.create_key(
                self.estate.hub.begin, self.estate.clock.now(), name="erp", scopes=[governance.ADMIN], created_by="test"
            )
        self.client = TestClient(create_app(self.estate.runtime), headers={"Authorization": f"Bearer {self.token}"})
        self.client.__enter__()

    def configure(self, *, mapping: str = "erp_mapping:order_in", **destination: Any) -> None:
        """Rebuild the hub on the same database with these options, as a restart after a configuration change."""
        self.close()
        self.estate.settings = settings(self.estate.data_dir, self.database_url, self.target, mapping, **destination)
        self.estate.start()
        self.connect()

    def close(self) -> None:
        if self.client is not None:
            self.client.__exit__(None, None, None)
            self.client = None
        if self.estate.runtime is not None:
            self.estate.stop()

    def post(self, payload: dict[str, Any], *, secret: str | None = None) -> httpx.Response:
        assert self.client is not None
        body, headers = self.target.webhook(payload, secret=secret)
        response: httpx.Response = self.client.post(f"/v1/inbound/{ERP}", content=body, headers=headers)
        return response

    def deliveries(self, event_type: str | None = None) -> list[Delivery]:
        with self.estate.hub.begin() as uow:
            return list(uow.outbox.find(DeliveryFilter(destination=OUT, event_type=event_type, status=None)))

    def accepted(self, order: str) -> list[dict[str, Any]]:
        return self.estate.events(catalog.OrderAccepted.event_type, order)


def settings(
    data_dir: Path, database_url: str, target: FakeHttpTarget, mapping: str, **destination: Any
) -> config.Settings:
    return settings_for(
        data_dir,
        storage={"url": database_url},
        sources={
            ERP: {
                "kind": "http",
                "options": {
                    "path": str(EXAMPLE),
                    "mapping": mapping,
                    "identify": "erp_mapping:identify",
                    "secret": target.secret,
                },
            },
        },
        destinations={
            OUT: {
                "kind": "http",
                "options": {
                    "path": str(EXAMPLE),
                    "mapping": "erp_mapping:order_out",
                    "base_url": target.url,
                    "auth": {"bearer": target.token},
                    **destination.pop("options", {}),
                },
                "retry": {"base_seconds": 1, "max_delay_seconds": 60, "max_attempts": 10},
                **destination,
            }
        },
        subscriptions=[{"destination": OUT, "events": ["crossdock.order.*"]}],
    )


@pytest.fixture
def erp(tmp_path: Path, target: FakeHttpTarget, database_url: str) -> Iterator[ErpEstate]:
    """Once on SQLite and once on PostgreSQL (database_url)."""
    estate = OrderToCashEstate(tmp_path, settings(tmp_path, database_url, target, "erp_mapping:order_in"))
    found = ErpEstate(estate, target, database_url)
    found.connect()
    yield found
    found.close()


def test_an_erp_webhook_mapped_in_python_becomes_an_accepted_order_whose_verdict_is_put_back(erp: ErpEstate) -> None:
    response = erp.post(salesdoc("40001234", ("WIDGET-1", "24", "4.50"), ("GADGET-2", "2", "10.00")))
    erp.estate.drain()

    assert response.status_code == 202, response.text
    state = erp.estate.state("40001234")
    assert state.status in FULFILMENT, f"the mapped order must be accepted, it is {state.status}"
    [received] = erp.estate.events(catalog.OrderReceived.event_type, "40001234")
    order = received["order"]
    assert (order["customer"], order["channel"], order["customer_reference"]) == ("C-1001", "erp", "PO-40001234")
    assert [(ln["line"], ln["sku"], ln["quantity"]["value"]) for ln in order["lines"]] == [
        (1, "WIDGET-1", "24"),  # the ERP's position 10 is order line 1
        (2, "GADGET-2", "2"),
    ]
    [put] = erp.target.made("PUT")
    assert put.path == STATUS_PATH.format("40001234")
    assert put.body == {"status": "RELEASED", "net_value": "128.00", "currency": "EUR"}
    [delivery] = erp.deliveries(catalog.OrderAccepted.event_type)
    assert put.idempotency_key == delivery.id, "the delivery id is the Idempotency-Key"
    assert delivery.status is DeliveryStatus.DELIVERED


def test_events_the_mapping_skips_are_delivered_without_a_request(erp: ErpEstate) -> None:
    erp.post(salesdoc("40001235", ("WIDGET-1", "1", "4.50")))
    erp.estate.drain()

    sent = erp.deliveries()
    skipped = [d for d in sent if d.event_type != catalog.OrderAccepted.event_type]
    assert {d.event_type for d in skipped} >= {catalog.OrderReceived.event_type}
    assert all(d.status is DeliveryStatus.DELIVERED for d in sent), [(d.event_type, d.last_error) for d in sent]
    assert [c.method for c in erp.target.made()] == ["PUT"], "only the verdict reaches the ERP"


def test_a_webhook_signed_with_another_secret_is_kept_failed_and_makes_no_order(erp: ErpEstate) -> None:
    response = erp.post(salesdoc("40001236", ("WIDGET-1", "1", "4.50")), secret="not the ERP's secret")
    erp.estate.drain()

    assert response.status_code == 422
    assert "X-Crossdock-Signature does not match" in response.json()["detail"]
    with erp.estate.hub.begin() as uow:
        [kept] = uow.inbox.find(source=ERP, limit=10)
        assert uow.orders.load("40001236") is None
    assert kept.status is MessageStatus.FAILED
    assert erp.target.made() == []


def test_a_wrong_mapping_fails_the_message_naming_function_and_field_and_replays_once_fixed(erp: ErpEstate) -> None:
    erp.configure(mapping=f"{THIS_MODULE}:order_in_reading_positions")
    response = erp.post(salesdoc("40001237", ("WIDGET-1", "3", "4.50")))
    erp.estate.drain()

    assert response.status_code == 202, "identified and stored: the mapping runs in a worker"
    message_id = response.json()["message_id"]
    assert erp.client is not None
    failed = erp.client.get(f"/v1/messages/{message_id}").json()
    assert failed["status"] == "failed"
    assert f"{THIS_MODULE}:order_in_reading_positions" in failed["error"]
    assert "data.order.lines" in failed["error"], failed["error"]
    assert erp.accepted("40001237") == []

    erp.configure(mapping="erp_mapping:order_in")  # the fix: the option points at the right function, then a restart
    replayed = erp.client.post(f"/v1/messages/{message_id}/replay")
    erp.estate.drain()

    assert replayed.status_code == 200, replayed.text
    assert erp.client.get(f"/v1/messages/{message_id}").json()["status"] == "processed"
    assert len(erp.accepted("40001237")) == 1
    [put] = erp.target.made("PUT")
    assert put.body["status"] == "RELEASED"


def test_a_503_is_retried_after_its_retry_after_with_the_same_idempotency_key(erp: ErpEstate) -> None:
    erp.target.fail(503, times=2, detail="maintenance", retry_after="30")
    erp.post(salesdoc("40001238", ("WIDGET-1", "2", "4.50")))
    erp.estate.drain()
    erp.estate.later(seconds=10)  # before Retry-After: nothing is sent
    assert [c.status for c in erp.target.made("PUT")] == [503]

    erp.estate.later(seconds=25)
    erp.estate.later(seconds=35)

    calls = erp.target.made("PUT")
    assert [c.status for c in calls] == [503, 503, 200]
    assert len({c.idempotency_key for c in calls}) == 1, "every retry carries the first try's key"
    assert erp.target.resources[STATUS_PATH.format("40001238")]["status"] == "RELEASED"
    [delivery] = erp.deliveries(catalog.OrderAccepted.event_type)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 3)


def test_a_400_dead_letters_the_delivery_with_the_erps_reason_and_is_not_retried(erp: ErpEstate) -> None:
    erp.target.fail(400, detail="net_value: document 40001239 is blocked for pricing")
    erp.post(salesdoc("40001239", ("WIDGET-1", "2", "4.50")))
    erp.estate.drain()
    erp.estate.later(seconds=600)

    [delivery] = erp.deliveries(catalog.OrderAccepted.event_type)
    assert delivery.status is DeliveryStatus.DEAD
    assert delivery.last_error is not None
    assert "HTTP 400" in delivery.last_error
    assert "blocked for pricing" in delivery.last_error
    assert f"PUT {STATUS_PATH.format('40001239')}" in delivery.last_error
    assert len(erp.target.made("PUT")) == 1


@pytest.mark.parametrize(
    ("limits", "most_at_once"),
    [
        ({"concurrency": 2}, 2),  # two requests in flight at most, though six are due together
        ({"batch_size": 1}, 1),  # one delivery per send: one request at a time
    ],
)
def test_a_destination_keeps_within_the_concurrency_and_batch_size_its_options_declare(
    erp: ErpEstate, limits: dict[str, int], most_at_once: int
) -> None:
    erp.configure(options=limits)
    erp.target.delay_seconds = 0.3
    for n in range(6):
        erp.post(salesdoc(f"4000130{n}", ("WIDGET-1", "1", "4.50")))
    erp.estate.drain()

    assert len(erp.target.made("PUT")) == 6
    assert erp.target.max_in_flight == most_at_once


def test_without_declared_limits_due_requests_go_out_together(erp: ErpEstate) -> None:
    erp.target.delay_seconds = 0.3
    for n in range(6):
        erp.post(salesdoc(f"4000140{n}", ("WIDGET-1", "1", "4.50")))
    erp.estate.drain()

    assert len(erp.target.made("PUT")) == 6
    assert erp.target.max_in_flight > 2, "the limits above must be what held requests back"
