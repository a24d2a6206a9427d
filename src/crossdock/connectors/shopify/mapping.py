"""Pure mapping of Shopify's Admin REST and webhook payloads to canonical events, and of canonical deliveries to the
Admin API's request bodies. No I/O, no clock.

Every order topic (orders/create, orders/updated, orders/cancelled, orders/paid) carries the whole order, and so does
the poll: each is a snapshot, mapped the same way whatever the topic said. A snapshot becomes the order (a repeat is a
duplicate for the order desk), its cancellation when `cancelled_at` is set, and its payment once Shopify says it is
paid; all three carry ids derived from the order, so a snapshot seen twice (create and updated, a webhook and the
poll) changes nothing the second time. Ids are read from JSON as exact integers, or from GIDs, never through floats.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from crossdock.connectors.shopify.options import ShopOptions
from crossdock.domain import catalog
from crossdock.domain.events import Envelope, derive_id
from crossdock.hub.errors import MappingError

ORDER_TOPICS = frozenset({"orders/create", "orders/updated", "orders/cancelled", "orders/paid"})
FULFILLMENT_TOPICS = frozenset({"fulfillments/create"})
REFUND_TOPICS = frozenset({"refunds/create"})
TOPICS = ORDER_TOPICS | FULFILLMENT_TOPICS | REFUND_TOPICS
# What the poll's orders are taken in as: a webhook of the same order version under this topic shares their key.
POLLED_TOPIC = "orders/updated"
PAID_STATUSES = frozenset({"paid", "partially_refunded", "refunded"})
MAX_ID = 2**64 - 1  # Shopify ids are 64-bit integers
_ADDRESS_FIELDS = ("name", "company", "address1", "address2", "city", "province_code", "zip", "country_code", "phone")
_WRAPPERS = ("order", "fulfillment", "refund")
M = TypeVar("M", bound=BaseModel)


class UnknownTopic(MappingError):
    """Shopify sent a topic this connector does not take."""


# ---- reading JSON ---------------------------------------------------------------------------------------------


def parse_json(body: bytes) -> dict[str, Any]:
    """The payload with integers exact (Python's json keeps them whole) and any decimal number as a Decimal."""
    try:
        payload = json.loads(body, parse_float=Decimal)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MappingError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise MappingError(f"body must be a JSON object, got {type(payload).__name__}")
    return unwrap(payload)


def unwrap(payload: dict[str, Any]) -> dict[str, Any]:
    """REST answers wrap the object ({"order": {...}}); webhooks send it bare. Both are read the same."""
    if len(payload) == 1:
        ((name, inner),) = payload.items()
        if name in _WRAPPERS and isinstance(inner, dict):
            return inner
    return payload


def shopify_id(value: Any, kind: str, where: str) -> int:
    """A Shopify id as an exact integer: from a JSON integer, a string of digits or a GID (gid://shopify/Order/1)."""
    if isinstance(value, str):
        text = value
        prefix = f"gid://shopify/{kind}/"
        if text.startswith("gid://"):
            if not text.startswith(prefix):
                raise MappingError(f"{where}: {text!r} is not a GID of a Shopify {kind}")
            text = text[len(prefix) :].split("?", 1)[0]
        if not (text.isascii() and text.isdigit()):
            raise MappingError(f"{where}: {value!r} is not a Shopify {kind} id")
        number = int(text)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, Decimal | float):
        raise MappingError(f"{where}: {value} is not a whole number: an id sent as a float has lost its precision")
    else:
        raise MappingError(f"{where}: the {kind} id is missing")
    if not 0 < number <= MAX_ID:
        raise MappingError(f"{where}: {number} is outside the range of Shopify ids (1 to 2**64-1)")
    return number


def order_id_of(order: Mapping[str, Any]) -> int:
    return id_of(order, "Order", "")


