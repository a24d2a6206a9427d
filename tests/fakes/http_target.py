"""A fake REST system on 127.0.0.1 for the http connector: it takes any method on any path, the way a small ERP's API
does, and enforces what a careful one enforces.

- Every call needs `Authorization: Bearer <token>`, else 401.
- Every write (PUT, POST, PATCH, DELETE) needs an `Idempotency-Key`, else 400; the same key again gets the first answer
  and changes nothing.
- A PUT stores its JSON body as the resource at its path (`resources`); a POST appends it (`posted`).
- `fail(status, times, retry_after)` answers the next `times` requests with that status, as a system that is down
  (503) or refuses a body (400) does; `delay_seconds` holds every answer back, and `max_in_flight` says how many
  requests were ever open at once.
- It signs webhooks (X-Crossdock-Signature: sha256=<hex HMAC-SHA256 of the body>) for the test to post to the hub.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web

from tests.fakes.server import FakeServer

WRITES = frozenset({"PUT", "POST", "PATCH", "DELETE"})


@dataclass
class Call:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # the JSON body, or the raw text when it is not JSON
    status: int

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")


@dataclass
class Failure:
    status: int
    detail: str
    retry_after: str | None = None


@dataclass
class FakeHttpTarget(FakeServer):
    title: ClassVar[str] = "the fake REST target"
    token: str = "erp-api-token"
    secret: str = "erp-webhook-secret"
    delay_seconds: float = 0.0
    resources: dict[str, Any] = field(default_factory=dict)  # by path: the body of the last PUT
    posted: list[tuple[str, Any]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    max_in_flight: int = 0
    _failures: list[Failure] = field(default_factory=list)
    _answers: dict[str, tuple[int, Any]] = field(default_factory=dict)  # idempotency key -> first answer
    _in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---- the test's handles ---------------------------------------------------------------------------------

    def fail(self, status: int, times: int = 1, *, detail: str = "", retry_after: str | None = None) -> None:
        with self._lock:
            self._failures.extend(
                Failure(status, detail or f"failing with {status}", retry_after) for _ in range(times)
            )

    def made(self, method: str | None = None, path_prefix: str = "") -> list[Call]:
        with self._lock:
            return [c for c in self.calls if (method is None or c.method == method) and c.path.startswith(path_prefix)]

    def sign(self, body: bytes, secret: str | None = None) -> str:
        key = (self.secret if secret is None else secret).encode()
        return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()

    def webhook(self, payload: dict[str, Any], *, secret: str | None = None) -> tuple[bytes, dict[str, str]]:
        """The body and headers the system posts, signed."""
        body = json.dumps(payload).encode()
        return body, {"Content-Type": "application/json", "X-Crossdock-Signature": self.sign(body, secret)}

    # ---- the server -----------------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if self.delay_seconds:
                await asyncio.sleep(self.delay_seconds)
            status, answer, headers = self._answer(request, raw)
        finally:
            with self._lock:
                self._in_flight -= 1
        try:
            body: Any = json.loads(raw) if raw else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = raw.decode("utf-8", errors="replace")
        with self._lock:
            self.calls.append(
                Call(request.method, request.path, {k.lower(): v for k, v in request.headers.items()}, body, status)
            )
        return web.json_response(answer, status=status, headers=headers)

    def _answer(self, request: web.Request, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"detail": "missing or unknown bearer token"}, {}
        with self._lock:
            if self._failures:
                failure = self._failures.pop(0)
                headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
                return failure.status, {"detail": failure.detail}, headers
        if request.method not in WRITES:
            with self._lock:
                found = self.resources.get(request.path)
            return (200, found, {}) if found is not None else (404, {"detail": f"no {request.path}"}, {})
        key = request.headers.get("Idempotency-Key")
        if not key:
            return 400, {"detail": "an Idempotency-Key header is required on every write"}, {}
        with self._lock:
            if key in self._answers:
                status, answer = self._answers[key]
                return status, answer, {}
            try:
                body = json.loads(raw) if raw else None
            except (UnicodeDecodeError, json.JSONDecodeError):
                return 400, {"detail": "the body is not JSON"}, {}
            if request.method == "PUT":
                self.resources[request.path] = body
            elif request.method == "DELETE":
                self.resources.pop(request.path, None)
            else:
                self.posted.append((request.path, body))
            answer = {"path": request.path, "stored": True}
            self._answers[key] = (200, answer)
            return 200, answer, {}
