"""Settings: one YAML file validated by pydantic, `${ENV_VAR}` for secrets, `CROSSDOCK_*` env overrides.

Read once by entrypoints and handed to bootstrap; nothing reads it at import time. Errors name the key and
the line of the file; secret values are never printed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from crossdock.connectors import registry as connectors
from crossdock.domain.accounting import AccountMap, ClosedPeriodPolicy
from crossdock.domain.documents import Customer, Item
from crossdock.domain.inventory import AuthorityRule, ChannelBuffers, ReservationPolicy
from crossdock.domain.procurement import MatchTolerance, Supplier
from crossdock.domain.workflows.order_to_cash import SlaStage
from crossdock.domain.workflows.procure_to_pay import ChangePolicy

ENV_PREFIX = "CROSSDOCK_"
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(Exception):
    """The configuration is not valid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StorageSettings(_Strict):
    url: SecretStr | None = Field(default=None, description="default: SQLite file crossdock.db in data_dir")
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    pool_size: int = Field(default=5, ge=1, le=100)


class HttpSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    intake_batch_ms: float = Field(default=2.0, ge=0, le=1000, description="group-commit window at intake")
    intake_batch_size: int = Field(default=500, ge=1)


class ApiSettings(_Strict):
    auth: Literal["required", "off"] = Field(
        default="required", description="required: every /v1 route needs an API key (crossdock keys create); off: none"
    )
    key_cache_seconds: float = Field(
        default=5.0, ge=0, description="how long a process trusts a key it has read: a revocation takes this long"
    )


class WorkerSettings(_Strict):
    shards: int = Field(default=16, ge=1, le=4096)
    batch_size: int = Field(default=200, ge=1, le=10_000)
    lease_seconds: float = Field(default=15.0, gt=0)
    idle_sleep_ms: float = Field(default=20.0, ge=0)
    send_concurrency: int = Field(default=16, ge=1, description="open connections per webhook destination")


class RetentionSettings(_Strict):
    messages_days: float = Field(default=30, gt=0)
    events_days: float = Field(default=90, gt=0)
    deliveries_days: float = Field(default=30, gt=0)
    timers_days: float = Field(default=7, gt=0)
    every_minutes: float = Field(default=60, gt=0)


def _installed_connector(kind: str) -> str:
    # Only the names are read here; bootstrap loads the connector and checks it has the side the section needs.
    installed = connectors.installed_kinds()
    if kind not in installed:
        raise ValueError(f"no connector of kind {kind!r} is installed (installed: {', '.join(installed) or 'none'})")
    return kind


ConnectorKind = Annotated[str, AfterValidator(_installed_connector)]


class SourceSettings(_Strict):
    kind: ConnectorKind = Field(
        default="generic",
        description="generic: any JSON or raw payload wrapped in `event_type`; canonical: the catalogue's documents; "
        "edi: X12 or EDIFACT interchanges of the trading partner named by `partner`; or any installed connector",
    )
    options: dict[str, Any] = Field(default_factory=dict, description="the connector's own settings")
    partner: str | None = Field(default=None, description="edi: the trading partner (a key of `partners`)")
    format: Literal["json", "raw"] = "json"
    event_type: str | None = Field(
        default=None,
        description="generic: the type of every event (default crossdock.message.received.v1); canonical: the type "
        "of bare payloads when the sender gives no ce-type header",
    )
    document_field: str | None = Field(
        default=None, description="canonical: a bare document is this field of the event's data, e.g. order"
    )
    subject_field: str = "id"
    partition_field: str | None = None
    id_field: str | None = None
    expect_every_minutes: float | None = Field(
        default=None, gt=0, description="silence longer than this opens a source-silent exception; null: never"
    )
    poll_seconds: float | None = Field(
        default=None,
        gt=0,
        description="sources the hub polls (kind tryton, an edi partner's folder): seconds between two polls; "
        "null: the connector's default (an edi partner's transport.poll_seconds)",
    )


