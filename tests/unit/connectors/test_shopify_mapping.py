"""The Shopify mapping: every public sample payload either maps to the canonical events its topic stands for or is
refused with the field at fault; ids survive exactly; every copy of one order version shares one dedupe key."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from crossdock.connectors.shopify import mapping
from crossdock.connectors.shopify.inbound import ShopifyInbound, signature
from crossdock.connectors.shopify.options import ShopOptions, ShopOptionsError, shop_options
from crossdock.domain import catalog
from crossdock.hub.errors import MappingError
from crossdock.hub.ports import MessageStatus, StoredMessage
from tests.conftest import SAMPLES

SHOPIFY = SAMPLES / "shopify"
RULES = ShopOptions.model_validate({"shop": "northwind.myshopify.com", "secret": "s3cret", "location": "WH-NORTH"})
RECEIVED = catalog.OrderReceived.event_type
CANCELLATION = catalog.OrderCancellationRequested.event_type
SHIPPED = catalog.ShipmentConfirmed.event_type
PAID = catalog.PaymentApplied.event_type


def sample(name: str) -> dict[str, Any]:
    """A sample as the webhook body would carry it: the gadget metadata files hold the payload under "response",
    the REST list under "orders"."""
    data = json.loads((SHOPIFY / name).read_text(encoding="utf-8"))
    if "response" in data:
        return dict(data["response"])
    if "orders" in data:
        return dict(data["orders"][0])
    return mapping.unwrap(data)


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def events(topic: str, payload: dict[str, Any], rules: ShopOptions = RULES) -> list[tuple[str, dict[str, Any]]]:
    return mapping.to_events(topic, mapping.parse_json(body_of(payload)), rules)


# (file, topic, event types expected, hub order number, line count of the first event)
MAPPED = [
    # orders/create (API 2025-07): cancelled and voided, so the order and its cancellation; the GID's exact id wins
    # over the `id` a JavaScript reader rounded to ...500.
    (
        "gadget_metadata_2025-07_orders-create.json",
        "orders/create",
        [RECEIVED, CANCELLATION],
        "SHOP-820982911946154508",
        3,
    ),
    # orders/updated carries the same snapshot: the same events.
    (
        "gadget_metadata_2025-07_orders-updated.json",
        "orders/updated",
        [RECEIVED, CANCELLATION],
        "SHOP-820982911946154508",
        3,
    ),
    # fulfillments/create: one shipment with UPS tracking; only the rounded order id is given, and it is kept as given.
    (
        "gadget_metadata_2025-07_fulfillments-create.json",
        "fulfillments/create",
        [SHIPPED],
        "SHOP-820982911946154500",
        3,
    ),
    # The 2017 test notification: a 64-bit id above 2**53, read exactly from the JSON integer.
    (
        "laravel-shopify_orders-webhook_test-notification_2017.json",
        "orders/create",
        [RECEIVED, CANCELLATION],
        "SHOP-820982911946154508",
        2,
    ),
    # A REST order wrapped in {"order": ...}, authorized but not paid: the order only.
    ("shopify-python-api_order_rest-wrapped.json", "orders/updated", [RECEIVED], "SHOP-450789469", 3),
    # A REST fulfillment wrapped in {"fulfillment": ...}.
    ("shopify-python-api_fulfillment_rest-wrapped.json", "fulfillments/create", [SHIPPED], "SHOP-450789469", 1),
]

# (file, topic, the field the refusal must name)
REFUSED = [
    # The REST list's order has no line items: nothing to order.
    ("shopify-python-api_orders_list.json", "orders/updated", "line_items"),
    # Placeholder values ("example string" as a price) are refused at the first field that is not money.
    ("gadget_exemplar_2025-04_order_placeholder-values.json", "orders/create", "line_items[0].price"),
]


def test_every_sample_file_is_covered_by_the_tables() -> None:
    covered = {row[0] for row in MAPPED} | {row[0] for row in REFUSED}
    assert covered == {path.name for path in SHOPIFY.glob("*.json")}


@pytest.mark.parametrize(("name", "topic", "types", "order", "lines"), MAPPED)
def test_each_sample_maps_to_the_canonical_events_of_its_topic(
    name: str, topic: str, types: list[str], order: str, lines: int
) -> None:
    mapped = events(topic, sample(name))
    assert [event_type for event_type, _ in mapped] == types
    first = mapped[0][1]
    document = first.get("order") or first["shipment"]
    assert (document.get("number") if "order" in first else document["order"]) == order
    assert len(document["lines"]) == lines
    envelopes = mapping.envelopes(
        mapped, source="northwind", message_key="k", subject=order, received_at=datetime.now(UTC), headers={}
    )
    for envelope in envelopes:
        catalog.payload_of(envelope)  # every event fits its published schema
        assert envelope.partitionkey == order


@pytest.mark.parametrize(("name", "topic", "field"), REFUSED)
def test_a_sample_that_cannot_be_mapped_is_refused_naming_the_field(name: str, topic: str, field: str) -> None:
    with pytest.raises(MappingError, match=field.replace("[", r"\[").replace("]", r"\]")):
        events(topic, sample(name))


def test_an_order_maps_lines_by_sku_with_money_as_exact_decimals_and_keeps_the_addresses() -> None:
    (_, data), *_ = events("orders/updated", sample("shopify-python-api_order_rest-wrapped.json"))
    order = catalog.OrderReceived.model_validate(data).order
    assert [(line.line, line.sku, line.unit_price) for line in order.lines] == [
        (466157049, "IPOD2008GREEN", Decimal("199.00")),
        (518995019, "IPOD2008RED", Decimal("199.00")),
        (703073504, "IPOD2008BLACK", Decimal("199.00")),
    ]
    assert (order.customer, order.channel, order.currency, order.customer_reference) == (
        "SHOPIFY-207119551",
        "shopify",
        "USD",
        "#1001",
    )
    assert data["order"]["ship_to"]["city"] and data["order"]["bill_to"]["country_code"]


def test_the_largest_64_bit_order_id_and_a_gid_survive_exactly() -> None:
    order = sample("shopify-python-api_order_rest-wrapped.json")
    order["id"] = 2**63 - 1
    mapped = events("orders/create", order)
    assert mapped[0][1]["order"]["number"] == f"SHOP-{2**63 - 1}"
    order["id"] = 1
    order["admin_graphql_api_id"] = "gid://shopify/Order/18446744073709551615"
    assert events("orders/create", order)[0][1]["order"]["number"] == "SHOP-18446744073709551615"


def test_an_id_that_went_through_a_float_is_refused_not_rounded() -> None:
    with pytest.raises(MappingError, match="lost its precision"):
        mapping.order_id_of(mapping.parse_json(b'{"id": 8.209829119461545e17}'))


def test_a_gid_of_another_kind_is_not_taken_for_an_order_id() -> None:
    with pytest.raises(MappingError, match="not a GID of a Shopify Order"):
        mapping.shopify_id("gid://shopify/Customer/5", "Order", "order_id")


# The 2025-07 samples' line items: `id` as a JavaScript reader rounded it, the GID exact (all above 2**53).
EXACT_LINE_ITEMS = [487817672276298554, 976318377106520349, 315789986012684393]


def test_line_items_are_numbered_by_their_exact_gid_not_an_id_rounded_on_the_way() -> None:
    (_, data), *_ = events("orders/create", sample("gadget_metadata_2025-07_orders-create.json"))
    assert [line["line"] for line in data["order"]["lines"]] == EXACT_LINE_ITEMS
    assert all(line > 2**53 for line in EXACT_LINE_ITEMS), "beyond what a double holds exactly"


def test_a_fulfillment_names_the_line_items_by_the_same_exact_ids_as_their_order() -> None:
    ((_, data),) = events("fulfillments/create", sample("gadget_metadata_2025-07_fulfillments-create.json"))
    assert [line["line"] for line in data["shipment"]["lines"]] == EXACT_LINE_ITEMS, (
        "a shipment must find the order's lines: both sides read the GID"
    )


def test_a_line_item_without_a_gid_is_numbered_by_its_id() -> None:
    order = sample("shopify-python-api_order_rest-wrapped.json")
    order["line_items"][0] |= {"id": 2**64 - 1, "admin_graphql_api_id": None}
    (_, data), *_ = events("orders/create", order)
    assert data["order"]["lines"][0]["line"] == 2**64 - 1


def test_a_refund_names_the_refunded_line_item_by_its_gid_when_it_carries_one() -> None:
    rules = RULES.model_copy(update={"customer": "WEB-RETAIL"})
    line = {"line_item_id": 487817672276298560, "quantity": 1, "subtotal": "10.00", "subtotal_set": {}}
    exact = {"sku": "A-100", "admin_graphql_api_id": "gid://shopify/LineItem/487817672276298554"}
    refund = {"id": 9, "order_id": 1, "created_at": "2026-03-02T10:00:00Z", "transactions": [{"currency": "EUR"}]}
    ((_, data),) = events("refunds/create", refund | {"refund_line_items": [line | {"line_item": exact}]}, rules)
    assert data["credit_memo"]["lines"][0]["line"] == 487817672276298554, "the GID wins over the rounded line_item_id"
    plain = line | {"line_item": {"sku": "A-100"}}
    ((_, data),) = events("refunds/create", refund | {"refund_line_items": [plain]}, rules)
    assert data["credit_memo"]["lines"][0]["line"] == 487817672276298560, "without it, line_item_id as given"


def test_a_paid_order_carries_its_payment_for_the_whole_total() -> None:
    order = sample("shopify-python-api_order_rest-wrapped.json") | {"financial_status": "paid"}
    mapped = dict(events("orders/paid", order))
    payment = catalog.PaymentApplied.model_validate(mapped[PAID]).payment
    assert (payment.reference, payment.amount, payment.currency) == ("SHOP-450789469-PAID", Decimal("409.94"), "USD")
    assert mapped[PAID]["payment"]["order"] == "SHOP-450789469"
    assert payment.is_prepayment, "taken at checkout for the order, before any invoice: held on the order"


def test_every_topic_and_the_poll_share_one_key_for_one_order_version() -> None:
    order = sample("shopify-python-api_order_rest-wrapped.json")
    keys = {mapping.identity(topic, order, RULES)[0] for topic in mapping.ORDER_TOPICS}
    assert len(keys) == 1
    paid = order | {"financial_status": "paid"}
    assert mapping.identity("orders/paid", paid, RULES)[0] not in keys  # a version the hub sees differently


def test_an_unknown_topic_is_a_clear_error() -> None:
    with pytest.raises(mapping.UnknownTopic, match="'products/create' is not taken"):
        mapping.check_topic("products/create")
    with pytest.raises(mapping.UnknownTopic, match="X-Shopify-Topic header is missing"):
        mapping.check_topic(None)


def test_a_refund_of_line_items_is_a_credit_memo_for_the_shop_customer() -> None:
    rules = RULES.model_copy(update={"customer": "WEB-RETAIL"})
    refund = {
        "id": 509562969,
        "order_id": 450789469,
        "created_at": "2008-01-12T10:00:00-05:00",
        "note": "it broke during shipping",
        "refund_line_items": [
            {
                "line_item_id": 518995019,
                "quantity": 2,
                "subtotal": "398.00",
                "subtotal_set": {"shop_money": {"amount": "398.00", "currency_code": "USD"}},
                "line_item": {"id": 518995019, "sku": "IPOD2008RED"},
            }
        ],
    }
    ((event_type, data),) = events("refunds/create", refund, rules)
    memo = catalog.CreditMemoPosted.model_validate(data).credit_memo
    assert event_type == catalog.CreditMemoPosted.event_type
    assert (memo.number, memo.customer, memo.total().amount) == (
        "SHOP-450789469-R509562969",
        "WEB-RETAIL",
        Decimal("398.00"),
    )
    assert memo.lines[0].unit_price == Decimal("199")


def test_a_fulfillment_is_not_a_shipment_when_the_hubs_warehouses_ship() -> None:
    rules = RULES.model_copy(update={"shipments_from_shopify": False})
    assert events("fulfillments/create", sample("shopify-python-api_fulfillment_rest-wrapped.json"), rules) == []


def test_a_fulfillment_from_an_unmapped_location_names_the_option_to_set() -> None:
    rules = RULES.model_copy(update={"location": None})
    fulfillment = sample("shopify-python-api_fulfillment_rest-wrapped.json") | {"location_id": 905684977}
    with pytest.raises(MappingError, match="Shopify location 905684977"):
        events("fulfillments/create", fulfillment, rules)


def test_the_signature_is_base64_hmac_sha256_of_the_raw_body_compared_with_the_shop_secret() -> None:
    inbound = ShopifyInbound("northwind", RULES)
    body = b'{"id": 1}'
    assert inbound.verify(body, signature("s3cret", body))
    assert not inbound.verify(body + b" ", signature("s3cret", body))
    assert not inbound.verify(body, signature("another secret", body))
    assert not inbound.verify(body, None)


def test_the_inbound_side_keys_by_order_version_and_partitions_by_order() -> None:
    inbound = ShopifyInbound("northwind", RULES)
    body = body_of(sample("laravel-shopify_orders-webhook_test-notification_2017.json"))
    identity = inbound.identify(body, {"x-shopify-topic": "orders/create", "x-shopify-webhook-id": "w-1"})
    assert identity.key is not None and identity.key.startswith("shopify-order:820982911946154508:")
    assert identity.partition_key == identity.business_key == "SHOP-820982911946154508"
    stored = StoredMessage(
        id=1, source="northwind", key=identity.key, payload_hash="h", body=body,
        headers={"x-shopify-topic": "orders/create", "x-shopify-webhook-id": "w-1"},
        received_at=datetime.now(UTC), partition_key="p", shard=0, status=MessageStatus.PENDING,
        error=None, replays=0, processed_at=None,
    )  # fmt: skip
    envelopes = inbound.to_events(stored)
    assert [e.causationid for e in envelopes] == ["w-1", "w-1"]


def test_bad_shop_options_name_the_key() -> None:
    with pytest.raises(ShopOptionsError, match=r"sources.x.options.shop: .*not a shop domain"):
        shop_options("sources.x", {"shop": "northwind.example.com"})
    with pytest.raises(ShopOptionsError, match=r"sources.x.options.colour: unknown key"):
        shop_options("sources.x", {"shop": "northwind.myshopify.com", "colour": "red"})
