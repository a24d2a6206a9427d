"""The whole OpenAPI document under generated requests (schemathesis): no request, however odd, gets a 5xx, and
no response breaks the schema the document promises for it. The hub runs on SQLite with the example estate and
an admin key, so every route is reached past authentication."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from crossdock import bootstrap, config
from crossdock.entrypoints.api.app import create_app
from crossdock.storage.sql import migrate
from tests.e2e.conftest import admin_key

pytestmark = pytest.mark.fuzz  # `make fuzz` runs 200 requests per operation, `make test` 25
LONG = bool(os.environ.get("CROSSDOCK_LONG"))
EXAMPLES = 200 if LONG else 25
ESTATE = Path(__file__).resolve().parents[2] / "src" / "crossdock" / "examples" / "estate.yaml"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    data = tmp_path_factory.mktemp("fuzzed-api")
    runtime = bootstrap.build(config.load(ESTATE, environ={}, overrides={"data_dir": str(data)}))
    migrate.upgrade(runtime.engine)
    _, token = admin_key(runtime)
    yield create_app(runtime), token
    runtime.close()


@pytest.fixture(scope="module")
def api_schema(api: tuple[Any, str]) -> Any:
    app, _ = api
    return schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_generated_request_gets_a_server_error_or_a_response_outside_its_schema(
    case: Any, api: tuple[Any, str]
) -> None:
    _, token = api
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"},
        checks=[not_a_server_error, response_schema_conformance],
    )
