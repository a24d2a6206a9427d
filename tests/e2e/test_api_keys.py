"""API keys at the HTTP API, as an integrator meets them: no key, a bad key and a revoked key are all the same 401;
each route asks for its scope; a channel key sees and places only its channel's orders; a key past its rate waits."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner, Result

from crossdock.entrypoints import cli, cli_governance
from crossdock.hub import governance
from tests.e2e.conftest import Estate, EstateFactory, estate_settings, order
from tests.e2e.test_orders_api import ORDER_TO_CASH, receipt, sales_order

WIDE = {"COLUMNS": "250", "NO_COLOR": "1"}
TOKEN = re.compile(r"cdk_[0-9a-f]{12}_\S+")


def make_key(estate: Estate, *scopes: str, channel: str | None = None, rate: int | None = None) -> str:
    _, token = cli_governance.create_key(
        estate.hub.begin,
        estate.hub.clock.now(),
        name="-".join(scopes).replace(":", "-") or "key",
        scopes=list(scopes),
        channel=channel,
        rate_per_minute=rate,
        created_by="test",
    )
    return token


def call(estate: Estate, method: str, path: str, token: str | None, **kwargs: Any) -> httpx.Response:
    """A request with exactly this key (or none): the estate's own admin key is not sent."""
    request = estate.client.build_request(method, path, **kwargs)
    if "authorization" in request.headers:
        del request.headers["authorization"]
    if token is not None:
        request.headers["Authorization"] = f"Bearer {token}"
    response: httpx.Response = estate.client.send(request)
    return response


@pytest.fixture
def shop(make_estate: EstateFactory) -> Estate:
    return make_estate(**copy.deepcopy(ORDER_TO_CASH))


def _unauthenticated(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["code"] == "unauthenticated"


def test_a_missing_malformed_unknown_wrong_or_revoked_key_gets_the_same_401(estate: Estate) -> None:
    good = make_key(estate, "admin")
    key_id = good.split("_")[1]
    revoked = make_key(estate, "admin")
    with estate.hub.begin() as uow:
        uow.keys.revoke(revoked.split("_")[1], estate.clock.now())
        uow.commit()

    answers = [
        call(estate, "GET", "/v1/status", None),  # no key at all
        call(estate, "GET", "/v1/status", "not-a-key"),  # not the key format
        call(estate, "GET", "/v1/status", "cdk_0123456789ab_" + "x" * 43),  # an id nobody has
        call(estate, "GET", "/v1/status", f"cdk_{key_id}_{'y' * 43}"),  # a real id with a wrong secret
        call(estate, "GET", "/v1/status", revoked),  # a key that was revoked
    ]

    for response in answers:
        _unauthenticated(response)
    assert len({r.text for r in answers}) == 1, "the answer must not tell which part of the key was wrong"
    assert call(estate, "GET", "/v1/status", good).status_code == 200


def test_the_key_may_come_in_the_x_api_key_header_too(estate: Estate) -> None:
    token = make_key(estate, "admin")

    response = call(estate, "GET", "/v1/status", None, headers={"X-API-Key": token})

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("method", "path", "scope", "other_scope"),
    [
        ("GET", "/v1/orders", "orders:read", "orders:write"),  # reading orders is not placing them
        ("GET", "/v1/orders/SO-1", "orders:read", "inventory:read"),  # 404 once past the door: no such order
        ("GET", "/v1/availability?sku=SKU-1", "inventory:read", "orders:read"),
        ("GET", "/v1/status", "admin", "orders:read"),  # operations are for admins
        ("GET", "/v1/deliveries", "admin", "orders:write"),
        ("GET", "/v1/trace/SO-1", "admin", "inventory:read"),
        ("GET", "/v1/exceptions", "admin", "orders:read"),
        ("GET", "/v1/journal", "admin", "orders:read"),
        ("GET", "/v1/messages/1", "admin", "webhook:wms"),
        ("POST", "/v1/inbound/wms", "webhook:wms", "webhook:shop"),  # one source's key is not another's
    ],
)
def test_each_route_admits_its_scope_and_refuses_others_with_403(
    shop: Estate, method: str, path: str, scope: str, other_scope: str
) -> None:
    body = {"content": json.dumps({"specversion": "1.0", "id": "e-1", "source": "wms", "type": "x"})}
    kwargs: dict[str, Any] = body if method == "POST" else {}

    allowed = call(shop, method, path, make_key(shop, scope), **kwargs)
    refused = call(shop, method, path, make_key(shop, other_scope), **kwargs)

    assert allowed.status_code not in (401, 403), allowed.text
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "forbidden"
    assert refused.headers["content-type"] == "application/problem+json"


