"""`crossdock demo`: a day at Northwind played against a running hub through its public surfaces: the HTTP API (with
an admin key it is given, or creates and revokes after), signed Shopify webhooks, X12 files dropped in the trading
partners' folders (and their 997s answering what the hub wrote them), and a simulated WMS speaking the WMS connector's
API (pick releases in at the `wms` destination's loopback base_url, signed webhooks out to the `wms` source).

Owns: the day's script, the simulated WMS and partners, the live display and the closing summary (read back from the
API). Must not: read or write the hub's stores; only a key it creates goes through the database, as `crossdock keys`
does.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import httpx
import typer
from pydantic import SecretStr
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from crossdock import config
from crossdock.connectors import wms as wms_connector
from crossdock.connectors import x12
from crossdock.connectors.edi import profiles as edi_profiles
from crossdock.connectors.shopify import inbound as shopify
from crossdock.connectors.shopify.options import ShopOptionsError, shop_options
from crossdock.connectors.wms import client as wms_client
from crossdock.connectors.wms import mapping as wms_mapping
from crossdock.connectors.x12 import mapping as x12_mapping
from crossdock.domain import catalog, procurement
from crossdock.domain.documents import Quantity, SalesOrder, SalesOrderLine

D = Decimal
WMS_DESTINATION = "wms"
WMS_SOURCE = "wms"
WMS_KIND = "wms"
PURCHASING_SOURCE = "purchasing"
SERVICE_SOURCE = "service"
FINANCE_SOURCE = "finance"
NORTH, SOUTH = "WH-NORTH", "WH-SOUTH"
# On hand at the morning count: GIZMO-3 is short, so the EDI customer's order waits for the supplier's goods.
MORNING_COUNT = {
    (NORTH, "WIDGET-1"): 60,
    (NORTH, "GADGET-2"): 40,
    (SOUTH, "WIDGET-1"): 24,
    (SOUTH, "GADGET-2"): 20,
    (SOUTH, "GIZMO-3"): 12,
}
WEB_ITEMS = ("WIDGET-1", "GADGET-2")
TERMINAL = frozenset({"closed", "cancelled"})
ACKNOWLEDGEMENT_GROUP = "FA"  # X12 functional acknowledgements (997): never acknowledged themselves


class DemoError(Exception):
    """The demo cannot play this estate or reach this hub."""


# ---- what the demo needs to know about the estate --------------------------------------------------------------


@dataclass(frozen=True)
class Partner:
    name: str
    source: str  # the hub's edi source reading its files
    inbound: Path  # where its files are dropped
    outbound: Path  # where the hub writes to it
    their_side: x12_mapping.PartnerRules  # its own translator: its id as sender, ours as receiver
    destinations: tuple[str, ...] = ()  # the hub's edi destinations writing to it


@dataclass(frozen=True)
class WmsLink:
    """The WMS as the estate wires it: where the hub sends releases (and with which token), the warehouse codes
    (hub location -> the WMS's), and the secret its webhooks are signed with (None: sent unsigned)."""

    host: str
    port: int
    token: str
    codes: Mapping[str, str]
    secret: str | None

    def location_of(self, code: str) -> str | None:
        return next((location for location, known in self.codes.items() if known == code), None)


@dataclass(frozen=True)
class Estate:
    """The parts of the configuration the day plays against, found by kind and role, so that an error names what is
    missing rather than failing half-way through the day."""

    shop: str  # source name: webhooks go to /v1/webhooks/shopify/<shop>
    shop_domain: str
    shop_secret: str
    customer: Partner  # the EDI customer (850s in)
    supplier: Partner  # the EDI supplier (our 850 out, its 855/856/810 in)
    supplier_number: str
    wms: WmsLink
    prices: Mapping[str, Decimal]
    currency: str

    @property
    def partners(self) -> tuple[Partner, Partner]:
        return self.customer, self.supplier

    @classmethod
    def of(cls, settings: config.Settings) -> Estate:
        problems: list[str] = []
        shops = [name for name, s in settings.sources.items() if s.kind == "shopify"]
        for needed in (PURCHASING_SOURCE, SERVICE_SOURCE, FINANCE_SOURCE):
            if settings.sources.get(needed) is None or settings.sources[needed].kind != "canonical":
                problems.append(f"sources.{needed}: a canonical source is needed")
        wms = _wms(settings, problems)
        if not shops:
            problems.append("sources: a source of kind shopify is needed")
        customer = _partner(settings, "customer", problems)
        supplier = _partner(settings, "supplier", problems)
        price_list = settings.reference.price_lists.get(settings.reference.default_price_list or "")
        if price_list is None:
            problems.append("reference.default_price_list: the day prices its orders from it")
        if problems or customer is None or supplier is None or wms is None or price_list is None:
            raise DemoError(
                "the demo plays the Northwind estate; this configuration lacks:\n  " + "\n  ".join(problems)
            )
        try:
            options = shop_options(f"sources.{shops[0]}", settings.sources[shops[0]].options)
        except ShopOptionsError as exc:
            raise DemoError(str(exc)) from None
        if options.secret is None:
            raise DemoError(f"sources.{shops[0]}.options.secret: the demo signs its webhooks with it")
        return cls(
            shop=shops[0],
            shop_domain=options.shop,
            shop_secret=options.secret.get_secret_value(),
            customer=customer[0],
            supplier=supplier[0],
            supplier_number=supplier[1],
            wms=wms,
            prices=dict(price_list.prices),
            currency=price_list.currency,
        )


def _plain(value: Any) -> str | None:
    if value is None:
        return None
    return str(value.get_secret_value() if isinstance(value, SecretStr) else value)


def _wms(settings: config.Settings, problems: list[str]) -> WmsLink | None:
    """The `wms` source (its webhooks) and destination (pick releases) of kind wms, running both warehouses."""
    source, destination = settings.sources.get(WMS_SOURCE), settings.destinations.get(WMS_DESTINATION)
    if source is None or source.kind != WMS_KIND:
        problems.append(f"sources.{WMS_SOURCE}: a source of kind wms (the WMS's webhooks) is needed")
    if destination is None or destination.kind != WMS_KIND:
        problems.append(f"destinations.{WMS_DESTINATION}: a destination of kind wms (pick releases) is needed")
    if source is None or destination is None or source.kind != WMS_KIND or destination.kind != WMS_KIND:
        return None
    try:
        codes = wms_connector.warehouses(f"destinations.{WMS_DESTINATION}", destination.options).codes
        theirs = wms_connector.warehouses(f"sources.{WMS_SOURCE}", source.options).codes
    except ValueError as exc:
        problems.append(str(exc))
        return None
    for location in (NORTH, SOUTH):
        if location not in codes or theirs.get(location) != codes[location]:
            problems.append(
                f"destinations.{WMS_DESTINATION}.options.warehouses and sources.{WMS_SOURCE}.options.warehouses: the "
                f"WMS runs {location} under one code in both"
            )
    base_url = urlsplit(str(destination.options.get("base_url") or ""))
    token = _plain(destination.options.get("token"))
    if base_url.hostname not in ("127.0.0.1", "localhost") or base_url.port is None:
        problems.append(f"destinations.{WMS_DESTINATION}.options.base_url: the simulated WMS listens on loopback")
    if not token:
        problems.append(f"destinations.{WMS_DESTINATION}.options.token: the simulated WMS checks it")
    if base_url.hostname is None or base_url.port is None or not token:
        return None
    return WmsLink(base_url.hostname, base_url.port, token, dict(codes), _plain(source.options.get("secret")))


def _partner(settings: config.Settings, role: str, problems: list[str]) -> tuple[Partner, str] | None:
    for name, partner in settings.partners.items():
        sources = [s for s, given in settings.sources.items() if given.kind == "edi" and given.partner == name]
        if partner.role != role or not sources or partner.standard != "x12":
            continue
        transport = partner.transport
        if transport is None or transport.path is None:
            problems.append(f"partners.{name}.transport.path: the demo drops files in a folder")
            return None
        root = Path(transport.path)
        root = root if root.is_absolute() else settings.data_dir / root
        ours = edi_profiles.Profile(name, partner).x12_rules()
        theirs = ours.model_copy(
            update={
                "partner_id": ours.our_id,
                "partner_qualifier": ours.our_qualifier,
                "our_id": ours.partner_id,
                "our_qualifier": ours.partner_qualifier,
                "partner_application_id": ours.our_application_id,
                "our_application_id": ours.partner_application_id,
            }
        )
        number = (partner.customer if role == "customer" else partner.supplier) or partner.id
        writers = tuple(
            d for d, given in settings.destinations.items() if given.kind == "edi" and given.partner == name
        )
        folders = transport.folders
        return (
            Partner(name, sources[0], root / folders.inbound, root / folders.outbound, theirs, writers),
            number,
        )
    problems.append(f"partners: an X12 {role} with a source of kind edi is needed")
    return None


# ---- the simulated WMS -----------------------------------------------------------------------------------------


@dataclass
class PickList:
    """What the warehouse still has to ship of one pick release (one order at one location), per order line."""

    release: str
    order: str
    location: str
    open: dict[int, tuple[str, Decimal]] = field(default_factory=dict)  # line -> (sku, quantity in base unit)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()

    def encoded(self) -> bytes:
        return json.dumps(self.body).encode()


class SimulatedWms:
    """The warehouse system, speaking the API of connectors/wms/README.md: pick releases and their cancellations,
    bearer token, an Idempotency-Key on every POST (a key seen before gets its first answer and changes nothing; the
    same key with another body is 422), and 503 with Retry-After while it is down for maintenance."""

    def __init__(self, link: WmsLink) -> None:
        self.link = link
        self.lock = threading.Lock()
        self.picks: dict[str, PickList] = {}  # by release_ref
        self.answers: dict[str, tuple[str, Answer]] = {}  # Idempotency-Key -> (body digest, first answer)
        self.down = False
        self.taken = 0  # calls that changed something (first time)
        self.repeats = 0  # calls sent again after they were answered
        self.refused = 0  # calls answered 503 while down
        self.cancelled: dict[str, Decimal] = {}  # order -> units taken off its pick releases
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        wms = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                answer = wms.receive(self.path, dict(self.headers.items()), self.rfile.read(length))
                body = answer.encoded()
                self.send_response(answer.status)
                for name, value in answer.headers:
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                return  # the live display says what happened

        try:
            self._server = ThreadingHTTPServer((self.link.host, self.link.port), Handler)
        except OSError as exc:
            raise DemoError(
                f"the simulated WMS cannot listen on {self.link.host}:{self.link.port} ({exc.strerror}): is another "
                "demo running?"
            ) from None
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="simulated-wms", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def receive(self, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        given = {name.lower(): value for name, value in headers.items()}
        with self.lock:
            if self.down:
                self.refused += 1
                return Answer(503, {"detail": "the WMS is in maintenance"}, (("Retry-After", "1"),))
            if given.get("authorization") != f"Bearer {self.link.token}":
                return Answer(401, {"detail": "missing or unknown bearer token"})
            key = given.get("idempotency-key")
            if not key:
                return Answer(400, {"detail": "an Idempotency-Key header is required on every write"})
            digest = hashlib.sha256(body).hexdigest()
            if key in self.answers:
                first_digest, first = self.answers[key]
                if first_digest != digest:
                    return Answer(422, {"detail": f"Idempotency-Key {key} was used with another body"})
                self.repeats += 1
                return first
            try:
                request = json.loads(body)
                if not isinstance(request, dict):
                    raise TypeError("the body is not a JSON object")
                if path == wms_client.PICK_RELEASES:
                    answer = self._release(request)
                elif path == wms_client.CANCELLATIONS:
                    answer = self._cancel(request)
                else:
                    return Answer(404, {"detail": f"no such resource {path}"})
            except (ValueError, KeyError, TypeError, InvalidOperation) as exc:
                answer = Answer(422, {"detail": f"body: {exc}"})
            self.answers[key] = (digest, answer)
            if answer.status < 300:
                self.taken += 1
            return answer

    def _release(self, request: Mapping[str, Any]) -> Answer:
        missing = [name for name in ("release_ref", "order_ref", "warehouse", "lines") if not request.get(name)]
        if missing or not (request.get("ship_to") or {}).get("customer"):
            return Answer(422, {"detail": f"required: {', '.join(missing or ['ship_to.customer'])}"})
        location = self.link.location_of(str(request["warehouse"]))
        if location is None:
            return Answer(422, {"detail": f"warehouse: {request['warehouse']!r} is not run here"})
        if request["release_ref"] in self.picks:
            return Answer(409, {"detail": f"release {request['release_ref']} exists under another key"})
        picks = PickList(str(request["release_ref"]), str(request["order_ref"]), location)
        for line in request["lines"]:
            quantity = D(str(line["quantity"]))
            if quantity <= 0 or not line.get("sku"):
                return Answer(422, {"detail": f"line {line.get('line')}: a sku and a quantity above 0 are required"})
            picks.open[int(line["line"])] = (str(line["sku"]), quantity)
        self.picks[picks.release] = picks
        return Answer(201, {"id": f"PR-{len(self.picks)}", "status": "open", **request})

    def _cancel(self, request: Mapping[str, Any]) -> Answer:
        """Unpicked quantities off the order's pick releases at the warehouse named (any, when none is), newest first;
        404 when it holds none of the order there."""
        order, warehouse = str(request["order_ref"]), request.get("warehouse")
        location = self.link.location_of(str(warehouse)) if warehouse is not None else None
        held = [p for p in self.picks.values() if p.order == order and (warehouse is None or p.location == location)]
        if not held:
            where = f" at {warehouse}" if warehouse is not None else ""
            return Answer(404, {"detail": f"no pick release of order {order!r}{where} here"})
        taken = []
        for wanted in request["lines"]:
            number, left = int(wanted["line"]), D(str(wanted["quantity"]))
            for picks in reversed(held):
                if number not in picks.open or left <= 0:
                    continue
                sku, open_ = picks.open[number]
                take = min(open_, left)
                picks.open[number] = (sku, open_ - take)
                left -= take
            cancelled = D(str(wanted["quantity"])) - left
            self.cancelled[order] = self.cancelled.get(order, D(0)) + cancelled
            taken.append({"line": number, "cancelled": str(cancelled)})
        return Answer(200, {"order_ref": order, "lines": taken})

    def to_ship(self, order: str | None = None) -> list[PickList]:
        """Pick releases with something left on them (of one order, or all)."""
        with self.lock:
            return [
                PickList(p.release, p.order, p.location, {n: v for n, v in p.open.items() if v[1] > 0})
                for p in self.picks.values()
                if (order is None or p.order == order) and any(v[1] > 0 for v in p.open.values())
            ]

    def shipped(self, release: str, lines: Mapping[int, Decimal]) -> None:
        with self.lock:
            picks = self.picks[release]
            for number, quantity in lines.items():
                sku, left = picks.open[number]
                picks.open[number] = (sku, left - quantity)


# ---- the hub, through its API ----------------------------------------------------------------------------------


class Hub:
    """The running hub's public surfaces: JSON over HTTP with the key, Shopify webhooks signed with the shop's
    secret, and waiting for it to settle."""

    def __init__(self, url: str, key: str, estate: Estate) -> None:
        self.http = httpx.Client(base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {key}"}, timeout=30)
        self.estate = estate

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params={k: v for k, v in params.items() if v is not None})
        if response.status_code >= 400:
            raise DemoError(f"GET {path} answered {response.status_code}: {response.text[:300]}")
        return response.json()

    def post(self, path: str, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> dict[str, Any]:
        response = self.http.post(path, json=dict(body), headers=dict(headers or {}))
        if response.status_code >= 400:
            raise DemoError(f"POST {path} answered {response.status_code}: {response.text[:300]}")
        return dict(response.json())

    def event(self, source: str, event_type: str, subject: str, data: Mapping[str, Any], ident: str) -> dict[str, Any]:
        cloudevent = {
            "specversion": "1.0",
            "id": ident,
            "source": f"northwind/{source}",
            "type": event_type,
            "subject": subject,
            "time": datetime.now(UTC).isoformat(),
            "datacontenttype": "application/json",
            "data": dict(data),
        }
        return self.post(f"/v1/inbound/{source}", cloudevent)

    def webhook(self, topic: str, payload: Mapping[str, Any], webhook_id: str) -> dict[str, Any]:
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            shopify.TOPIC_HEADER: topic,
            shopify.HMAC_HEADER: shopify.signature(self.estate.shop_secret, body),
            shopify.WEBHOOK_ID_HEADER: webhook_id,
            shopify.SHOP_HEADER: self.estate.shop_domain,
        }
        response = self.http.post(f"/v1/webhooks/shopify/{self.estate.shop}", content=body, headers=headers)
        if response.status_code >= 400:
            raise DemoError(f"webhook {topic} answered {response.status_code}: {response.text[:300]}")
        return dict(response.json())

    def wms_event(self, event_type: str, location: str, data: Mapping[str, Any], event_id: str) -> dict[str, Any]:
        """One webhook as the WMS posts it: its own event id, the warehouse by its code, signed with the secret."""
        link = self.estate.wms
        payload = {
            "event_id": event_id,
            "type": event_type,
            "occurred_at": datetime.now(UTC).isoformat(),
            "warehouse": link.codes[location],
            "data": dict(data),
        }
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if link.secret is not None:
            headers[wms_mapping.SIGNATURE_HEADER] = wms_mapping.signature(link.secret, body)
        response = self.http.post(f"/v1/inbound/{WMS_SOURCE}", content=body, headers=headers)
        if response.status_code >= 400:
            raise DemoError(f"WMS webhook {event_type} answered {response.status_code}: {response.text[:300]}")
        return dict(response.json())

    def pending(self, destination: str | None = None) -> int:
        found = self.get("/v1/deliveries", status="pending", destination=destination, limit=10_000)
        return len(found["items"])

    def settle(self, *, wms_down: bool = False, timeout: float = 60.0) -> None:
        """Until the hub has processed what it was sent and delivered what it owes the WMS (unless the WMS is down):
        nothing pending in the inbox, nothing pending for the WMS, and the log head still for a moment."""
        deadline = time.monotonic() + timeout
        head = -1
        while time.monotonic() < deadline:
            status = self.get("/v1/status")
            quiet = status["messages"].get("pending", 0) == 0 and (wms_down or self.pending(WMS_DESTINATION) == 0)
            if quiet and status["log_head"] == head:
                return
            head = status["log_head"] if quiet else -1
            time.sleep(0.3)
        raise DemoError(f"the hub did not settle within {timeout:.0f}s: is its worker running?")

    def order(self, number: str) -> dict[str, Any] | None:
        response = self.http.get(f"/v1/orders/{quote(number, safe='')}")
        return dict(response.json()) if response.status_code == 200 else None


# ---- the day ----------------------------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the day did, counted by the demo as it went (the summary reads the rest back from the hub)."""

    web_orders: list[str] = field(default_factory=list)
    edi_orders: list[str] = field(default_factory=list)
    portal_orders: list[str] = field(default_factory=list)
    purchase_orders: list[str] = field(default_factory=list)
    webhooks: int = 0
    duplicate_webhooks_answered: int = 0
    files_dropped: int = 0
    api_calls: int = 0
    wms_webhooks: int = 0
    # per partner: the interchanges the hub wrote to it during the day by kind (856, 997...), and the 997s it answered
    received: dict[str, Counter[str]] = field(default_factory=dict)
    answered: dict[str, int] = field(default_factory=dict)
    shipments: list[str] = field(default_factory=list)
    payments: list[str] = field(default_factory=list)
    duplicate_changed: list[str] = field(default_factory=list)

    @property
    def orders(self) -> list[str]:
        return [*self.web_orders, *self.edi_orders, *self.portal_orders]


@dataclass
class Step:
    at: str  # the day's clock, HH:MM
    title: str
    act: Callable[[], str]  # does it; says what happened in one line


class Day:
    """One day's traffic, numbered by `tag` (so that every run plays a new day) and chosen by `seed`."""

    def __init__(self, hub: Hub, wms: SimulatedWms, estate: Estate, *, tag: str, seed: int, today: date) -> None:
        self.hub, self.wms, self.estate = hub, wms, estate
        self.tag, self.rng, self.today = tag, random.Random(seed), today
        self.tally = Tally()
        self._control = (int(tag) % 1_000_000) * 100
        self._shipment = 0
        self.po = f"PO-{tag}"
        self.asn = f"ASN-{tag}"
        self.harbor_order = f"HF-{tag}"
        self.portal_order = f"SO-{tag}"
        self.web_payloads: dict[str, tuple[dict[str, Any], str]] = {}
        self.purchase_order: procurement.PurchaseOrder | None = None
        self.started = time.time()
        self._read: set[Path] = set()  # the files the partners have read from their outbound folders

    def steps(self) -> list[Step]:
        return [
            Step("07:00", "Morning count at both warehouses", self.morning_count),
            Step("07:30", "Buyers issue a purchase order to the supplier", self.issue_purchase_order),
            Step("08:00", "Web orders arrive from Shopify", lambda: self.web_orders(5)),
            Step("08:10", "Shopify retries a webhook", self.duplicate_webhook),
            Step("08:30", "The EDI customer drops an 850", self.customer_order),
            Step("09:00", "A sales rep places an order through the API", self.portal_order_placed),
            Step("09:15", "Customer service cancels a line", self.cancel_line),
            Step("09:30", "The supplier acknowledges (855)", self.acknowledgement),
            Step("10:00", "The WMS ships, one order only in part", self.morning_shipments),
            Step("12:00", "The supplier's ship notice arrives late (856)", self.late_ship_notice),
            Step("13:00", "The WMS goes down for maintenance", self.outage_begins),
            Step("13:05", "More web orders while the WMS is down", self.orders_in_outage),
            Step("13:30", "The WMS is back", self.outage_ends),
            Step("14:00", "The goods are received, short", self.short_receipt),
            Step("14:30", "The supplier invoices (810)", self.supplier_invoice),
            Step("15:00", "The WMS ships everything still open", self.afternoon_shipments),
            Step("16:00", "The bank reports a payment", self.payment),
            Step("17:00", "End of the day", self.end_of_day),
        ]

    # -- helpers --

    def _id(self, what: str) -> str:
        return f"{what}-{self.tag}-{uuid.uuid4().hex[:8]}"

    def _settle(self, timeout: float = 60.0) -> None:
        self.hub.settle(wms_down=self.wms.down, timeout=timeout)

    def _drop(self, partner: Partner, kind: str, tx: x12.Transaction) -> None:
        """One interchange as the partner's translator writes it, moved into the folder whole."""
        self._control += 1
        controls = x12_mapping.ControlNumbers(interchange=self._control, group=self._control)
        body = x12.write(x12_mapping.build_interchange(partner.their_side, [tx], controls, datetime.now(UTC)))
        self._taken_in([self._put(partner, f"{kind}-{self._control:09d}.edi", body)])

    def _put(self, partner: Partner, name: str, body: bytes) -> Path:
        partner.inbound.mkdir(parents=True, exist_ok=True)
        staging = partner.inbound.parent / f".{name}.part"
        staging.write_bytes(body)
        staging.replace(partner.inbound / name)
        self.tally.files_dropped += 1
        return partner.inbound / name

    def _taken_in(self, paths: list[Path], timeout: float = 30.0) -> None:
        """Until the hub's folder poller has read the files (it archives each once its message is durable)."""
        deadline = time.monotonic() + timeout
        for path in paths:
            while path.exists():
                if time.monotonic() > deadline:
                    raise DemoError(f"{path} was not picked up within {timeout:.0f}s: is the hub's worker running?")
                time.sleep(0.2)
        self._settle()

    def _written_out(self, timeout: float = 30.0) -> None:
        """Until the hub has written what it owes the partners (their deliveries are queued as events are handled)."""
        destinations = [d for partner in self.estate.partners for d in partner.destinations]
        deadline = time.monotonic() + timeout
        while any(self.hub.pending(d) for d in destinations):
            if time.monotonic() > deadline:
                raise DemoError(f"files to the trading partners still queued after {timeout:.0f}s")
            time.sleep(0.2)

    def answer_partners(self) -> str:
        """The partners' translators read what the hub wrote them today and answer each interchange with a 997
        accepting it (or saying what they found wrong), as the hub answers theirs; a 997 is never answered."""
        self._written_out()
        answers: list[Path] = []
        said = []
        for partner in self.estate.partners:
            received = self.tally.received.setdefault(partner.name, Counter())
            for path in sorted(partner.outbound.glob("*.edi")) if partner.outbound.exists() else []:
                if path in self._read or path.stat().st_mtime < self.started:
                    continue
                self._read.add(path)
                reading = x12.read(path.read_bytes())
                for index, interchange in enumerate(reading.interchanges):
                    kinds = [tx.set_id for group in interchange.groups for tx in group.transactions]
                    received.update(kinds)
                    if all(g.functional_id == ACKNOWLEDGEMENT_GROUP for g in interchange.groups):
                        continue  # also an interchange without groups: nothing in it to acknowledge
                    self._control += 1
                    reply = x12.acknowledge(
                        interchange,
                        reading.issues,
                        interchange_control_number=f"{self._control:09d}",
                        group_control_number=str(self._control),
                        at=datetime.now(UTC),
                        index=index,
                    )
                    answers.append(self._put(partner, f"997-{self._control:09d}.edi", x12.write(reply)))
                    self.tally.answered[partner.name] = self.tally.answered.get(partner.name, 0) + 1
                    said.append(f"{partner.name} {'/'.join(kinds)} {interchange.control_number}")
        if answers:
            self._taken_in(answers)
        return f"997s for {', '.join(said)}" if said else ""

    def _qty(self, value: int | Decimal) -> Quantity:
        return Quantity(value=D(value), unit="EA")

    def _ship(self, picks: PickList, share: Decimal = D(1)) -> str:
        """The WMS ships (a share of) one pick release and tells the hub in a signed shipment.shipped webhook."""
        lines = {n: (v[1] * share).to_integral_value() or v[1] for n, v in picks.open.items()}
        lines = {n: q for n, q in lines.items() if q > 0}
        self._shipment += 1
        number = f"SHP-{self.tag}-{self._shipment}"
        data = {
            "shipment_ref": number,
            "order_ref": picks.order,
            "release_ref": picks.release,
            "carrier": "DHL",
            "tracking_numbers": [f"JD{self.tag}{self._shipment:04d}"],
            "shipped_at": datetime.now(UTC).isoformat(),
            "lines": [
                {"line": n, "sku": picks.open[n][0], "quantity": str(q), "unit": "EA"} for n, q in sorted(lines.items())
            ],
        }
        self.hub.wms_event("shipment.shipped", picks.location, data, self._id("ship"))
        self.tally.wms_webhooks += 1
        self.wms.shipped(picks.release, lines)
        self.tally.shipments.append(number)
        return number

    # -- the steps --

    def morning_count(self) -> str:
        """The WMS's cycle count at each warehouse: what it held before (the hub's on-hand) against what it counted."""
        posted = 0
        for location in (NORTH, SOUTH):
            lines = []
            for (at, sku), counted in MORNING_COUNT.items():
                if at != location:
                    continue
                view = self.hub.get("/v1/availability", sku=sku, location=location)
                on_hand = sum((D(p["on_hand"]) for p in view["locations"] if p["location"] == location), D(0))
                if on_hand != counted:
                    lines.append({"sku": sku, "expected": str(on_hand), "counted": str(counted), "unit": "EA"})
            if not lines:
                continue
            data = {"count_ref": f"COUNT-{self.tag}-{location}", "lines": lines}
            self.hub.wms_event("cycle_count.completed", location, data, self._id("count"))
            self.tally.wms_webhooks += 1
            posted += len(lines)
        self._settle()
        return f"{posted} counts differ from the books, {len(MORNING_COUNT) - posted} already right"

    def issue_purchase_order(self) -> str:
        order = procurement.PurchaseOrder(
            number=self.po,
            supplier=self.estate.supplier_number,
            currency=self.estate.currency,
            ship_to=NORTH,
            ordered_on=self.today,
            requested_on=self.today,  # due today: a ship notice was due a day earlier, so it will be late
            lines=(
                procurement.PurchaseOrderLine(line=1, sku="GIZMO-3", quantity=self._qty(48), unit_price=D("18.00")),
                procurement.PurchaseOrderLine(line=2, sku="WIDGET-1", quantity=self._qty(72), unit_price=D("2.10")),
            ),
        )
        self.purchase_order = order
        data = catalog.data_of(catalog.PurchaseOrderIssued(purchase_order=order))
        self.hub.event(PURCHASING_SOURCE, catalog.PurchaseOrderIssued.event_type, self.po, data, self._id("po"))
        self.tally.api_calls += 1
        self.tally.purchase_orders.append(self.po)
        self._settle()
        sent = sorted(self.estate.supplier.outbound.glob("850-*"))
        return f"{self.po}: 48 GIZMO-3, 72 WIDGET-1; {len(sent)} 850 file(s) in {self.estate.supplier.outbound}"

    def _web_order(self, index: int) -> str:
        order_id = int(f"{self.tag}{index:02d}")
        skus = self.rng.sample(WEB_ITEMS, self.rng.randint(1, len(WEB_ITEMS)))
        quantities = {sku: self.rng.randint(1, 4) for sku in skus}
        lines = [
            {
                "id": int(f"{order_id}{n}"),
                "sku": sku,
                "quantity": quantities[sku],
                "price": str(self.estate.prices[sku]),
            }
            for n, sku in enumerate(skus, start=1)
        ]
        total = sum((self.estate.prices[sku] * quantity for sku, quantity in quantities.items()), D(0))
        payload = {
            "id": order_id,
            "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
            "name": f"#{order_id}",
            "currency": self.estate.currency,
            "financial_status": "authorized",  # captured at shipping: nothing is paid before the hub invoices
            "total_price": str(total),
            "created_at": datetime.now(UTC).isoformat(),
            "updated_at": datetime.now(UTC).isoformat(),
            "customer": {"id": 7_000_000 + index},
            "line_items": lines,
        }
        webhook_id = str(uuid.uuid4())
        self.hub.webhook("orders/create", payload, webhook_id)
        self.tally.webhooks += 1
        number = f"SHOP-{order_id}"
        self.web_payloads[number] = (payload, webhook_id)
        self.tally.web_orders.append(number)
        return number

    def web_orders(self, count: int) -> str:
        start = len(self.tally.web_orders) + 1
        placed = [self._web_order(start + n) for n in range(count)]
        self._settle()
        return f"{len(placed)} orders: {', '.join(placed)}"

    def duplicate_webhook(self) -> str:
        number = self.tally.web_orders[0]
        payload, webhook_id = self.web_payloads[number]
        before = self.hub.order(number)
        answer = self.hub.webhook("orders/create", payload, webhook_id)
        self.tally.webhooks += 1
        self._settle()
        after = self.hub.order(number)
        if answer.get("duplicate"):
            self.tally.duplicate_webhooks_answered += 1
        if before is None or after is None or before["history"] != after["history"]:
            self.tally.duplicate_changed.append(number)
        verdict = "answered as a duplicate" if answer.get("duplicate") else "NOT recognised as a duplicate"
        changed = "changed" if number in self.tally.duplicate_changed else "unchanged"
        return f"{number} sent again with the same webhook id: {verdict}, the order {changed}"

    def customer_order(self) -> str:
        order = SalesOrder(
            number=self.harbor_order,
            customer=self.estate.customer.their_side.customer or self.estate.customer.name,
            channel="edi",
            currency=self.estate.currency,
            ordered_at=datetime.now(UTC),
            customer_reference=self.harbor_order,
            lines=(
                SalesOrderLine(
                    line=1, sku="WIDGET-1", quantity=self._qty(48), unit_price=self.estate.prices["WIDGET-1"]
                ),
                SalesOrderLine(line=2, sku="GIZMO-3", quantity=self._qty(36), unit_price=self.estate.prices["GIZMO-3"]),
                SalesOrderLine(
                    line=3, sku="GADGET-2", quantity=self._qty(10), unit_price=self.estate.prices["GADGET-2"]
                ),
            ),
        )
        self._drop(self.estate.customer, "850", x12_mapping.sales_order_to_850(order, self.estate.customer.their_side))
        self.tally.edi_orders.append(self.harbor_order)
        view = self.hub.order(self.harbor_order)
        status = view["status"] if view else "not known to the hub"
        return f"{self.harbor_order}: 48 WIDGET-1, 36 GIZMO-3 (12 in stock), 10 GADGET-2; {status}"

    def portal_order_placed(self) -> str:
        order = {
            "number": self.portal_order,
            "customer": "C-1001",
            "channel": "portal",
            "currency": self.estate.currency,
            "lines": [
                {"line": 1, "sku": "GADGET-2", "quantity": {"value": "8", "unit": "EA"}, "unit_price": "19.90"},
                {"line": 2, "sku": "WIDGET-1", "quantity": {"value": "24", "unit": "EA"}, "unit_price": "4.50"},
            ],
        }
        self.hub.post("/v1/orders", order, {"Idempotency-Key": f"portal-{self.portal_order}"})
        self.tally.api_calls += 1
        self.tally.portal_orders.append(self.portal_order)
        self._settle()
        view = self.hub.order(self.portal_order)
        return f"{self.portal_order} for Contoso: 8 GADGET-2, 24 WIDGET-1; {view['status'] if view else 'unknown'}"

    def cancel_line(self) -> str:
        data = {
            "order": self.portal_order,
            "cancellation": f"CX-{self.tag}-1",
            "lines": [{"line_id": "1", "quantity": "8"}],
            "reason": "the customer no longer needs the gadgets",
        }
        event_type = catalog.OrderCancellationRequested.event_type
        self.hub.event(SERVICE_SOURCE, event_type, self.portal_order, data, self._id("cancel"))
        self.tally.api_calls += 1
        self._settle()
        return f"{self.portal_order} line 1 (8 GADGET-2) cancelled before picking"

    def acknowledgement(self) -> str:
        ack = procurement.POAcknowledgement(
            number=f"855-{self.tag}",
            order=self.po,
            supplier=self.estate.supplier_number,
            status=procurement.AcknowledgementStatus.ACCEPTED,
        )
        tx = x12_mapping.acknowledgement_to_855(ack, self.estate.supplier.their_side, order=self.purchase_order)
        self._drop(self.estate.supplier, "855", tx)
        time.sleep(1.5)  # the hub's timer loop finds the ship notice already overdue
        self._settle()
        return f"{self.po} accepted as ordered; the ship notice was due yesterday"

    def morning_shipments(self) -> str:
        self._settle()
        shipped = []
        for picks in self.wms.to_ship():
            if picks.order == self.harbor_order and any(v[0] == "WIDGET-1" for v in picks.open.values()):
                shipped.append(f"{self._ship(picks, D('0.625'))} (part of {picks.order})")
            else:
                shipped.append(self._ship(picks))
        self._settle()
        return f"{len(shipped)} shipments: {', '.join(shipped)}"

    def late_ship_notice(self) -> str:
        notice = procurement.AdvanceShipNotice(
            shipment=self.asn,
            order=self.po,
            supplier=self.estate.supplier_number,
            shipped_on=self.today,
            expected_on=self.today,
            packs=(procurement.Pack(id=f"PK-{self.tag}-1"),),
            lines=(
                procurement.ShipNoticeLine(line=1, sku="GIZMO-3", quantity=self._qty(48), pack=f"PK-{self.tag}-1"),
                procurement.ShipNoticeLine(line=2, sku="WIDGET-1", quantity=self._qty(72), pack=f"PK-{self.tag}-1"),
            ),
        )
        self._drop(self.estate.supplier, "856", x12_mapping.ship_notice_to_856(notice, self.estate.supplier.their_side))
        late = [
            e
            for e in self.hub.get("/v1/exceptions", owner="procurement", limit=1000)["items"]
            if self.po in e["about"]["key"]
        ]
        return f"{self.asn} for {self.po}: 48 GIZMO-3, 72 WIDGET-1 ({len(late)} procurement exception(s) open on it)"

    def outage_begins(self) -> str:
        with self.wms.lock:
            self.wms.down = True
        return "the WMS answers 503 to every delivery"

    def orders_in_outage(self) -> str:
        refused = self.wms.refused
        placed = self.web_orders(2)
        deadline = time.monotonic() + 20
        while self.wms.refused == refused and time.monotonic() < deadline:
            time.sleep(0.2)
        queued = self.hub.pending(WMS_DESTINATION)
        return f"{placed}; {self.wms.refused - refused} attempts refused, {queued} releases queued in the hub"

    def outage_ends(self) -> str:
        queued = self.hub.pending(WMS_DESTINATION)
        with self.wms.lock:
            self.wms.down = False
        started = time.monotonic()
        self._settle(timeout=90)
        return f"{queued} queued releases delivered {time.monotonic() - started:.1f}s after it came back"

    def short_receipt(self) -> str:
        data = {
            "receipt_ref": f"GR-{self.tag}",
            "po_ref": self.po,
            "asn_ref": self.asn,
            "received_on": self.today.isoformat(),
            "lines": [
                {"line": 1, "sku": "GIZMO-3", "quantity": "40", "unit": "EA"},
                {"line": 2, "sku": "WIDGET-1", "quantity": "72", "unit": "EA"},
            ],
        }
        self.hub.wms_event("receipt.completed", NORTH, data, self._id("receipt"))
        self.tally.wms_webhooks += 1
        self._settle()
        return f"GR-{self.tag} at {NORTH}: 40 of 48 GIZMO-3 noticed, 72 WIDGET-1; the backorder is filled from it"

    def supplier_invoice(self) -> str:
        lines = (
            procurement.SupplierInvoiceLine(line=1, sku="GIZMO-3", quantity=self._qty(48), unit_price=D("18.00")),
            procurement.SupplierInvoiceLine(line=2, sku="WIDGET-1", quantity=self._qty(72), unit_price=D("2.10")),
        )
        net = sum((line.quantity.value * line.unit_price for line in lines), D(0))
        invoice = procurement.SupplierInvoice(
            number=f"AC-{self.tag}",
            supplier=self.estate.supplier_number,
            order=self.po,
            currency=self.estate.currency,
            issued_on=self.today,
            lines=lines,
            tax=D(0),
            total=net,
        )
        tx = x12_mapping.supplier_invoice_to_810(invoice, self.estate.supplier.their_side)
        self._drop(self.estate.supplier, "810", tx)
        return f"AC-{self.tag}: bills all 48 GIZMO-3 though 40 came in"

    def afternoon_shipments(self) -> str:
        self._settle()
        shipped = [self._ship(picks) for picks in self.wms.to_ship()]
        self._settle()
        return f"{len(shipped)} shipments: {', '.join(shipped) or 'nothing left to pick'}"

    def payment(self) -> str:
        view = self.hub.order(self.portal_order)
        if view is None or D(view["balance_due"]) <= 0 or len(view["shipments"]) != 1:
            return f"nothing to pay on {self.portal_order}"
        invoice = f"INV-{view['shipments'][0]['shipment']}"
        reference = f"PAY-{self.tag}-1"
        data = {
            "payment": {
                "reference": reference,
                "customer": view["customer"],
                "amount": view["balance_due"],
                "currency": view["currency"],
                "received_on": self.today.isoformat(),
                "applications": [{"invoice": invoice, "amount": view["balance_due"]}],
            }
        }
        self.hub.event(FINANCE_SOURCE, catalog.PaymentApplied.event_type, reference, data, self._id("pay"))
        self.tally.api_calls += 1
        self.tally.payments.append(reference)
        self._settle()
        return f"Contoso pays {view['balance_due']} {view['currency']} on {invoice}"

    def end_of_day(self) -> str:
        self._settle(timeout=90)
        # What the last answers set off (an invoice after a shipment...) is answered too, until nothing new comes.
        while self.answer_partners():
            pass
        return "the hub has settled; the partners have answered everything they were sent"


# ---- the summary -----------------------------------------------------------------------------------------------


def summarise(hub: Hub, tally: Tally, wms: SimulatedWms) -> dict[str, Any]:
    """What the day left behind, read back from the hub's API."""
    orders: dict[str, dict[str, Any]] = {}
    for number in tally.orders:
        view = hub.order(number)
        orders[number] = view or {"status": "unknown", "open_reasons": ["the hub has no such order"], "exceptions": []}
    exceptions = hub.get("/v1/exceptions", status="open", limit=1000)["items"]
    dead = hub.get("/v1/deliveries", status="dead", limit=10_000)["items"]
    entries: list[dict[str, Any]] = []
    after = 0
    while True:
        page = hub.get("/v1/journal", after=after, limit=1000)
        entries.extend(page["items"])
        if page["next"] is None:
            break
        after = page["next"]
    unbalanced = [
        e["id"]
        for e in entries
        if sum(D(line["debit"]) for line in e["lines"]) != sum(D(line["credit"]) for line in e["lines"])
    ]
    purchase_orders = {}
    for number in tally.purchase_orders:
        found = hub.get(f"/v1/purchase-orders/{quote(number, safe='')}")
        purchase_orders[number] = {"status": found["status"], "open_reasons": found.get("open_reasons", [])}
    left_open = {
        number: {
            "status": view["status"],
            "open_reasons": list(view.get("open_reasons", [])),
            "exceptions": [e["reason_code"] for e in view.get("exceptions", [])],
        }
        for number, view in orders.items()
        if view["status"] not in TERMINAL
    }
    return {
        "orders": {number: view["status"] for number, view in orders.items()},
        "orders_by_status": dict(sorted(Counter(view["status"] for view in orders.values()).items())),
        "left_open": left_open,
        "purchase_orders": purchase_orders,
        "exceptions_by_owner": dict(sorted(Counter(e["owner"] for e in exceptions).items())),
        "exceptions": [
            {"owner": e["owner"], "reason": e["reason_code"], "about": e["about"]["key"], "message": e["message"]}
            for e in exceptions
        ],
        "partners": {
            partner.name: {
                "received": dict(sorted(tally.received.get(partner.name, Counter()).items())),
                "answered": tally.answered.get(partner.name, 0),
                "last_sent": _last_sent(hub, partner.name),
            }
            for partner in hub.estate.partners
        },
        "dead_letters": dict(sorted(Counter(d["destination"] for d in dead).items())),
        "dead_letter_reasons": [
            {"destination": d["destination"], "subject": d["subject"], "error": (d["last_error"] or "")[:200]}
            for d in dead
        ],
        "journal": {"entries": len(entries), "unbalanced": unbalanced, "balanced": not unbalanced},
        "traffic": {
            "web_orders": len(tally.web_orders),
            "edi_orders": len(tally.edi_orders),
            "portal_orders": len(tally.portal_orders),
            "webhooks": tally.webhooks,
            "duplicate_webhooks_answered": tally.duplicate_webhooks_answered,
            "duplicates_that_changed_something": tally.duplicate_changed,
            "files_dropped": tally.files_dropped,
            "api_calls": tally.api_calls,
            "wms_webhooks": tally.wms_webhooks,
            "acknowledgements_from_partners": sum(tally.answered.values()),
            "shipments": len(tally.shipments),
            "payments": len(tally.payments),
            "wms_releases_taken": wms.taken,
            "wms_repeats": wms.repeats,
            "wms_refused_while_down": wms.refused,
        },
    }


def _last_sent(hub: Hub, partner: str) -> dict[str, str] | None:
    """The last interchange sent to the partner and what its acknowledgement said (awaiting: none came yet;
    not_expected: a 997, which is never answered)."""
    try:
        last = hub.get(f"/v1/partners/{quote(partner, safe='')}")["last_sent"]
    except DemoError:
        return None  # a key without the admin scope cannot read partners
    return {"document": str(last["document"]), "status": str(last["status"])} if last else None


def print_summary(console: Console, summary: Mapping[str, Any], url: str = "http://127.0.0.1:8080") -> None:
    traffic = summary["traffic"]
    happened = Table(title="What happened", show_header=False)
    happened.add_column("what")
    happened.add_column("count", justify="right")
    for label, value in (
        ("web orders (Shopify webhooks)", traffic["web_orders"]),
        ("EDI orders (850 files)", traffic["edi_orders"]),
        ("API orders", traffic["portal_orders"]),
        ("webhooks sent / answered as duplicates", f"{traffic['webhooks']} / {traffic['duplicate_webhooks_answered']}"),
        (
            "EDI files dropped (997s among them)",
            f"{traffic['files_dropped']} ({traffic['acknowledgements_from_partners']})",
        ),
        ("WMS webhooks (signed)", traffic["wms_webhooks"]),
        (
            "releases taken by the WMS / refused while it was down",
            f"{traffic['wms_releases_taken']} / {traffic['wms_refused_while_down']}",
        ),
        ("shipments confirmed", traffic["shipments"]),
        ("payments", traffic["payments"]),
        (
            "journal entries (all balanced)" if summary["journal"]["balanced"] else "journal entries (UNBALANCED!)",
            summary["journal"]["entries"],
        ),
    ):
        happened.add_row(label, str(value))
    console.print(happened)
    statuses = Table(title="Orders of the day by status")
    statuses.add_column("status")
    statuses.add_column("orders", justify="right")
    for status, count in summary["orders_by_status"].items():
        statuses.add_row(status, str(count))
    console.print(statuses)
    left = Table(title="Left open")
    for column in ("order", "status", "why"):
        left.add_column(column)
    for number, view in summary["left_open"].items():
        why = "; ".join([*view["open_reasons"], *(f"exception {e}" for e in view["exceptions"])]) or "-"
        left.add_row(number, view["status"], why)
    for number, view in summary["purchase_orders"].items():
        left.add_row(number, view["status"], "; ".join(view["open_reasons"]) or "-")
    console.print(left)
    partners = Table(title="Trading partners")
    for column in ("partner", "sent to it today", "997s it sent back", "the last interchange sent it"):
        partners.add_column(column)
    for name, seen in summary["partners"].items():
        received = ", ".join(f"{kind} x{n}" for kind, n in seen["received"].items()) or "-"
        last = f"{seen['last_sent']['document']}: {seen['last_sent']['status']}" if seen["last_sent"] else "-"
        partners.add_row(name, received, str(seen["answered"]), last)
    console.print(partners)
    owners = Table(title="Open exceptions by owner")
    owners.add_column("owner")
    owners.add_column("open", justify="right")
    owners.add_column("reasons")
    by_owner: dict[str, Counter[str]] = {}
    for e in summary["exceptions"]:
        by_owner.setdefault(e["owner"], Counter())[e["reason"]] += 1
    for owner, count in summary["exceptions_by_owner"].items():
        reasons = ", ".join(f"{reason} x{n}" for reason, n in sorted(by_owner.get(owner, Counter()).items()))
        owners.add_row(owner, str(count), reasons)
    console.print(owners)
    dead = summary["dead_letters"]
    for letter in summary["dead_letter_reasons"][:10]:
        console.print(f"Dead letter to {letter['destination']} about {letter['subject']}: {letter['error']}")
    console.print(
        "Dead letters: "
        + (", ".join(f"{d}: {n}" for d, n in dead.items()) if dead else "none")
        + f". Look closer: crossdock exceptions list, crossdock dlq list, {url.rstrip('/')}/console/"
    )


# ---- the command -----------------------------------------------------------------------------------------------


@contextmanager
def _demo_key(config_path: Path | None, given: str | None) -> Iterator[str]:
    """The key given, or an admin key made for this run in the estate's database and revoked after it."""
    if given:
        yield given
        return
    from crossdock.entrypoints import cli, cli_governance
    from crossdock.hub import governance

    with cli.opened(config_path) as runtime:
        hub = runtime.hub
        key, token = cli_governance.create_key(
            hub.begin, hub.clock.now(), name="demo", scopes=[governance.ADMIN], created_by=cli_governance.actor()
        )
    try:
        yield token
    finally:
        with cli.opened(config_path) as runtime, runtime.hub.begin() as uow:
            uow.keys.revoke(key.id, runtime.hub.clock.now())
            uow.commit()


def play(
    settings: config.Settings,
    url: str,
    key: str,
    *,
    speed: float,
    seed: int,
    tag: str,
    console: Console,
    today: date | None = None,
) -> dict[str, Any]:
    """Play the day against the hub at `url` and return the summary read back from it."""
    estate = Estate.of(settings)
    hub = Hub(url, key, estate)
    try:
        try:
            hub.get("/v1/status")
        except httpx.TransportError as exc:
            raise DemoError(f"no hub answers at {url} ({exc}): start it first with `make run`") from None
        wms = SimulatedWms(estate.wms)
        wms.start()
        try:
            day = Day(hub, wms, estate, tag=tag, seed=seed, today=today or datetime.now(UTC).date())
            steps = day.steps()
            columns = (
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
            )
            with Progress(*columns, console=console, transient=True) as progress:
                task = progress.add_task("the day begins", total=len(steps))
                previous = _minutes(steps[0].at)
                for step in steps:
                    pause = (_minutes(step.at) - previous) * 60 / speed
                    previous = _minutes(step.at)
                    progress.update(task, description=f"{step.at} waiting")
                    time.sleep(max(0.0, pause))
                    progress.update(task, description=f"{step.at} {step.title}")
                    said = step.act()
                    progress.console.print(f"[bold]{step.at}[/bold] {step.title}: {said}")
                    answered = day.answer_partners()
                    if answered:
                        progress.console.print(f"[bold]{step.at}[/bold] The partners answer: {answered}")
                    progress.advance(task)
            return summarise(hub, day.tally, wms)
        finally:
            wms.stop()
    finally:
        hub.close()


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def demo(
    config_path: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="The estate the hub runs (default: examples/northwind/crossdock.yaml).",
            envvar="CROSSDOCK_CONFIG",
        ),
    ] = None,
    url: Annotated[str, typer.Option(help="The running hub.", envvar="CROSSDOCK_URL")] = "http://127.0.0.1:8080",
    key: Annotated[
        str | None,
        typer.Option(help="An admin API key (default: one made for this run, revoked after).", envvar="CROSSDOCK_KEY"),
    ] = None,
    speed: Annotated[float, typer.Option(help="How many times faster than the clock the day runs.", min=1)] = 600,
    seed: Annotated[int, typer.Option(help="Chooses the web orders: the same seed plays the same day.")] = 7,
    tag: Annotated[
        str | None,
        typer.Option(help="Numbers the day's documents (digits; default: from the time, so every run is new)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
) -> None:
    """Play a day of Northwind's traffic against a running hub (start it with `make run`): orders from Shopify, EDI
    and the API, partial shipments, a late ship notice, a short receipt, a cancelled line, a duplicate webhook and a
    WMS outage; then what happened and what is left open."""
    path = config_path or _default_estate()
    try:
        settings = config.load(path)
    except config.ConfigError as exc:
        Console(stderr=True).print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    day_tag = tag or f"{int(time.time() // 10) % 10_000_000:07d}"
    if not day_tag.isdigit():
        Console(stderr=True).print("[red]--tag: digits only (it numbers Shopify orders and EDI control numbers)[/red]")
        raise typer.Exit(2)
    shown = Console(stderr=True) if as_json else Console()
    try:
        with _demo_key(path, key) as token:
            summary = play(settings, url, token, speed=speed, seed=seed, tag=day_tag, console=shown)
    except DemoError as exc:
        Console(stderr=True).print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    print_summary(shown, summary, url)
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2, default=str) + "\n")


def _default_estate() -> Path:
    estate = Path("examples/northwind/crossdock.yaml")
    if not estate.exists():
        Console(stderr=True).print(
            "[red]No examples/northwind/crossdock.yaml here: run the demo from the repository, or give --config.[/red]"
        )
        raise typer.Exit(2)
    return estate


def register(app: typer.Typer) -> None:
    """Add `demo` to the main `crossdock` command."""
    app.command("demo")(demo)
