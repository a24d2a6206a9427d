"""The whole OpenAPI document under generated requests (schemathesis): no request, however odd, gets a 5xx, and
no response breaks the schema the document promises for it. The hub runs on SQLite with the example estate and
an admin key, so every route is reached past authentication."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

from crossdock import bootstrap, config
from crossdock.entrypoints.api.app import create_app
from crossdock.storage.sql import migrate
from tests.e2e.conftest import TestClient, admin_key

pytestmark = pytest.mark.fuzz  # `make fuzz` runs 200 requests per operation, `make test` 25
LONG = bool(os.environ.get("CROSSDOCK_LONG"))
EXAMPLES = 200 if LONG else 25
# The coverage phase's boundary cases (each limit, just inside and just past it, each required part left out): all of
# them under `make fuzz`, the first few per operation otherwise.
BOUNDARY_CASES = None if LONG else 12
CHECKS = [not_a_server_error, response_schema_conformance]
# Routes whose every answer must be fuzzed: the experience and admin APIs added with their response models.
MUST_COVER = {
    "GET /v1/orders/{order_id}/shipments",
    "GET /v1/shipments/{shipment_id}",
    "GET /v1/invoices/{invoice_id}",
    "POST /v1/reconciliations/inventory",
    "GET /v1/reconciliations",
    "GET /v1/reconciliations/{run_id}",
    "GET /v1/connectors",
    "GET /v1/partners",
    "GET /v1/partners/{name}",
    "GET /v1/xrefs",
    "POST /v1/xrefs",
}
ESTATE = Path(__file__).resolve().parents[2] / "src" / "crossdock" / "examples" / "estate.yaml"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    data = tmp_path_factory.mktemp("fuzzed-api")
    runtime = bootstrap.build(config.load(ESTATE, environ={}, overrides={"data_dir": str(data)}))
    migrate.upgrade(runtime.engine)
    _, token = admin_key(runtime)
    yield create_app(runtime), token
    runtime.close()


def test_no_generated_request_gets_a_server_error_or_a_response_outside_its_schema(api: tuple[Any, str]) -> None:
    # Driven through hypothesis directly: schemathesis' pytest plugin (4.32) does not run under pytest 9.
    app, token = api
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20, "every route of the API is in the document"
    assert {operation.label for operation in operations} >= MUST_COVER
    broken: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def check(case: Any) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

        try:
            check()
        except Exception as failure:  # noqa: BLE001 - every operation is tried; all failures are reported together
            broken.append(f"{operation.label}: {failure}")
    assert not broken, "\n\n".join(broken)


def test_no_boundary_case_gets_a_server_error_or_a_response_outside_its_schema(api: tuple[Any, str]) -> None:
    # Schemathesis' coverage phase, run through the schema's own case iterator (its pytest plugin would run it).
    app, token = api
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    broken: list[str] = []
    tried = 0
    for operation in (result.ok() for result in schema.get_all_operations()):
        generation = schema.config.generation_for(operation=operation, phase="coverage")
        cases = schema.iter_coverage_cases(
            operation,
            generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
            generation_config=generation,
        )
        for case in itertools.islice(cases, BOUNDARY_CASES):
            tried += 1
            try:
                case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
            except Exception as failure:  # noqa: BLE001 - every case is tried; all failures are reported together
                broken.append(f"{operation.label} {case.path_parameters} {case.query} {case.body!r}: {failure}")
    assert tried > 100, "the coverage phase produced boundary cases"
    assert not broken, "\n\n".join(broken[:20])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/availability?sku="),  # an empty key names no item
        ("GET", "/v1/availability?sku=%0D"),  # a blank one neither
        ("GET", "/v1/messages/9223372036854775808"),  # beyond 64 bits: no row has that id
        ("POST", "/v1/messages/9223372036854775808/replay"),
        ("GET", "/v1/journal?after=9223372036854775808"),
    ],
)
def test_the_requests_that_once_got_a_server_error_are_refused_as_bad_input(
    api: tuple[Any, str], method: str, path: str
) -> None:
    app, token = api
    response = TestClient(app).request(method, path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