class RetrySettings(_Strict):
    base_seconds: float = Field(default=1.0, gt=0)
    max_delay_seconds: float = Field(default=300.0, gt=0)
    max_attempts: int = Field(default=10, ge=1)
    max_age_hours: float = Field(default=24.0, gt=0)


class BreakerSettings(_Strict):
    failure_threshold: int = Field(default=5, ge=1)
    reset_seconds: float = Field(default=30.0, gt=0)


class RateLimitSettings(_Strict):
    per_second: float = Field(gt=0)
    burst: float = Field(ge=1)


class DestinationSettings(_Strict):
    kind: ConnectorKind = Field(description="webhook, jsonl, edi, or any installed connector")
    enabled: bool = Field(
        default=True,
        description="false: not wired, and its subscriptions queue nothing (e.g. CROSSDOCK_DESTINATIONS__ERP__ENABLED"
        "=false while that system is not there)",
    )
    options: dict[str, Any] = Field(default_factory=dict, description="the connector's own settings")
    partner: str | None = Field(default=None, description="edi: the trading partner whose transport gets the files")
    url: str | None = None
    path: str | None = None
    secret: SecretStr | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="sent with every request (may hold tokens)")
    timeout_seconds: float = Field(default=10.0, gt=0)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    rate_limit: RateLimitSettings | None = None

    @model_validator(mode="after")
    def _target_given(self) -> DestinationSettings:
        if self.kind == "webhook" and not self.url:
            raise ValueError("a webhook destination needs a url")
        if self.kind == "jsonl" and not self.path:
            raise ValueError("a jsonl destination needs a path")
        if self.kind == "edi" and not self.partner:
            raise ValueError("an edi destination needs a partner")
        return self


class OrdersSettings(_Strict):
    reservation_policy: ReservationPolicy = ReservationPolicy.FEWEST_SHIPMENTS
    locations: list[str] = Field(default_factory=list, description="preference order; empty: every location")
    price_tolerance_percent: Decimal = Field(default=Decimal(0), ge=0, le=100)
    sla_minutes: dict[SlaStage, float] = Field(
        default_factory=dict, description="minutes per stage before an exception opens; unset stages keep defaults"
    )
    hub_invoices: bool = Field(default=True, description="false: an ERP posts invoices and the hub follows them")
    tax_rate: Decimal = Field(default=Decimal(0), ge=0, lt=1)
    invoice_prefix: str = "INV-"


class InventorySettings(_Strict):
    channels: list[str] = Field(default_factory=list, description="channels that get availability_changed events")
    buffers: ChannelBuffers = Field(default_factory=ChannelBuffers)
    authority: list[AuthorityRule] = Field(default_factory=list)
    availability_window_seconds: float = Field(default=1.0, gt=0)


class AccountingSettings(_Strict):
    ledger: str = "main"
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$", description="the currency stock is valued in")
    accounts: AccountMap | None = Field(default=None, description="without accounts nothing is posted")
    closed_period_policy: ClosedPeriodPolicy = ClosedPeriodPolicy.NEXT_OPEN_PERIOD
    unit_costs: dict[str, Decimal] = Field(default_factory=dict, description="sku -> cost per base unit")


class PriceListSettings(_Strict):
    currency: str
    prices: dict[str, Decimal]


class ReferenceSettings(_Strict):
    customers: list[Customer] = Field(default_factory=list, description="empty: every customer is known, no limit")
    items: list[Item] = Field(default_factory=list)
    price_lists: dict[str, PriceListSettings] = Field(default_factory=dict, description="empty: channel prices stand")
    default_price_list: str | None = None


class ProcurementSettings(_Strict):
    suppliers: list[Supplier] = Field(
        default_factory=list, description="the supplier master: currency and invoice match tolerance per supplier"
    )
    default_tolerance: MatchTolerance = Field(
        default_factory=MatchTolerance, description="the match tolerance of suppliers the master does not list"
    )
    changes: ChangePolicy = Field(
        default_factory=ChangePolicy, description="what a supplier's acknowledgement may change without procurement"
    )
    acknowledge_within_hours: float = Field(default=48, gt=0, description="after the PO reached the supplier")
    notice_lead_hours: float = Field(default=24, ge=0, description="a ship notice is due this long before the goods")
    receipt_grace_hours: float = Field(default=24, ge=0, description="goods may come this long after the notice's day")
    sent_on: Literal["release", "transmission"] = Field(
        default="release",
        description="release: a PO counts as sent when the hub publishes purchaseorder.released; transmission: when "
        "the supplier's channel reports purchaseorder.transmitted",
    )


