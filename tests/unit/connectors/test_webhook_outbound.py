"""Outbound delivery: how a target's answer is classified, how requests are signed and keyed for dedupe,
and what the webhook and JSON-lines senders report back. The webhook sender is exercised against a real
HTTP/1.1 server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossdock.connectors import http_delivery
from crossdock.connectors.generic import outbound
from crossdock.connectors.generic.client import HttpAnswer
from crossdock.hub.errors import PermanentDeliveryError, RetryableDeliveryError
from crossdock.hub.ports import AttemptOutcome
from tests.unit.connectors.local_http import LocalHttpServer, Received, Reply, local_http_server, refused_port
from tests.unit.factories import PROPERTY, T0, make_delivery

HOOK_PATH = "/hooks/crossdock"


def answer(status: int, headers: dict[str, str] | None = None, text: str = "") -> HttpAnswer:
    """An answer as the transport hands it over: header names lower-cased."""
    return HttpAnswer(status, {name.lower(): value for name, value in (headers or {}).items()}, text)


# ---- classifying answers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])  # every 2xx is a delivery
def test_any_2xx_answer_is_a_delivery(status: int) -> None:
    assert http_delivery.checked(answer(status)) == status


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
        http_delivery.checked(answer(status, text="busy"))
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
        http_delivery.checked(answer(status, text="no"))
    assert caught.value.status_code == status


def test_a_retry_after_in_seconds_comes_with_the_retryable_error() -> None:
    with pytest.raises(RetryableDeliveryError) as caught:
        http_delivery.checked(answer(429, {"Retry-After": "30"}))
    assert caught.value.retry_after == 30.0


def test_a_retry_after_as_an_http_date_comes_as_seconds_from_now() -> None:
    when = datetime.now(UTC) + timedelta(seconds=120)
    with pytest.raises(RetryableDeliveryError) as caught:
        http_delivery.checked(answer(503, {"Retry-After": format_datetime(when, usegmt=True)}))
    assert caught.value.retry_after is not None
    assert 110 <= caught.value.retry_after <= 120


def test_the_error_names_what_was_asked_of_the_target() -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        http_delivery.checked(answer(404, text="no such order"), "cancellation of order SO-7")
    assert str(caught.value) == "cancellation of order SO-7: HTTP 404: no such order"


def test_a_target_with_its_own_retry_after_rule_decides_the_wait() -> None:
    with pytest.raises(RetryableDeliveryError) as caught:
        http_delivery.checked(answer(503, {"Retry-After": "30"}), wait=lambda _: None)
    assert caught.value.retry_after is None


def test_the_error_quotes_only_the_start_of_a_long_answer() -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        http_delivery.checked(answer(400, text="x" * 10_000))
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
    assert http_delivery.parse_retry_after(value, now=T0) == expected


@PROPERTY
@given(seconds=st.integers(min_value=0, max_value=10**9))
def test_any_whole_number_of_seconds_is_read_as_is(seconds: int) -> None:
    assert http_delivery.parse_retry_after(str(seconds)) == seconds


@PROPERTY
@given(
    now=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)),
    wait=st.integers(min_value=0, max_value=10 * 24 * 3600),
)
def test_any_future_http_date_is_read_as_the_seconds_until_it(now: datetime, wait: int) -> None:
    now = now.replace(microsecond=0)
    header = format_datetime(now + timedelta(seconds=wait), usegmt=True)
    assert http_delivery.parse_retry_after(header, now=now) == wait


@PROPERTY
@given(value=st.text(alphabet=st.characters(max_codepoint=127), max_size=40))
def test_parse_retry_after_never_raises_on_ascii_input(value: str) -> None:
    parsed = http_delivery.parse_retry_after(value, now=T0)
    assert parsed is None or parsed >= 0


def test_parse_retry_after_ignores_non_ascii_digits() -> None:
    assert http_delivery.parse_retry_after("²") is None


# ---- signing -------------------------------------------------------------------------------------------------


def test_sign_matches_the_published_hmac_sha256_test_vector() -> None:
    # RFC 4231, test case 2.
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert http_delivery.sign("Jefe", b"what do ya want for nothing?") == f"sha256={expected}"


@PROPERTY
@given(secret=st.text(min_size=1, max_size=40), body=st.binary(max_size=200))
def test_sign_is_the_hex_hmac_sha256_of_the_body_under_the_utf8_secret(secret: str, body: bytes) -> None:
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    assert http_delivery.sign(secret, body) == "sha256=" + digest


# ---- the webhook sender --------------------------------------------------------------------------------------


@pytest.fixture
def target() -> Iterator[LocalHttpServer]:
    with local_http_server() as server:
        yield server


@contextmanager
def webhook(url: str, **options: Any) -> Iterator[outbound.WebhookSender]:
    sender = outbound.WebhookSender(url, **options)
    try:
        yield sender
    finally:
        sender.close()


def test_a_delivery_is_posted_as_a_cloudevent_keyed_by_its_delivery_id(target: LocalHttpServer) -> None:
    delivery = make_delivery(id="dlv-42", payload={"id": "evt-1", "type": "crossdock.order.accepted.v1"})
    target.answer(Reply(202))
    with webhook(target.url(HOOK_PATH)) as sender:
        [result] = sender.send([delivery])

    assert (result.delivery_id, result.outcome, result.status_code) == ("dlv-42", AttemptOutcome.DELIVERED, 202)
    [request] = target.received
    assert (request.method, request.path) == ("POST", HOOK_PATH)
    assert request.headers.get_all("Idempotency-Key") == ["dlv-42"]
    assert request.headers["Content-Type"] == "application/cloudevents+json"
    assert request.headers["X-Crossdock-Event-Type"] == delivery.event_type
    assert json.loads(request.body) == delivery.payload


def test_a_signed_delivery_carries_a_signature_the_target_can_verify(target: LocalHttpServer) -> None:
    with webhook(target.url(HOOK_PATH), secret="hook-secret") as sender:
        sender.send([make_delivery()])

    [request] = target.received
    expected = hmac.new(b"hook-secret", request.body, hashlib.sha256).hexdigest()
    assert request.headers[http_delivery.SIGNATURE_HEADER] == f"sha256={expected}"


def test_an_unsigned_destination_sends_no_signature(target: LocalHttpServer) -> None:
    with webhook(target.url(HOOK_PATH)) as sender:
        [result] = sender.send([make_delivery()])

    assert result.outcome is AttemptOutcome.DELIVERED
    [request] = target.received
    assert http_delivery.SIGNATURE_HEADER not in request.headers


def test_configured_headers_are_sent_but_cannot_replace_the_idempotency_key(target: LocalHttpServer) -> None:
    configured = {"Authorization": "Bearer t", "Idempotency-Key": "spoofed"}
    with webhook(target.url(HOOK_PATH), headers=configured) as sender:
        sender.send([make_delivery(id="dlv-7")])

    [request] = target.received
    assert request.headers["Authorization"] == "Bearer t"
    assert request.headers.get_all("Idempotency-Key") == ["dlv-7"]


def test_a_timeout_is_retryable_without_a_status(target: LocalHttpServer) -> None:
    target.answer(Reply(200, delay_seconds=5.0))  # far past the sender's timeout; closing the server cuts it short
    with webhook(target.url(HOOK_PATH), timeout_seconds=0.2) as sender:
        [result] = sender.send([make_delivery()])

    assert (result.outcome, result.status_code) == (AttemptOutcome.RETRYABLE, None)
    assert result.error is not None and "Timeout" in result.error
    assert result.duration_ms < 5_000  # the sender gave up rather than waiting for the late answer


def test_a_refused_connection_is_retryable() -> None:
    with refused_port() as port, webhook(f"http://127.0.0.1:{port}{HOOK_PATH}") as sender:
        [result] = sender.send([make_delivery()])

    assert (result.outcome, result.status_code) == (AttemptOutcome.RETRYABLE, None)
    assert result.error is not None


def test_a_404_is_permanent(target: LocalHttpServer) -> None:
    target.answer(Reply(404, body=b"no such hook"))
    with webhook(target.url(HOOK_PATH)) as sender:
        [result] = sender.send([make_delivery()])

    assert (result.outcome, result.status_code) == (AttemptOutcome.PERMANENT, 404)
    assert result.error is not None and "no such hook" in result.error


def test_a_503_with_retry_after_is_retryable_after_that_many_seconds(target: LocalHttpServer) -> None:
    target.answer(Reply(503, headers=[("Retry-After", "17")]))
    with webhook(target.url(HOOK_PATH)) as sender:
        [result] = sender.send([make_delivery()])

    assert (result.outcome, result.status_code, result.retry_after_seconds) == (AttemptOutcome.RETRYABLE, 503, 17.0)


def by_idempotency_key(replies: dict[str, Reply]) -> Callable[[Received], Reply]:
    return lambda request: replies[request.headers["Idempotency-Key"]]


def test_each_delivery_of_a_batch_gets_its_own_result_in_order(target: LocalHttpServer) -> None:
    target.answer(by_idempotency_key({"d-ok": Reply(200), "d-busy": Reply(503), "d-bad": Reply(422)}))
    with webhook(target.url(HOOK_PATH)) as sender:
        results = sender.send([make_delivery(id=name) for name in ("d-ok", "d-busy", "d-bad")])

    assert [(r.delivery_id, r.outcome, r.status_code) for r in results] == [
        ("d-ok", AttemptOutcome.DELIVERED, 200),
        ("d-busy", AttemptOutcome.RETRYABLE, 503),
        ("d-bad", AttemptOutcome.PERMANENT, 422),
    ]
    assert sorted(request.headers["Idempotency-Key"] for request in target.received) == ["d-bad", "d-busy", "d-ok"]


def test_an_unreadable_retry_after_is_ignored_not_fatal_to_the_batch(target: LocalHttpServer) -> None:
    # "\xb2" goes out as the raw byte 0xB2: neither ASCII digits nor an HTTP-date, nor valid UTF-8.
    odd = Reply(503, headers=[("Retry-After", "\xb2")])
    target.answer(by_idempotency_key({"d-odd": odd, "d-ok": Reply(200)}))
    with webhook(target.url(HOOK_PATH)) as sender:
        results = sender.send([make_delivery(id="d-odd"), make_delivery(id="d-ok")])

    assert [(r.delivery_id, r.outcome, r.status_code, r.retry_after_seconds) for r in results] == [
        ("d-odd", AttemptOutcome.RETRYABLE, 503, None),
        ("d-ok", AttemptOutcome.DELIVERED, 200, None),
    ]


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
