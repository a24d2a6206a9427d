"""Outbound delivery: how a target's answer is classified, how requests are signed and keyed for dedupe,
and what the webhook and JSON-lines senders report back."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossdock.connectors.generic import outbound
from crossdock.hub.errors import PermanentDeliveryError, RetryableDeliveryError
from crossdock.hub.ports import AttemptOutcome
from tests.unit.factories import PROPERTY, T0, make_delivery

URL = "https://erp.example/hooks/crossdock"
Handler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]


def answer(status: int, headers: dict[str, str] | None = None, text: str = "") -> httpx.Response:
    return httpx.Response(status, headers=headers, text=text, request=httpx.Request("POST", URL))


# ---- classifying answers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])  # every 2xx is a delivery
def test_any_2xx_answer_is_a_delivery(status: int) -> None:
    outbound.classify(answer(status))


@pytest.mark.parametrize(
    "status",
    [
        408,  # request timeout
        425,  # too early
        429,  # too many requests
        500,  # server error
        502,  # bad gateway
        503,  # unavailable
        504,  # gateway timeout
    ],
)
def test_timeouts_throttling_and_server_errors_are_retryable(status: int) -> None:
    with pytest.raises(RetryableDeliveryError) as caught:
        outbound.classify(answer(status, text="busy"))
    assert caught.value.status_code == status
    assert f"HTTP {status}" in str(caught.value)


@pytest.mark.parametrize(
    "status",
    [
        400,  # malformed
        401,  # unauthorised
        403,  # forbidden
        404,  # no such endpoint
        409,  # conflict
        410,  # gone
        422,  # rejected content
    ],
)
def test_other_client_errors_are_permanent(status: int) -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        outbound.classify(answer(status, text="no"))
    assert caught.value.status_code == status


def test_a_retry_after_in_seconds_comes_with_the_retryable_error() -> None:
    with pytest.raises(RetryableDeliveryError) as caught:
        outbound.classify(answer(429, {"Retry-After": "30"}))
    assert caught.value.retry_after == 30.0


def test_a_retry_after_as_an_http_date_comes_as_seconds_from_now() -> None:
    when = datetime.now(UTC) + timedelta(seconds=120)
    with pytest.raises(RetryableDeliveryError) as caught:
        outbound.classify(answer(503, {"Retry-After": format_datetime(when, usegmt=True)}))
    assert caught.value.retry_after is not None
    assert 110 <= caught.value.retry_after <= 120


def test_the_error_quotes_only_the_start_of_a_long_answer() -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        outbound.classify(answer(400, text="x" * 10_000))
    assert len(str(caught.value)) < 400


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),  # no header
        ("", None),  # empty
        ("0", 0.0),  # retry at once
        (" 7 ", 7.0),  # surrounding whitespace
        ("1.5", None),  # delta-seconds are whole numbers
        ("-3", None),  # negative
        ("soon", None),  # garbage
        ("Mon, 06 May 2024 07:10:09 GMT", 120.0),  # a date two minutes after now
        ("Mon, 06 May 2024 07:00:00 GMT", 0.0),  # a date already past
        ("Mon, 06 May 2024 07:10:09 -0000", 120.0),  # a date with an unknown zone is read as UTC
    ],
)
def test_parse_retry_after_reads_seconds_and_dates(value: str | None, expected: float | None) -> None:
    assert outbound.parse_retry_after(value, now=T0) == expected


@PROPERTY
@given(seconds=st.integers(min_value=0, max_value=10**9))
def test_any_whole_number_of_seconds_is_read_as_is(seconds: int) -> None:
    assert outbound.parse_retry_after(str(seconds)) == seconds


@PROPERTY
@given(
    now=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)),
    wait=st.integers(min_value=0, max_value=10 * 24 * 3600),
)
def test_any_future_http_date_is_read_as_the_seconds_until_it(now: datetime, wait: int) -> None:
    now = now.replace(microsecond=0)
    header = format_datetime(now + timedelta(seconds=wait), usegmt=True)
    assert outbound.parse_retry_after(header, now=now) == wait


@PROPERTY
@given(value=st.text(alphabet=st.characters(max_codepoint=127), max_size=40))
def test_parse_retry_after_never_raises_on_ascii_input(value: str) -> None:
    parsed = outbound.parse_retry_after(value, now=T0)
    assert parsed is None or parsed >= 0


def test_parse_retry_after_ignores_non_ascii_digits() -> None:
    assert outbound.parse_retry_after("²") is None


# ---- signing -------------------------------------------------------------------------------------------------


def test_sign_matches_the_published_hmac_sha256_test_vector() -> None:
    # RFC 4231, test case 2.
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert outbound.sign("Jefe", b"what do ya want for nothing?") == f"sha256={expected}"


@PROPERTY
@given(secret=st.text(min_size=1, max_size=40), body=st.binary(max_size=200))
def test_sign_is_the_hex_hmac_sha256_of_the_body_under_the_utf8_secret(secret: str, body: bytes) -> None:
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    assert outbound.sign(secret, body) == "sha256=" + digest


# ---- the webhook sender --------------------------------------------------------------------------------------


@contextmanager
def webhook(handler: Handler, **options: Any) -> Iterator[outbound.WebhookSender]:
    sender = outbound.WebhookSender(URL, transport=httpx.MockTransport(handler), **options)
    try:
        yield sender
    finally:
        sender.close()


def recording(status: int = 200, headers: dict[str, str] | None = None) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        await request.aread()
        seen.append(request)
        return httpx.Response(status, headers=headers)

    return handler, seen


def test_a_delivery_is_posted_as_a_cloudevent_keyed_by_its_delivery_id() -> None:
    delivery = make_delivery(id="dlv-42", payload={"id": "evt-1", "type": "crossdock.order.accepted.v1"})
    handler, seen = recording(202)
    with webhook(handler) as sender:
        [result] = sender.send([delivery])

    assert (result.delivery_id, result.outcome, result.status_code) == ("dlv-42", AttemptOutcome.DELIVERED, 202)
    [request] = seen
    assert request.method == "POST"
    assert str(request.url) == URL
    assert request.headers["Idempotency-Key"] == "dlv-42"
    assert request.headers["Content-Type"] == "application/cloudevents+json"
    assert request.headers["X-Crossdock-Event-Type"] == delivery.event_type
    assert json.loads(request.content) == delivery.payload


def test_a_signed_delivery_carries_a_signature_the_target_can_verify() -> None:
    handler, seen = recording()
    with webhook(handler, secret="hook-secret") as sender:
        sender.send([make_delivery()])

    [request] = seen
    expected = hmac.new(b"hook-secret", request.content, hashlib.sha256).hexdigest()
    assert request.headers[outbound.SIGNATURE_HEADER] == f"sha256={expected}"


def test_an_unsigned_destination_sends_no_signature() -> None:
    handler, seen = recording()
    with webhook(handler) as sender:
        sender.send([make_delivery()])
    assert outbound.SIGNATURE_HEADER not in seen[0].headers


def test_configured_headers_are_sent_but_cannot_replace_the_idempotency_key() -> None:
    handler, seen = recording()
    with webhook(handler, headers={"Authorization": "Bearer t", "Idempotency-Key": "spoofed"}) as sender:
        sender.send([make_delivery(id="dlv-7")])
    assert seen[0].headers["Authorization"] == "Bearer t"
    assert seen[0].headers.get_list("Idempotency-Key") == ["dlv-7"]


def test_a_timeout_is_retryable_without_a_status() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out", request=request)

    with webhook(slow) as sender:
        [result] = sender.send([make_delivery()])
    assert (result.outcome, result.status_code) == (AttemptOutcome.RETRYABLE, None)
    assert result.error is not None and "ReadTimeout" in result.error


def test_a_refused_connection_is_retryable() -> None:
    async def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with webhook(down) as sender:
        [result] = sender.send([make_delivery()])
    assert result.outcome is AttemptOutcome.RETRYABLE


def test_a_404_is_permanent() -> None:
    handler, _ = recording(404)
    with webhook(handler) as sender:
        [result] = sender.send([make_delivery()])
    assert (result.outcome, result.status_code) == (AttemptOutcome.PERMANENT, 404)


def test_a_503_with_retry_after_is_retryable_after_that_many_seconds() -> None:
    handler, _ = recording(503, {"Retry-After": "17"})
    with webhook(handler) as sender:
        [result] = sender.send([make_delivery()])
    assert (result.outcome, result.status_code, result.retry_after_seconds) == (AttemptOutcome.RETRYABLE, 503, 17.0)


def test_each_delivery_of_a_batch_gets_its_own_result_in_order() -> None:
    statuses = {"d-ok": 200, "d-busy": 503, "d-bad": 422}

    async def by_key(request: httpx.Request) -> httpx.Response:
        return httpx.Response(statuses[request.headers["Idempotency-Key"]])

    with webhook(by_key) as sender:
        results = sender.send([make_delivery(id=name) for name in statuses])

    assert [(r.delivery_id, r.outcome) for r in results] == [
        ("d-ok", AttemptOutcome.DELIVERED),
        ("d-busy", AttemptOutcome.RETRYABLE),
        ("d-bad", AttemptOutcome.PERMANENT),
    ]


def test_an_unreadable_retry_after_is_ignored_not_fatal_to_the_batch() -> None:
    async def odd(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, headers=[(b"retry-after", b"\xb2")])

    with webhook(odd) as sender:
        [result] = sender.send([make_delivery()])
    assert (result.outcome, result.retry_after_seconds) == (AttemptOutcome.RETRYABLE, None)


# ---- the JSON-lines sender -----------------------------------------------------------------------------------


def test_the_jsonl_sender_appends_one_line_per_delivery_with_its_id(tmp_path: Path) -> None:
    path = tmp_path / "outbound" / "audit.jsonl"
    sender = outbound.JsonLinesSender(path)
    first = [make_delivery(id="d1", payload={"n": 1}), make_delivery(id="d2", payload={"n": 2})]
    try:
        results = sender.send(first) + sender.send([make_delivery(id="d3", payload={"n": 3})])
    finally:
        sender.close()

    assert [(r.delivery_id, r.outcome) for r in results] == [
        ("d1", AttemptOutcome.DELIVERED),
        ("d2", AttemptOutcome.DELIVERED),
        ("d3", AttemptOutcome.DELIVERED),
    ]
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert lines == [
        {"delivery_id": "d1", "event": {"n": 1}},
        {"delivery_id": "d2", "event": {"n": 2}},
        {"delivery_id": "d3", "event": {"n": 3}},
    ]


def test_the_jsonl_sender_reports_an_unwritable_file_as_retryable(tmp_path: Path) -> None:
    blocked = tmp_path / "audit.jsonl"
    blocked.mkdir()  # a directory where the file should be
    sender = outbound.JsonLinesSender(blocked)
    results = sender.send([make_delivery(id="d1"), make_delivery(id="d2")])
    sender.close()
    assert [(r.delivery_id, r.outcome) for r in results] == [
        ("d1", AttemptOutcome.RETRYABLE),
        ("d2", AttemptOutcome.RETRYABLE),
    ]
    assert results[0].error is not None and str(blocked) in results[0].error