class PartnerFolderSettings(_Strict):
    inbound: str = "inbound"
    outbound: str = "outbound"
    archive: str = "archive"
    error: str = "error"


class PartnerSftpSettings(_Strict):
    host: str
    port: int = Field(default=22, ge=1, le=65535)
    username: str
    known_hosts: str = Field(description="an OpenSSH known_hosts file holding the server's key (always checked)")
    key_path: str | None = None
    passphrase: SecretStr | None = None
    password: SecretStr | None = None
    root: str = "."


class PartnerTransportSettings(_Strict):
    """Where a partner's files are: a local or mounted folder (`path`), or an SFTP account (`sftp`)."""

    path: str | None = Field(default=None, description="a folder holding the partner's four folders")
    sftp: PartnerSftpSettings | None = None
    folders: PartnerFolderSettings = Field(default_factory=PartnerFolderSettings)
    poll_seconds: float = Field(default=5.0, gt=0)
    settle_seconds: float = Field(default=2.0, ge=0)
    expect_every_minutes: float | None = Field(
        default=None, gt=0, description="no inbound file for longer than this opens a source-silent exception"
    )

    @model_validator(mode="after")
    def _one_place(self) -> PartnerTransportSettings:
        if (self.path is None) == (self.sftp is None):
            raise ValueError("a partner transport is either a folder `path` or `sftp`, exactly one of them")
        return self


class PartnerItemIdSettings(_Strict):
    qualifier: str = Field(pattern=r"^[A-Z0-9]{2,3}$")
    cross_reference: dict[str, str] | None = None


class PartnerSettings(_Strict):
    """A trading partner's EDI profile: converted to the mappings' rules in connectors/edi/profiles.py."""

    standard: Literal["x12", "edifact"] = "x12"
    role: Literal["customer", "supplier", "3pl"] = Field(
        description="customer: their 850/ORDERS are sales orders; supplier: they answer our POs; 3pl: our warehouse"
    )
    id: str = Field(min_length=1, max_length=35, description="their interchange id (ISA06 / UNB sender)")
    qualifier: str = "ZZ"
    our_id: str = Field(min_length=1, max_length=35)
    our_qualifier: str = "ZZ"
    application_id: str | None = Field(default=None, description="their GS02/GS03 when not their interchange id")
    our_application_id: str | None = None
    version: str = Field(default="004010", description="X12 GS08 (004010, 005010VICS...); EDIFACT e.g. D96A")
    usage: Literal["P", "T"] = "P"
    separators: dict[str, str] = Field(
        default_factory=dict, description="outbound: element, component, segment, repetition (X12)"
    )
    item_ids: list[PartnerItemIdSettings] = Field(default_factory=list, description="preference order; empty: default")
    units: dict[str, str] = Field(default_factory=dict, description="their unit code -> ours, added to the defaults")
    leniency: Literal["default", "strict", "lenient"] = "default"
    quirks: dict[str, str | bool] = Field(
        default_factory=dict, description="per-quirk overrides of the leniency preset: refuse|warn|accept, or bool"
    )
    timezone: str = "UTC"
    currency: str | None = None
    channel: str = "edi"
    customer: str | None = Field(default=None, description="our customer number for a customer partner")
    supplier: str | None = Field(default=None, description="our supplier number for a supplier partner")
    location: str | None = Field(default=None, description="our location code for a 3PL partner's warehouse")
    transit_days: int | None = Field(default=None, ge=0)
    transport: PartnerTransportSettings | None = None
    control_number_start: int = Field(default=1, ge=1, le=999_999_999)
    control_number_wrap: int = Field(
        default=999_999_999,
        ge=1,
        le=999_999_999,
        description="the last interchange and group control number; the next one is control_number_start again",
    )
    acknowledge_within_minutes: int | None = Field(
        default=24 * 60,
        ge=1,
        description="how long the partner has to answer an interchange with a 997 / CONTRL; null: none expected",
    )

    @model_validator(mode="after")
    def _control_numbers_in_range(self) -> PartnerSettings:
        if self.control_number_start > self.control_number_wrap:
            raise ValueError(
                f"control_number_start ({self.control_number_start}) is above control_number_wrap "
                f"({self.control_number_wrap})"
            )
        return self


