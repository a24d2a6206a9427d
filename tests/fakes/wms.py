"""A fake WMS on 127.0.0.1 that enforces the API the wms connector's README documents.

- Every call needs `Authorization: Bearer <token>`, else 401.
- Every POST needs an `Idempotency-Key`, else 400. The same key again gets the first answer (status and body) and
  changes nothing; the same key with another body is 422.
- `down = True` answers 503 (with Retry-After) to everything, as a WMS in maintenance does; `lose_answers = n` makes
  the next n writes take effect but answer 503, as when a gateway drops the response after the WMS committed.
- POST /v1/pick-releases checks the body's shape and that the warehouse is one it runs; POST
  /v1/pick-releases/cancellations takes unpicked quantities off an order's pick releases (404 when it holds none).
- It signs webhooks as the WMS does (X-Wms-Signature: sha256=<hex HMAC-SHA256 of the body>) for the test to post.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from aiohttp import web

from tests.fakes.server import FakeServer


@dataclass
class Recorded:
    method: str
    path: str
    idempotency_key: str | None
    body: Any
    status: int


@dataclass
class FakeWms(FakeServer):
    title: ClassVar[str] = "the fake WMS"
    token: str = "wms-token"
    secret: str = "wms-webhook-secret"
    warehouses: tuple[str, ...] = ("NORTH",)
    down: bool = False
    lose_answers: int = 0
    releases: dict[str, dict[str, Any]] = field(default_factory=dict)  # by release_ref
    cancellations: list[dict[str, Any]] = field(default_factory=list)
    received: list[Recorded] = field(default_factory=list)
    _answers: dict[str, tuple[str, int, dict[str, Any]]] = field(default_factory=dict)  # key -> (body hash, answer)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---- the test's handles ---------------------------------------------------------------------------------

    def calls(self, path_suffix: str = "", status: int | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.received if r.path.endswith(path_suffix) and (status is None or r.status == status)]

    def sign(self, body: bytes, secret: str | None = None) -> str:
        key = (self.secret if secret is None else secret).encode()
        return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()

    def webhook(
        self,
        event_type: str,
        data: dict[str, Any],
        *,
        event_id: str | None = None,
        warehouse: str = "NORTH",
        occurred_at: str = "2025-03-03T10:00:00+00:00",
        secret: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers the WMS posts for an event, signed."""
        payload = {
            "event_id": event_id or f"evt-{uuid.uuid4().hex[:12]}",
            "type": event_type,
            "occurred_at": occurred_at,
            "warehouse": warehouse,
            "data": data,
        }
        body = json.dumps(payload).encode()
        return body, {"Content-Type": "application/json", "X-Wms-Signature": self.sign(body, secret)}

    # ---- the server -----------------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._gate])
        app.router.add_post("/v1/pick-releases", self._release)
        app.router.add_post("/v1/pick-releases/cancellations", self._cancel)
        app.router.add_get("/v1/pick-releases", self._list)
        return app

    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        raw = await request.read()
        key = request.headers.get("Idempotency-Key")
        response = self._answer(request, raw, key) or await handler(request)
        if self.lose_answers and request.method == "POST" and response.status < 300:
            self.lose_answers -= 1
            response = _problem(503, "the gateway lost the answer")
        with self._lock:
            body = json.loads(raw) if raw else None
            self.received.append(Recorded(request.method, request.path, key, body, response.status))
        return response

    def _answer(self, request: web.Request, raw: bytes, key: str | None) -> web.StreamResponse | None:
        """What the gate answers itself: down, unauthenticated, no key, or a key seen before."""
        if self.down:
            return _problem(503, "the WMS is in maintenance", headers={"Retry-After": "1"})
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _problem(401, "missing or unknown bearer token")
        if request.method != "POST":
            return None
        if not key:
            return _problem(400, "an Idempotency-Key header is required on every write")
        digest = hashlib.sha256(raw).hexdigest()
        with self._lock:
            seen = self._answers.get(key)
        if seen is None:
            return None
        if seen[0] != digest:
            return _problem(422, f"Idempotency-Key {key} was used with another body")
        return web.json_response(seen[2], status=seen[1])

    def _remember(self, request: web.Request, raw: bytes, status: int, body: dict[str, Any]) -> web.Response:
        key = request.headers["Idempotency-Key"]
        with self._lock:
            self._answers[key] = (hashlib.sha256(raw).hexdigest(), status, body)
        return web.json_response(body, status=status)

    # ---- the resources ----------------------------------------------------------------------------------------

    async def _release(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw)
            problems = _release_problems(body, self.warehouses)
        except (json.JSONDecodeError, TypeError, AttributeError) as exc:
            problems = [f"body: {exc}"]
        if problems:
            return _problem(422, "; ".join(problems))
        with self._lock:
            if body["release_ref"] in self.releases:
                return _problem(409, f"release {body['release_ref']} exists (sent again under a new key?)")
            created = {
                "id": f"PR-{len(self.releases) + 1}",
                "status": "open",
                **body,
                "lines": [{**line, "cancelled": "0"} for line in body["lines"]],
            }
            self.releases[body["release_ref"]] = created
        return self._remember(request, raw, 201, created)

    async def _cancel(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = json.loads(raw)
        with self._lock:
            held = [r for r in self.releases.values() if r["order_ref"] == body.get("order_ref")]
            if not held:
                return _problem(404, f"no pick release of order {body.get('order_ref')!r} here")
            taken = []
            for wanted in body.get("lines", []):
                left = Decimal(wanted["quantity"])
                for release in reversed(held):
                    for line in release["lines"]:
                        if line["line"] != wanted["line"] or left <= 0:
                            continue
                        open_ = Decimal(line["quantity"]) - Decimal(line["cancelled"])
                        take = min(open_, left)
                        line["cancelled"] = str(Decimal(line["cancelled"]) + take)
                        left -= take
                taken.append({"line": wanted["line"], "cancelled": str(Decimal(wanted["quantity"]) - left)})
            self.cancellations.append(body)
        return self._remember(request, raw, 200, {"order_ref": body["order_ref"], "lines": taken})

    async def _list(self, request: web.Request) -> web.Response:
        with self._lock:
            return web.json_response({"items": list(self.releases.values())})


def _problem(status: int, detail: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"status": status, "detail": detail}, status=status, headers=headers)


def _release_problems(body: dict[str, Any], warehouses: tuple[str, ...]) -> list[str]:
    problems = [
        f"{name}: required" for name in ("release_ref", "order_ref", "warehouse", "lines") if not body.get(name)
    ]
    if body.get("warehouse") and body["warehouse"] not in warehouses:
        problems.append(f"warehouse: {body['warehouse']!r} is not run here")
    if not (body.get("ship_to") or {}).get("customer"):
        problems.append("ship_to.customer: required")
    for n, line in enumerate(body.get("lines") or []):
        try:
            if Decimal(line["quantity"]) <= 0:
                problems.append(f"lines.{n}.quantity: must be above 0")
        except (KeyError, InvalidOperation, TypeError):
            problems.append(f"lines.{n}.quantity: a decimal string is required")
        if not line.get("sku") or not isinstance(line.get("line"), int):
            problems.append(f"lines.{n}: line (integer) and sku are required")
    return problems