def id_of(record: Mapping[str, Any], kind: str, where: str) -> int:
    """A record's id (an order, a line item, a fulfillment...). The GID wins when both are present: it is a string,
    so no JSON reader on the way can round it, whereas `id` may have passed through one that reads numbers as
    doubles (…154508 arriving as …154500). `where` is the record's path, put before the field named in errors."""
    gid = record.get("admin_graphql_api_id")
    if isinstance(gid, str) and gid.startswith(f"gid://shopify/{kind}/"):
        return shopify_id(gid, kind, f"{where}admin_graphql_api_id")
    return shopify_id(record.get("id"), kind, f"{where}id")


def _refunded_line_item(line: Mapping[str, Any], where: str) -> int:
    """The line item a refund line refunds: the GID of the line item it embeds, else its `line_item_id`."""
    item = line.get("line_item")
    if isinstance(item, Mapping) and str(item.get("admin_graphql_api_id", "")).startswith("gid://shopify/LineItem/"):
        return id_of(item, "LineItem", f"{where}.line_item.")
    return shopify_id(line.get("line_item_id"), "LineItem", f"{where}.line_item_id")


def _money(value: Any, where: str) -> Decimal:
    if isinstance(value, float):
        raise MappingError(f"{where}: {value} is a float; money is read from strings or exact decimals")
    try:
        amount = Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        raise MappingError(f"{where}: {value!r} is not an amount of money")
    return amount


