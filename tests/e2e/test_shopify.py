"""Shopify end to end: signed webhooks through the API into the order-to-cash runtime, and the hub's inventory
levels, fulfillments and the order poll against a fake shop that enforces tokens, signatures and the call limit."""

from __future__ import annotations

import copy
import json
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from crossdock.connectors import registry
from crossdock.connectors.shopify import poller as shop_poll
from crossdock.connectors.shopify.connector import SHOPIFY, ShopOrders
from crossdock.domain import accounting, catalog
from crossdock.domain.workflows.order_to_cash import OrderStatus
from crossdock.entrypoints.api.app import create_app
from crossdock.entrypoints.api.webhooks import REJECTED_ACTION
from crossdock.hub.ports import CrossReference, ExceptionFilter, MessageStatus
from tests.conftest import SAMPLES
from tests.e2e.order_to_cash_estate import ACCOUNTS, OrderToCashEstate, settings_for
from tests.fakes.shopify import FakeShopify

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

SHOP = "northwind"
OUT = "northwind-out"
LOCATION_ID = 905684977
ITEMS = {"IPOD2008GREEN": 808950810, "IPOD2008RED": 808950811, "IPOD2008BLACK": 808950812}
ORDER = "SHOP-450789469"
DEPOSIT = "2350"


@pytest.fixture(autouse=True)
def shopify_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    """The `shopify` kind as its entry point registers it; stands in until the installed metadata lists it."""
    if "shopify" in registry.installed_kinds():
        return
    installed, load = registry.installed_kinds, registry.load
    monkeypatch.setattr(registry, "installed_kinds", lambda: sorted({*installed(), "shopify"}))
    monkeypatch.setattr(registry, "load", lambda kind: SHOPIFY if kind == "shopify" else load(kind))


@pytest.fixture
def fake() -> Iterator[FakeShopify]:
    shop = FakeShopify()
    shop.start()
    yield shop
    shop.stop()


@dataclass
class ShopEstate:
    estate: OrderToCashEstate
    client: TestClient
    fake: FakeShopify

    @property
    def hub(self) -> Any:
        return self.estate.hub

    def webhook(self, topic: str, payload: dict[str, Any] | bytes, **given: Any) -> httpx.Response:
        body, headers = self.fake.webhook(topic, payload, **given)
        response: httpx.Response = self.client.post(f"/v1/webhooks/shopify/{SHOP}", content=body, headers=headers)
        return response

    def messages(self) -> list[Any]:
        with self.hub.begin() as uow:
            return list(uow.inbox.find(source=SHOP, limit=1000))

    def link(self, kind: str, hub_id: str, external_id: str) -> None:
        with self.hub.begin() as uow:
            uow.xrefs.link(CrossReference(kind, OUT, hub_id, external_id), self.hub.clock.now())
            uow.commit()

    def poller(self) -> ShopOrders:
        """The shop's order poll, as the Shopify connector declares it and the worker runs it."""
        assert self.estate.runtime is not None
        (found,) = [p for p in self.estate.runtime.pollers if p.source == SHOP]
        assert isinstance(found, ShopOrders)
        return found


@pytest.fixture
def shop(tmp_path: Path, fake: FakeShopify, database_url: str) -> Iterator[ShopEstate]:
    """Once on SQLite and once on PostgreSQL (database_url)."""
    options = {
        "shop": "northwind.myshopify.com",
        "secret": fake.secret,
        "token": fake.token,
        "base_url": fake.url,
        "location": "WH-NORTH",
        "inventory_location": "WH-NORTH",
        "poll_minutes": 5,
        "slow_down_at": 1.0,
    }
    settings = settings_for(
        tmp_path,
        storage={"url": database_url},
        sources={SHOP: {"kind": "shopify", "options": options}, "wms": {"kind": "canonical"}},
        destinations={
            OUT: {
                "kind": "shopify",
                "options": options,
                "retry": {"base_seconds": 1, "max_delay_seconds": 5, "max_attempts": 20},
            }
        },
        subscriptions=[
            {
                "destination": OUT,
                "events": [catalog.AvailabilityChanged.event_type, catalog.ShipmentConfirmed.event_type],
            }
        ],
        inventory={"channels": ["shopify"], "availability_window_seconds": 1},
        # The shop takes the money at checkout: it is held on a customer deposit account until invoiced.
        accounting={"accounts": ACCOUNTS | {"customer_deposit": DEPOSIT}},
    )
    estate = OrderToCashEstate(tmp_path, settings)
    assert estate.runtime is not None
    client = TestClient(create_app(estate.runtime))
    client.__enter__()
    yield ShopEstate(estate, client, fake)
    client.__exit__(None, None, None)
    estate.stop()


