"""A fake Shopify shop on 127.0.0.1 that behaves as the Admin REST API documents what the hub relies on.

- Every call needs the shop's access token (X-Shopify-Access-Token), else 401.
- The REST leaky bucket: 40 calls, leaking 2 a second; every answer says X-Shopify-Shop-Api-Call-Limit: n/40, and a
  call that finds the bucket full gets 429 with Retry-After. `fill()` stands for other apps sharing the bucket.
- orders.json honours updated_at_min and status=any and pages by cursor in the Link header (page_info may not be
  combined with filters, as on Shopify); fulfillment orders, fulfillments, cancellations and inventory levels keep
  the state they change; every request is recorded.
- It signs webhooks as Shopify does (base64 HMAC-SHA256 of the raw body with the app's secret) for the test to post.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from aiohttp import web

from tests.fakes.server import FakeServer

SIZE = 40
LEAK_PER_SECOND = 2.0


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int


@dataclass
class FakeShopify(FakeServer):
    title: ClassVar[str] = "the fake Shopify"
    token: str = "shpat_test_token"
    secret: str = "shopify-app-secret"
    api_version: str = "2025-07"
    size: int = SIZE
    leak_per_second: float = LEAK_PER_SECOND
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    levels: dict[tuple[int, int], int] = field(default_factory=dict)
    fulfillments: list[dict[str, Any]] = field(default_factory=list)
    received: list[Recorded] = field(default_factory=list)
    _level: float = 0.0
    _at: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---- the test's handles -----------------------------------------------------------------------------

    @property
    def admin_url(self) -> str:
        return f"{self.url}/admin/api/{self.api_version}"

    def add_order(self, order: dict[str, Any]) -> None:
        with self._lock:
            self.orders[int(order["id"])] = copy.deepcopy(order)

    def fill(self, calls: float) -> None:
        """Other apps' calls in the shop's bucket right now."""
        with self._lock:
            self._drain()
            self._level = min(float(self.size), calls)

    def calls(self, method: str | None = None, path_suffix: str = "") -> list[Recorded]:
        with self._lock:
            return [r for r in self.received if (method is None or r.method == method) and r.path.endswith(path_suffix)]

    def sign(self, body: bytes, secret: str | None = None) -> str:
        key = (self.secret if secret is None else secret).encode()
        return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()

    def webhook(
        self,
        topic: str,
        payload: dict[str, Any] | bytes,
        *,
        webhook_id: str | None = None,
        secret: str | None = None,
        shop_domain: str = "northwind.myshopify.com",
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers Shopify would POST for this topic, signed."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": self.sign(body, secret),
            "X-Shopify-Shop-Domain": shop_domain,
            "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-Shopify-API-Version": self.api_version,
            "X-Shopify-Triggered-At": datetime.now().astimezone().isoformat(),
        }
        return body, headers

    # ---- the leaky bucket ------------------------------------------------------------------------------------

    def _drain(self) -> None:
        now = time.monotonic()
        self._level = max(0.0, self._level - (now - self._at) * self.leak_per_second)
        self._at = now

    def _admit(self) -> tuple[bool, str]:
        with self._lock:
            self._drain()
            if self._level + 1 > self.size:
                return False, f"{self.size}/{self.size}"
            self._level += 1
            return True, f"{math.ceil(self._level)}/{self.size}"

    # ---- the server ------------------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._gate])
        base = f"/admin/api/{self.api_version}"
        app.router.add_get(f"{base}/orders.json", self._orders)
        app.router.add_get(f"{base}/orders/{{order_id}}.json", self._order)
        app.router.add_get(f"{base}/orders/{{order_id}}/fulfillment_orders.json", self._fulfillment_orders)
        app.router.add_post(f"{base}/orders/{{order_id}}/cancel.json", self._cancel)
        app.router.add_post(f"{base}/fulfillments.json", self._fulfil)
        app.router.add_post(f"{base}/inventory_levels/set.json", self._set_level)
        return app

    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        if request.headers.get("X-Shopify-Access-Token") != self.token:
            response: web.StreamResponse = web.json_response(
                {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}, status=401
            )
        else:
            admitted, limit = self._admit()
            if not admitted:
                response = web.json_response(
                    {
                        "errors": "Exceeded 2 calls per second for api client. "
                        "Reduce request rates to resume uninterrupted service."
                    },
                    status=429,
                    headers={"Retry-After": "2.0", "X-Shopify-Shop-Api-Call-Limit": limit},
                )
            else:
                response = await handler(request)
                response.headers["X-Shopify-Shop-Api-Call-Limit"] = limit
        with self._lock:
            self.received.append(Recorded(request.method, request.path, dict(request.query), body, response.status))
        return response

    # ---- the resources ---------------------------------------------------------------------------------------

    async def _orders(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        limit = min(int(query.get("limit", "50")), 250)
        if "page_info" in query:
            extra = set(query) - {"page_info", "limit", "fields"}
            if extra:
                return web.json_response(
                    {"errors": {"page_info": [f"cannot be combined with {sorted(extra)}"]}}, status=400
                )
            cursor = json.loads(base64.urlsafe_b64decode(query["page_info"]))
            since, start = cursor["since"], int(cursor["start"])
        else:
            if query.get("status") not in ("any", "open", "closed", "cancelled", None):
                return web.json_response({"errors": {"status": ["is not valid"]}}, status=400)
            since, start = query.get("updated_at_min"), 0
            if query.get("status", "open") != "any":
                return web.json_response({"errors": "the fake serves status=any only"}, status=400)
        with self._lock:
            chosen = sorted(
                (o for o in self.orders.values() if since is None or _moment(o["updated_at"]) >= _moment(since)),
                key=lambda o: (_moment(o["updated_at"]), o["id"]),
            )
        page = chosen[start : start + limit]
        headers = {}
        if start + limit < len(chosen):
            token = base64.urlsafe_b64encode(json.dumps({"since": since, "start": start + limit}).encode()).decode()
            headers["Link"] = f'<{self.admin_url}/orders.json?limit={limit}&page_info={token}>; rel="next"'
        return web.json_response({"orders": page}, headers=headers, dumps=json.dumps)

    def _find(self, request: web.Request) -> dict[str, Any] | None:
        return self.orders.get(int(request.match_info["order_id"]))

    async def _order(self, request: web.Request) -> web.Response:
        order = self._find(request)
        if order is None:
            return web.json_response({"errors": "Not Found"}, status=404)
        return web.json_response({"order": order})

    def _open_lines(self, order: dict[str, Any]) -> list[dict[str, Any]]:
        done: dict[int, int] = {}
        for fulfillment in self.fulfillments:
            if fulfillment["order_id"] == order["id"]:
                for line in fulfillment["line_items"]:
                    done[line["id"]] = done.get(line["id"], 0) + line["quantity"]
        return [
            {
                "id": item["id"] + 1,  # a fulfillment order line has an id of its own
                "line_item_id": item["id"],
                "quantity": item["quantity"],
                "fulfillable_quantity": 0 if order.get("cancelled_at") else item["quantity"] - done.get(item["id"], 0),
            }
            for item in order["line_items"]
        ]

    async def _fulfillment_orders(self, request: web.Request) -> web.Response:
        order = self._find(request)
        if order is None:
            return web.json_response({"errors": "Not Found"}, status=404)
        lines = self._open_lines(order)
        status = "open" if any(line["fulfillable_quantity"] for line in lines) else "closed"
        return web.json_response(
            {
                "fulfillment_orders": [
                    {"id": order["id"] + 7, "order_id": order["id"], "status": status, "line_items": lines}
                ]
            }
        )

    async def _fulfil(self, request: web.Request) -> web.Response:
        body = await request.json()
        wanted = body.get("fulfillment", {})
        taken: list[dict[str, Any]] = []
        for group in wanted.get("line_items_by_fulfillment_order") or []:
            order = self.orders.get(int(group["fulfillment_order_id"]) - 7)
            if order is None:
                return web.json_response({"errors": ["fulfillment order not found"]}, status=404)
            open_lines = {line["id"]: line for line in self._open_lines(order)}
            for line in group["fulfillment_order_line_items"]:
                found = open_lines.get(int(line["id"]))
                if found is None or line["quantity"] > found["fulfillable_quantity"]:
                    return web.json_response(
                        {"errors": [f"line {line['id']} cannot take {line['quantity']}"]}, status=422
                    )
                taken.append({"id": found["line_item_id"], "quantity": line["quantity"], "order_id": order["id"]})
        if not taken:
            return web.json_response({"errors": ["line_items_by_fulfillment_order is empty"]}, status=422)
        tracking = wanted.get("tracking_info") or {}
        fulfillment = {
            "id": 900000 + len(self.fulfillments) + 1,
            "order_id": taken[0]["order_id"],
            "status": "success",
            "tracking_company": tracking.get("company"),
            "tracking_number": tracking.get("number"),
            "line_items": [{"id": t["id"], "quantity": t["quantity"]} for t in taken],
        }
        self.fulfillments.append(fulfillment)
        return web.json_response({"fulfillment": fulfillment}, status=201)

    async def _cancel(self, request: web.Request) -> web.Response:
        order = self._find(request)
        if order is None:
            return web.json_response({"errors": "Not Found"}, status=404)
        if order.get("cancelled_at"):
            return web.json_response({"error": "Order has already been cancelled"}, status=422)
        order["cancelled_at"] = datetime.now().astimezone().isoformat()
        return web.json_response({"order": order})

    async def _set_level(self, request: web.Request) -> web.Response:
        body = await request.json()
        try:
            key = (int(body["location_id"]), int(body["inventory_item_id"]))
            available = body["available"]
        except (KeyError, TypeError, ValueError):
            return web.json_response(
                {"errors": "location_id, inventory_item_id and available are required"}, status=422
            )
        if not isinstance(available, int):
            return web.json_response({"errors": {"available": ["must be an integer"]}}, status=422)
        with self._lock:
            self.levels[key] = available
        return web.json_response(
            {"inventory_level": {"inventory_item_id": key[1], "location_id": key[0], "available": available}}
        )


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value)
