"""A Shopify order through the hub into a real Tryton and back: the shop's signed orders/create webhook, taken in at
the API, becomes a confirmed Tryton sale; a clerk ships part of it in Tryton; the poll brings the partial shipment
back and the hub invoices only what shipped, settling it from the money the shop took at checkout.

The Tryton side (a trytond per test over a copy of the template, the estate built from the configuration) is
tests/integration/tryton/estate.py's; this module adds the shop as a `kind: shopify` source. Shopify numbers order
lines by line item id, far above what Tryton's 32-bit `sequence` holds on PostgreSQL: the sale lines carry them in
their notes, and the shipment finds them there.
"""

from __future__ import annotations

import copy
import datetime
import json
import warnings
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from crossdock.connectors.tryton.client import TrytonClient
from crossdock.connectors.tryton.outbound import EVENT_TYPES
from crossdock.domain import accounting, catalog
from crossdock.domain.workflows.order_to_cash import OrderStatus
from crossdock.entrypoints.api.app import create_app
from tests.conftest import SAMPLES
from tests.fakes.shopify import FakeShopify
from tests.integration.tryton import erp
from tests.integration.tryton import estate as tryton_estate
from tests.integration.tryton.estate import ERP, HUB_ACCOUNTS, SALES, WMS, Estate, ship, stock_in_hub, the_sale

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.skipif(not erp.installed(), reason="trytond is not installed: pip install -e '.[tryton]'")

# The shared estate's fixtures, by the names pytest looks for: a trytond per test over a copy of the template, its
# clerk, and hubs built from a configuration beside it.
tryton_template = tryton_estate.tryton_template
tryton = tryton_estate.tryton
clerk = tryton_estate.clerk
make_estate = tryton_estate.make_estate

SHOP = "northwind"  # the source: webhooks go to POST /v1/webhooks/shopify/northwind
DEPOSIT = "2350"  # the customer deposit: what the shop took at checkout, until the hub invoices it
CUSTOMER, _NAME = erp.KNOWN_CUSTOMER  # the webshop's one account in Tryton: every shop order is sold to it
ORDER_ID = 820982911946154508  # the sample's order, by its GID (its `id` lost precision on the way)
ORDER = f"SHOP-{ORDER_ID}"
# The sample's first two line items (by their GIDs: their `id`s lost precision too), sold as the template's widget
# and gadget at Tryton's list prices. Both are above 2**53, let alone 2**31.
WIDGET_LINE, GADGET_LINE = 487817672276298554, 976318377106520349
LINES = {WIDGET_LINE: ("A-100", 8, "12.50"), GADGET_LINE: ("B-200", 3, "4.00")}
TOTAL = Decimal("112.00")  # 8 x 12.50 + 3 x 4.00, no tax


def shop_order(**changes: Any) -> dict[str, Any]:
    """Shopify's documented orders/create payload (API 2025-07), placed today in Tryton's currency for the template's
    products: not cancelled, not yet paid, untaxed."""
    sample = json.loads((SAMPLES / "shopify" / "gadget_metadata_2025-07_orders-create.json").read_text())["response"]
    order = copy.deepcopy(sample)
    items = []
    for item in order["line_items"]:
        line = int(item["admin_graphql_api_id"].rpartition("/")[2])
        if line in LINES:
            sku, units, price = LINES[line]
            item |= {"sku": sku, "quantity": units, "current_quantity": units, "price": price, "tax_lines": []}
            items.append((line, item))
    assert [line for line, _item in items] == list(LINES), "the sample's line items have changed"
    now = datetime.datetime.now(datetime.UTC).isoformat()
    total = str(TOTAL)
    order |= {
        "line_items": [item for _line, item in items],
        "currency": erp.COMPANY_CURRENCY,
        "presentment_currency": erp.COMPANY_CURRENCY,
        "cancelled_at": None,
        "cancel_reason": None,
        "financial_status": "pending",
        "created_at": now,
        "processed_at": now,
        "updated_at": now,
        "subtotal_price": total,
        "current_subtotal_price": total,
        "total_line_items_price": total,
        "total_price": total,
        "current_total_price": total,
        "total_outstanding": total,
        "total_discounts": "0.00",
        "current_total_discounts": "0.00",
        "discount_codes": [],
        "discount_applications": [],
        "tax_lines": [],
    }
    return dict(order | changes)


