"""Transport only: the Admin REST API of one shop over httpx, with the access token, and paced by the call-limit
header so that we slow down before Shopify's leaky bucket overflows rather than after. Must not: map documents or
decide what an answer means for a delivery (outbound.py does)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from crossdock.connectors.shopify.options import ShopOptions

TOKEN_HEADER = "X-Shopify-Access-Token"
CALL_LIMIT_HEADER = "x-shopify-shop-api-call-limit"
# Shopify's REST bucket leaks 2 calls a second for a bucket of 40 (and 20 for the 400 of Shopify Plus): a twentieth.
LEAK_SHARE_PER_SECOND = 1 / 20
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')

TransportError = httpx.TransportError


@dataclass(frozen=True)
class Answer:
    status_code: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def next_page(self) -> str | None:
        """The Link header's rel="next" URL: Shopify paginates REST lists by cursor, never by page number."""
        found = _NEXT_LINK.search(self.headers.get("link", ""))
        return found.group(1) if found else None


def call_limit(value: str | None) -> tuple[int, int] | None:
    """'32/40' -> (32, 40): calls in the bucket and its size."""
    if not value or "/" not in value:
        return None
    used, _, size = value.partition("/")
    try:
        return int(used), int(size)
    except ValueError:
        return None


class ShopifyClient:
    def __init__(
        self,
        rules: ShopOptions,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if rules.token is None:
            raise ValueError(f"shop {rules.shop}: the Admin API needs an access token (options.token)")
        self.rules = rules
        self._sleep = sleep
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._bucket: tuple[int, int, float] | None = None  # used, size, when it was read
        self._http = httpx.Client(
            base_url=rules.admin_url,
            headers={TOKEN_HEADER: rules.token.get_secret_value(), "Accept": "application/json"},
            timeout=rules.timeout_seconds,
            transport=transport,
        )

    def request(self, method: str, path: str, *, json: Any = None, params: Mapping[str, str] | None = None) -> Answer:
        """`path` below /admin/api/<version>, or an absolute URL (a Link header's next page)."""
        self._pace()
        response = self._http.request(method, path, json=json, params=params)
        answer = Answer(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)
        self._note(answer)
        return answer

    def pause_needed(self) -> float:
        """Seconds to wait before the next call so that it does not fill the bucket past `slow_down_at`."""
        with self._lock:
            if self._bucket is None:
                return 0.0
            used, size, at = self._bucket
        leaked = (self._monotonic() - at) * size * LEAK_SHARE_PER_SECOND
        level = max(0.0, used - leaked)
        room = self.rules.slow_down_at * size - 1
        return 0.0 if level <= room else (level - room) / (size * LEAK_SHARE_PER_SECOND)

    def _pace(self) -> None:
        wait = self.pause_needed()
        if wait > 0:
            self._sleep(wait)

    def _note(self, answer: Answer) -> None:
        limit = call_limit(answer.headers.get(CALL_LIMIT_HEADER))
        if limit is not None:
            with self._lock:
                self._bucket = (limit[0], limit[1], self._monotonic())

    def close(self) -> None:
        self._http.close()
