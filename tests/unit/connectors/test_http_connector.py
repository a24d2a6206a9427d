"""The http connector's rules on its own: a mapping that cannot be loaded is a configuration error at start naming the
option and the module; what a mapping returns is checked against the catalogue, naming the function and the field;
requests stay under base_url and carry the delivery id; answers are classified; declared limits hold."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from crossdock import bootstrap, config
from crossdock.connectors.http import Event, Identity, Received, Request
from crossdock.connectors.http import mapping as http_mapping
from crossdock.connectors.http.client import HttpClient
from crossdock.connectors.http.inbound import HttpInbound, Signature
from crossdock.connectors.http.loading import Loaded, load
from crossdock.connectors.http.outbound import HttpSender
from crossdock.domain import catalog
from crossdock.domain.events import Envelope
from crossdock.hub import retry
from crossdock.hub.errors import MappingError
from crossdock.hub.ports import AttemptOutcome, Delivery
from tests.unit.factories import T0, make_delivery, make_envelope, make_stored_message

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "http-mapping"
HERE = __name__
BASE = "https://erp.example.com/api"
ORDER = {
    "number": "SO-1",
    "customer": "C-1",
    "channel": "erp",
    "currency": "EUR",
    "lines": [{"line": 1, "sku": "A", "quantity": {"value": "2", "unit": "EA"}, "unit_price": "4.50"}],
}


def takes_nothing() -> None:
    """A function with the wrong shape for a mapping: it cannot be handed the request."""


def accepted_as_put(event: Envelope) -> Request | None:
    if event.type != catalog.OrderAccepted.event_type:
        return None
    return Request("PUT", f"/orders/{event.subject}", json={"total": Decimal("9.00"), "on": date(2025, 3, 3)})


def with_its_own_idempotency_key(event: Envelope) -> Request:
    return Request("POST", "/orders", json={}, headers={"Idempotency-Key": "mine", "X-Trace": "t-1"})


def broken_outbound(event: Envelope) -> Request:
    raise KeyError("total")


def settings(tmp_path: Path, **sections: Any) -> config.Settings:
    return config.Settings.model_validate({"data_dir": str(tmp_path), **sections})


def source(**options: Any) -> dict[str, Any]:
    return {"erp": {"kind": "http", "options": {"path": str(EXAMPLE), "mapping": "erp_mapping:order_in", **options}}}


def destination(**options: Any) -> dict[str, Any]:
    given = {"path": str(EXAMPLE), "mapping": "erp_mapping:order_out", "base_url": BASE, **options}
    return {"erp-out": {"kind": "http", "options": {k: v for k, v in given.items() if v is not None}}}


def received(payload: Any, headers: dict[str, str] | None = None) -> Received:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return Received("erp", body, headers or {}, T0)


def loaded(function: Callable[[Any], Any]) -> Loaded:
    return Loaded(f"{HERE}:{function.__name__}", function)


# ---- loading the functions: configuration errors at start --------------------------------------------------------


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        # a module that is nowhere to be found: the option and the module are named
        (
            {"sources": source(mapping="erp_mapings:order_in")},
            r"^sources\.erp\.options\.mapping: cannot import module 'erp_mapings': no such module",
        ),
        # a function the module does not have: its functions are listed
        (
            {"sources": source(mapping="erp_mapping:order_inn")},
            r"^sources\.erp\.options\.mapping: module 'erp_mapping' has no 'order_inn' "
            r"\(its functions: identify, order_in, order_out\)",
        ),
        # the identify function is checked as strictly as the mapping
        (
            {"sources": source(identify="erp_mapping:identity")},
            r"^sources\.erp\.options\.identify: module 'erp_mapping' has no 'identity'",
        ),
        # a reference without its function
        (
            {"sources": source(mapping="erp_mapping")},
            r"^sources\.erp\.options\.mapping: 'erp_mapping' is not a reference to a function",
        ),
        # a function that cannot take the request
        (
            {"sources": source(mapping=f"{HERE}:takes_nothing")},
            r"^sources\.erp\.options\.mapping: .*:takes_nothing must take one argument, it takes \(\)",
        ),
        # the outbound side's mapping, named as the destination's option
        (
            {"destinations": destination(mapping="erp_mapping:orders_out")},
            r"^destinations\.erp-out\.options\.mapping: module 'erp_mapping' has no 'orders_out'",
        ),
        # a misspelt option is refused, not ignored
        (
            {"sources": source(mapings="erp_mapping:order_in")},
            r"^sources\.erp\.options\.mapings: Extra inputs are not permitted",
        ),
        # a destination without its address
        (
            {"destinations": destination(base_url=None)},
            r"^destinations\.erp-out\.options\.base_url: Field required",
        ),
        # an address that is not http
        (
            {"destinations": destination(base_url="ftp://erp.example.com")},
            r"^destinations\.erp-out\.options\.base_url: Value error, 'ftp://erp\.example\.com' is not an http",
        ),
        # two ways to sign in at once
        (
            {"destinations": destination(auth={"bearer": "t", "header": {"name": "X-Api-Key", "value": "k"}})},
            r"^destinations\.erp-out\.options\.auth: Value error, give one of bearer, basic or header "
            r"\(given: bearer, header\)",
        ),
        # a path that is not a folder
        (
            {"sources": source(path="no/such/folder")},
            r"^sources\.erp\.options\.path: no/such/folder is not a folder",
        ),
    ],
)
def test_a_mapping_that_cannot_be_had_is_a_configuration_error_at_start_naming_the_option(
    tmp_path: Path, sections: dict[str, Any], expected: str
) -> None:
    with pytest.raises(config.ConfigError, match=expected):
        bootstrap.build(settings(tmp_path, **sections))


@pytest.fixture
def estate_folder(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "estate"
    folder.mkdir()
    yield folder
    sys.modules.pop("acme_erp_mapping", None)
    if str(folder) in sys.path:
        sys.path.remove(str(folder))


def test_a_mapping_module_that_fails_as_it_is_imported_is_refused_with_its_error(
    tmp_path: Path, estate_folder: Path
) -> None:
    (estate_folder / "acme_erp_mapping.py").write_text(
        "import os\nBASE = os.environ['ACME_ERP_BASE']\n\ndef order_in(request):\n    return None\n", encoding="utf-8"
    )
    sections = {"sources": source(path=str(estate_folder), mapping="acme_erp_mapping:order_in")}

    with pytest.raises(config.ConfigError) as refused:
        bootstrap.build(settings(tmp_path, **sections))

    assert str(refused.value) == (
        "sources.erp.options.mapping: module 'acme_erp_mapping' cannot be imported: KeyError: 'ACME_ERP_BASE'"
    )


def test_a_module_that_imports_a_missing_package_says_which_one(tmp_path: Path, estate_folder: Path) -> None:
    (estate_folder / "acme_erp_mapping.py").write_text("import acme_erp_sdk\n", encoding="utf-8")
    sections = {"sources": source(path=str(estate_folder), mapping="acme_erp_mapping:order_in")}

    with pytest.raises(config.ConfigError, match=r"module 'acme_erp_mapping' cannot be imported: .*'acme_erp_sdk'"):
        bootstrap.build(settings(tmp_path, **sections))


def test_a_relative_path_is_read_from_the_working_directory(
    tmp_path: Path, estate_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (estate_folder / "acme_erp_mapping.py").write_text("def order_in(request):\n    return None\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    runtime = bootstrap.build(settings(tmp_path, sources=source(path="estate", mapping="acme_erp_mapping:order_in")))
    runtime.close()

    assert str(estate_folder) in sys.path


# ---- inbound: identity -------------------------------------------------------------------------------------------


def test_without_an_identify_function_the_configured_fields_identify_a_json_body() -> None:
    rules = http_mapping.IdentityRules(id_field="meta.id", subject_field="doc.number", partition_field="doc.customer")
    body = json.dumps({"meta": {"id": 77}, "doc": {"number": "SO-9", "customer": "C-1"}}).encode()

    assert rules.identity(body, {}) == Identity(key="77", business_key="SO-9", partition_key="C-1")


def test_a_body_that_is_not_json_is_identified_by_its_headers() -> None:
    rules = http_mapping.IdentityRules()
    headers = {"x-business-key": "SO-9", "x-partition-key": "C-1"}

    assert rules.identity(b"<order number='SO-9'/>", headers) == Identity(None, "SO-9", "C-1")


def test_the_example_identify_keys_a_webhook_on_the_erps_own_id() -> None:
    identify = load("options.identify", "erp_mapping:identify", [EXAMPLE])
    inbound = HttpInbound("erp", load("options.mapping", "erp_mapping:order_in", [EXAMPLE]), identify)
    body = json.dumps({"event": "salesdoc.created", "event_id": "wh-1", "doc": {"doc_no": "4711"}}).encode()

    assert inbound.identify(body, {}) == Identity(key="erp-webhook:wh-1", business_key="4711", partition_key="4711")


@pytest.mark.parametrize(
    ("returned", "expected"),
    [
        ({"key": "a", "order": "SO-1"}, r"unknown identity fields \['order'\]"),  # a field the intake does not read
        ("SO-1", "returned str, not an Identity"),  # a bare key: which of the three is it?
        ({"key": ""}, "returned key='': an identity field is a non-empty text"),  # an empty key would dedupe all
    ],
)
def test_an_identify_function_returning_something_else_is_refused_naming_it(returned: Any, expected: str) -> None:
    with pytest.raises(MappingError, match=expected):
        http_mapping.identity_of(returned, "acme:identify")


# ---- inbound: what a mapping returns -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("returned", "expected"),
    [
        # a type the catalogue does not have
        (Event("crossdock.order.placed.v1", {"order": ORDER}), "event type 'crossdock.order.placed.v1', which is not"),
        # the order without its lines: the field is named
        (
            Event(catalog.OrderReceived.event_type, {"order": {k: v for k, v in ORDER.items() if k != "lines"}}),
            r"a crossdock\.order\.received\.v1 that does not fit the catalogue: data\.order\.lines: Field required",
        ),
        # a quantity that is not a number: the field's full place is named
        (
            {"type": catalog.OrderReceived.event_type, "data": {"order": ORDER | {"lines": [{"line": 1}]}}},
            r"data\.order\.lines\.0\.sku: Field required",
        ),
        # a document instead of an event
        (ORDER, "returned dict, not an Event"),
        # an event with a misspelt field
        ({"type": catalog.OrderReceived.event_type, "dta": {}}, r"unknown fields \['dta'\]"),
    ],
)
def test_a_mapping_returning_what_the_catalogue_refuses_fails_naming_the_function_and_the_field(
    returned: Any, expected: str
) -> None:
    with pytest.raises(MappingError, match=expected) as refused:
        http_mapping.events_of(returned, "acme:order_in", received({}), "key-1", "SO-1")
    assert str(refused.value).startswith("acme:order_in returned")


def test_events_take_the_business_key_the_catalogue_knows_their_type_by() -> None:
    returned = [
        catalog.OrderReceived.model_validate({"order": ORDER}),
        Event(catalog.OrderCloseRequested.event_type, {"order": "SO-1", "reason": "done"}, partition="C-1"),
    ]

    events = http_mapping.events_of(returned, "acme:order_in", received({}), "key-1", "fallback")

    assert [(e.type, e.subject, e.partitionkey) for e in events] == [
        (catalog.OrderReceived.event_type, "SO-1", "SO-1"),
        (catalog.OrderCloseRequested.event_type, "SO-1", "C-1"),  # the mapping's own partition wins
    ]
    assert events[0].data["order"]["lines"][0]["unit_price"] == "4.50", "data is kept as the catalogue writes it"
    assert len({e.id for e in events}) == 2
    again = http_mapping.events_of(returned, "acme:order_in", received({}), "key-1", "fallback")
    assert [e.id for e in again] == [e.id for e in events], "mapping the same message again gives the same ids"


def test_a_mapping_returning_none_means_the_request_carries_nothing_for_the_hub() -> None:
    assert http_mapping.events_of(None, "acme:order_in", received({}), "key-1", "SO-1") == []


def test_an_exception_in_the_mapping_fails_the_message_naming_the_function() -> None:
    inbound = HttpInbound("erp", load("options.mapping", "erp_mapping:order_in", [EXAMPLE]))
    message = make_stored_message(source="erp", body=json.dumps({"event": "salesdoc.created"}).encode())

    with pytest.raises(MappingError, match=r"^erp_mapping:order_in raised KeyError: 'doc'$"):
        inbound.to_events(message)


# ---- inbound: signatures -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["sha256=hex", "hex", "base64"])  # GitHub-like, bare hex, Shopify-like
def test_a_body_signed_with_the_sources_secret_is_taken_in_each_format(fmt: http_mapping.SignatureFormat) -> None:
    signature = Signature(SecretStr("s3cret"), "X-Acme-Signature", fmt)
    body = b'{"doc": 1}'

    signature.check(body, {"x-acme-signature": http_mapping.signature("s3cret", body, fmt)})
    with pytest.raises(MappingError, match="X-Acme-Signature does not match"):
        signature.check(body + b" ", {"x-acme-signature": http_mapping.signature("s3cret", body, fmt)})
    with pytest.raises(MappingError, match="X-Acme-Signature is missing"):
        signature.check(body, {})


# ---- outbound: the request ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("returned", "expected"),
    [
        (Request("PUT", "https://elsewhere.example.com/api/x", json={}), "outside base_url"),  # credentials stay home
        (Request("PUT", "https://erp.example.com/apiary", json={}), "outside base_url"),  # a look-alike prefix
        (Request("PUT", "/x", json={}, body=b"x"), "both json and body"),
        (Request("FETCH", "/x"), "method 'FETCH'"),
        (Request("PUT", "", json={}), "url '': a path under base_url"),
        (Request("PUT", "/x", json={"at": object()}), "json the hub cannot write"),
        (Request("PUT", "/x", headers={"X-A": "1\r\nX-B: 2"}), "a header is a name and one line of text"),
        ({"method": "PUT", "path": "/x"}, r"unknown fields \['path'\]"),
        ("PUT /x", "returned str, not a Request or None"),
    ],
)
def test_a_request_the_hub_cannot_send_as_asked_is_refused_naming_the_function(returned: Any, expected: str) -> None:
    with pytest.raises(MappingError, match=expected):
        http_mapping.request_of(returned, "acme:order_out", BASE)


def test_a_request_goes_under_base_url_with_its_json_written_as_the_catalogue_writes_values() -> None:
    prepared = http_mapping.request_of(
        {"method": "put", "url": "orders/SO-1", "json": {"total": Decimal("9.00"), "on": date(2025, 3, 3)}},
        "acme:order_out",
        BASE + "/",
    )

    assert prepared is not None
    assert (prepared.method, prepared.url) == ("PUT", "https://erp.example.com/api/orders/SO-1")
    assert json.loads(prepared.content) == {"total": "9.00", "on": "2025-03-03"}
    assert prepared.headers == {"Content-Type": "application/json"}
    assert http_mapping.request_of(None, "acme:order_out", BASE) is None


# ---- outbound: sending and the answers -------------------------------------------------------------------------


class Recorder:
    """What a system behind httpx's mock transport was sent, and the answer it gives."""

    def __init__(self, status: int = 200, headers: dict[str, str] | None = None, fail: Exception | None = None):
        self.status, self.headers, self.fail = status, headers or {}, fail
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail is not None:
            raise self.fail
        return httpx.Response(self.status, headers=self.headers, text="the system's own words")


