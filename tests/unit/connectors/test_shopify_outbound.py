"""The Shopify sender and client against the fake shop: Admin REST shapes, the access token, the call-limit header
slowing us down before the bucket is full, 429s answered with Retry-After, repeats that do not fulfil twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from crossdock.connectors.shopify.client import ShopifyClient
from crossdock.connectors.shopify.options import ShopOptions
from crossdock.connectors.shopify.outbound import ShopifySender
from crossdock.domain import catalog
from crossdock.hub.ports import AttemptOutcome, Delivery, DeliveryStatus
from tests.fakes.shopify import FakeShopify

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
LOCATION_ID, ITEM_ID = 905684977, 808950810
LINKS = {
    ("location", "WH-NORTH"): str(LOCATION_ID),
    ("item", "IPOD2008GREEN"): f"gid://shopify/InventoryItem/{ITEM_ID}",
}


@pytest.fixture
def fake() -> Iterator[FakeShopify]:
    shop = FakeShopify()
    shop.start()
    yield shop
    shop.stop()


def rules(fake: FakeShopify, **overrides: Any) -> ShopOptions:
    given: dict[str, Any] = {
        "shop": "northwind.myshopify.com",
        "token": fake.token,
        "base_url": fake.url,
        "inventory_location": "WH-NORTH",
        "slow_down_at": 1.0,
    }
    return ShopOptions.model_validate(given | overrides)


_OPEN: list[ShopifySender] = []


@pytest.fixture(autouse=True)
def _close_senders() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def sender(fake: FakeShopify, **overrides: Any) -> ShopifySender:
    shop = rules(fake, **overrides)
    built = ShopifySender("northwind-out", shop, ShopifyClient(shop), lambda kind, key: LINKS.get((kind, key)))
    _OPEN.append(built)
    return built


def delivery(event_type: str, data: dict[str, Any], ident: str = "d-1") -> Delivery:
    return Delivery(
        id=ident,
        event_id=f"e-{ident}",
        event_type=event_type,
        subject="s",
        destination="northwind-out",
        partition_key="p",
        shard=0,
        payload={"type": event_type, "data": data},
        status=DeliveryStatus.PENDING,
        attempts=0,
        created_at=NOW,
        next_attempt_at=NOW,
        last_error=None,
        delivered_at=None,
        queued_at=NOW,
    )


def availability(
    sku: str = "IPOD2008GREEN", value: str = "17", channel: str = "shopify", ident: str = "d-1"
) -> Delivery:
    data = {"sku": sku, "channel": channel, "available": {"value": value, "unit": "EA"}}
    return delivery(catalog.AvailabilityChanged.event_type, data, ident)


def order(order_id: int = 450789469) -> dict[str, Any]:
    return {
        "id": order_id,
        "updated_at": "2025-03-03T09:00:00+00:00",
        "cancelled_at": None,
        "line_items": [{"id": 466157049, "sku": "IPOD2008GREEN", "quantity": 2, "price": "199.00"}],
    }


def shipment(number: str = "SHIP-1", quantity: int = 2) -> Delivery:
    data = {
        "shipment": {
            "number": number,
            "order": "SHOP-450789469",
            "from_location": "WH-NORTH",
            "carrier": "UPS",
            "tracking_numbers": ["1Z999AA10123456784"],
            "lines": [{"line": 466157049, "sku": "IPOD2008GREEN", "quantity": {"value": str(quantity), "unit": "EA"}}],
        }
    }
    return delivery(catalog.ShipmentConfirmed.event_type, data, number)


def test_availability_is_set_as_an_inventory_level_at_the_linked_location_and_item(fake: FakeShopify) -> None:
    (result,) = sender(fake).send([availability(value="17.5")])
    assert result.outcome is AttemptOutcome.DELIVERED, result.error
    assert fake.levels == {(LOCATION_ID, ITEM_ID): 17}  # whole units only
    (call,) = fake.calls("POST", "/inventory_levels/set.json")
    assert call.body == {"location_id": LOCATION_ID, "inventory_item_id": ITEM_ID, "available": 17}


def test_another_channels_availability_is_not_sent(fake: FakeShopify) -> None:
    (result,) = sender(fake).send([availability(channel="marketplace")])
    assert result.outcome is AttemptOutcome.DELIVERED
    assert fake.calls() == []


def test_an_item_with_no_shopify_link_is_dead_lettered_naming_the_link_to_make(fake: FakeShopify) -> None:
    (result,) = sender(fake).send([availability(sku="UNLINKED")])
    assert result.outcome is AttemptOutcome.PERMANENT
    assert "no Shopify inventory item is linked to item 'UNLINKED'" in (result.error or "")


def test_a_wrong_access_token_is_refused_for_good(fake: FakeShopify) -> None:
    (result,) = sender(fake, token="shpat_wrong").send([availability()])
    assert (result.outcome, result.status_code) == (AttemptOutcome.PERMANENT, 401)


def test_a_full_bucket_is_a_429_retried_after_retry_after_and_the_rest_of_the_batch_waits(fake: FakeShopify) -> None:
    fake.fill(40)
    first, second = sender(fake).send([availability(ident="a"), availability(ident="b")])
    assert (first.outcome, first.status_code, first.retry_after_seconds) == (AttemptOutcome.RETRYABLE, 429, 2.0)
    assert (second.outcome, second.retry_after_seconds) == (AttemptOutcome.RETRYABLE, 2.0)
    assert len(fake.calls()) == 1  # the second was held back, not sent into a full bucket


def mocked_sender(answer: Any) -> ShopifySender:
    shop = ShopOptions.model_validate(
        {"shop": "northwind.myshopify.com", "token": "t", "inventory_location": "WH-NORTH", "slow_down_at": 1.0}
    )
    client = ShopifyClient(shop, transport=httpx.MockTransport(answer))
    built = ShopifySender("northwind-out", shop, client, lambda kind, key: LINKS.get((kind, key)))
    _OPEN.append(built)
    return built


def test_a_server_error_is_retried_on_the_hubs_backoff_not_a_retry_after_and_the_batch_goes_on() -> None:
    def answer(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, text="down", headers={"Retry-After": "30"})

    first, second = mocked_sender(answer).send([availability(ident="a"), availability(ident="b")])
    # Only a 429 says the shop's bucket is full: a 503 holds back neither itself nor the rest of the batch.
    assert (first.outcome, first.status_code, first.retry_after_seconds) == (AttemptOutcome.RETRYABLE, 503, None)
    assert (second.outcome, second.status_code, second.retry_after_seconds) == (AttemptOutcome.RETRYABLE, 503, None)
    assert first.error == "inventory level: HTTP 503: down"


def test_a_shop_that_does_not_answer_in_time_is_retried() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("", request=request)

    (result,) = mocked_sender(answer).send([availability()])
    assert (result.outcome, result.status_code) == (AttemptOutcome.RETRYABLE, None)
    assert result.error == "ReadTimeout: no answer in time"


def test_the_client_slows_down_as_the_call_limit_nears_the_bucket() -> None:
    used = {"value": 36}
    slept: list[float] = []

    def answer(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={}, headers={"X-Shopify-Shop-Api-Call-Limit": f"{used['value']}/40"})

    shop = ShopOptions.model_validate({"shop": "northwind.myshopify.com", "token": "t", "slow_down_at": 0.8})
    client = ShopifyClient(shop, transport=httpx.MockTransport(answer), sleep=slept.append, monotonic=lambda: 100.0)
    _OPEN.append(ShopifySender("northwind-out", shop, client))
    client.request("GET", "/shop.json")
    client.request("GET", "/shop.json")
    # 36 in a bucket of 40, at most 80 % wanted: wait until 31 are left, 5 calls at 2 a second.
    assert slept == [pytest.approx(2.5)]
    used["value"] = 10
    client.request("GET", "/shop.json")  # still paced by the 36 of the answer before
    client.request("GET", "/shop.json")  # the bucket said 10: no wait
    assert slept == [pytest.approx(2.5), pytest.approx(2.5)]


def test_a_shipment_becomes_a_fulfillment_with_its_tracking_number_and_a_repeat_fulfils_nothing_more(
    fake: FakeShopify,
) -> None:
    fake.add_order(order())
    shop = sender(fake)
    (result,) = shop.send([shipment()])
    assert result.outcome is AttemptOutcome.DELIVERED, result.error
    (created,) = fake.fulfillments
    assert (created["tracking_number"], created["tracking_company"]) == ("1Z999AA10123456784", "UPS")
    assert created["line_items"] == [{"id": 466157049, "quantity": 2}]
    (again,) = shop.send([shipment()])
    assert again.outcome is AttemptOutcome.DELIVERED
    assert len(fake.fulfillments) == 1


def test_a_shipment_of_more_than_shopify_has_open_is_refused_with_the_line(fake: FakeShopify) -> None:
    fake.add_order(order())
    shop = sender(fake)
    shop.send([shipment("SHIP-1", quantity=1)])
    (result,) = shop.send([shipment("SHIP-2", quantity=2)])
    assert result.outcome is AttemptOutcome.PERMANENT
    assert "line item 466157049 x 1" in (result.error or "")


def test_a_whole_cancellation_cancels_the_order_once_and_a_partial_one_is_refused(fake: FakeShopify) -> None:
    fake.add_order(order())
    shop = sender(fake)
    cancelled = catalog.OrderCancelledV2.event_type
    (first,) = shop.send([delivery(cancelled, {"order": "SHOP-450789469", "whole": True, "lines": []})])
    (again,) = shop.send([delivery(cancelled, {"order": "SHOP-450789469", "whole": True, "lines": []})])
    assert (first.outcome, again.outcome) == (AttemptOutcome.DELIVERED, AttemptOutcome.DELIVERED)
    assert fake.orders[450789469]["cancelled_at"]
    assert len(fake.calls("POST", "/cancel.json")) == 2
    partial = {"order": "SHOP-450789469", "whole": False, "lines": [{"line_id": "466157049", "quantity": "1"}]}
    (refused,) = shop.send([delivery(cancelled, partial)])
    assert refused.outcome is AttemptOutcome.PERMANENT and "whole orders only" in (refused.error or "")
