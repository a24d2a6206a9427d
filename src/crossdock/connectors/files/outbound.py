"""Deliver to a partner's outbound folder (local or SFTP): each delivery becomes one file, written under a
temporary name and renamed into place, so the partner never sees a partial file. Must not: choose what goes in
the file beyond rendering it (the mapping of a wire format belongs to that format's connector).

The file name comes from a template holding the delivery id, so a retry (after a timeout, or a crash before the
outcome was recorded) writes the same name again rather than a second file.
"""

from __future__ import annotations

import json
import re
import string
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from crossdock.connectors.files.client import Transport, is_candidate, plain_name
from crossdock.hub.ports import AttemptOutcome, Delivery, SendResult

DEFAULT_TEMPLATE = "{delivery_id}.json"
TEMPLATE_FIELDS = frozenset({"delivery_id", "event_id", "event_type", "subject", "destination", "created"})
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")

Render = Callable[[Delivery], bytes]


def render_json(delivery: Delivery) -> bytes:
    """The default content: the event as CloudEvents structured JSON, as the webhook sender posts it."""
    return json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def check_template(template: str) -> str:
    """A template must name the delivery id (one name per delivery, the same on every retry) and use only the
    fields it can be given; `created` takes a strftime format: '{created:%Y%m%d}'."""
    names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    unknown = names - TEMPLATE_FIELDS
    if unknown:
        raise ValueError(f"unknown field(s) in file name template {template!r}: {', '.join(sorted(unknown))}")
    if "delivery_id" not in names:
        raise ValueError(f"file name template {template!r} must contain {{delivery_id}}")
    return template


def file_name(template: str, delivery: Delivery) -> str:
    """The template filled in; values are made safe for any file system (anything but letters, digits, '.', '-'
    and '_' becomes '_'), and the result must be a name a reader picks up (not hidden, not temporary)."""

    def safe(value: str) -> str:
        return _UNSAFE.sub("_", value)

    name = template.format(
        delivery_id=safe(delivery.id),
        event_id=safe(delivery.event_id),
        event_type=safe(delivery.event_type),
        subject=safe(delivery.subject),
        destination=safe(delivery.destination),
        created=_Time(delivery.created_at),
    )
    name = plain_name(name)
    if not is_candidate(name):
        raise ValueError(f"file name {name!r} would be ignored by a reader (hidden or temporary)")
    return name


class _Time:
    """`{created}` is UTC in the basic ISO form (20240506T070809Z); `{created:%Y%m%d}` takes any strftime format."""

    def __init__(self, value: datetime) -> None:
        self.value = value

    def __format__(self, spec: str) -> str:
        return _UNSAFE.sub("_", self.value.astimezone(UTC).strftime(spec or "%Y%m%dT%H%M%SZ"))


class FileSender:
    """A Sender for the outbox: one file per delivery into the transport's outbound folder."""

    def __init__(self, transport: Transport, *, template: str = DEFAULT_TEMPLATE, render: Render = render_json) -> None:
        self.transport = transport
        self.template = check_template(template)
        self.render = render

    def send(self, deliveries: Sequence[Delivery]) -> list[SendResult]:
        return [self._send_one(delivery) for delivery in deliveries]

    def _send_one(self, delivery: Delivery) -> SendResult:
        started = time.perf_counter()
        try:
            name = file_name(self.template, delivery)
            data = self.render(delivery)
        except Exception as exc:  # noqa: BLE001 - a payload that cannot be rendered will not render on a retry
            return _result(delivery, AttemptOutcome.PERMANENT, started, f"cannot render the file: {exc}")
        try:
            self.transport.write_outbound(name, data)
        except OSError as exc:
            return _result(delivery, AttemptOutcome.RETRYABLE, started, f"cannot write {name}: {exc}")
        return _result(delivery, AttemptOutcome.DELIVERED, started, None)

    def close(self) -> None:
        self.transport.close()


def _result(delivery: Delivery, outcome: AttemptOutcome, started: float, error: str | None) -> SendResult:
    return SendResult(delivery.id, outcome, None, error, None, (time.perf_counter() - started) * 1000)
