"""The example estate (examples/northwind): its configuration wires every partner, source and destination, its sample
documents read as the partners' profiles and the WMS connector say, and `crossdock demo` plays a day against a hub
serving it over HTTP in this process (SQLite in a temporary folder, the Tryton destination switched off), ending in
figures the API agrees with, a duplicate webhook that changed nothing, an outage's deliveries through, ship notices to
the EDI customer for its own shipments only, every interchange acknowledged, and no order stuck without a reason."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from crossdock import bootstrap, config
from crossdock.connectors import x12
from crossdock.connectors.wms import mapping as wms_mapping
from crossdock.domain import catalog
from crossdock.domain.edi_acknowledgements import OVERDUE, REJECTED, UNMATCHED, WITH_ERRORS
from crossdock.entrypoints import cli_demo, cli_governance
from crossdock.entrypoints.api.app import create_app
from crossdock.entrypoints.api.intake_writer import IntakeWriter
from crossdock.entrypoints.cli import app
from crossdock.entrypoints.worker import Worker
from crossdock.hub import governance
from crossdock.hub.errors import MappingError
from crossdock.observability.metrics import Metrics
from crossdock.storage.sql import migrate
from tests.e2e.conftest import free_port
from tests.unit.factories import make_stored_message

ROOT = Path(__file__).resolve().parents[2]
NORTHWIND = ROOT / "examples" / "northwind"
ESTATE = NORTHWIND / "crossdock.yaml"
TAG = "4242001"
TERMINAL = {"closed", "cancelled"}


def overrides(data_dir: Path, wms_port: int) -> dict[str, str]:
    """What a test run changes in the estate, as the environment variables `make run` users would set."""
    return {
        "CROSSDOCK_DATA_DIR": str(data_dir),
        "CROSSDOCK_DESTINATIONS__WMS__OPTIONS__BASE_URL": f"http://127.0.0.1:{wms_port}",
        "CROSSDOCK_DESTINATIONS__TRYTON__ENABLED": "false",
    }


# ---- the configuration -------------------------------------------------------------------------------------------


def test_the_northwind_estate_wires_every_partner_source_and_destination(tmp_path: Path) -> None:
    settings = config.load(ESTATE, environ={"CROSSDOCK_DATA_DIR": str(tmp_path)})
    runtime = bootstrap.build(settings)
    try:
        built = runtime.hub.outbox.destinations
        assert set(built) == set(settings.destinations), "every destination, the ERP's too, has a sender"
        assert set(settings.sources) <= set(runtime.hub.intake.adapters), "every source has an intake adapter"
        subscribed = {s.destination for s in settings.subscriptions}
        assert subscribed <= set(built)
        edi = {name: s.partner or "" for name, s in settings.sources.items() if s.kind == "edi"}
        assert sorted(edi.values()) == ["acme", "harbor"], "one EDI customer and one EDI supplier"
        assert {settings.partners[p].role for p in edi.values()} == {"customer", "supplier"}
        assert len(runtime.pollers) >= 2, "both partners' inbound folders are read by the worker"
        estate = cli_demo.Estate.of(settings)
        assert estate.customer.inbound == tmp_path / "partners" / "harbor" / "inbound"
    finally:
        runtime.close()
    env = {"CROSSDOCK_DATA_DIR": str(tmp_path)}
    for command in (["config", "check"], ["partners", "check"]):
        result = CliRunner().invoke(app, [*command, "--config", str(ESTATE)], env=env)
        assert result.exit_code == 0, f"crossdock {' '.join(command)} fails on the estate:\n{result.output}"


def test_switching_the_erp_off_queues_nothing_for_it(tmp_path: Path) -> None:
    settings = config.load(ESTATE, environ=overrides(tmp_path, free_port()))
    runtime = bootstrap.build(settings)
    try:
        assert "tryton" not in runtime.hub.outbox.destinations
        assert all(s.destination != "tryton" for s in runtime.hub.outbox.subscriptions)
    finally:
        runtime.close()


@pytest.mark.parametrize(
    ("document", "partner", "expected"),
    [
        ("harbor-850.edi", "harbor", "crossdock.order.received.v1"),  # the EDI customer's order
        ("acme-856.edi", "acme", "crossdock.asn.received.v1"),  # the supplier's ship notice
    ],
)
def test_the_sample_partner_files_read_as_their_profiles_say(document: str, partner: str, expected: str) -> None:
    result = CliRunner().invoke(
        app,
        ["edi", "parse", str(NORTHWIND / "documents" / document), "--partner", partner, "--json", "-c", str(ESTATE)],
    )
    assert result.exit_code == 0, result.output
    assert expected in result.output


def test_the_sample_wms_webhook_reads_as_the_estates_wms_source_maps_it(tmp_path: Path) -> None:
    settings = config.load(ESTATE, environ={"CROSSDOCK_DATA_DIR": str(tmp_path)})
    runtime = bootstrap.build(settings)
    try:
        source = runtime.hub.intake.adapters[cli_demo.WMS_SOURCE]
        body = (NORTHWIND / "documents" / "wms-shipment-shipped.json").read_bytes()
        secret = settings.sources[cli_demo.WMS_SOURCE].options["secret"]
        headers = {wms_mapping.SIGNATURE_HEADER.lower(): wms_mapping.signature(secret, body)}
        identity = source.identify(body, headers)
        [event] = source.to_events(make_stored_message(body=body, headers=headers, source=cli_demo.WMS_SOURCE))
    finally:
        runtime.close()
    assert identity.key == "wms:evt-88121"
    assert event.type == catalog.ShipmentConfirmed.event_type
    shipment = catalog.payload_as(event, catalog.ShipmentConfirmed).shipment
    assert (shipment.order, shipment.from_location) == ("HF-4512", "WH-NORTH")
    assert shipment.lines[0].quantity.value == Decimal(30)
    with pytest.raises(MappingError, match="signature"):
        source.identify(body, {})  # the estate takes only webhooks signed with its secret


def test_the_morning_count_in_the_reference_data_is_the_one_the_demo_posts() -> None:
    rows = (NORTHWIND / "reference" / "morning-count.csv").read_text().splitlines()[1:]
    counted = {(location, sku): int(n) for sku, location, n in (row.split(",") for row in rows)}
    assert counted == cli_demo.MORNING_COUNT


# ---- a day against a hub serving the estate ----------------------------------------------------------------------


@dataclass
class ServedHub:
    url: str
    key: str
    http: httpx.Client
    env: dict[str, str]
    runtime: bootstrap.Runtime

    @property
    def data_dir(self) -> Path:
        return Path(self.env["CROSSDOCK_DATA_DIR"])

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedHub]:
    """`crossdock run` on the estate, in this process: API, worker and the partners' folder pollers."""
    env = overrides(tmp_path_factory.mktemp("northwind"), free_port())
    port = free_port()
    settings = config.load(ESTATE, environ=env, overrides={"http.port": port, "worker.idle_sleep_ms": 5})
    runtime = bootstrap.build(settings)
    migrate.upgrade(runtime.engine)
    _, token = cli_governance.create_key(
        runtime.hub.begin, runtime.hub.clock.now(), name="e2e", scopes=[governance.ADMIN], created_by="e2e"
    )
    metrics = Metrics()
    intake = IntakeWriter(runtime.hub.accept, window_ms=2, max_batch=500, own_thread=False)
    worker = Worker(runtime.hub, metrics, idle_sleep=0.005, intake=intake, pollers=runtime.pollers)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(runtime, metrics=metrics, intake=intake), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    worker.start()
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the hub did not start serving"
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        yield ServedHub(url, token, http, env, runtime)
    server.should_exit = True
    thread.join(timeout=10)
    worker.stop()
    intake.close()
    runtime.close()


