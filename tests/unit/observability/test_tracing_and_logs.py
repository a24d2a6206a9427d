"""Trace context and structured logs: which traceparents are taken, how a message without one still gets a stable
trace, that work done under `working_on` is a child of the stored trace and carries the correlation id into every log
line, and that tokens and credentials are masked in what is logged."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from crossdock.observability import context, logs, tracing

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
STORED = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    ("given", "taken"),
    [
        (STORED, STORED),  # well formed
        (STORED.upper(), STORED),  # hex is case-insensitive
        (f" {STORED} ", STORED),  # surrounding space
        (None, None),  # absent
        ("", None),  # empty
        ("00-not-a-trace-01", None),  # malformed
        (f"00-{'0' * 32}-00f067aa0ba902b7-01", None),  # an all-zero trace id is invalid
        (f"00-{TRACE_ID}-{'0' * 16}-01", None),  # an all-zero parent id is invalid
        (f"01-{TRACE_ID}-00f067aa0ba902b7-01", None),  # a version this reader does not know
    ],
)
def test_only_a_well_formed_traceparent_is_taken(given: str | None, taken: str | None) -> None:
    assert context.valid_traceparent(given) == taken


def test_a_derived_trace_is_the_same_for_the_same_message_and_valid() -> None:
    first = context.derived_traceparent("shop", "id:order-77")
    assert first == context.derived_traceparent("shop", "id:order-77")
    assert first != context.derived_traceparent("shop", "id:order-78")
    assert context.valid_traceparent(first) == first


def test_work_on_a_stored_trace_is_its_child_and_carries_the_correlation_id() -> None:
    spans = tracing.recorder()
    with context.working_on("handle crossdock.order.placed.v1", correlation="checkout-1", traceparent=STORED):
        assert context.correlation_id() == "checkout-1"
        inner = context.current_traceparent()
    assert context.correlation_id() is None, "the correlation id ends with the work"
    (span,) = spans.get_finished_spans()
    assert span.context is not None and span.parent is not None
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert format(span.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert inner == f"00-{TRACE_ID}-{span.context.span_id:016x}-01"
    assert span.attributes is not None and span.attributes["crossdock.correlation_id"] == "checkout-1"


def record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("crossdock.test", logging.INFO, __file__, 1, message, args, None)


def test_a_log_line_is_one_json_object_with_the_correlation_id_and_trace_of_the_work_in_hand() -> None:
    formatter = logs.JsonFormatter()
    assert "correlation_id" not in json.loads(formatter.format(record("idle")))
    tracing.recorder()
    with context.working_on("process shop", correlation="checkout-2", traceparent=STORED):
        line = json.loads(formatter.format(record("message %s processed", 12)))
    assert line["message"] == "message 12 processed" and line["level"] == "INFO"
    assert line["correlation_id"] == "checkout-2" and line["trace_id"] == TRACE_ID


@pytest.mark.parametrize(
    "secret",
    [
        "cdk_0a1b2c3d4e5f_Zm9vYmFyLWJhei1xdXV4LXNlY3JldA",  # an API token
        "Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc",  # a bearer credential
        "sha256=5d41402abc4b2a76b9719d911017c592aa",  # a body signature
        "postgresql://crossdock:hunter2@db/crossdock",  # a password in a URL
    ],
)
def test_tokens_and_credentials_are_masked_in_messages_and_tracebacks(secret: str) -> None:
    formatter = logs.JsonFormatter()
    try:
        raise RuntimeError(f"refused {secret}")
    except RuntimeError:
        failing = logging.LogRecord("crossdock.test", logging.ERROR, __file__, 1, "call with %s", (secret,), None)
        failing.exc_info = sys.exc_info()
    line = formatter.format(failing)
    parsed = json.loads(line)
    assert logs.MASK in parsed["message"] and logs.MASK in parsed["exception"]
    for part in ("Zm9vYmFyLWJhei1xdXV4LXNlY3JldA", "eyJhbGciOiJIUzI1NiJ9", "5d41402abc4b2a76", "hunter2"):
        assert part not in line