def sender(
    recorder: Recorder,
    function: Callable[[Envelope], Any] = accepted_as_put,
    *,
    basic: tuple[str, str] | None = None,
    secret: str | None = None,
) -> HttpSender:
    http = HttpClient(timeout_seconds=5, max_connections=2, transport=httpx.MockTransport(recorder), basic=basic)
    return HttpSender("erp-out", loaded(function), BASE, http, concurrency=2, secret=secret)


def accepted_delivery(**overrides: Any) -> Delivery:
    event = make_envelope(data={"order": "SO-1001"})
    payload = {**event.model_dump(mode="json", exclude_none=True), "position": 7}
    return replace(make_delivery(payload=payload), **overrides)


@pytest.mark.parametrize(
    ("answer", "outcome", "retry_after"),
    [
        (Recorder(204), AttemptOutcome.DELIVERED, None),  # any 2xx
        (Recorder(503, {"Retry-After": "7"}), AttemptOutcome.RETRYABLE, 7.0),  # down for maintenance, says how long
        (Recorder(429), AttemptOutcome.RETRYABLE, None),  # too many requests
        (Recorder(408), AttemptOutcome.RETRYABLE, None),  # request timeout
        (Recorder(404), AttemptOutcome.PERMANENT, None),  # no such resource: trying again changes nothing
        (Recorder(422), AttemptOutcome.PERMANENT, None),  # a body the system refuses
        (Recorder(fail=httpx.ConnectError("refused")), AttemptOutcome.RETRYABLE, None),  # nobody listening
        (Recorder(fail=httpx.ReadTimeout("slow")), AttemptOutcome.RETRYABLE, None),  # no answer in time
    ],
)
def test_the_answer_decides_whether_a_delivery_is_retried(
    answer: Recorder, outcome: AttemptOutcome, retry_after: float | None
) -> None:
    [result] = sender(answer).send([accepted_delivery()])

    assert (result.outcome, result.retry_after_seconds) == (outcome, retry_after)
    if outcome is AttemptOutcome.PERMANENT:
        assert result.error is not None and "the system's own words" in result.error


