"""Logging set-up: one JSON object per line, with the correlation id and trace of the work in hand, so that log
shippers can parse it and join it to the trace. Secrets never reach here: tokens and credentials that slip into a
message text are masked as a last line of defence.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

from opentelemetry import trace

from crossdock.observability import context

MASK = "[redacted]"
# API tokens (cdk_<id>_<secret>), bearer and basic credentials, signatures, and user:password@ in URLs.
_SECRETS = (
    re.compile(r"\bcdk_[0-9a-f]+_[A-Za-z0-9_\-]+"),
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]+"),
    re.compile(r"(?i)\bsha256=[0-9a-f]{16,}"),
    re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"),
)


def mask_secrets(text: str) -> str:
    for pattern in _SECRETS:
        text = pattern.sub(MASK, text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_secrets(record.getMessage()),
        }
        correlation = context.correlation_id()
        if correlation:
            entry["correlation_id"] = correlation
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        if record.exc_info:
            entry["exception"] = mask_secrets(self.formatException(record.exc_info))
        return json.dumps(entry)


def configure(level: str = "INFO", json_lines: bool = True) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Alembic announces its dialect on every revision check (/readyz polls it): not worth a line each time.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
    # HTTP clients log a line per request at INFO: far too much for a hub sending thousands a second.
    for noisy in ("httpx", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