def rest_order(**changes: Any) -> dict[str, Any]:
    sample = json.loads((SAMPLES / "shopify" / "shopify-python-api_order_rest-wrapped.json").read_text())["order"]
    return dict(copy.deepcopy(sample)) | changes


def test_a_signed_orders_create_becomes_an_accepted_order_of_the_shop_channel(shop: ShopEstate) -> None:
    response = shop.webhook("orders/create", rest_order())
    assert response.status_code == 202, response.text
    shop.estate.drain()
    state = shop.estate.state(ORDER)
    assert state.status is OrderStatus.ACCEPTED
    assert [line.sku for line in state.lines] == ["IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"]
    with shop.hub.begin() as uow:
        record = uow.orders.load(ORDER)
    assert record is not None and record.channel == "shopify"


def test_a_bad_signature_gets_401_nothing_is_processed_and_the_attempt_is_in_the_audit_trail(shop: ShopEstate) -> None:
    response = shop.webhook("orders/create", rest_order(), secret="not the shop's secret", webhook_id="w-forged")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
    shop.estate.drain()
    assert shop.messages() == []
    with shop.hub.begin() as uow:
        assert uow.orders.load(ORDER) is None
    shop.client.app.state.audit.flush()  # type: ignore[attr-defined]
    with shop.hub.begin() as uow:
        rejected = [r for r in uow.audit.read() if r.action == REJECTED_ACTION]
    (record,) = rejected
    assert record.target == f"shopify:{SHOP}"
    assert (record.details["webhook_id"], record.details["topic"], record.details["reason"]) == (
        "w-forged",
        "orders/create",
        "signature mismatch",
    )


def test_a_replayed_webhook_changes_nothing(shop: ShopEstate) -> None:
    first = shop.webhook("orders/create", rest_order(), webhook_id="w-1")
    shop.estate.drain()
    with shop.hub.begin() as uow:
        head = uow.log.head()
    again = shop.webhook("orders/create", rest_order(), webhook_id="w-1")
    shop.estate.drain()
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["duplicate"] is True
    assert len(shop.messages()) == 1
    with shop.hub.begin() as uow:
        assert uow.log.head() == head


def test_an_order_paid_before_its_create_arrived_is_received_held_as_prepaid_and_ends_paid(
    shop: ShopEstate,
) -> None:
    for sku in ITEMS:
        shop.estate.receipt(sku, "WH-NORTH", 5)
    # The sample's three lines at 199.00 with no tax: the hub will invoice 597.00, and the shop took 597.00.
    paid_order = rest_order(financial_status="paid", total_price="597.00", updated_at="2008-01-10T11:05:00-05:00")
    paid = shop.webhook("orders/paid", paid_order)
    shop.estate.drain()
    created = shop.webhook("orders/create", rest_order(financial_status="pending"))
    shop.estate.drain()
    assert (paid.status_code, created.status_code) == (202, 202)
    assert all(m.status is MessageStatus.PROCESSED for m in shop.messages())
    (payment,) = shop.estate.events(catalog.PaymentApplied.event_type, ORDER)
    assert payment["payment"]["amount"] == "597.00" and payment["payment"]["order"] == ORDER
    state = shop.estate.state(ORDER)
    assert state.status is OrderStatus.RELEASED  # the paid snapshot carried the order; the late create is a repeat
    assert (state.paid, state.prepayment_held) == (Decimal("597.00"), Decimal("597.00"))

    lines = [(466157049, "IPOD2008GREEN"), (518995019, "IPOD2008RED"), (703073504, "IPOD2008BLACK")]
    shipment = {
        "number": "WMS-SHIP-9",
        "order": ORDER,
        "from_location": "WH-NORTH",
        "lines": [{"line": n, "sku": sku, "quantity": {"value": "1", "unit": "EA"}} for n, sku in lines],
    }
    shop.estate.event("wms", catalog.ShipmentConfirmed.event_type, {"shipment": shipment})
    shop.estate.drain()

    state = shop.estate.state(ORDER)
    assert state.status is OrderStatus.CLOSED, "the invoice is settled from the prepayment the moment it posts"
    assert (state.invoiced_amount, state.paid, state.credit) == (Decimal("597.00"), Decimal("597.00"), 0)
    with shop.hub.begin() as uow:
        finance = uow.exceptions.find(ExceptionFilter(owner="finance"))
        balances = accounting.balances(uow.journal.entries("main"))
    assert finance == [], "nothing for finance to apply by hand"
    assert balances.get((ACCOUNTS["cash"], "USD")) == Decimal("597.00")
    assert balances.get((DEPOSIT, "USD")) == 0, "the deposit was applied in full"
    assert balances.get((ACCOUNTS["receivable"], "USD")) == 0, "the invoice is paid"