@pytest.fixture(scope="module")
def day(served: ServedHub) -> dict[str, Any]:
    """A day played by `crossdock demo` at full speed, once for the tests below; its summary as --json prints it."""
    args = ["demo", "-c", str(ESTATE), "--url", served.url, "--key", served.key]
    args += ["--speed", "100000", "--seed", "7", "--tag", TAG, "--json"]
    result = CliRunner().invoke(app, args, env=served.env)
    assert result.exit_code == 0, f"the demo failed:\n{result.output}\n{result.stderr}"
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def test_a_day_at_northwind_ends_with_a_summary_the_hub_agrees_with(served: ServedHub, day: dict[str, Any]) -> None:
    orders = {number: served.get(f"/v1/orders/{number}") for number in day["orders"]}
    assert {n: o["status"] for n, o in orders.items()} == day["orders"]
    assert day["orders_by_status"] == dict(Counter(o["status"] for o in orders.values()))
    traffic = day["traffic"]
    assert (traffic["web_orders"], traffic["edi_orders"], traffic["portal_orders"]) == (7, 1, 1)

    exceptions = served.get("/v1/exceptions", status="open", limit=1000)["items"]
    assert day["exceptions_by_owner"] == dict(Counter(e["owner"] for e in exceptions))
    dead = served.get("/v1/deliveries", status="dead", limit=10000)["items"]
    assert day["dead_letters"] == dict(Counter(d["destination"] for d in dead))
    assert dead == [], "nothing of the day was dead-lettered"

    entries = served.get("/v1/journal", limit=1000)["items"]
    assert day["journal"]["entries"] == len(entries) > 0
    for entry in entries:
        debit = sum(Decimal(line["debit"]) for line in entry["lines"])
        assert debit == sum(Decimal(line["credit"]) for line in entry["lines"]), f"{entry['id']} does not balance"
    assert day["journal"]["balanced"] is True


