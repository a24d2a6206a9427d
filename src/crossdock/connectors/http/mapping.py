"""Pure mapping between what an integrator's Python functions see and return and the hub's own shapes: the request a
system posted (`Received`), the canonical events a function returns (`Event`, or the catalogue's payload models),
and the request a function asks the hub to send (`Request`). No I/O, no clock, no imports of the functions.

Must not: decide what an event changes (the desks do). Every error names the function and the field it got wrong.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from crossdock.connectors.canonical.mapping import keys_of
from crossdock.connectors.generic.mapping import field_value
from crossdock.domain import catalog
from crossdock.domain.events import Envelope, derive_id
from crossdock.hub.errors import MappingError
from crossdock.hub.ports import Identity

BUSINESS_KEY_HEADER = "x-business-key"
PARTITION_KEY_HEADER = "x-partition-key"
DEFAULT_SIGNATURE_HEADER = "X-Crossdock-Signature"
SignatureFormat = Literal["sha256=hex", "hex", "base64"]
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


# ---- what a mapping function is given and returns -------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One request a system posted to the hub, as it was stored: the raw body, its headers (names in lower case),
    the source it came in at and when (None for an identify function: it runs before the request is stored)."""

    source: str
    body: bytes
    headers: Mapping[str, str]
    received_at: datetime | None

    def json(self) -> Any:
        """The body as JSON; a body that is not JSON fails the message, naming the problem."""
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MappingError(f"body is not valid JSON: {exc}") from None

    def text(self, encoding: str = "utf-8") -> str:
        try:
            return self.body.decode(encoding)
        except UnicodeDecodeError as exc:
            raise MappingError(f"body is not {encoding} text: {exc}") from None


@dataclass(frozen=True)
class Event:
    """A canonical event an inbound mapping returns: a catalogue type and its data as plain JSON-like values. The
    subject and partition default to the business key the catalogue knows the type by (an order's number...)."""

    type: str
    data: Mapping[str, Any]
    subject: str | None = None
    partition: str | None = None
    time: datetime | None = None  # when it happened; default: when the hub received the request


@dataclass(frozen=True)
class Request:
    """What an outbound mapping asks the hub to send. `url` is a path under the destination's base_url (or a full URL
    inside it); the body is `json` (any JSON-able value; Decimal and dates as strings) or `body` (bytes or text)."""

    method: str
    url: str
    json: Any = None
    body: bytes | str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Prepared:
    """A request checked and ready for the transport: an absolute URL, the body as bytes, its headers."""

    method: str
    url: str
    content: bytes
    headers: Mapping[str, str]


# ---- inbound ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdentityRules:
    """Identity from configuration, as the generic connector takes it: dotted fields of a JSON body, else headers."""

    id_field: str | None = None
    subject_field: str | None = "id"
    partition_field: str | None = None

    def identity(self, body: bytes, headers: Mapping[str, str]) -> Identity:
        """The sender's id, business key and partition from the rules' fields; for a body that is not a JSON object
        (XML, CSV), from the X-Business-Key and X-Partition-Key headers. The content hash covers what is missing."""
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            payload = None
        if not isinstance(payload, dict):
            return Identity(
                key=None,
                business_key=headers.get(BUSINESS_KEY_HEADER),
                partition_key=headers.get(PARTITION_KEY_HEADER),
            )

        def at(path: str | None) -> str | None:
            return field_value(payload, path) if path else None

        return Identity(
            key=at(self.id_field), business_key=at(self.subject_field), partition_key=at(self.partition_field)
        )


def identity_of(returned: Any, function: str) -> Identity:
    """What an identify function returned, as the intake's Identity: an Identity, or a mapping with `key`,
    `business_key` and `partition_key` (each optional)."""
    if isinstance(returned, Identity):
        found = {"key": returned.key, "business_key": returned.business_key, "partition_key": returned.partition_key}
    elif isinstance(returned, Mapping):
        unknown = sorted(str(name) for name in returned if name not in ("key", "business_key", "partition_key"))
        if unknown:
            raise MappingError(
                f"{function} returned unknown identity fields {unknown} (known: key, business_key, partition_key)"
            )
        found = {name: returned.get(name) for name in ("key", "business_key", "partition_key")}
    else:
        raise MappingError(
            f"{function} returned {type(returned).__name__}, not an Identity or a mapping of key, business_key and "
            "partition_key"
        )
    for name, value in found.items():
        if value is not None and (not isinstance(value, str | int) or isinstance(value, bool) or str(value) == ""):
            raise MappingError(f"{function} returned {name}={value!r}: an identity field is a non-empty text or None")
    return Identity(**{name: None if value is None else str(value) for name, value in found.items()})