def test_the_delivery_id_is_the_idempotency_key_whatever_the_mapping_says() -> None:
    recorder = Recorder()

    sender(recorder, with_its_own_idempotency_key).send([accepted_delivery(id="dlv-42")])

    [request] = recorder.requests
    assert request.headers["Idempotency-Key"] == "dlv-42"
    assert request.headers["X-Trace"] == "t-1", "the mapping's other headers are sent"


def test_basic_auth_and_the_signature_are_added_to_every_request() -> None:
    recorder = Recorder()

    sender(recorder, basic=("hub", "pw"), secret="s3cret").send([accepted_delivery()])

    [request] = recorder.requests
    assert request.headers["Authorization"] == "Basic aHViOnB3"
    assert request.headers["X-Crossdock-Signature"] == http_mapping.signature("s3cret", request.content)


def test_a_skipped_event_is_delivered_without_a_request() -> None:
    recorder = Recorder()
    skipped = make_envelope(type=catalog.OrderReceived.event_type, data={})

    [result] = sender(recorder).send([accepted_delivery(payload=skipped.model_dump(mode="json"))])

    assert (result.outcome, result.status_code) == (AttemptOutcome.DELIVERED, None)
    assert recorder.requests == []


def test_a_mapping_that_fails_dead_letters_the_delivery_naming_the_function() -> None:
    recorder = Recorder()

    [result] = sender(recorder, broken_outbound).send([accepted_delivery()])

    assert result.outcome is AttemptOutcome.PERMANENT
    assert result.error is not None and f"{HERE}:broken_outbound raised KeyError: 'total'" in result.error
    assert recorder.requests == []