def test_the_largest_64_bit_id_and_a_gid_reach_the_hub_exactly(shop: ShopEstate) -> None:
    biggest = 2**63 - 1
    shop.webhook("orders/create", rest_order(id=biggest))
    # A payload whose `id` passed through a double: the GID still names the order exactly.
    shop.webhook(
        "orders/create",
        rest_order(id=820982911946154500, admin_graphql_api_id="gid://shopify/Order/820982911946154508"),
    )
    shop.estate.drain()
    assert shop.estate.state(f"SHOP-{biggest}").status is OrderStatus.ACCEPTED
    assert shop.estate.state("SHOP-820982911946154508").status is OrderStatus.ACCEPTED
    with shop.hub.begin() as uow:
        assert uow.orders.load("SHOP-820982911946154500") is None


def test_an_unknown_topic_is_kept_as_a_failed_message_with_the_reason(shop: ShopEstate) -> None:
    response = shop.webhook("products/create", {"id": 1})
    shop.estate.drain()
    assert response.status_code == 202
    (message,) = shop.messages()
    assert message.status is MessageStatus.FAILED
    assert "'products/create' is not taken" in (message.error or "")


def _stock(shop: ShopEstate, skus: list[str], quantity: int, *, bucket_used_by_others: int = 0) -> None:
    for sku in skus:
        shop.estate.receipt(sku, "WH-NORTH", quantity)
    shop.estate.drain()
    shop.fake.fill(bucket_used_by_others)
    shop.estate.later(seconds=2)  # the availability window closes: one figure per sku and channel goes out


def test_inventory_levels_are_pushed_after_availability_changes_and_a_burst_of_429s_loses_nothing(
    shop: ShopEstate,
) -> None:
    shop.link("location", "WH-NORTH", str(LOCATION_ID))
    for sku, item in ITEMS.items():
        shop.link("item", sku, f"gid://shopify/InventoryItem/{item}")
    _stock(shop, list(ITEMS), 12, bucket_used_by_others=40)  # other apps have filled the shop's bucket
    refused = [r for r in shop.fake.calls("POST", "/inventory_levels/set.json") if r.status == 429]
    assert refused, "the full bucket should have answered 429"
    for _ in range(10):
        if len(shop.fake.levels) == len(ITEMS):
            break
        time.sleep(1.0)  # the fake's bucket leaks in real time
        shop.estate.later(seconds=3)  # past Retry-After on the hub's clock
    assert shop.fake.levels == {(LOCATION_ID, item): 12 for item in ITEMS.values()}
    assert shop.estate.hub.outbox is not None
    with shop.hub.begin() as uow:
        assert uow.outbox.counts().get("dead", 0) == 0


def test_a_missing_shopify_link_is_an_exception_for_master_data_announced_once(shop: ShopEstate) -> None:
    shop.link("location", "WH-NORTH", str(LOCATION_ID))  # the location is linked, the item is not
    _stock(shop, ["IPOD2008GREEN"], 12)
    _stock(shop, ["IPOD2008GREEN"], 3)  # a second figure for the same item: the same link is still missing

    with shop.hub.begin() as uow:
        stored = uow.exceptions.find(ExceptionFilter(reason_code="missing-cross-reference"))
        dead = uow.outbox.counts().get("dead", 0)
    (missing,) = stored
    assert (missing.owner, missing.about_kind, missing.about_key) == ("master_data", "item", "IPOD2008GREEN")
    announced = [
        catalog.ExceptionOpened.model_validate(data)
        for data in shop.estate.events(catalog.ExceptionOpened.event_type)
        if data["reason_code"] == "missing-cross-reference"
    ]
    assert [(a.exception, a.owner) for a in announced] == [(missing.id, catalog.ExceptionOwner.MASTER_DATA)]
    assert dead == 2, "each figure waits, dead-lettered with the reason, for the link and a replay"
    assert shop.fake.levels == {}