class ObservabilitySettings(_Strict):
    exporter: Literal["none", "console", "otlp"] = Field(
        default="none", description="where OpenTelemetry spans go; otlp needs the extra: pip install 'crossdock[otlp]'"
    )
    endpoint: str | None = Field(default=None, description="otlp: the collector's traces URL (default: the SDK's)")
    service_name: str = "crossdock"
    metrics_refresh_seconds: float = Field(
        default=5.0, ge=0, description="database gauges at /metrics are read at most this often"
    )
    watch_every_minutes: float = Field(default=1.0, gt=0, description="how often sources are checked for silence")
    failing_share: float = Field(
        default=0.5, gt=0, le=1, description="share of a source's messages failed or dead-lettered: source-failing"
    )
    failing_at_least: int = Field(default=5, ge=1, description="fewer messages than this in the window never count")
    failing_window_minutes: float = Field(default=60, gt=0)

    @model_validator(mode="after")
    def _endpoint_for_otlp(self) -> ObservabilitySettings:
        if self.endpoint is not None and self.exporter != "otlp":
            raise ValueError("endpoint is only read by the otlp exporter")
        return self


class SubscriptionSettings(_Strict):
    destination: str
    events: list[str] = Field(min_length=1)


# Connectors whose shops take the money when the order is placed: their payments are prepayments.
PREPAYING_KINDS = frozenset({"shopify"})


class Settings(_Strict):
    data_dir: Path = Path("./var")
    storage: StorageSettings = Field(default_factory=StorageSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    sources: dict[str, SourceSettings] = Field(default_factory=dict)
    destinations: dict[str, DestinationSettings] = Field(default_factory=dict)
    subscriptions: list[SubscriptionSettings] = Field(default_factory=list)
    orders: OrdersSettings = Field(default_factory=OrdersSettings)
    inventory: InventorySettings = Field(default_factory=InventorySettings)
    accounting: AccountingSettings = Field(default_factory=AccountingSettings)
    reference: ReferenceSettings = Field(default_factory=ReferenceSettings)
    procurement: ProcurementSettings = Field(default_factory=ProcurementSettings)
    partners: dict[str, PartnerSettings] = Field(default_factory=dict)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)

    @model_validator(mode="after")
    def _partners_named_exist(self) -> Settings:
        named = [(f"sources.{n}", s.partner) for n, s in self.sources.items() if s.kind == "edi"]
        named += [(f"destinations.{n}", d.partner) for n, d in self.destinations.items() if d.kind == "edi"]
        for where, partner in named:
            if partner not in self.partners:
                raise ValueError(
                    f"{where} names partner {partner!r}, which is not configured (known: {sorted(self.partners)})"
                )
        return self

    @model_validator(mode="after")
    def _subscriptions_point_somewhere(self) -> Settings:
        for index, subscription in enumerate(self.subscriptions):
            if subscription.destination not in self.destinations:
                raise ValueError(
                    f"subscriptions[{index}] names destination {subscription.destination!r}, "
                    f"which is not configured (known: {sorted(self.destinations)})"
                )
        return self

    @model_validator(mode="after")
    def _prepayments_have_a_deposit_account(self) -> Settings:
        accounts = self.accounting.accounts
        if accounts is None or accounts.customer_deposit is not None:
            return self
        for name, source in self.sources.items():
            if source.kind in PREPAYING_KINDS:
                raise ValueError(
                    f"accounting.accounts.customer_deposit is needed: sources.{name} (kind {source.kind}) takes the "
                    "money at checkout, before the hub invoices, and that money is held on a customer deposit account "
                    "until the order's invoices post"
                )
        return self

    @property
    def database_url(self) -> str:
        if self.storage.url is not None:
            return self.storage.url.get_secret_value()
        return f"sqlite:///{self.data_dir / 'crossdock.db'}"


