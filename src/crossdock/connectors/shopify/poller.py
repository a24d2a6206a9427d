"""The missed-webhook safety net of one shop: now and then, the orders updated since the watermark (GET orders.json
with updated_at_min and status=any, page by page along the Link header), each taken in through the shop's intake as
an orders/updated snapshot. Its dedupe key is the one a webhook of the same order version gets, so an order the
webhooks brought is a duplicate here and one they missed counts once. Must not: map orders (intake does) or touch
the hub's store other than through `take_in`, which stores a page and moves the watermark in one transaction.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from crossdock.connectors.shopify import mapping
from crossdock.connectors.shopify.client import ShopifyClient, TransportError
from crossdock.connectors.shopify.inbound import SHOP_HEADER, TOPIC_HEADER
from crossdock.hub.ports import IntakeResult, IntakeStatus, NewMessage

log = logging.getLogger(__name__)

CONNECTOR = "shopify"
STREAM = "orders"
POLLED_HEADER = "x-crossdock-polled"
PAGE_SIZE = 250  # the most Shopify returns per page
FIRST_LOOKBACK = timedelta(days=1)  # how far back the very first poll of a shop reaches

# hub.intake.prepare(source, body, headers, now): the message intake would store for this body.
Prepare = Callable[[str, bytes, dict[str, str], datetime], NewMessage]
# Store the messages and advance (source, stream) to the watermark, in one unit of work.
TakeIn = Callable[[Sequence[NewMessage], str], list[IntakeResult]]
ReadWatermark = Callable[[], str | None]


@dataclass(frozen=True)
class OrdersPolled:
    """What one poll did."""

    taken_in: int = 0  # order versions the webhooks had not brought
    already_had: int = 0  # order versions intake already held
    pages: int = 0
    watermark: str | None = None
    error: str | None = None

    @property
    def busy(self) -> bool:
        return bool(self.taken_in)


@dataclass
class OrderPoller:
    source: str
    shop: str
    transport: ShopifyClient  # named as the file pollers' transport: Runtime.close closes it
    prepare: Prepare
    take_in: TakeIn
    read_watermark: ReadWatermark
    now: Callable[[], datetime]
    every: timedelta = timedelta(minutes=5)
    _last: datetime | None = field(default=None, init=False)

    def poll_once(self, *, force: bool = False) -> OrdersPolled:
        """One poll, when one is due (or `force`); a failure is reported and the next poll tries again."""
        now = self.now()
        if not force and self._last is not None and now - self._last < self.every:
            return OrdersPolled()
        self._last = now
        try:
            return self._poll(now)
        except (TransportError, ValueError) as exc:
            log.warning("shop %s: polling orders failed: %s", self.shop, exc)
            return OrdersPolled(error=f"{exc.__class__.__name__}: {exc}")

    def _poll(self, now: datetime) -> OrdersPolled:
        since = self.read_watermark() or (now - FIRST_LOOKBACK).isoformat()
        params = {"updated_at_min": since, "status": "any", "limit": str(PAGE_SIZE), "order": "updated_at asc"}
        url: str | None = "/orders.json"
        taken, had, pages, mark = 0, 0, 0, since
        while url is not None:
            answer = self.transport.request("GET", url, params=params if pages == 0 else None)
            if answer.status_code != 200:
                raise ValueError(f"orders.json answered HTTP {answer.status_code}: {answer.text[:200]}")
            pages += 1
            # Plain json: integers stay exact, and each order is written back as it came for intake to read.
            orders = json.loads(answer.content).get("orders") or []
            messages = [self._message(order, now) for order in orders]
            mark = max([mark, *(str(order.get("updated_at") or since) for order in orders)], key=_moment)
            results = self.take_in(messages, mark)
            fresh = sum(1 for r in results if r.status is IntakeStatus.ACCEPTED)
            taken, had = taken + fresh, had + len(results) - fresh
            url = answer.next_page()
        if taken:
            log.info("shop %s: the poll took in %d order versions no webhook had brought", self.shop, taken)
        return OrdersPolled(taken_in=taken, already_had=had, pages=pages, watermark=mark)

    def _message(self, order: dict[str, object], now: datetime) -> NewMessage:
        body = json.dumps(order, separators=(",", ":")).encode()
        headers = {
            TOPIC_HEADER: mapping.POLLED_TOPIC,
            SHOP_HEADER: self.shop,
            POLLED_HEADER: "true",
            "content-type": "application/json",
        }
        return self.prepare(self.source, body, headers, now)


def _moment(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"updated_at {value!r} is not an ISO 8601 time") from None
