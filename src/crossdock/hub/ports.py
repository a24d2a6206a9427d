"""The ports the hub needs from the outside world, as Protocols, and the records that cross them.

Owns: the shapes of stored messages, deliveries, timers and endpoint state. Must not: import storage or
connectors; storage/ implements these, connectors/ implement Sender and InboundAdapter.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from crossdock.domain.accounting import JournalEntry
from crossdock.domain.accounting import LedgerState as AccountingLedger
from crossdock.domain.events import Envelope
from crossdock.domain.inventory import LedgerEntry, LedgerState, Movement, Reservation


class MessageStatus(StrEnum):
    PENDING = "pending"
    PROCESSED = "processed"
    FAILED = "failed"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


class IntakeStatus(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"


class AttemptOutcome(StrEnum):
    DELIVERED = "delivered"
    RETRYABLE = "retryable"
    PERMANENT = "permanent"


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class NewMessage:
    """An inbound message as received, before it is stored."""

    source: str
    key: str
    payload_hash: str
    body: bytes
    headers: Mapping[str, str]
    received_at: datetime
    partition_key: str
    shard: int
    status: MessageStatus = MessageStatus.PENDING
    error: str | None = None


@dataclass(frozen=True)
class StoredMessage:
    id: int
    source: str
    key: str
    payload_hash: str
    body: bytes
    headers: Mapping[str, str]
    received_at: datetime
    partition_key: str
    shard: int
    status: MessageStatus
    error: str | None
    replays: int
    processed_at: datetime | None


@dataclass(frozen=True)
class IntakeResult:
    """What intake tells the sender: the first outcome for this key, and whether this was a repeat."""

    status: IntakeStatus
    message_id: int
    message_status: MessageStatus
    received_at: datetime
    error: str | None = None


@dataclass(frozen=True)
class StoredEvent:
    position: int
    envelope: Envelope
    message_id: int | None


@dataclass(frozen=True)
class NewDelivery:
    id: str
    event_id: str
    event_type: str
    subject: str
    destination: str
    partition_key: str
    shard: int
    payload: Mapping[str, Any]
    created_at: datetime
    next_attempt_at: datetime


@dataclass(frozen=True)
class Delivery:
    id: str
    event_id: str
    event_type: str
    subject: str
    destination: str
    partition_key: str
    shard: int
    payload: Mapping[str, Any]
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_error: str | None
    delivered_at: datetime | None
    queued_at: datetime  # start of the current round of attempts: creation, or the last replay
    replays: int = 0


@dataclass(frozen=True)
class Attempt:
    delivery_id: str
    number: int
    at: datetime
    outcome: AttemptOutcome
    status_code: int | None
    error: str | None
    duration_ms: float
    round: int = 0  # how many replays came before it: attempt numbers restart with each replay


@dataclass(frozen=True)
class DeliveryUpdate:
    """The recorded result of one send, applied in the same transaction as the attempt row."""

    delivery_id: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    delivered_at: datetime | None
    attempt: Attempt | None


@dataclass
class EndpointState:
    """Circuit breaker and token bucket of one endpoint, shared by every worker through storage."""

    endpoint: str
    breaker: BreakerState = BreakerState.CLOSED
    failures: int = 0
    open_until: datetime | None = None
    tokens: float = -1.0  # negative: the bucket has never been used and starts full
    tokens_at: datetime | None = None


@dataclass(frozen=True)
class Timer:
    key: str
    kind: str
    due_at: datetime
    payload: Mapping[str, Any] = field(default_factory=dict)
    fired_at: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class ReplayRecord:
    kind: str  # "delivery" or "message"
    target: str
    at: datetime
    actor: str
    note: str = ""


@dataclass(frozen=True)
class DeliveryFilter:
    destination: str | None = None
    event_type: str | None = None
    error_contains: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    status: DeliveryStatus | None = DeliveryStatus.DEAD
    limit: int = 100


class Clock(Protocol):
    def now(self) -> datetime: ...


class InboxStore(Protocol):
    def add(self, messages: Sequence[NewMessage]) -> list[IntakeResult]:
        """Store each message unless its (source, key) exists; report the first outcome for repeats."""

    def get(self, message_id: int) -> StoredMessage | None: ...

    def pending(self, shards: Sequence[int], limit: int) -> list[StoredMessage]:
        """Pending messages of these shards, oldest first."""

    def mark(self, message_ids: Sequence[int], status: MessageStatus, error: str | None, at: datetime) -> None: ...

    def requeue(self, message_id: int) -> bool:
        """Put a failed message back to pending for another try; False if it was not failed."""

    def find(
        self,
        *,
        source: str | None = None,
        status: MessageStatus | None = None,
        key: str | None = None,
        limit: int = 100,
    ) -> list[StoredMessage]: ...

    def counts(self) -> dict[str, int]: ...

    def prune(self, before: datetime) -> int:
        """Delete processed messages received before the cut-off; never pending or failed ones."""


class EventLog(Protocol):
    def append(self, entries: Sequence[tuple[Envelope, int | None]]) -> list[int]:
        """Append events (each with the message it came from) in order; positions are global, gap-free and
        never reused."""

    def read(self, after: int, limit: int) -> list[StoredEvent]: ...

    def for_subject(self, subject: str, limit: int = 200) -> list[StoredEvent]: ...

    def for_message(self, message_id: int) -> list[StoredEvent]: ...

    def get(self, event_id: str) -> StoredEvent | None: ...

    def head(self) -> int: ...

    def prune(self, before: datetime) -> int:
        """Delete events older than the cut-off whose deliveries are all delivered."""


class OutboxStore(Protocol):
    def enqueue(self, deliveries: Sequence[NewDelivery]) -> int:
        """Insert deliveries; an existing id is left as it is (re-processing is harmless)."""

    def due(self, shards: Sequence[int], now: datetime, limit: int) -> list[Delivery]:
        """Pending deliveries of these shards due by now, oldest first, skipping any that must wait
        behind an earlier pending delivery of the same destination and partition."""

    def postpone(self, delivery_ids: Sequence[str], until: datetime) -> None:
        """Move due time without charging an attempt (open breaker, empty bucket)."""

    def resume(self, destination: str, held_until: datetime, now: datetime) -> int:
        """Make due now the destination's pending deliveries that were held back until exactly `held_until`
        (a breaker probe's deadline) once the probe succeeded; returns how many."""

    def record(self, updates: Sequence[DeliveryUpdate]) -> None: ...

    def get(self, delivery_id: str) -> Delivery | None: ...

    def attempts(self, delivery_id: str) -> list[Attempt]: ...

    def find(self, flt: DeliveryFilter) -> list[Delivery]: ...

    def for_event(self, event_id: str) -> list[Delivery]: ...

    def revive(self, delivery_id: str, now: datetime, payload: Mapping[str, Any] | None) -> bool:
        """Dead -> pending (optionally with an edited payload); False if it was not dead."""

    def counts(self) -> dict[str, int]: ...

    def prune(self, before: datetime) -> int:
        """Delete delivered rows (and their attempts) delivered before the cut-off."""


class EndpointStore(Protocol):
    def load(self, endpoint: str) -> EndpointState:
        """The state, locked for this unit of work where the backend can lock rows."""

    def save(self, state: EndpointState) -> None: ...

    def all(self) -> list[EndpointState]: ...


INBOX_POOL = "inbox"  # shard leases for processing inbound messages
OUTBOX_POOL = "outbox"  # shard leases for sending deliveries


class LeaseStore(Protocol):
    """Shard leases per pool ('inbox', 'outbox'): one owner per shard at a time, with an expiry."""

    def rebalance(self, pool: str, owner: str, shards: int, now: datetime, ttl_seconds: float) -> list[int]:
        """Renew this owner's leases, take or give up shards toward a fair share; returns owned shards."""

    def hold(self, pool: str, owner: str, shards: Sequence[int]) -> list[int]:
        """Fence: the given shards this owner still holds, locked for this unit of work where the backend
        locks rows. It does not renew them: rebalance does."""

    def release(self, pool: str, owner: str) -> None: ...

    def owners(self, now: datetime) -> dict[str, dict[str, int]]:
        """Live owners per pool with how many shards each holds."""


class TimerStore(Protocol):
    def schedule(self, timer: Timer) -> bool:
        """Add a timer unless its key exists; True if added."""

    def due(self, now: datetime, limit: int) -> list[Timer]:
        """Unfired timers due by now, claimed for this unit of work."""

    def fire(self, key: str, at: datetime) -> None: ...

    def delay(self, key: str, until: datetime, error: str) -> None:
        """A timer whose job failed waits and tries again; the error is kept on it."""

    def cancel(self, key: str) -> bool: ...

    def pending(self, limit: int = 100) -> list[Timer]: ...

    def prune(self, before: datetime) -> int: ...


class ReplayLog(Protocol):
    def add(self, record: ReplayRecord) -> None: ...

    def recent(self, limit: int = 100) -> list[ReplayRecord]: ...


class UnitOfWork(Protocol):
    """One database transaction. Leaving the block without commit() rolls everything back."""

    inbox: InboxStore
    log: EventLog
    outbox: OutboxStore
    endpoints: EndpointStore
    leases: LeaseStore
    timers: TimerStore
    replays: ReplayLog
    orders: OrderStore
    inventory: InventoryStore
    journal: JournalStore
    exceptions: ExceptionStore
    links: LinkStore
    keys: KeyStore
    audit: AuditLog
    purchase_orders: PurchaseOrderStore
    xrefs: CrossReferenceStore
    watermarks: WatermarkStore
    control_numbers: ControlNumberStore
    interchanges: InterchangeStore
    master_records: MasterDataStore
    reconciliations: ReconciliationStore

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(self, *exc: object) -> None: ...

    def commit(self) -> None: ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested scope: an exception inside undoes only the work done inside."""


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


@dataclass(frozen=True)
class Identity:
    """How an inbound message is known before it is mapped: its dedupe key and its partition."""

    key: str | None
    business_key: str | None = None
    partition_key: str | None = None


class InboundAdapter(Protocol):
    """A connector's inbound side for one source: identify cheaply at intake, map fully in a worker."""

    def identify(self, body: bytes, headers: Mapping[str, str]) -> Identity: ...

    def to_events(self, message: StoredMessage) -> list[Envelope]: ...


@dataclass(frozen=True)
class SendResult:
    delivery_id: str
    outcome: AttemptOutcome
    status_code: int | None = None
    error: str | None = None
    retry_after_seconds: float | None = None
    duration_ms: float = 0.0


class Sender(Protocol):
    """A connector's outbound side for one destination; sends many at once, never raises per item."""

    def send(self, deliveries: Sequence[Delivery]) -> list[SendResult]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Polled:
    """What one poll of another system took into intake: the worker counts `taken_in` per source and logs the rest."""

    taken_in: int = 0  # messages new to intake
    already_had: int = 0  # read again (an overlap, a resent file): intake answered duplicate
    refused: int = 0  # could not be taken in and set aside with a reason (a file moved to error, a record edited)
    error: str | None = None  # the system could not be read this time; the next poll tries again
    note: str = ""  # anything more worth a log line

    @property
    def busy(self) -> bool:
        return bool(self.taken_in or self.refused or self.error)


@runtime_checkable
class Poller(Protocol):
    """A connector's side that reads its system into one source's intake, for systems that do not post to the hub
    (an ERP's changes since a watermark, a partner's folder). The worker calls `poll()` from one thread every `every`
    seconds and `close()` once at shutdown. `poll()` stores what it read durably before it moves its own marker on
    (a crash re-reads, intake answers duplicate) and reports trouble with its system in `error`, never by raising."""

    @property
    def source(self) -> str: ...

    @property
    def every(self) -> float: ...

    def poll(self) -> Polled: ...

    def close(self) -> None: ...


# ---------------------------------------------------------------------------------------------------------------
# Business state the order-to-cash handlers keep: orders, the stock ledger, the journal, exceptions and links.
# ---------------------------------------------------------------------------------------------------------------


class ConcurrentUpdate(Exception):
    """Someone else changed the row since it was read; the whole round is retried, nothing is half-applied."""


@dataclass(frozen=True)
class OrderRecord:
    """One order's workflow state as stored: `state` is the JSON form of the domain's OrderState. `version` is 0
    for an order not stored yet and grows by one per save; a save from a stale version is a ConcurrentUpdate."""

    order_id: str
    status: str
    state: Mapping[str, Any]
    version: int = 0
    channel: str | None = None
    customer_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class OrderFilter:
    status: str | None = None
    channel: str | None = None
    customer_id: str | None = None
    updated_before: datetime | None = None
    limit: int = 100


class OrderStore(Protocol):
    def load(self, order_id: str) -> OrderRecord | None: ...

    def save(self, record: OrderRecord, at: datetime) -> OrderRecord:
        """Insert (version 0) or update (the version read): returns the record with its new version."""

    def find(self, flt: OrderFilter) -> list[OrderRecord]:
        """Newest update first."""

    def counts(self) -> dict[str, int]:
        """Orders per status."""


class InventoryStore(Protocol):
    """The stock ledger's rows: positions (on-hand, in transit) per sku x location, reservations per order line,
    and the movements recorded. Reserved quantities are never stored on positions: they are derived from the
    reservations when the ledger is loaded, so the two cannot disagree."""

    def load(self, skus: Sequence[str], *, lock: bool = False, lines: Sequence[tuple[str, str]] = ()) -> LedgerState:
        """Positions and open reservations of these skus (holding stock or waiting for it), plus the reservations
        of the (order id, line id) pairs in `lines` whatever their state. Settled reservations are left out so that
        loading costs what is open, not the history. With `lock`, the positions are locked first (on servers
        that lock rows) so that two reservations for the last units cannot both succeed."""

    def recorded(self, movement_ids: Sequence[str]) -> list[Movement]:
        """The movements among these ids that are already recorded."""

    def save(self, before: LedgerState, after: LedgerState, entries: Sequence[LedgerEntry], at: datetime) -> None:
        """Write what changed from `before` to `after` (positions, reservations) and the new movements."""

    def positions(
        self, *, sku: str | None = None, location: str | None = None, after: tuple[str, str] | None = None, limit: int
    ) -> LedgerState:
        """A page of positions (ordered by sku, location, starting after `after`) with every reservation of
        their skus, for availability queries and reconciliation."""

    def backordered(self, sku: str, limit: int = 100) -> list[Reservation]:
        """Reservations of this sku still waiting for stock, oldest first."""


class JournalStore(Protocol):
    def ledger(self, ledger: str, entry_ids: Sequence[str]) -> AccountingLedger:
        """What posting needs: the last sequence (its row locked until commit, so sequences stay gap-free),
        which of `entry_ids` are already posted, and the closed periods."""

    def add(self, ledger: str, entries: Sequence[JournalEntry], last_sequence: int, at: datetime) -> None:
        """Store posted entries (sequenced) and move the ledger's last sequence."""

    def entries(self, ledger: str, *, after_sequence: int = 0, limit: int = 1000) -> list[JournalEntry]: ...

    def for_source(self, document_number: str) -> list[JournalEntry]: ...

    def close_period(self, ledger: str, period: str) -> None: ...

    def reopen_period(self, ledger: str, period: str) -> None: ...


class ExceptionStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class ExceptionAction:
    action: str  # retry, override, cancel, accept (catalog.ExceptionAction)
    actor: str
    at: datetime
    note: str = ""


@dataclass(frozen=True)
class BusinessException:
    """Something a person must decide: who (owner), why (reason code), about what (business object)."""

    id: str
    owner: str
    reason_code: str
    about_kind: str
    about_key: str
    message: str
    opened_at: datetime
    status: ExceptionStatus = ExceptionStatus.OPEN
    resolved_at: datetime | None = None
    actions: tuple[ExceptionAction, ...] = ()


@dataclass(frozen=True)
class ExceptionFilter:
    status: ExceptionStatus | None = ExceptionStatus.OPEN
    owner: str | None = None
    about_key: str | None = None
    reason_code: str | None = None
    limit: int = 100


class ExceptionStore(Protocol):
    def open(self, exception: BusinessException) -> bool:
        """Store it unless one with this id exists (opening again changes nothing); True when stored."""

    def get(self, exception_id: str) -> BusinessException | None: ...

    def act(self, exception_id: str, action: ExceptionAction, *, resolve: bool) -> BusinessException | None:
        """Record an action taken; `resolve` closes the exception. None when there is no such exception."""

    def find(self, flt: ExceptionFilter) -> list[BusinessException]:
        """Oldest first."""

    def counts(self) -> dict[str, int]:
        """Open exceptions per owner."""


class LinkStore(Protocol):
    """Which business object another one belongs to (an invoice's order), and events parked until a link they
    need exists (a payment for an invoice not seen yet)."""

    def link(self, kind: str, key: str, target: str) -> None:
        """Idempotent; linking the same key to another target raises ValueError."""

    def target(self, kind: str, key: str) -> str | None: ...

    def park(self, kind: str, key: str, event: Envelope, at: datetime) -> None:
        """Keep the event until `kind`/`key` is linked; parking it again keeps one copy."""

    def unpark(self, kind: str, key: str) -> list[Envelope]:
        """Take (and forget) the events waiting for this key, oldest first."""

    def parked(self, limit: int = 100) -> list[tuple[str, str, Envelope]]: ...


# ---------------------------------------------------------------------------------------------------------------
# Connectors' own state: ids across systems, how far a poller has read, and partners' control numbers.
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrossReference:
    """One business object known under two ids: the hub's and another system's (a hub order and its Tryton sale).
    `kind` is customer, item, location, order, purchase_order, shipment, invoice...; `system` names the other
    system as configured (a source or destination name)."""

    kind: str
    system: str
    hub_id: str
    external_id: str
    created_at: datetime | None = None


class CrossReferenceStore(Protocol):
    def link(self, ref: CrossReference, at: datetime) -> None:
        """Idempotent. One to one per kind and system: linking either id to a different partner raises ValueError."""

    def external_id(self, kind: str, system: str, hub_id: str) -> str | None: ...

    def hub_id(self, kind: str, system: str, external_id: str) -> str | None: ...

    def of(self, hub_id: str) -> list[CrossReference]:
        """Every system's id for this hub id (any kind), oldest link first."""

    def find(self, kind: str | None = None, system: str | None = None, limit: int = 100) -> list[CrossReference]:
        """Oldest link first."""


class WatermarkStore(Protocol):
    """How far a poller has read another system (a timestamp, an id, a cursor: opaque text), per connector and
    stream. Advanced in the same transaction as the messages the poll took in, so a crash re-reads, never skips."""

    def get(self, connector: str, stream: str) -> str | None: ...

    def advance(self, connector: str, stream: str, value: str, at: datetime) -> None: ...

    def all(self) -> dict[tuple[str, str], tuple[str, datetime]]:
        """Every watermark with when it last moved."""


class ControlNumberStore(Protocol):
    """Control-number sequences per trading partner and kind (ISA13, GS06, ST02, UNB05...). Gap-free: a number is
    taken inside the caller's transaction and locked until it ends, so concurrent senders never share one and a
    rolled-back send gives its number back."""

    def take(self, partner: str, kind: str, *, first: int = 1, last: int = 999_999_999) -> int:
        """The next number (after `last` comes `first` again)."""

    def current(self, partner: str, kind: str) -> int | None:
        """The last number taken, or None before the first."""


@dataclass(frozen=True)
class SentInterchange:
    """One interchange written to a trading partner, and what its functional acknowledgement (997 / CONTRL) said.
    Keyed by the delivery that carries it: a retried or replayed delivery is the same interchange, same numbers.
    `sets` are (ST01 / UNH type, ST02 / UNH reference); `due_by` None means no acknowledgement is expected;
    `status` is awaiting, not_expected, accepted, accepted_with_errors or rejected."""

    delivery_id: str
    partner: str
    standard: str
    interchange: str
    group: str | None
    functional_id: str
    sets: tuple[tuple[str, str], ...]
    document: str
    business_key: str
    event_id: str
    queued_at: datetime
    due_by: datetime | None
    status: str
    sent_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledgement: str = ""


class InterchangeStore(Protocol):
    def save(self, sent: SentInterchange) -> None:
        """Insert, or replace the row of the same delivery."""

    def get(self, delivery_id: str) -> SentInterchange | None: ...

    def find(
        self,
        *,
        partner: str | None = None,
        interchange: str | None = None,
        group: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[SentInterchange]:
        """Newest first (numbers wrap: the newest holder of a number is the one a late answer is about)."""


# ---------------------------------------------------------------------------------------------------------------
# Master data imported in batches (`crossdock import items|customers|prices`): what the desks read before the
# reference data of configuration, which stays the fallback.
# ---------------------------------------------------------------------------------------------------------------

# The kinds of master record, and how a price-list entry is keyed.
CUSTOMER_RECORD, ITEM_RECORD, PRICE_RECORD = "customer", "item", "price"


def price_key(price_list: str, sku: str) -> str:
    return f"{price_list}:{sku}"


@dataclass(frozen=True)
class MasterRecord:
    """The latest imported document of one kind and key (a customer by number, an item by sku, a price-list entry by
    price_key), the digest of its content, and the file it came from."""

    kind: str
    key: str
    document: Mapping[str, Any]
    digest: str
    source: str
    updated_at: datetime


@dataclass(frozen=True)
class OrderMasterData:
    """What validating one order needs from imported master data: the customer's record (None: not imported) and
    the price-list entries of the order's skus, by (price list, sku)."""

    customer: Mapping[str, Any] | None
    prices: Mapping[tuple[str, str], Mapping[str, Any]]


class MasterDataStore(Protocol):
    def put(self, kind: str, key: str, document: Mapping[str, Any], source: str, at: datetime) -> str:
        """Store the document; returns "added", "changed" or "unchanged". Unchanged (the same content, whatever
        the source or time) writes nothing."""

    def get(self, kind: str, key: str) -> MasterRecord | None: ...

    def holds(self, kind: str) -> bool:
        """Whether any record of this kind was imported (a master exists, so what it lacks is unknown)."""

    def for_order(self, customer: str, skus: Collection[str], price_lists: Collection[str]) -> OrderMasterData:
        """In one read: the customer's record, and the entries for `skus` on the price list that record names and
        on each of `price_lists` (those configuration would use)."""


# The field of an EDI delivery's payload holding the numbers the hub took for it: {"interchange": n, "group": m}
# (group None for EDIFACT, which is sent without UNG groups). The sender writes what it finds there.
CONTROL_NUMBERS = "controlnumbers"


@dataclass(frozen=True)
class PlannedInterchange:
    """What an event becomes for one trading partner before it is numbered: the sets it will carry (their control
    numbers are the sender's, counted inside the interchange), the document in the business's words, and whether a
    functional acknowledgement answers it (a 997 or CONTRL is never itself acknowledged)."""

    partner: str
    standard: str
    functional_id: str
    sets: tuple[tuple[str, str], ...]
    document: str
    business_key: str
    acknowledged: bool = True
    # A file about an order whose event does not name its customer (a warehouse's shipment names only the order): it
    # goes only if the hub holds `order` as `customer`'s. The desk checks that; a sender has no store to read.
    order: str | None = None
    customer: str | None = None


@runtime_checkable
class InterchangePlanner(Protocol):
    """An EDI destination's sender, asked inside the processing transaction what an event will become."""

    def plan(self, event: Envelope) -> PlannedInterchange | None:
        """None when no file goes to this partner for it (another partner's, or one the sender will refuse)."""


@runtime_checkable
class RefusalAnswerer(Protocol):
    """An EDI source's adapter: the acknowledgement a refused message still owes its sender, when it can be told."""

    def answer_refusal(self, message: StoredMessage, reason: str) -> list[Envelope]:
        """Events announcing the rejection (an interchange_received saying rejected); empty when the envelope
        cannot be read, so that there is no one to answer."""


# ---------------------------------------------------------------------------------------------------------------
# Governance: API keys and the hash-chained audit trail (hub/governance.py holds the rules over them).
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiKey:
    """An API key as stored: never its secret, only a salted HMAC of it. `rate_per_minute` None is no limit;
    `channel` None sees every channel's orders."""

    id: str
    name: str
    scopes: tuple[str, ...]
    salt: str  # hex
    secret_hash: str  # hex HMAC-SHA256(salt, secret)
    created_at: datetime
    channel: str | None = None
    rate_per_minute: int | None = None
    created_by: str = ""
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class KeyStore(Protocol):
    def add(self, key: ApiKey) -> None:
        """Store a new key; an id that exists already raises (ids are random: a clash is a bug, not a retry)."""

    def get(self, key_id: str) -> ApiKey | None: ...

    def all(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""

    def revoke(self, key_id: str, at: datetime) -> ApiKey | None:
        """Mark revoked (a second revoke keeps the first time); None when there is no such key."""


@dataclass(frozen=True)
class AuditEntry:
    """What happened, before the audit log gives it a place in the chain."""

    actor: str
    action: str
    target: str
    at: datetime
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditRecord:
    """One link of the chain: `hash` is SHA-256 over the canonical form of every other field, prev_hash included."""

    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    details: Mapping[str, Any]
    prev_hash: str
    hash: str


class AuditLog(Protocol):
    def append(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        """Chain the entries onto the last record, in order. Appenders in other transactions and processes wait
        for this one, so the chain never forks."""

    def read(self, after: int = 0, limit: int = 1000) -> list[AuditRecord]:
        """Records with seq > after, in seq order."""

    def last(self) -> AuditRecord | None: ...


# ---------------------------------------------------------------------------------------------------------------
# Business state the procure-to-pay handlers keep: purchase orders.
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurchaseOrderRecord:
    """One purchase order's workflow state as stored: `state` is the JSON form of the domain's POState, `document`
    the canonical PurchaseOrder of its current revision (None until the PO itself arrived; facts that need it wait).
    Versioned as OrderRecord: 0 for a PO not stored yet, one more per save, a stale save is a ConcurrentUpdate."""

    po_id: str
    status: str
    state: Mapping[str, Any]
    version: int = 0
    supplier_id: str | None = None
    document: Mapping[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class PurchaseOrderFilter:
    status: str | None = None
    supplier_id: str | None = None
    updated_before: datetime | None = None
    limit: int = 100


class PurchaseOrderStore(Protocol):
    def load(self, po_id: str) -> PurchaseOrderRecord | None: ...

    def save(self, record: PurchaseOrderRecord, at: datetime) -> PurchaseOrderRecord:
        """Insert (version 0) or update (the version read): returns the record with its new version."""

    def find(self, flt: PurchaseOrderFilter) -> list[PurchaseOrderRecord]:
        """Newest update first."""

    def counts(self) -> dict[str, int]:
        """Purchase orders per status."""


# ---------------------------------------------------------------------------------------------------------------
# Inventory reconciliation runs: each count compared with the ledger, kept as it ran.
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReconciliationRun:
    """One inventory reconciliation as it ran: who asked (`actor`), when, which system counted (`source`), the
    SHA-256 of the count (`digest`: the same id with another count is told apart), what it found and what it did.
    `drifts` are JSON-ready, one per sku x location that differed (sku, location, ledger, counted, drift, explained,
    unexplained, cause, action, explanation, adjustment); `exceptions` the ids of the open exceptions behind them."""

    id: str
    source: str
    actor: str
    at: datetime
    digest: str
    checked: int
    matched: int
    drifts: tuple[Mapping[str, Any], ...] = ()
    exceptions: tuple[str, ...] = ()

    @property
    def adjusted(self) -> int:
        return sum(1 for drift in self.drifts if drift.get("adjustment"))


class ReconciliationStore(Protocol):
    def add(self, run: ReconciliationRun) -> bool:
        """Keep the run unless one of its id is kept already; True if added. A run is never changed afterwards."""

    def get(self, run_id: str) -> ReconciliationRun | None: ...

    def recent(self, *, source: str | None = None, limit: int = 100) -> list[ReconciliationRun]:
        """Newest first (in the order they were kept)."""
