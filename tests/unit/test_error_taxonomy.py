"""The error taxonomy: every problem the API answers carries a code from the one registry, documented in
docs/errors.md with the same status; published codes keep their meaning; a 500 never shows a stack trace."""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from crossdock import bootstrap, config
from crossdock.entrypoints.api import problems
from crossdock.entrypoints.api.app import create_app
from crossdock.hub import operations
from crossdock.storage.sql import migrate

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINTS = ROOT / "src" / "crossdock" / "entrypoints"
DOCS = ROOT / "docs" / "errors.md"
# Callables whose arguments are (status, code, ...): the problem builder and the refusal raised before a route.
PROBLEM_CALLS = {"problem", "Refused"}
ROW = re.compile(r"^\|\s*`([a-z0-9-]+)`\s*\|\s*(\d{3}|varies)\s*\|")

# Codes callers and the suite already depend on, with their status: their meaning must never change.
PUBLISHED = {
    "invalid-request": 422,
    "not-found": 404,
    "unauthenticated": 401,
    "forbidden": 403,
    "rate-limited": 429,
    "unknown-source": 404,
    "idempotency-conflict": 409,
    "idempotency-key-required": 428,
    "unreadable-message": 422,
    "invalid-order": 422,
    "order-not-found": 404,
    "purchase-order-not-found": 404,
    "unknown-channel": 404,
    "invalid-cursor": 422,
    "nothing-found": 404,
    "not-replayable": 409,
    "exception-not-found": 404,
    "exception-resolved": 409,
    "migrations-pending": 503,
    "internal-error": 500,
}


def _used_codes() -> Iterator[tuple[str, str, int | None]]:
    """(where, code, literal status or None) of every code the entrypoints pass to a problem or a refusal, and of
    every `Code.X` they name elsewhere (a mapping of statuses to codes)."""
    for path in sorted(ENTRYPOINTS.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        relative = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _owner(node) == "Code":
                yield f"{relative}:{node.lineno}", f"Code.{node.attr}", None
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if name not in PROBLEM_CALLS:
                continue
            code = node.args[1] if len(node.args) > 1 else None
            code = code or next((k.value for k in node.keywords if k.arg == "code"), None)
            status = node.args[0] if node.args else None
            literal = status.value if isinstance(status, ast.Constant) and isinstance(status.value, int) else None
            if isinstance(code, ast.Constant) and isinstance(code.value, str):
                yield f"{relative}:{node.lineno}", code.value, literal
            elif isinstance(code, ast.Attribute) and _owner(code) == "Code":
                yield f"{relative}:{node.lineno}", f"Code.{code.attr}", literal
            # Anything else passes a code along (a refusal's own): it was checked where the refusal was made.


def _owner(node: ast.Attribute) -> str | None:
    if isinstance(node.value, ast.Attribute):
        return node.value.attr
    return node.value.id if isinstance(node.value, ast.Name) else None


def _registered(code: str) -> problems.Code | None:
    if code.startswith("Code."):
        return problems.Code.__members__.get(code.removeprefix("Code."))
    return next((c for c in problems.Code if c.value == code), None)


def _documented() -> dict[str, str]:
    rows = [ROW.match(line) for line in DOCS.read_text(encoding="utf-8").splitlines()]
    return {m.group(1): m.group(2) for m in rows if m}


def test_every_code_a_handler_uses_is_in_the_registry_with_its_status() -> None:
    used = list(_used_codes())
    unknown = [f"{where}: {code}" for where, code, _ in used if _registered(code) is None]
    wrong_status = [
        f"{where}: {code} answered with {status}, registered as {problems.REGISTRY[found].status}"
        for where, code, status in used
        if (found := _registered(code)) is not None
        and status is not None
        and problems.REGISTRY[found].status not in (None, status)
    ]

    assert {_registered(code) for _, code, _ in used} >= {problems.Code.ORDER_NOT_FOUND, problems.Code.FORBIDDEN}, (
        "the scan finds the handlers' codes"
    )
    assert unknown == [], "codes used but missing from problems.Code / REGISTRY"
    assert wrong_status == [], "a code always comes with the status the registry gives it"


def test_every_registered_code_has_its_meaning_and_what_to_do() -> None:
    assert set(problems.REGISTRY) == set(problems.Code), "every code has a registry entry"
    for code, definition in problems.REGISTRY.items():
        assert definition.title and definition.meaning and definition.action, f"{code} explains itself"


def test_the_docs_table_and_the_registry_list_the_same_codes_with_the_same_status() -> None:
    documented = _documented()
    registered = {
        code.value: str(d.status) if d.status is not None else "varies" for code, d in problems.REGISTRY.items()
    }

    assert sorted(set(registered) - set(documented)) == [], "codes missing from docs/errors.md"
    assert sorted(set(documented) - set(registered)) == [], "codes in docs/errors.md that the API never answers"
    assert documented == registered, "docs/errors.md gives each code the status the registry does"


def test_published_codes_keep_their_status() -> None:
    registered = {code.value: d.status for code, d in problems.REGISTRY.items()}

    assert {code: registered.get(code) for code in PUBLISHED} == PUBLISHED


# ---- the app-wide handlers, on the real app --------------------------------------------------------------------


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = config.load(None, environ={}, overrides={"data_dir": str(tmp_path), "api": {"auth": "off"}})
    runtime = bootstrap.build(settings)
    migrate.upgrade(runtime.engine)
    # The error handlers answer, then the server logs the error: the client must see the answer, not the raise.
    with TestClient(create_app(runtime), raise_server_exceptions=False) as test_client:
        yield test_client
    runtime.close()


def test_an_unexpected_error_is_a_500_problem_without_a_stack_trace_or_its_text(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("password=hunter2 at /srv/crossdock/secret.py")

    monkeypatch.setattr(operations, "status", broken)

    response = client.get("/v1/status")

    assert response.status_code == 500
    assert response.headers["content-type"] == problems.MEDIA_TYPE
    body = response.json()
    assert (body["code"], body["status"]) == ("internal-error", 500)
    assert set(body) == {"type", "title", "status", "detail", "code"}
    for leak in ("Traceback", "hunter2", "secret.py", "RuntimeError", 'File "', "line "):
        assert leak not in response.text, f"a 500 shows {leak!r}"


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/v1/nowhere", 404, "not-found"),  # no such route
        ("DELETE", "/v1/status", 405, "method-not-allowed"),  # the route, not with this method
        ("GET", "/v1/deliveries?limit=0", 422, "invalid-request"),  # a query parameter out of range
        ("GET", "/v1/trace/SO-404", 404, "nothing-found"),  # a route's own refusal
    ],
)
def test_the_frameworks_refusals_and_the_routes_own_carry_registered_codes(
    client: TestClient, method: str, path: str, status: int, code: str
) -> None:
    response = client.request(method, path)

    assert (response.status_code, response.json()["code"]) == (status, code)
    assert response.headers["content-type"] == problems.MEDIA_TYPE
    assert _registered(code) is not None