# ---- limits a package declares for its own kind ------------------------------------------------------------------

PACKAGE = "acme_erp_connector"
PACKAGE_SOURCE = textwrap.dedent(
    """
    from crossdock.connectors import http
    from crossdock.connectors.registry import Limits

    CONNECTOR = http.connector(
        "acme-erp",
        outbound="erp_mapping:order_out",
        limits=Limits(rate_per_second=5, burst=10, concurrency=2, batch_size=3),
    )
    """
)


@pytest.fixture
def acme_erp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """A package that declares its ERP mapping as a kind of its own, installed as pip would leave it."""
    site = tmp_path / "site-packages"
    site.mkdir()
    (site / f"{PACKAGE}.py").write_text(PACKAGE_SOURCE, encoding="utf-8")
    info = site / f"{PACKAGE}-1.0.dist-info"
    info.mkdir()
    metadata = "Metadata-Version: 2.1\nName: acme-erp-connector\nVersion: 1.0\n"
    (info / "METADATA").write_text(metadata, encoding="utf-8")
    (info / "entry_points.txt").write_text(
        f"[crossdock.connectors]\nacme-erp = {PACKAGE}:CONNECTOR\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(site))
    yield __import__(PACKAGE)
    sys.modules.pop(PACKAGE, None)


def test_a_package_declared_http_kind_is_kept_within_its_declared_limits(tmp_path: Path, acme_erp: ModuleType) -> None:
    section = {"kind": "acme-erp", "options": {"path": str(EXAMPLE), "base_url": BASE, "concurrency": 8}}
    runtime = bootstrap.build(
        settings(tmp_path, destinations={"erp": section | {"rate_limit": {"per_second": 50, "burst": 50}}})
    )
    runtime.close()

    built = runtime.hub.outbox.destinations["erp"]
    assert built.rate_limit == retry.RateLimit(per_second=5, burst=10), "the configuration may not go past the rate"
    batched: Any = built.sender  # the runtime's batching around the connector's own sender
    assert batched.batch_size == 3, "the runtime hands it three deliveries at a time at most"
    assert batched.inner.concurrency == 2, "options.concurrency 8 must not override the declared 2"
    assert batched.inner.to_request.reference == "erp_mapping:order_out"


def test_a_package_declared_kind_without_an_inbound_function_cannot_be_a_source(
    tmp_path: Path, acme_erp: ModuleType
) -> None:
    with pytest.raises(config.ConfigError, match=r"sources\.erp\.kind: connector 'acme-erp' cannot be used here"):
        bootstrap.build(settings(tmp_path, sources={"erp": {"kind": "acme-erp"}}))


def test_the_example_estate_builds_with_the_mapping_its_readme_walks_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(EXAMPLE.parents[1])  # the estate's paths start at the repository's root, as its README says
    estate = config.load(EXAMPLE / "crossdock.yaml", environ={}, overrides={"data_dir": str(tmp_path)})

    runtime = bootstrap.build(estate)
    runtime.close()

    out: Any = runtime.hub.outbox.destinations["erp-out"]
    assert out.rate_limit == retry.RateLimit(per_second=10, burst=20)
    assert (out.sender.batch_size, out.sender.inner.concurrency) == (20, 4)
    assert out.sender.inner.to_request.reference == "erp_mapping:order_out"


def test_a_mapping_may_yield_its_events() -> None:
    def events() -> Iterator[Event]:
        yield Event(catalog.OrderCloseRequested.event_type, {"order": "SO-1", "reason": "done"})
        yield Event(catalog.OrderCloseRequested.event_type, {"order": "SO-2", "reason": "done"})

    found = http_mapping.events_of(events(), "acme:order_in", received({}), "key-1", "fallback")

    assert [e.subject for e in found] == ["SO-1", "SO-2"]