def test_a_warehouse_shipment_reaches_shopify_as_a_fulfillment_with_its_tracking_number(shop: ShopEstate) -> None:
    shop.fake.add_order(rest_order())
    _stock(shop, list(ITEMS), 5)
    shop.webhook("orders/create", rest_order())
    shop.estate.drain()
    shipped = [(466157049, "IPOD2008GREEN", 1), (518995019, "IPOD2008RED", 1)]
    data = {
        "shipment": {
            "number": "WMS-SHIP-1",
            "order": ORDER,
            "from_location": "WH-NORTH",
            "carrier": "UPS",
            "tracking_numbers": ["1Z999AA10123456784"],
            "lines": [{"line": n, "sku": s, "quantity": {"value": str(q), "unit": "EA"}} for n, s, q in shipped],
        }
    }
    shop.estate.event("wms", catalog.ShipmentConfirmed.event_type, data)
    shop.estate.drain()
    (fulfillment,) = shop.fake.fulfillments
    assert (fulfillment["tracking_number"], fulfillment["tracking_company"]) == ("1Z999AA10123456784", "UPS")
    assert fulfillment["line_items"] == [{"id": 466157049, "quantity": 1}, {"id": 518995019, "quantity": 1}]


def test_a_missed_webhook_is_caught_by_the_poll_once_not_twice(shop: ShopEstate) -> None:
    seen = rest_order(updated_at="2025-03-03T08:00:00+00:00")
    missed = rest_order(id=450789470, name="#1002", updated_at="2025-03-03T08:30:00+00:00")
    shop.fake.add_order(seen)
    shop.fake.add_order(missed)
    shop.webhook("orders/updated", seen)
    shop.estate.drain()
    first = shop.poller().orders.poll_once(force=True)
    second = shop.poller().orders.poll_once(force=True)
    shop.estate.drain()
    assert (first.taken_in, first.already_had) == (1, 1)
    assert (second.taken_in, second.already_had) == (0, 1)  # from the watermark on, only the last order again
    assert second.watermark == "2025-03-03T08:30:00+00:00"
    assert shop.estate.state("SHOP-450789470").status is OrderStatus.ACCEPTED
    assert len(shop.messages()) == 2
    (call, *_) = shop.fake.calls("GET", "/orders.json")
    assert call.query["status"] == "any" and "updated_at_min" in call.query


def test_the_worker_polls_the_shop_at_its_own_interval_and_counts_what_it_took_in(shop: ShopEstate) -> None:
    shop.fake.add_order(rest_order(id=450789470, name="#1002", updated_at="2025-03-03T08:30:00+00:00"))
    poll = shop.poller()
    assert poll.every == 300.0  # poll_minutes: 5

    first = poll.poll()
    again = poll.poll()  # a worker told to poll everything more often: the shop's call limit is not spent on it
    shop.estate.later(minutes=5)
    later = poll.poll()

    assert (first.taken_in, first.already_had, first.error) == (1, 0, None)
    assert (again.taken_in, again.already_had) == (0, 0)
    assert (later.taken_in, later.already_had) == (0, 1)
    assert len(shop.fake.calls("GET", "/orders.json")) == 2


def test_the_poll_follows_the_link_header_across_pages(shop: ShopEstate, monkeypatch: pytest.MonkeyPatch) -> None:
    for offset in range(3):
        shop.fake.add_order(rest_order(id=450789470 + offset, updated_at=f"2025-03-03T08:0{offset}:00+00:00"))
    monkeypatch.setattr(shop_poll, "PAGE_SIZE", 2)
    polled = shop.poller().orders.poll_once(force=True)
    assert (polled.pages, polled.taken_in) == (2, 3)
    second_page = shop.fake.calls("GET", "/orders.json")[1]
    assert set(second_page.query) == {"limit", "page_info"}