def signature(secret: str, body: bytes, fmt: SignatureFormat = "sha256=hex") -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    if fmt == "base64":
        return base64.b64encode(digest).decode("ascii")
    return ("sha256=" if fmt == "sha256=hex" else "") + binascii.hexlify(digest).decode("ascii")


def check_signature(
    secret: str | None, body: bytes, given: str | None, header: str, fmt: SignatureFormat = "sha256=hex"
) -> None:
    """A source with a secret takes only bodies signed with it: `header` holds the HMAC-SHA256 of the raw body."""
    if secret is None:
        return
    if not given:
        raise MappingError(f"signature: {header} is missing; this source takes only signed requests")
    if not hmac.compare_digest(given.strip().encode(), signature(secret, body, fmt).encode()):
        raise MappingError(f"signature: {header} does not match the body signed with this source's secret")


def events_of(returned: Any, function: str, received: Received, message_key: str, partition: str) -> list[Envelope]:
    """The canonical events an inbound mapping returned, each checked against its catalogue model. None or an empty
    list: the request means nothing to the hub (a ping); the message is processed with no events."""
    if returned is None:
        return []
    one = isinstance(returned, str | bytes | Mapping | BaseModel) or not isinstance(returned, Iterable)
    items = [returned] if one else list(returned)
    envelopes = []
    for index, item in enumerate(items):
        where = f"{function} returned" + (f" (event {index})" if len(items) > 1 else "")
        type_name, data, subject, partition_of, at = _event_fields(item, where)
        data = _fitted(type_name, data, where)
        known_subject, known_partition = keys_of(type_name, data)
        subject = subject or known_subject or partition
        envelopes.append(
            _envelope(
                where,
                id=derive_id("http", received.source, message_key, str(index)),
                source=f"crossdock/{received.source}",
                type=type_name,
                subject=subject,
                time=at or received.received_at,
                data=data,
                partitionkey=partition_of or known_partition or subject,
            )
        )
    return envelopes


def _event_fields(item: Any, where: str) -> tuple[str, Mapping[str, Any], str | None, str | None, datetime | None]:
    if isinstance(item, catalog.Payload):
        return item.event_type, catalog.data_of(item), None, None, None
    if isinstance(item, Event):
        return item.type, item.data, item.subject, item.partition, item.time
    if isinstance(item, Mapping) and "type" in item:
        unknown = sorted(str(k) for k in item if k not in ("type", "data", "subject", "partition", "time"))
        if unknown:
            raise MappingError(
                f"{where} an event with unknown fields {unknown} (known: type, data, subject, partition, time)"
            )
        return item["type"], item.get("data", {}), item.get("subject"), item.get("partition"), item.get("time")
    raise MappingError(
        f"{where} {type(item).__name__}, not an Event, a catalogue payload (catalog.OrderReceived...) or a list of them"
    )


def _fitted(type_name: Any, data: Any, where: str) -> dict[str, Any]:
    """The data as its catalogue model reads it back (decimals as strings, dates in ISO 8601), or a MappingError that
    names the type and each field that does not fit."""
    if not isinstance(type_name, str) or type_name not in catalog.EVENT_TYPES:
        raise MappingError(f"{where} event type {type_name!r}, which is not in the event catalogue (see schemas/)")
    if not isinstance(data, Mapping):
        raise MappingError(f"{where} a {type_name} whose data is a {type(data).__name__}, not a mapping of fields")
    model: type[BaseModel] = catalog.EVENT_TYPES[type_name]
    try:
        fitted = model.model_validate(dict(data))
    except ValidationError as exc:
        raise MappingError(
            f"{where} a {type_name} that does not fit the catalogue: {_describe(exc, 'data.')}"
        ) from None
    return fitted.model_dump(mode="json")