def test_an_admin_key_may_call_every_route(shop: Estate) -> None:
    admin = make_key(shop, "admin")

    assert call(shop, "GET", "/v1/availability?sku=SKU-1", admin).status_code == 200
    assert call(shop, "GET", "/v1/orders", admin).status_code == 200
    posted = call(shop, "POST", "/v1/inbound/wms", admin, content=b"{}", headers={"Idempotency-Key": "a-1"})
    assert posted.status_code not in (401, 403), posted.text


def test_health_readiness_and_metrics_answer_without_a_key(estate: Estate) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        assert call(estate, "GET", path, None).status_code == 200, path


def test_a_channel_key_sees_and_places_only_its_channels_orders(shop: Estate) -> None:
    receipt(shop, "SKU-1", "WH1", 20)
    admin = make_key(shop, "admin")
    web = make_key(shop, "orders:read", "orders:write", channel="web")
    for number, channel in (("SO-W1", "web"), ("SO-M1", "market")):
        posted = call(
            shop,
            "POST",
            "/v1/orders",
            admin,
            content=json.dumps(sales_order(number, channel=channel)),
            headers={"Idempotency-Key": number},
        )
        assert posted.status_code == 202, posted.text
    shop.drain()

    listed = call(shop, "GET", "/v1/orders", web).json()["items"]
    other_listed = call(shop, "GET", "/v1/orders?channel=market", web)
    own = call(shop, "GET", "/v1/orders/SO-W1", web)
    other = call(shop, "GET", "/v1/orders/SO-M1", web)
    with shop.hub.begin() as uow:
        stored_before = sum(uow.inbox.counts().values())
    placed_elsewhere = call(
        shop,
        "POST",
        "/v1/orders",
        web,
        content=json.dumps(sales_order("SO-M2", channel="market")),
        headers={"Idempotency-Key": "SO-M2"},
    )
    placed_here = call(
        shop,
        "POST",
        "/v1/orders",
        web,
        content=json.dumps(sales_order("SO-W2")),
        headers={"Idempotency-Key": "SO-W2"},
    )
    with shop.hub.begin() as uow:
        stored_after = sum(uow.inbox.counts().values())

    assert [o["order"] for o in listed] == ["SO-W1"]
    assert (other_listed.status_code, other_listed.json()["code"]) == (403, "forbidden")
    assert own.status_code == 200 and own.json()["channel"] == "web"
    assert other.status_code == 404, "another channel's order is answered as missing, not as forbidden"
    assert call(shop, "GET", "/v1/orders/SO-M1", admin).status_code == 200, "it exists"
    assert (placed_elsewhere.status_code, placed_elsewhere.json()["code"]) == (403, "forbidden")
    assert placed_here.status_code == 202, placed_here.text
    assert stored_after == stored_before + 1, "the refused order was not even kept"