def load(
    path: Path | None = None, environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Read the file (if any), resolve `${VAR}`, apply CROSSDOCK_* env and explicit overrides, validate."""
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    lines: dict[tuple[str, ...], int] = {}
    if path is not None:
        raw, lines = _read_yaml(path)
        raw = _resolve_env(raw, environ, (), lines, path)
    for dotted, value in _env_overrides(environ).items():
        _set(raw, dotted, value)
    for name, value in (overrides or {}).items():
        _set(raw, tuple(name.split(".")), value)
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, lines, path)) from None
    return settings


def _read_yaml(path: Path) -> tuple[dict[str, Any], dict[tuple[str, ...], int]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc.strerror}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # Only the problem and its place: PyYAML's full message quotes the line, which may hold a secret.
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise ConfigError(f"{path}{where}: not valid YAML: {problem}") from None
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} line 1: the configuration must be a mapping of keys")
    lines: dict[tuple[str, ...], int] = {}
    if node is not None:
        _index_lines(node, (), lines)
    return data, lines


def _index_lines(node: yaml.Node, at: tuple[str, ...], lines: dict[tuple[str, ...], int]) -> None:
    lines[at] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            lines[(*at, str(key.value))] = key.start_mark.line + 1
            _index_lines(value, (*at, str(key.value)), lines)
            lines[(*at, str(key.value))] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, (*at, str(index)), lines)


def _resolve_env(
    value: Any, environ: Mapping[str, str], at: tuple[str, ...], lines: dict[tuple[str, ...], int], path: Path
) -> Any:
    if isinstance(value, dict):
        return {k: _resolve_env(v, environ, (*at, str(k)), lines, path) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_env(v, environ, (*at, str(i)), lines, path) for i, v in enumerate(value)]
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in environ:
                raise ConfigError(
                    f"{path} line {_line(lines, at)}: {'.'.join(at)} refers to ${{{name}}}, "
                    "which is not set in the environment"
                )
            return environ[name]

        return ENV_REFERENCE.sub(substitute, value)
    return value


def _env_overrides(environ: Mapping[str, str]) -> dict[tuple[str, ...], str]:
    """CROSSDOCK_STORAGE__URL=... sets storage.url; double underscores separate levels."""
    found: dict[tuple[str, ...], str] = {}
    for name, value in environ.items():
        if (name.startswith(ENV_PREFIX) and "__" in name[len(ENV_PREFIX) :]) or name == "CROSSDOCK_DATA_DIR":
            dotted = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
            found[dotted] = value
    return found


def _set(raw: dict[str, Any], dotted: tuple[str, ...], value: Any) -> None:
    target = raw
    for part in dotted[:-1]:
        child = target.get(part)
        if not isinstance(child, dict):
            child = {}
            target[part] = child
        target = child
    target[dotted[-1]] = value


def _line(lines: Mapping[tuple[str, ...], int], at: tuple[str, ...]) -> int:
    for end in range(len(at), -1, -1):
        if at[:end] in lines:
            return lines[at[:end]]
    return 1


def _describe(exc: ValidationError, lines: Mapping[tuple[str, ...], int], path: Path | None) -> str:
    problems = []
    for error in exc.errors():
        at = tuple(str(part) for part in error["loc"])
        key = ".".join(at) or "(top level)"
        where = f"{path} line {_line(lines, at)}: " if path is not None else ""
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        # Never echo the offending input: it may be a secret.
        problems.append(f"{where}{key}: {message}")
    return "invalid configuration:\n  " + "\n  ".join(problems)