def test_a_day_at_northwind_ships_and_bills_every_order_and_leaves_none_stuck_without_a_reason(
    served: ServedHub, day: dict[str, Any]
) -> None:
    for number in day["orders"]:
        order = served.get(f"/v1/orders/{number}")
        for line in order["lines"]:
            wanted = Decimal(line["ordered"]) - Decimal(line["cancelled"])
            assert Decimal(line["shipped"]) == wanted, f"{number} line {line['line_id']} did not ship in full"
            assert Decimal(line["invoiced"]) == wanted, f"{number} line {line['line_id']} is not billed in full"
        if order["status"] not in TERMINAL:
            assert order["open_reasons"] or order["exceptions"], f"{number} is {order['status']} with no reason"
    assert day["orders"][f"SO-{TAG}"] == "closed", "the order that was paid is closed"
    [cancelled_line] = [line for line in served.get(f"/v1/orders/SO-{TAG}")["lines"] if line["line_id"] == "1"]
    assert Decimal(cancelled_line["cancelled"]) == 8 and Decimal(cancelled_line["shipped"]) == 0
    # The EDI customer's order shipped in parts: some of it at once, the backordered rest from the supplier's goods.
    assert len(served.get(f"/v1/orders/HF-{TAG}")["shipments"]) >= 3


def test_a_day_at_northwind_takes_the_duplicate_webhook_as_a_duplicate_and_changes_nothing(
    served: ServedHub, day: dict[str, Any]
) -> None:
    assert day["traffic"]["duplicate_webhooks_answered"] == 1
    assert day["traffic"]["duplicates_that_changed_something"] == []
    resent = served.get(f"/v1/orders/SHOP-{TAG}01")
    received = [e for e in resent["history"] if e["type"] == "crossdock.order.received.v1"]
    assert len(received) == 1, "the retried webhook made a second order.received"


def test_a_day_at_northwind_delivers_what_queued_during_the_wms_outage_once_it_is_back(
    served: ServedHub, day: dict[str, Any]
) -> None:
    assert day["traffic"]["wms_refused_while_down"] >= 1
    assert served.get("/v1/deliveries", status="pending", destination="wms")["items"] == []
    delivered = served.get("/v1/deliveries", status="delivered", destination="wms", limit=1000)["items"]
    retried = [d for d in delivered if d["attempts"] > 1]
    assert retried, "a release refused during the outage was delivered on a later attempt"
    assert {d["subject"] for d in retried} <= {f"SHOP-{TAG}06", f"SHOP-{TAG}07"}


def test_a_day_at_northwind_raises_the_late_ship_notice_and_the_short_receipt_for_procurement(
    served: ServedHub, day: dict[str, Any]
) -> None:
    about_po = [e for e in day["exceptions"] if e["about"] == f"PO-{TAG}"]
    assert {e["reason"] for e in about_po} >= {"ship_notice_overdue", "receipt_variance"}
    assert all(e["owner"] == "procurement" for e in about_po)
    po = served.get(f"/v1/purchase-orders/PO-{TAG}")
    assert day["purchase_orders"][f"PO-{TAG}"]["status"] == po["status"]
    [line] = [line for line in po["lines"] if line["sku"] == "GIZMO-3"]
    assert Decimal(line["received"]) == 40


def test_a_day_at_northwind_sends_harbor_an_856_for_each_of_its_shipments_and_none_for_anyone_elses(
    served: ServedHub, day: dict[str, Any]
) -> None:
    shipments = {s["shipment"] for s in served.get(f"/v1/orders/HF-{TAG}")["shipments"]}
    noticed = {}
    for path in sorted((served.data_dir / "partners" / "harbor" / "outbound").glob("856-*.edi")):
        for _, tx in x12.parse(path.read_bytes())[0].transactions():
            segments = {segment.tag: segment for segment in tx.segments}
            noticed[segments["BSN"].value(2)] = segments["PRF"].value(1)
    assert noticed == dict.fromkeys(shipments, f"HF-{TAG}"), "Harbor gets the 856 of its own shipments, only those"
    assert day["partners"]["harbor"]["received"]["856"] == len(shipments)
    assert day["traffic"]["shipments"] > len(shipments), "the web orders shipped too, from the same warehouses"


def test_a_day_at_northwind_ends_with_every_interchange_acknowledged_and_no_acknowledgement_exception_open(
    served: ServedHub, day: dict[str, Any]
) -> None:
    with served.runtime.hub.begin() as uow:
        awaiting = [f"{s.partner} {s.document}" for s in uow.interchanges.find(status="awaiting", limit=1000)]
        answered = uow.interchanges.find(status="accepted", limit=1000)
    assert awaiting == [], "the partners answered every interchange: none is left to fall overdue"
    for partner, seen in day["partners"].items():
        sent = sum(n for kind, n in seen["received"].items() if kind != "997")
        assert sent > 0 and seen["answered"] == sent, f"{partner} answers each interchange but no 997: {seen}"
    assert len(answered) == sum(seen["answered"] for seen in day["partners"].values())
    assert day["partners"]["harbor"]["last_sent"]["status"] == "accepted"
    acknowledgement_problems = {OVERDUE, UNMATCHED, REJECTED, WITH_ERRORS}
    open_now = served.get("/v1/exceptions", status="open", limit=1000)["items"]
    assert [e for e in open_now if e["reason_code"] in acknowledgement_problems] == []