def _quantity(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise MappingError(f"{where}: {value!r} is not a quantity")
    return _money(value, where)


def _time(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise MappingError(f"{where}: the time is missing")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise MappingError(f"{where}: {value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise MappingError(f"{where}: {value!r} carries no time zone")
    return moment


# ---- the hub's names for Shopify's things ------------------------------------------------------------------------


def order_number(rules: ShopOptions, order_id: int) -> str:
    return f"{rules.order_prefix}{order_id}"


def order_id_from_number(rules: ShopOptions, number: str) -> int | None:
    """The Shopify order id behind a hub order number of this shop; None for an order from elsewhere."""
    if not number.startswith(rules.order_prefix):
        return None
    rest = number[len(rules.order_prefix) :]
    return int(rest) if rest.isascii() and rest.isdigit() and 0 < int(rest) <= MAX_ID else None


def _customer(rules: ShopOptions, order: Mapping[str, Any]) -> str:
    if rules.customer:
        return rules.customer
    customer = order.get("customer")
    if isinstance(customer, Mapping) and customer.get("id") is not None:
        return f"{rules.customer_prefix}{shopify_id(customer['id'], 'Customer', 'customer.id')}"
    raise MappingError("customer.id: the order names no customer; give the shop a `customer` option for guest orders")


def _address(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, Mapping):
        return None
    return {name: value.get(name) for name in _ADDRESS_FIELDS if value.get(name) not in (None, "")}


def _validated(model: type[M], data: Mapping[str, Any], what: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in err['loc']) or what}: {err['msg']}" for err in exc.errors()[:5]]
        raise MappingError(f"{what}: " + "; ".join(problems)) from None


# ---- Shopify -> canonical -------------------------------------------------------------------------------------


def sales_order(order: Mapping[str, Any], rules: ShopOptions) -> dict[str, Any]:
    """The canonical SalesOrder as event data, with the addresses beside it (the canonical order has no field for
    them yet; readers that know them find them, the rest ignore them)."""
    number = order_number(rules, order_id_of(order))
    items = order.get("line_items")
    if not isinstance(items, list) or not items:
        raise MappingError(f"order {number}: line_items: the order has no line items")
    lines = []
    for index, item in enumerate(items):
        where = f"line_items[{index}]"
        if not isinstance(item, Mapping):
            raise MappingError(f"{where}: not an object")
        quantity = _quantity(item.get("current_quantity", item.get("quantity")), f"{where}.quantity")
        if quantity <= 0:
            continue  # removed by an order edit: nothing of it is wanted any more
        sku = item.get("sku")
        if not isinstance(sku, str) or not sku.strip():
            raise MappingError(f"{where}.sku: line item {item.get('id')} has no SKU; the hub knows items by SKU")
        lines.append(
            {
                # The line item's own id numbers the line, so fulfillments and refunds, which name line items
                # and not positions, find it without the order at hand.
                "line": id_of(item, "LineItem", f"{where}."),
                "sku": sku,
                "quantity": {"value": str(quantity), "unit": rules.unit},
                "unit_price": str(_money(item.get("price"), f"{where}.price")),
            }
        )
    document = {
        "number": number,
        "customer": _customer(rules, order),
        "channel": rules.channel,
        "currency": order.get("currency"),
        "ordered_at": order.get("created_at"),
        "customer_reference": order.get("name"),
        "lines": lines,
    }
    data = catalog.data_of(_validated(catalog.OrderReceived, {"order": document}, f"order {number}"))
    for name, field in (("ship_to", "shipping_address"), ("bill_to", "billing_address")):
        address = _address(order.get(field))
        if address:
            data["order"][name] = address
    return data


def order_snapshot(order: Mapping[str, Any], rules: ShopOptions) -> list[tuple[str, dict[str, Any]]]:
    """(event type, data) for one order snapshot: the order, then its cancellation and its payment if it has them."""
    received = sales_order(order, rules)
    number = received["order"]["number"]
    events: list[tuple[str, dict[str, Any]]] = [(catalog.OrderReceived.event_type, received)]
    if order.get("cancelled_at"):
        cancellation = {
            "order": number,
            "cancellation": f"{number}-CANCEL",
            "reason": str(order.get("cancel_reason") or "cancelled in Shopify"),
        }
        payload = _validated(catalog.OrderCancellationRequested, cancellation, f"order {number} cancellation")
        events.append((catalog.OrderCancellationRequested.event_type, catalog.data_of(payload)))
    if order.get("financial_status") in PAID_STATUSES:
        amount = _money(order.get("total_price"), "total_price")
        if amount > 0:
            paid_at = _time(order.get("processed_at") or order.get("updated_at"), "processed_at")
            payment = {
                "reference": f"{number}-PAID",
                "customer": received["order"]["customer"],
                "amount": str(amount),
                "currency": received["order"]["currency"],
                "received_on": paid_at.date().isoformat(),
                # Shopify takes the money at checkout, before the hub has invoiced anything: no invoice to name, so
                # it is a prepayment, held on the order and applied to its invoices as they post.
                "applications": [],
                "order": number,
            }
            validated = _validated(catalog.PaymentApplied, {"payment": payment}, f"order {number} payment")
            events.append((catalog.PaymentApplied.event_type, catalog.data_of(validated)))
    return events


def fulfillment(item: Mapping[str, Any], rules: ShopOptions) -> list[tuple[str, dict[str, Any]]]:
    """A fulfillment with tracking: the shipment it confirms (none when it failed or was cancelled, or when the hub's
    own warehouses ship and this is only Shopify echoing the fulfillment the hub pushed)."""
    fulfillment_id = id_of(item, "Fulfillment", "")
    number = order_number(rules, shopify_id(item.get("order_id"), "Order", "order_id"))
    if not rules.shipments_from_shopify or item.get("status") in ("cancelled", "error", "failure"):
        return []
    location_id = item.get("location_id")
    location = rules.locations.get(str(location_id)) if location_id is not None else None
    location = location or rules.location
    if location is None:
        raise MappingError(
            f"location_id: fulfillment {fulfillment_id} ships from Shopify location {location_id}, which is not "
            "mapped to a hub location (the shop's `locations` or `location` option)"
        )
    tracking = item.get("tracking_numbers") or [item.get("tracking_number")]
    lines = []
    for index, line in enumerate(item.get("line_items") or []):
        where = f"line_items[{index}]"
        lines.append(
            {
                "line": id_of(line, "LineItem", f"{where}."),
                "sku": line.get("sku"),
                "quantity": {"value": str(_quantity(line.get("quantity"), f"{where}.quantity")), "unit": rules.unit},
            }
        )
    shipment = {
        "number": f"{number}-F{fulfillment_id}",
        "order": number,
        "from_location": location,
        "carrier": item.get("tracking_company"),
        "tracking_numbers": [str(t) for t in tracking if t not in (None, "")],
        "shipped_at": item.get("created_at"),
        "lines": lines,
    }
    payload = _validated(catalog.ShipmentConfirmed, {"shipment": shipment}, f"fulfillment {fulfillment_id}")
    return [(catalog.ShipmentConfirmed.event_type, catalog.data_of(payload))]


def refund(item: Mapping[str, Any], rules: ShopOptions) -> list[tuple[str, dict[str, Any]]]:
    """A refund of line items: the credit memo it amounts to."""
    refund_id = id_of(item, "Refund", "")
    number = order_number(rules, shopify_id(item.get("order_id"), "Order", "order_id"))
    if not rules.customer:
        raise MappingError(
            f"refund {refund_id}: a refund does not name the customer; give the shop a `customer` option"
        )
    lines, currencies = [], set()
    for index, line in enumerate(item.get("refund_line_items") or []):
        where = f"refund_line_items[{index}]"
        quantity = _quantity(line.get("quantity"), f"{where}.quantity")
        subtotal = _money(line.get("subtotal"), f"{where}.subtotal")
        money = ((line.get("subtotal_set") or {}).get("shop_money") or {}).get("currency_code")
        if money:
            currencies.add(money)
        lines.append(
            {
                "line": _refunded_line_item(line, where),
                "sku": (line.get("line_item") or {}).get("sku"),
                "quantity": {"value": str(quantity), "unit": rules.unit},
                "unit_price": str(subtotal / quantity) if quantity else "0",
            }
        )
    currencies |= {
        t["currency"] for t in item.get("transactions") or [] if isinstance(t, Mapping) and t.get("currency")
    }
    if len(currencies) != 1:
        raise MappingError(f"refund {refund_id}: its currency is {'unknown' if not currencies else 'ambiguous'}")
    issued = _time(item.get("processed_at") or item.get("created_at"), "processed_at")
    memo = {
        "number": f"{number}-R{refund_id}",
        "customer": rules.customer,
        "issued_on": issued.date().isoformat(),
        "reason": str(item.get("note") or "refunded in Shopify"),
        "currency": currencies.pop(),
        "lines": lines,
    }
    payload = _validated(catalog.CreditMemoPosted, {"credit_memo": memo}, f"refund {refund_id}")
    data = catalog.data_of(payload)
    data["credit_memo"]["order"] = number
    return [(catalog.CreditMemoPosted.event_type, data)]


def to_events(topic: str, payload: Mapping[str, Any], rules: ShopOptions) -> list[tuple[str, dict[str, Any]]]:
    if topic in ORDER_TOPICS:
        return order_snapshot(payload, rules)
    if topic in FULFILLMENT_TOPICS:
        return fulfillment(payload, rules)
    if topic in REFUND_TOPICS:
        return refund(payload, rules)
    raise UnknownTopic(f"topic {topic!r} is not taken (known: {', '.join(sorted(TOPICS))})")


def check_topic(topic: str | None) -> str:
    if not topic:
        raise UnknownTopic("the X-Shopify-Topic header is missing")
    if topic not in TOPICS:
        raise UnknownTopic(f"topic {topic!r} is not taken (known: {', '.join(sorted(TOPICS))})")
    return topic


def identity(topic: str, payload: Mapping[str, Any], rules: ShopOptions) -> tuple[str, str]:
    """(dedupe key, hub order number). An order is keyed by its id and a digest of what the mapping reads from it:
    the same order version has the same key whichever topic or the poll brought it, and a version that changes
    what the hub sees has a new one."""
    if topic in ORDER_TOPICS:
        order_id = order_id_of(payload)
        seen = {
            name: payload.get(name)
            for name in ("currency", "financial_status", "cancelled_at", "total_price", "processed_at")
        }
        seen["customer"] = (
            (payload.get("customer") or {}).get("id") if isinstance(payload.get("customer"), Mapping) else None
        )
        seen["lines"] = [
            [line.get(n) for n in ("id", "sku", "quantity", "current_quantity", "price")]
            for line in payload.get("line_items") or []
            if isinstance(line, Mapping)
        ]
        digest = hashlib.sha256(json.dumps(seen, sort_keys=True, default=str).encode()).hexdigest()[:24]
        return f"shopify-order:{order_id}:{digest}", order_number(rules, order_id)
    if topic in FULFILLMENT_TOPICS:
        ident = id_of(payload, "Fulfillment", "")
        return f"shopify-fulfillment:{ident}", order_number(
            rules, shopify_id(payload.get("order_id"), "Order", "order_id")
        )
    ident = id_of(payload, "Refund", "")
    return f"shopify-refund:{ident}", order_number(rules, shopify_id(payload.get("order_id"), "Order", "order_id"))


def envelopes(
    events: Sequence[tuple[str, dict[str, Any]]],
    *,
    source: str,
    message_key: str,
    subject: str,
    received_at: datetime,
    headers: Mapping[str, str],
) -> list[Envelope]:
    """Everything about one order has its number as subject and partition, so one worker takes it in order."""
    built = []
    for index, (event_type, data) in enumerate(events):
        envelope = Envelope(
            id=derive_id("message", source, message_key, str(index)),
            source=f"crossdock/{source}",
            type=event_type,
            subject=subject,
            time=received_at,
            data=data,
            partitionkey=subject,
            causationid=headers.get("x-shopify-webhook-id"),
            traceparent=headers.get("traceparent"),
            correlationid=headers.get("x-correlation-id"),
        )
        catalog.payload_of(envelope)
        built.append(envelope)
    return built


# ---- canonical -> Shopify Admin REST ---------------------------------------------------------------------------


def inventory_level(location_id: int, inventory_item_id: int, available: Decimal) -> dict[str, Any]:
    """inventory_levels/set.json: Shopify counts whole units, so a fraction of one is not offered."""
    return {"location_id": location_id, "inventory_item_id": inventory_item_id, "available": int(available)}


def fulfillment_request(
    shipment: Mapping[str, Any], fulfillment_orders: Sequence[Mapping[str, Any]], *, notify_customer: bool = True
) -> dict[str, Any]:
    """fulfillments.json for a canonical shipment: each shipped line is taken from the open fulfillment order
    lines of its line item (a line item may be split over several fulfillment orders, one per location)."""
    wanted: dict[int, Decimal] = {}
    for line in shipment.get("lines") or []:
        wanted[int(line["line"])] = wanted.get(int(line["line"]), Decimal(0)) + Decimal(line["quantity"]["value"])
    by_order: dict[int, list[dict[str, int]]] = {}
    for order in fulfillment_orders:
        if order.get("status") not in ("open", "in_progress", "scheduled"):
            continue
        for line in order.get("line_items") or []:
            line_item = int(line["line_item_id"])
            left = wanted.get(line_item, Decimal(0))
            take = min(left, Decimal(line.get("fulfillable_quantity", 0)))
            if take > 0:
                wanted[line_item] = left - take
                by_order.setdefault(int(order["id"]), []).append({"id": int(line["id"]), "quantity": int(take)})
    short = {line: left for line, left in wanted.items() if left > 0}
    if short:
        detail = ", ".join(f"line item {line} x {left}" for line, left in sorted(short.items()))
        raise MappingError(f"shipment {shipment.get('number')}: Shopify has nothing open to fulfil for {detail}")
    tracking = list(shipment.get("tracking_numbers") or [])
    body: dict[str, Any] = {
        "line_items_by_fulfillment_order": [
            {"fulfillment_order_id": order_id, "fulfillment_order_line_items": lines}
            for order_id, lines in by_order.items()
        ],
        "notify_customer": notify_customer,
    }
    if tracking:
        # The Admin API takes one tracking number per fulfillment: a shipment of several parcels shows its first.
        body["tracking_info"] = {"number": tracking[0], "company": shipment.get("carrier")}
    return {"fulfillment": body}