def test_a_key_past_its_rate_gets_429_with_retry_after_until_its_bucket_refills(estate: Estate) -> None:
    limited = make_key(estate, "admin", rate=2)
    other = make_key(estate, "admin")

    first = [call(estate, "GET", "/v1/status", limited).status_code for _ in range(2)]
    refused = call(estate, "GET", "/v1/status", limited)
    unaffected = call(estate, "GET", "/v1/status", other)
    estate.clock.advance(30)
    refilled = call(estate, "GET", "/v1/status", limited)
    empty_again = call(estate, "GET", "/v1/status", limited)

    assert first == [200, 200]
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "rate-limited"
    assert refused.headers["retry-after"] == "30", "two a minute: the next token comes in 30 seconds"
    assert unaffected.status_code == 200, "the limit is per key"
    assert refilled.status_code == 200
    assert empty_again.status_code == 429


def test_with_auth_off_the_api_serves_without_a_key(make_estate: EstateFactory) -> None:
    estate = make_estate(api={"auth": "off"})

    assert call(estate, "GET", "/v1/status", None).status_code == 200
    assert estate.post("shop", order("SO-1"), key="k-1").status_code == 202


def test_the_openapi_document_declares_both_ways_to_send_a_key(estate: Estate) -> None:
    document = call(estate, "GET", "/openapi.json", None).json()

    schemes = document["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}
    assert document["paths"]["/v1/status"]["get"]["security"], "an operation route says it needs a key"


# ---- keys from the command line --------------------------------------------------------------------------------


def crossdock(*args: str) -> Result:
    return CliRunner().invoke(cli.app, list(args), env=WIDE)


@pytest.fixture
def config_file(make_estate: EstateFactory, tmp_path: Path) -> Path:
    path = tmp_path / "crossdock.yaml"
    settings = estate_settings(make_estate.database_url, tmp_path, make_estate.sink.url, api={"key_cache_seconds": 0})
    path.write_text(yaml.safe_dump(settings))
    return path


def test_a_key_created_on_the_command_line_works_until_it_is_revoked(
    make_estate: EstateFactory, config_file: Path
) -> None:
    estate = make_estate(api={"key_cache_seconds": 0})
    created = crossdock(
        "keys", "create", "--name", "webshop", "--scopes", "webhook:shop,orders:read", "--config", str(config_file)
    )
    assert created.exit_code == 0, created.output
    [token] = TOKEN.findall(created.output)
    key_id = token.split("_")[1]

    before = call(estate, "POST", "/v1/inbound/shop", token, content=json.dumps(order("SO-1")))
    listed = crossdock("keys", "list", "--config", str(config_file), "--json")
    revoked = crossdock("keys", "revoke", key_id, "--config", str(config_file))
    after = call(estate, "POST", "/v1/inbound/shop", token, content=json.dumps(order("SO-2")))

    assert before.status_code == 202, before.text
    assert listed.exit_code == 0, listed.output
    [shown] = [k for k in json.loads(listed.output)["items"] if k["id"] == key_id]
    assert shown["scopes"] == ["webhook:shop", "orders:read"] and shown["revoked_at"] is None
    secret = token.split("_", 2)[2]
    assert secret not in listed.output, "a listing never shows a secret"
    with estate.hub.begin() as uow:
        stored = uow.keys.get(key_id)
    assert stored is not None and secret not in repr(stored), "only a hash of the secret is stored"
    assert governance.secret_matches(stored, secret)
    assert revoked.exit_code == 0, revoked.output
    _unauthenticated(after)


@pytest.mark.parametrize(
    "args",
    [
        ["--scopes", "orders:delete"],  # not a scope
        ["--scopes", ""],  # no scope at all
        ["--scopes", "admin", "--rate-per-minute", "0"],  # a rate of nothing
    ],
)
def test_a_key_with_a_bad_scope_or_rate_is_refused(config_file: Path, args: list[str]) -> None:
    result = crossdock("keys", "create", "--name", "x", *args, "--config", str(config_file))

    assert result.exit_code == 2, result.output
    assert not TOKEN.search(result.output)


def test_revoking_an_unknown_key_fails(config_file: Path) -> None:
    crossdock("db", "upgrade", "--config", str(config_file))

    result = crossdock("keys", "revoke", "0123456789ab", "--config", str(config_file))

    assert result.exit_code == 1
    assert "No key 0123456789ab" in result.output