@pytest.fixture
def fake() -> FakeShopify:
    """Only its webhook signing is used: the hub makes no call to the shop here."""
    return FakeShopify()


@pytest.fixture
def shop_estate(make_estate: Callable[..., Estate], tryton: erp.Server, fake: FakeShopify) -> Estate:
    """The shop sells through the hub; Tryton confirms, ships and is polled; the hub bills."""
    shop = {"shop": "northwind.myshopify.com", "secret": fake.secret, "customer": CUSTOMER}
    return make_estate(
        sources={
            SHOP: {"kind": "shopify", "options": shop | {"location": erp.WAREHOUSE_CODE}},
            ERP: {"kind": "tryton", "options": tryton_estate.tryton_options(tryton)},
            WMS: {"kind": "canonical"},
        },
        subscriptions=[{"destination": SALES, "events": list(EVENT_TYPES)}],
        accounting={
            "currency": erp.COMPANY_CURRENCY,
            "accounts": HUB_ACCOUNTS | {"customer_deposit": DEPOSIT},
            "unit_costs": {"A-100": "6.25", "B-200": "2.00"},
        },
        api={"auth": "off"},
    )


@pytest.fixture
def api(shop_estate: Estate) -> Iterator[TestClient]:
    with TestClient(create_app(shop_estate.runtime)) as client:
        yield client


def post_webhook(
    api: TestClient, fake: FakeShopify, topic: str, order: dict[str, Any], webhook_id: str
) -> httpx.Response:
    body, headers = fake.webhook(topic, order, webhook_id=webhook_id)
    response: httpx.Response = api.post(f"/v1/webhooks/shopify/{SHOP}", content=body, headers=headers)
    return response


def sales_of_the_order(clerk: TrytonClient) -> list[dict[str, Any]]:
    return clerk.search_read("sale.sale", [("reference", "=", ORDER)], ["id"])