def _envelope(where: str, **fields: Any) -> Envelope:
    try:
        envelope = Envelope.model_validate(fields)
        envelope.model_dump_json()  # text UTF-8 cannot store (a lone surrogate) fails here, not in the store
    except ValidationError as exc:
        raise MappingError(f"{where} an event the hub cannot keep: {_describe(exc, '')}") from None
    except UnicodeEncodeError as exc:
        raise MappingError(f"{where} text that is not valid Unicode: {exc.reason}") from None
    return envelope


# ---- outbound ---------------------------------------------------------------------------------------------------


def request_of(returned: Any, function: str, base_url: str) -> Prepared | None:
    """The request an outbound mapping returned, checked: None (send nothing), a Request, or a mapping with its
    fields. The URL must stay under base_url, where the destination's credentials belong."""
    if returned is None:
        return None
    if isinstance(returned, Mapping):
        unknown = sorted(str(k) for k in returned if k not in ("method", "url", "json", "body", "headers"))
        if unknown:
            raise MappingError(f"{function} returned a request with unknown fields {unknown}")
        try:
            returned = Request(**returned)
        except TypeError as exc:
            raise MappingError(f"{function} returned a request without {exc}") from None
    if not isinstance(returned, Request):
        raise MappingError(f"{function} returned {type(returned).__name__}, not a Request or None")
    method = returned.method.upper() if isinstance(returned.method, str) else ""
    if method not in METHODS:
        raise MappingError(f"{function} returned method {returned.method!r} (one of {', '.join(sorted(METHODS))})")
    headers = _headers(returned.headers, function)
    return Prepared(method, _url(returned.url, base_url, function), _content(returned, headers, function), headers)


def _headers(given: Any, function: str) -> dict[str, str]:
    if not isinstance(given, Mapping):
        raise MappingError(f"{function} returned headers as a {type(given).__name__}, not a mapping of names to text")
    for name, value in given.items():
        if not isinstance(name, str) or not isinstance(value, str) or not name or "\n" in value or "\r" in value:
            raise MappingError(
                f"{function} returned header {name!r}: {value!r}; a header is a name and one line of text"
            )
    return dict(given)


def _url(url: Any, base_url: str, function: str) -> str:
    if not isinstance(url, str) or not url.strip():
        raise MappingError(f"{function} returned url {url!r}: a path under base_url is needed")
    if urlsplit(url).scheme:
        base = base_url.rstrip("/")
        if url != base and not url.startswith(base + "/") and not url.startswith(base + "?"):
            raise MappingError(f"{function} returned url {url} outside base_url {base}: its credentials go there only")
        return url
    return base_url.rstrip("/") + "/" + url.lstrip("/")


def _content(request: Request, headers: dict[str, str], function: str) -> bytes:
    named = {name.lower() for name in headers}
    if request.json is not None and request.body is not None:
        raise MappingError(f"{function} returned both json and body; a request has one body")
    if request.json is not None:
        try:
            content = json.dumps(request.json, default=_json_value, separators=(",", ":")).encode()
        except (TypeError, ValueError) as exc:
            raise MappingError(f"{function} returned json the hub cannot write: {exc}") from None
        if "content-type" not in named:
            headers["Content-Type"] = "application/json"
        return content
    if isinstance(request.body, str):
        if "content-type" not in named:
            headers["Content-Type"] = "text/plain; charset=utf-8"
        return request.body.encode()
    if isinstance(request.body, bytes):
        if "content-type" not in named:
            headers["Content-Type"] = "application/octet-stream"
        return request.body
    if request.body is not None:
        raise MappingError(f"{function} returned body as a {type(request.body).__name__}, not bytes or text")
    return b""


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"a {type(value).__name__} is not a JSON value")


# ---- inside -----------------------------------------------------------------------------------------------------


def _describe(exc: ValidationError, prefix: str) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = prefix + ".".join(str(p) for p in error["loc"])
        parts.append(f"{where.rstrip('.') or 'data'}: {error['msg']}")
    return "; ".join(parts)