def test_a_shopify_order_is_sold_in_tryton_shipped_there_in_part_and_the_hub_invoices_only_what_shipped(
    shop_estate: Estate, api: TestClient, fake: FakeShopify, clerk: TrytonClient
) -> None:
    estate = shop_estate
    stock_in_hub(estate)

    created = post_webhook(api, fake, "orders/create", shop_order(), "w-create")
    estate.work()

    assert created.status_code == 202, created.text
    assert estate.dead_letters() == []
    assert estate.order(ORDER).status is OrderStatus.RELEASED, "the shop's order is accepted and released"
    sale = the_sale(clerk, ORDER)
    assert sale["state"] == "processing", "the shop's order is a confirmed Tryton sale"
    assert sale["party."]["code"] == CUSTOMER, "sold to the webshop's account, as the shop's `customer` option says"
    assert sale["description"] == "#9999", "the shop's order name is the customer's reference"
    assert sale["untaxed_amount"] == TOTAL
    lines = clerk.read("sale.line", sale["lines"], ["sequence", "note", "product.code", "quantity", "unit_price"])
    assert sorted(
        (ln["sequence"], ln["note"], ln["product."]["code"], ln["quantity"], ln["unit_price"]) for ln in lines
    ) == [
        (1, f"crossdock:line={WIDGET_LINE}", "A-100", 8.0, Decimal("12.50")),
        (2, f"crossdock:line={GADGET_LINE}", "B-200", 3.0, Decimal("4.00")),
    ], "each Shopify line item is a sale line at its position (a 32-bit sequence), its line item id in the note"

    # The shop captured the payment at checkout: orders/paid, the same order with the money taken.
    paid = post_webhook(api, fake, "orders/paid", shop_order(financial_status="paid"), "w-paid")
    estate.work()
    assert paid.status_code == 202, paid.text
    assert (estate.order(ORDER).paid, estate.order(ORDER).prepayment_held) == (TOTAL, TOTAL)

    # Six of the eight widgets are on the shelf: the clerk ships them and all the gadgets; Tryton backorders two.
    (first,) = sale["shipments"]
    ship(clerk, first, {"A-100": 6.0})
    report = estate.poll()

    assert report.accepted == 1, f"one done shipment, one message: {report}"
    (confirmed,) = estate.events(ORDER, catalog.ShipmentConfirmed.event_type)
    assert {ln["line"]: Decimal(ln["quantity"]["value"]) for ln in confirmed["shipment"]["lines"]} == {
        WIDGET_LINE: Decimal(6),
        GADGET_LINE: Decimal(3),
    }, "the shipment names the Shopify line items it shipped"
    pinned = {sku: estate.xref("order_line", f"{ORDER}#{line}") for line, (sku, _units, _price) in LINES.items()}
    assert pinned == {ln["product."]["code"]: str(ln["id"]) for ln in lines}, (
        "the poller pins each sale line to its hub line as it reads the sale"
    )
    order = api.get(f"/v1/orders/{ORDER}").json()
    assert {ln["sku"]: (ln["ordered"], ln["shipped"], ln["invoiced"]) for ln in order["lines"]} == {
        "A-100": ("8", "6", "6"),
        "B-200": ("3", "3", "3"),
    }, "the hub invoices what shipped, not what was ordered"
    (posted,) = estate.events(ORDER, catalog.InvoicePosted.event_type)
    invoice = api.get(f"/v1/invoices/{posted['invoice']['number']}").json()
    billed = {(ln["sku"], ln["quantity"]["value"], ln["unit_price"]) for ln in invoice["lines"]}
    assert billed == {("A-100", "6", "12.50"), ("B-200", "3", "4.00")}
    assert (invoice["amounts"]["total"], invoice["amounts"]["paid"], invoice["amounts"]["open"]) == (
        "87.00",
        "87.00",
        "0.00",
    ), "the invoice is settled from what the shop took at checkout the moment it posts"
    (applied,) = invoice["payments"]
    assert (applied["payment"], applied["prepayment"]) == (f"{ORDER}-PAID", True)
    (prepayment,) = order["prepayments"]
    assert (prepayment["applied"], prepayment["held"]) == ("87.00", "25.00"), "the rest waits for the backorder"
    assert deposit(estate) == Decimal("-25.00"), "the deposit still holds what the two widgets will be billed"

    backorders = [s for s in the_sale(clerk, ORDER)["shipments"] if s != first]
    assert len(backorders) == 1, "Tryton keeps the two widgets on a backorder shipment"
    (backorder,) = clerk.read("stock.shipment.out", backorders, ["number"])
    assert estate.xref("shipment", backorder["number"]) == str(backorder["id"]), "the poller sees the backorder"

    # The two widgets come in and the backorder ships: its invoice takes the rest of the prepayment.
    ship(clerk, backorder["id"], {})
    estate.poll()
    state = estate.order(ORDER)
    assert {ln.sku: ln.invoiced for ln in state.lines} == {"A-100": Decimal(8), "B-200": Decimal(3)}
    assert state.status is OrderStatus.CLOSED, "shipped, invoiced and paid in full"
    assert (state.invoiced_amount, state.prepayment_held, state.credit) == (TOTAL, Decimal(0), Decimal(0))
    assert deposit(estate) == 0, "the deposit is cleared against the two invoices"
    assert estate.dead_letters() == []


def test_the_same_webhook_delivered_again_changes_nothing_in_the_hub_or_in_tryton(
    shop_estate: Estate, api: TestClient, fake: FakeShopify, clerk: TrytonClient
) -> None:
    estate = shop_estate
    stock_in_hub(estate)
    order = shop_order()
    post_webhook(api, fake, "orders/create", order, "w-create")
    estate.work()
    (sale,) = sales_of_the_order(clerk)
    with estate.runtime.hub.begin() as uow:
        head = uow.log.head()
        delivered = uow.outbox.counts()

    again = post_webhook(api, fake, "orders/create", order, "w-create")
    estate.work()

    assert (again.status_code, again.json()["duplicate"]) == (200, True), again.text
    with estate.runtime.hub.begin() as uow:
        assert uow.log.head() == head, "no new event in the hub"
        assert uow.outbox.counts() == delivered, "nothing new to deliver to Tryton"
    assert sales_of_the_order(clerk) == [sale], "no second sale in Tryton"


def deposit(estate: Estate) -> Decimal:
    with estate.runtime.hub.begin() as uow:
        balances = accounting.balances(uow.journal.entries("main"))
    return balances.get((DEPOSIT, erp.COMPANY_CURRENCY), Decimal(0))
