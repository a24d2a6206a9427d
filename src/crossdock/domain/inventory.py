"""The stock ledger: movements per sku x location, reservations, available-to-promise, channel buffers, authority
over on-hand and reconciliation against an authoritative count. Pure functions over immutable values: no I/O,
no clock (times are passed in), no storage; a handler persists what these functions return.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from functools import cached_property
from typing import Any, Final, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crossdock.domain import errors, events
from crossdock.domain.documents import Key, LineId

ZERO: Final = Decimal(0)
HUNDRED: Final = Decimal(100)

ReservationKey = tuple[str, str]
"""(order id, line id): one reservation per order line."""

# ---------------------------------------------------------------------------------------------------------------
# A persistent map: the state is immutable, yet a new version must not cost a copy of a million positions.

K = TypeVar("K")
V = TypeVar("V")

_BUCKET_BITS: Final = 10
_BUCKETS: Final = 1 << _BUCKET_BITS
_MASK: Final = _BUCKETS - 1
_NO_ENTRIES: Final[dict[Any, Any]] = {}  # shared by every empty bucket; buckets are never changed in place


class _PersistentMap(Generic[K, V]):
    """A dict split into fixed buckets. An update copies only the buckets it touches, so a new version of a
    million-entry map costs microseconds, older versions stay valid, and two versions diff bucket by bucket."""

    __slots__ = ("_buckets", "_size")

    def __init__(self, buckets: tuple[dict[K, V], ...], size: int) -> None:
        self._buckets = buckets
        self._size = size

    @classmethod
    def empty(cls) -> _PersistentMap[K, V]:
        return cls((_NO_ENTRIES,) * _BUCKETS, 0)

    @classmethod
    def from_items(cls, items: Iterable[tuple[K, V]]) -> _PersistentMap[K, V]:
        return cls.empty().updated(dict(items))

    def get(self, key: K) -> V | None:
        return self._buckets[hash(key) & _MASK].get(key)

    def updated(self, changes: Mapping[K, V | None]) -> _PersistentMap[K, V]:
        """A new version with `changes` applied; a value of None removes the key."""
        if not changes:
            return self
        buckets = list(self._buckets)
        copied: set[int] = set()
        size = self._size
        for key, value in changes.items():
            index = hash(key) & _MASK
            if index not in copied:
                buckets[index] = dict(buckets[index])
                copied.add(index)
            bucket = buckets[index]
            if value is None:
                if key in bucket:
                    del bucket[key]
                    size -= 1
            else:
                if key not in bucket:
                    size += 1
                bucket[key] = value
        return _PersistentMap(tuple(buckets), size)

    def items(self) -> Iterator[tuple[K, V]]:
        # filter() skips the empty buckets in C: a handler's small state has a few filled among a thousand.
        for bucket in filter(None, self._buckets):
            yield from bucket.items()

    def changed_keys(self, other: _PersistentMap[K, V]) -> set[K]:
        """Keys whose value differs between the two versions; shared buckets are skipped unread."""
        changed: set[K] = set()
        for mine, theirs in zip(self._buckets, other._buckets, strict=True):
            if mine is theirs:
                continue
            for key in mine.keys() | theirs.keys():
                if mine.get(key) != theirs.get(key):
                    changed.add(key)
        return changed

    def __len__(self) -> int:
        return self._size

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _PersistentMap):
            return NotImplemented
        return self._size == other._size and all(
            mine is theirs or mine == theirs for mine, theirs in zip(self._buckets, other._buckets, strict=True)
        )

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        # Bucket placement follows this process's string hashing; rebuild from items anywhere else.
        return (_PersistentMap.from_items, (list(self.items()),))


# ---------------------------------------------------------------------------------------------------------------
# Movements: immutable facts, each with an id.


class MovementKind(enum.StrEnum):
    RECEIPT = "receipt"
    SHIPMENT = "shipment"  # picked and shipped; may name the order line whose reservation it consumes
    ADJUSTMENT = "adjustment"  # signed quantity
    TRANSFER_OUT = "transfer_out"  # leaves `location`, in transit towards `counterpart`
    TRANSFER_IN = "transfer_in"  # arrives at `location` from `counterpart`
    RETURN = "return"  # goods back from a customer
    CYCLE_COUNT = "cycle_count"  # quantity is the counted on-hand; the difference is what gets recorded


_TRANSFERS: Final = frozenset({MovementKind.TRANSFER_OUT, MovementKind.TRANSFER_IN})


class Movement(BaseModel):
    """One stock movement of one sku at one location, in the item's base unit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    kind: MovementKind
    sku: Key
    location: Key
    quantity: Decimal
    occurred_at: datetime
    counterpart: Key | None = Field(default=None, description="The other location of a transfer.")
    order_id: Key | None = None
    line_id: LineId | None = Field(default=None, description="documents.line_id of the order line's number.")
    source: str | None = Field(default=None, description="The system that reported it; authority rules use it.")
    reason: str | None = None

    @field_validator("occurred_at")
    @classmethod
    def _time_is_aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("a movement's time must carry a timezone")
        return value

    @model_validator(mode="after")
    def _fits_its_kind(self) -> Movement:
        if self.kind is MovementKind.ADJUSTMENT:
            if self.quantity == 0:
                raise ValueError("an adjustment moves a non-zero quantity")
        elif self.kind is MovementKind.CYCLE_COUNT:
            if self.quantity < 0:
                raise ValueError("a cycle count cannot count below zero")
        elif self.quantity <= 0:
            raise ValueError(f"a {self.kind} moves a positive quantity; the kind gives the direction")
        if (self.kind in _TRANSFERS) != (self.counterpart is not None):
            raise ValueError("transfers, and only transfers, name the counterpart location")
        if self.counterpart == self.location:
            raise ValueError("a transfer goes between two different locations")
        if (self.order_id is None) != (self.line_id is None):
            raise ValueError("an order reference names both the order and the line")
        if self.order_id is not None and self.kind is not MovementKind.SHIPMENT:
            raise ValueError("only a shipment consumes an order line's reservation")
        return self


# ---------------------------------------------------------------------------------------------------------------
# State values.

# Shared and never changed in place: every update copies first. Mapping types keep callers read-only too.
_NO_ALLOCATIONS: Final[Mapping[ReservationKey, Decimal]] = {}


@dataclass(frozen=True, slots=True)
class StockPosition:
    """Stock of one sku at one location. `in_transit` is stock on its way to this location (below zero while an
    arrival is known before its dispatch); `reserved` is held for order lines (`allocations`, oldest first) and
    never exceeds the on-hand."""

    sku: str
    location: str
    on_hand: Decimal = ZERO
    in_transit: Decimal = ZERO
    reserved: Decimal = ZERO
    allocations: Mapping[ReservationKey, Decimal] = field(default_factory=lambda: _NO_ALLOCATIONS, repr=False)

    @property
    def available(self) -> Decimal:
        """Available to promise: on-hand not reserved, never negative (a negative on-hand promises nothing)."""
        return max(ZERO, self.on_hand - self.reserved)


@dataclass(frozen=True, slots=True)
class NetworkStock:
    """One sku summed over every location. `available` adds each location's ATP, so a location with negative
    on-hand does not eat into another's."""

    sku: str
    on_hand: Decimal
    in_transit: Decimal
    reserved: Decimal
    available: Decimal


@dataclass(frozen=True, slots=True)
class Allocation:
    location: str
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class Reservation:
    """What one order line holds. `requested` is the quantity the line wants reserved over its life: open
    allocations plus what already shipped against it; the rest is backordered."""

    order_id: str
    line_id: str
    sku: str
    requested: Decimal
    allocations: tuple[Allocation, ...] = ()
    consumed: Decimal = ZERO
    released: Decimal = ZERO
    cancelled: bool = False

    @property
    def key(self) -> ReservationKey:
        return (self.order_id, self.line_id)

    @property
    def reserved(self) -> Decimal:
        return sum((allocation.quantity for allocation in self.allocations), ZERO)

    @property
    def backorder(self) -> Decimal:
        if self.cancelled:
            return ZERO
        return max(ZERO, self.requested - self.consumed - self.reserved)

    def allocated_at(self, location: str) -> Decimal:
        return next((a.quantity for a in self.allocations if a.location == location), ZERO)


@dataclass(frozen=True, slots=True)
class LineAllocation:
    """A quantity of an order line's reservation at one location: given back, or lost to a shortfall."""

    order_id: str
    line_id: str
    sku: str
    location: str
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class PositionChange:
    sku: str
    location: str
    on_hand: Decimal
    in_transit: Decimal


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """A movement as recorded: what it changed (a cycle count records the difference it found)."""

    movement: Movement
    changes: tuple[PositionChange, ...]


class LedgerState:
    """All stock positions, reservations and applied movement ids. Immutable: every operation returns a new
    state and the old one stays valid. A handler usually builds one from the rows of the skus it touches."""

    __slots__ = ("_movements", "_reservations", "_stock")

    _stock: _PersistentMap[str, Mapping[str, StockPosition]]
    _reservations: _PersistentMap[ReservationKey, Reservation]
    _movements: _PersistentMap[str, Movement]

    def __init__(
        self,
        stock: _PersistentMap[str, Mapping[str, StockPosition]],
        reservations: _PersistentMap[ReservationKey, Reservation],
        movements: _PersistentMap[str, Movement],
    ) -> None:
        object.__setattr__(self, "_stock", stock)
        object.__setattr__(self, "_reservations", reservations)
        object.__setattr__(self, "_movements", movements)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a LedgerState is immutable; operations return a new one")

    def __reduce__(self) -> tuple[Any, ...]:
        return (LedgerState, (self._stock, self._reservations, self._movements))

    @classmethod
    def empty(cls) -> LedgerState:
        return cls(_PersistentMap.empty(), _PersistentMap.empty(), _PersistentMap.empty())

    @classmethod
    def build(
        cls,
        positions: Iterable[StockPosition] = (),
        reservations: Iterable[Reservation] = (),
        movements: Iterable[Movement] = (),
    ) -> LedgerState:
        """A state from stored rows. On-hand and in-transit come from `positions`; what is reserved is derived
        from `reservations`, so the two cannot disagree. Raises Oversell if the rows reserve more than on-hand."""
        stock: dict[str, dict[str, StockPosition]] = {}
        for position in positions:
            if position.reserved or position.allocations:
                position = replace(position, reserved=ZERO, allocations=_NO_ALLOCATIONS)
            stock.setdefault(position.sku, {})[position.location] = position
        empty: LedgerState = cls.empty()
        # Loading is one bulk insert; only the reservations go through the checked path.
        draft = _Draft(cls(_PersistentMap.from_items(stock.items()), empty._reservations, empty._movements))
        for reservation in reservations:
            draft.set_reservation(replace(reservation, allocations=()))
            for allocation in reservation.allocations:
                _allocate(draft, reservation.key, allocation.location, allocation.quantity)
        for movement in movements:
            draft.movements[movement.id] = movement
        return draft.commit()

    def position(self, sku: str, location: str) -> StockPosition:
        locations = self._stock.get(sku)
        found = locations.get(location) if locations is not None else None
        return found if found is not None else StockPosition(sku, location)

    def positions(self, sku: str | None = None) -> Iterator[StockPosition]:
        """Every known position, or those of one sku."""
        if sku is not None:
            yield from (self._stock.get(sku) or {}).values()
            return
        for _, locations in self._stock.items():
            yield from locations.values()

    def reservation(self, order_id: str, line_id: str) -> Reservation | None:
        return self._reservations.get((order_id, line_id))

    def reservations(self) -> Iterator[Reservation]:
        return (reservation for _, reservation in self._reservations.items())

    def movement(self, movement_id: str) -> Movement | None:
        return self._movements.get(movement_id)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LedgerState):
            return NotImplemented
        return (
            self._stock == other._stock
            and self._reservations == other._reservations
            and self._movements == other._movements
        )

    __hash__ = None  # type: ignore[assignment]


class _Draft:
    """The changes one operation makes, gathered so the new state is built once at the end."""

    def __init__(self, base: LedgerState) -> None:
        self.base = base
        self.stock: dict[str, dict[str, StockPosition]] = {}
        self.touched: set[tuple[str, str]] = set()
        self.reservations: dict[ReservationKey, Reservation] = {}
        self.movements: dict[str, Movement] = {}

    def position(self, sku: str, location: str) -> StockPosition:
        locations = self.stock.get(sku)
        if locations is not None:
            found = locations.get(location)
            return found if found is not None else StockPosition(sku, location)
        return self.base.position(sku, location)

    def set_position(self, position: StockPosition) -> None:
        if position == self.position(position.sku, position.location):
            return
        locations = self.stock.get(position.sku)
        if locations is None:
            locations = self.stock[position.sku] = dict(self.base._stock.get(position.sku) or {})
        locations[position.location] = position
        self.touched.add((position.sku, position.location))

    def reservation(self, key: ReservationKey) -> Reservation | None:
        return self.reservations[key] if key in self.reservations else self.base._reservations.get(key)

    def set_reservation(self, reservation: Reservation) -> None:
        if reservation != self.reservation(reservation.key):
            self.reservations[reservation.key] = reservation

    def movement(self, movement_id: str) -> Movement | None:
        found = self.movements.get(movement_id)
        return found if found is not None else self.base._movements.get(movement_id)

    def commit(self) -> LedgerState:
        for sku, location in self.touched:
            position = self.stock[sku][location]
            # The guard behind the promise: no operation may leave a location reserved beyond its on-hand.
            if position.reserved < 0 or position.reserved > max(ZERO, position.on_hand):
                raise errors.Oversell(f"{sku} at {location}: {position.reserved} reserved of {position.on_hand}")
        if not (self.stock or self.reservations or self.movements):
            return self.base
        base = self.base
        return LedgerState(
            base._stock.updated(dict(self.stock)),
            base._reservations.updated(self.reservations),
            base._movements.updated(self.movements),
        )


def _allocate(draft: _Draft, key: ReservationKey, location: str, quantity: Decimal) -> None:
    """Move `quantity` into a line's reservation at a location (negative gives it back), on both sides."""
    reservation = draft.reservation(key)
    assert reservation is not None
    position = draft.position(reservation.sku, location)
    allocations = dict(position.allocations)
    held = allocations.get(key, ZERO) + quantity
    if held:
        allocations[key] = held
    else:
        allocations.pop(key, None)
    draft.set_position(replace(position, reserved=position.reserved + quantity, allocations=allocations))
    by_location = {a.location: a.quantity for a in reservation.allocations}
    by_location[location] = by_location.get(location, ZERO) + quantity
    draft.set_reservation(
        replace(reservation, allocations=tuple(Allocation(loc, qty) for loc, qty in by_location.items() if qty))
    )


def _give_back(draft: _Draft, key: ReservationKey, quantity: Decimal) -> list[LineAllocation]:
    """Release up to `quantity` of a line's open allocations, the most recent location first."""
    reservation = draft.reservation(key)
    assert reservation is not None
    given: list[LineAllocation] = []
    for allocation in reversed(reservation.allocations):
        if quantity <= 0:
            break
        taken = min(quantity, allocation.quantity)
        _allocate(draft, key, allocation.location, -taken)
        given.append(LineAllocation(key[0], key[1], reservation.sku, allocation.location, taken))
        quantity -= taken
    return given


def _enforce_on_hand(draft: _Draft, sku: str, location: str) -> list[LineAllocation]:
    """When stock leaves a location below what is reserved there, the latest reservations lose their hold first,
    so earlier orders keep their stock; the lines fall back to backorder and the caller reports them."""
    position = draft.position(sku, location)
    excess = position.reserved - max(ZERO, position.on_hand)
    lost: list[LineAllocation] = []
    for key, held in reversed(list(position.allocations.items())):
        if excess <= 0:
            break
        taken = min(excess, held)
        _allocate(draft, key, location, -taken)
        lost.append(LineAllocation(key[0], key[1], sku, location, taken))
        excess -= taken
    return lost


def _change_stock(draft: _Draft, sku: str, location: str, on_hand: Decimal, in_transit: Decimal) -> PositionChange:
    position = draft.position(sku, location)
    draft.set_position(
        replace(position, on_hand=position.on_hand + on_hand, in_transit=position.in_transit + in_transit)
    )
    return PositionChange(sku, location, on_hand, in_transit)


# ---------------------------------------------------------------------------------------------------------------
# Applying movements.


@dataclass(frozen=True, slots=True)
class LedgerUpdate:
    """The new state and what a handler records and announces: the entries, the repeats it skipped, lines that
    lost reserved stock to a shortfall, and reservations given back because a shipment covered them."""

    state: LedgerState
    entries: tuple[LedgerEntry, ...] = ()
    duplicates: tuple[str, ...] = ()
    shortfalls: tuple[LineAllocation, ...] = ()
    released: tuple[LineAllocation, ...] = ()


def apply_movement(state: LedgerState, movement: Movement) -> LedgerUpdate:
    """Record one movement. The same id again changes nothing; the same id with other content is a conflict."""
    return apply_movements(state, (movement,))


def apply_movements(state: LedgerState, movements: Iterable[Movement]) -> LedgerUpdate:
    """Record a burst of movements in order, building the new state once."""
    draft = _Draft(state)
    entries: list[LedgerEntry] = []
    duplicates: list[str] = []
    shortfalls: list[LineAllocation] = []
    released: list[LineAllocation] = []
    for movement in movements:
        seen = draft.movement(movement.id)
        if seen is not None:
            if seen != movement:
                raise errors.MovementConflict(f"movement {movement.id} was already applied as {seen.kind}")
            duplicates.append(movement.id)
            continue
        draft.movements[movement.id] = movement
        entries.append(LedgerEntry(movement, _record(draft, movement, shortfalls, released)))
    return LedgerUpdate(draft.commit(), tuple(entries), tuple(duplicates), tuple(shortfalls), tuple(released))


def _record(
    draft: _Draft, movement: Movement, shortfalls: list[LineAllocation], released: list[LineAllocation]
) -> tuple[PositionChange, ...]:
    sku, location, quantity = movement.sku, movement.location, movement.quantity
    kind = movement.kind
    if kind is MovementKind.SHIPMENT and movement.order_id is not None and movement.line_id is not None:
        released.extend(_consume(draft, (movement.order_id, movement.line_id), sku, location, quantity))
    changes: list[PositionChange]
    if kind in (MovementKind.RECEIPT, MovementKind.RETURN):
        changes = [_change_stock(draft, sku, location, quantity, ZERO)]
    elif kind is MovementKind.SHIPMENT:
        changes = [_change_stock(draft, sku, location, -quantity, ZERO)]
    elif kind is MovementKind.ADJUSTMENT:
        changes = [_change_stock(draft, sku, location, quantity, ZERO)]
    elif kind is MovementKind.CYCLE_COUNT:
        counted = quantity - draft.position(sku, location).on_hand
        changes = [_change_stock(draft, sku, location, counted, ZERO)]
    elif kind is MovementKind.TRANSFER_OUT:
        assert movement.counterpart is not None
        # In transit is booked at the destination: it is stock that location is waiting for.
        changes = [
            _change_stock(draft, sku, location, -quantity, ZERO),
            _change_stock(draft, sku, movement.counterpart, ZERO, quantity),
        ]
    else:  # TRANSFER_IN
        changes = [_change_stock(draft, sku, location, quantity, -quantity)]
    shortfalls.extend(_enforce_on_hand(draft, sku, location))
    return tuple(changes)


def _consume(draft: _Draft, key: ReservationKey, sku: str, location: str, quantity: Decimal) -> list[LineAllocation]:
    """A shipment against an order line uses the line's hold at that location; anything the line now holds
    beyond what it still needs (it shipped from elsewhere than planned) is given back."""
    reservation = draft.reservation(key)
    if reservation is None or reservation.sku != sku:
        return []  # stock shipped without a hold: it only lowers on-hand
    held = reservation.allocated_at(location)
    if held:
        _allocate(draft, key, location, -min(held, quantity))
    reservation = draft.reservation(key)
    assert reservation is not None
    draft.set_reservation(replace(reservation, consumed=reservation.consumed + quantity))
    excess = reservation.consumed + quantity + reservation.reserved - reservation.requested
    if excess <= 0:
        return []
    given = _give_back(draft, key, excess)
    reservation = draft.reservation(key)
    assert reservation is not None
    draft.set_reservation(replace(reservation, released=reservation.released + sum((g.quantity for g in given), ZERO)))
    return given


def consume_reservation(
    state: LedgerState,
    *,
    movement_id: str,
    order_id: str,
    line_id: str,
    sku: str,
    location: str,
    quantity: Decimal,
    occurred_at: datetime,
    source: str | None = None,
) -> LedgerUpdate:
    """Record a shipment of an order line: its reservation at the location is used up and on-hand goes down."""
    movement = Movement(
        id=movement_id,
        kind=MovementKind.SHIPMENT,
        sku=sku,
        location=location,
        quantity=quantity,
        occurred_at=occurred_at,
        order_id=order_id,
        line_id=line_id,
        source=source,
    )
    return apply_movement(state, movement)


# ---------------------------------------------------------------------------------------------------------------
# Availability.


def stock_position(state: LedgerState, sku: str, location: str) -> StockPosition:
    return state.position(sku, location)


def available_to_promise(state: LedgerState, sku: str, location: str | None = None) -> Decimal:
    """ATP at one location (a dictionary lookup), or over the network when no location is given."""
    if location is not None:
        return state.position(sku, location).available
    return sum((position.available for position in state.positions(sku)), ZERO)


def network_stock(state: LedgerState, sku: str) -> NetworkStock:
    positions = list(state.positions(sku))
    return NetworkStock(
        sku=sku,
        on_hand=sum((p.on_hand for p in positions), ZERO),
        in_transit=sum((p.in_transit for p in positions), ZERO),
        reserved=sum((p.reserved for p in positions), ZERO),
        available=sum((p.available for p in positions), ZERO),
    )


# ---------------------------------------------------------------------------------------------------------------
# Reservations.


class ReservationPolicy(enum.StrEnum):
    FEWEST_SHIPMENTS = "fewest_shipments"  # one location that can ship it all, else the largest stocks first
    NEAREST = "nearest"  # walk the caller's distance ranking, taking what each location has


class DecisionKind(enum.StrEnum):
    WHOLE = "whole"  # fully reserved at one location
    SPLIT = "split"  # fully reserved over several locations
    PARTIAL = "partial"  # some reserved, the rest backordered
    BACKORDERED = "backordered"  # nothing could be reserved


@dataclass(frozen=True, slots=True)
class ReservationDecision:
    """The line's reservation after the request, and what this request changed."""

    state: LedgerState
    reservation: Reservation
    kind: DecisionKind
    allocated: tuple[Allocation, ...]
    released: tuple[Allocation, ...]

    @property
    def backorder(self) -> Decimal:
        return self.reservation.backorder


def reserve_stock(
    state: LedgerState,
    order_id: str,
    line_id: str,
    sku: str,
    quantity: Decimal,
    policy: ReservationPolicy,
    locations: Sequence[str] | None = None,
    *,
    allow_backorder: bool = True,
) -> ReservationDecision:
    """Bring the line's reservation to `quantity` (shipped quantities count towards it), taking only what is
    available to promise at `locations` (the distance ranking for `nearest`; the preference order otherwise;
    every location holding the sku when None). Asking again with the same quantity changes nothing, a larger
    one reserves more (a backorder filling up), a smaller one gives the most recent holds back.

    Raises Oversell when `allow_backorder` is False and the request cannot be covered in full, and
    ReservationClosed for a cancelled line; in both cases nothing changes.
    """
    if quantity < 0:
        raise ValueError("a reservation asks for a quantity of zero or more")
    key = (order_id, line_id)
    existing = state.reservation(order_id, line_id)
    if existing is not None and existing.cancelled:
        raise errors.ReservationClosed(f"order {order_id} line {line_id} was cancelled")
    if existing is not None and existing.sku != sku:
        raise ValueError(f"order {order_id} line {line_id} reserves {existing.sku}; release it before another sku")
    if existing is None and quantity == 0:
        # Nothing asked, nothing held: no record for a line that never reserved.
        empty = Reservation(order_id, line_id, sku, ZERO)
        return ReservationDecision(state, empty, DecisionKind.WHOLE, (), ())
    draft = _Draft(state)
    reservation = replace(existing, requested=quantity) if existing else Reservation(order_id, line_id, sku, quantity)
    draft.set_reservation(reservation)
    need = quantity - reservation.consumed - reservation.reserved
    allocated: list[Allocation] = []
    released: list[Allocation] = []
    if need < 0:
        given = _give_back(draft, key, -need)
        released = [Allocation(g.location, g.quantity) for g in given]
        current = draft.reservation(key)
        assert current is not None
        draft.set_reservation(replace(current, released=current.released + sum((g.quantity for g in given), ZERO)))
    elif need > 0:
        ranking = list(locations) if locations is not None else sorted(p.location for p in state.positions(sku))
        allocated = _plan(state, reservation, need, policy, ranking)
        covered = sum((a.quantity for a in allocated), ZERO)
        if covered < need and not allow_backorder:
            raise errors.Oversell(f"{sku}: {need} asked, {covered} available to promise at the allowed locations")
        for allocation in allocated:
            _allocate(draft, key, allocation.location, allocation.quantity)
    new_state = draft.commit()
    after = draft.reservation(key)
    assert after is not None
    return ReservationDecision(new_state, after, _kind(after), tuple(allocated), tuple(released))


def _plan(
    state: LedgerState, reservation: Reservation, need: Decimal, policy: ReservationPolicy, ranking: list[str]
) -> list[Allocation]:
    stock = [(location, state.position(reservation.sku, location).available) for location in dict.fromkeys(ranking)]
    stock = [(location, available) for location, available in stock if available > 0]
    if policy is ReservationPolicy.NEAREST:
        return _take(stock, need)
    # Topping up where the line already ships from adds no shipment.
    holding = {a.location for a in reservation.allocations}
    plan = _take([s for s in stock if s[0] in holding], need)
    need -= sum((a.quantity for a in plan), ZERO)
    rest = [s for s in stock if s[0] not in holding]
    if need <= 0 or not rest:
        return plan
    whole = next((location for location, available in rest if available >= need), None)
    if whole is not None:
        return [*plan, Allocation(whole, need)]
    # Largest stocks first covers the need with the fewest locations (sort is stable: ranking breaks ties).
    return plan + _take(sorted(rest, key=lambda s: s[1], reverse=True), need)


def _take(stock: Iterable[tuple[str, Decimal]], need: Decimal) -> list[Allocation]:
    plan: list[Allocation] = []
    for location, available in stock:
        if need <= 0:
            break
        taken = min(need, available)
        plan.append(Allocation(location, taken))
        need -= taken
    return plan


def _kind(reservation: Reservation) -> DecisionKind:
    if reservation.backorder > 0:
        return DecisionKind.PARTIAL if reservation.reserved > 0 else DecisionKind.BACKORDERED
    return DecisionKind.SPLIT if len(reservation.allocations) > 1 else DecisionKind.WHOLE


@dataclass(frozen=True, slots=True)
class ReleaseResult:
    state: LedgerState
    released: tuple[LineAllocation, ...]


def release_reservation(state: LedgerState, order_id: str, line_id: str) -> ReleaseResult:
    """Cancel the line's reservation and give its stock back, exactly once: releasing again, or a line never
    reserved, changes nothing."""
    key = (order_id, line_id)
    reservation = state.reservation(order_id, line_id)
    if reservation is None or reservation.cancelled:
        return ReleaseResult(state, ())
    draft = _Draft(state)
    given = _give_back(draft, key, reservation.reserved)
    current = draft.reservation(key)
    assert current is not None
    draft.set_reservation(
        replace(current, cancelled=True, released=current.released + sum((g.quantity for g in given), ZERO))
    )
    return ReleaseResult(draft.commit(), tuple(given))


# ---------------------------------------------------------------------------------------------------------------
# Channel availability.


class BufferKind(enum.StrEnum):
    ABSOLUTE = "absolute"
    PERCENT = "percent"


class ChannelBuffer(BaseModel):
    """Stock held back from a channel. Availability is floored to `step` so a channel is never promised a
    fraction it cannot sell: whole base units by default; items sold by weight set a finer step."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: BufferKind = BufferKind.ABSOLUTE
    value: Decimal = Field(default=ZERO, ge=0)
    step: Decimal = Field(default=Decimal(1), gt=0)

    @model_validator(mode="after")
    def _percent_is_a_share(self) -> ChannelBuffer:
        if self.kind is BufferKind.PERCENT and self.value > HUNDRED:
            raise ValueError("a percent buffer is at most 100")
        return self

    def apply(self, atp: Decimal) -> Decimal:
        held = atp * self.value / HUNDRED if self.kind is BufferKind.PERCENT else self.value
        remaining = max(ZERO, atp - held)
        return (remaining / self.step).to_integral_value(rounding=ROUND_FLOOR) * self.step


class ChannelBuffers(BaseModel):
    """Buffers per channel and item class, with a per-channel default; skus map to their item class."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    by_class: dict[str, dict[str, ChannelBuffer]] = Field(default_factory=dict, description="channel -> class")
    defaults: dict[str, ChannelBuffer] = Field(default_factory=dict, description="channel -> buffer")
    item_classes: dict[str, str] = Field(default_factory=dict, description="sku -> item class")

    def buffer_for(self, sku: str, channel: str) -> ChannelBuffer:
        item_class = self.item_classes.get(sku)
        rules = self.by_class.get(channel, {})
        if item_class is not None and item_class in rules:
            return rules[item_class]
        return self.defaults.get(channel) or _NO_BUFFER


_NO_BUFFER: Final = ChannelBuffer()


def channel_availability(state: LedgerState, sku: str, channel: str, buffers: ChannelBuffers) -> Decimal:
    """Network ATP less the channel's buffer for the sku's item class, never below zero."""
    return buffers.buffer_for(sku, channel).apply(available_to_promise(state, sku))


class AvailabilityChange(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: str
    channel: str
    old: Decimal
    new: Decimal


def availability_changes(
    before: LedgerState, after: LedgerState, channels: Iterable[str], buffers: ChannelBuffers
) -> tuple[AvailabilityChange, ...]:
    """One change per sku x channel whose availability differs between the two states, however many movements
    lay between them; ordered by sku then channel. Cost follows what changed, not the size of the ledger."""
    channel_list = sorted(set(channels))
    changes: list[AvailabilityChange] = []
    for sku in sorted(after._stock.changed_keys(before._stock)):
        atp_before = available_to_promise(before, sku)
        atp_after = available_to_promise(after, sku)
        for channel in channel_list:
            buffer = buffers.buffer_for(sku, channel)
            old, new = buffer.apply(atp_before), buffer.apply(atp_after)
            if old != new:
                changes.append(AvailabilityChange(sku=sku, channel=channel, old=old, new=new))
    return tuple(changes)


# ---------------------------------------------------------------------------------------------------------------
# Authority over on-hand.


class AuthorityOutcome(enum.StrEnum):
    ACCEPTED = "accepted"
    IGNORED = "ignored"
    EXCEPTION = "exception"  # someone must look: the handler opens a business exception


class AuthorityRule(BaseModel):
    """Which system owns on-hand at a location, and what an update from any other system does."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    location: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    on_conflict: AuthorityOutcome = AuthorityOutcome.EXCEPTION


class AuthorityRules(BaseModel):
    """The configured rules; a location without one accepts updates from any system."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: tuple[AuthorityRule, ...] = ()

    @field_validator("rules")
    @classmethod
    def _one_rule_per_location(cls, value: tuple[AuthorityRule, ...]) -> tuple[AuthorityRule, ...]:
        locations = [rule.location for rule in value]
        if len(set(locations)) != len(locations):
            raise ValueError("each location has at most one authority rule")
        return value

    @cached_property
    def _by_location(self) -> dict[str, AuthorityRule]:
        return {rule.location: rule for rule in self.rules}

    def rule_for(self, location: str) -> AuthorityRule | None:
        return self._by_location.get(location)


class AuthorityDecision(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    outcome: AuthorityOutcome
    location: str
    source: str
    owner: str | None
    reason: str


def decide_authority(rules: AuthorityRules, location: str, source: str) -> AuthorityDecision:
    """Whether an on-hand update from `source` at `location` is accepted, ignored or an exception."""
    rule = rules.rule_for(location)
    if rule is None:
        outcome, owner, reason = AuthorityOutcome.ACCEPTED, None, f"no system owns on-hand at {location}"
    elif rule.owner == source:
        outcome, owner, reason = AuthorityOutcome.ACCEPTED, rule.owner, f"{source} owns on-hand at {location}"
    else:
        outcome, owner = rule.on_conflict, rule.owner
        reason = f"{rule.owner} owns on-hand at {location}; an update from {source} is {rule.on_conflict}"
    return AuthorityDecision(outcome=outcome, location=location, source=source, owner=owner, reason=reason)


# ---------------------------------------------------------------------------------------------------------------
# Reconciliation.


class DriftCause(enum.StrEnum):
    IN_TRANSIT = "movements_in_transit"  # counted more: a transfer arrived that the ledger has not received
    UNCONFIRMED_SHIPMENT = "shipped_not_confirmed"  # counted less: reserved stock left before its confirmation
    UNKNOWN = "unknown"


class DriftAction(enum.StrEnum):
    ADJUST = "adjust"  # post the correcting adjustment
    WAIT = "wait"  # fully explained by movements still to come: correcting now would count them twice
    IGNORE = "ignore"  # the counting system does not own on-hand here
    EXCEPTION = "exception"  # open a business exception


class Drift(BaseModel):
    """One sku x location where the count and the ledger disagree. `drift` is counted minus ledger; `explained`
    is the part its likely cause accounts for, and only the unexplained rest is ever adjusted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: str
    location: str
    ledger_on_hand: Decimal
    counted: Decimal
    drift: Decimal
    cause: DriftCause
    explained: Decimal
    unexplained: Decimal
    action: DriftAction
    explanation: str
    adjustment: Movement | None = None


class ReconciliationReport(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    reconciliation_id: str
    source: str
    as_of: datetime
    checked: int
    matched: int
    drifts: tuple[Drift, ...]

    @property
    def adjustments(self) -> tuple[Movement, ...]:
        return tuple(d.adjustment for d in self.drifts if d.adjustment is not None)

    @property
    def exceptions(self) -> tuple[Drift, ...]:
        return tuple(d for d in self.drifts if d.action is DriftAction.EXCEPTION)


def reconcile_inventory(
    state: LedgerState,
    snapshot: Mapping[tuple[str, str], Decimal],
    *,
    source: str,
    rules: AuthorityRules,
    reconciliation_id: str,
    as_of: datetime,
) -> ReconciliationReport:
    """Compare an authoritative count {(sku, location): on-hand} from `source` with the ledger. Every location
    the snapshot names is covered: a ledger position there that the snapshot leaves out counts as zero.
    Adjustment ids derive from `reconciliation_id`, so reconciling the same file twice posts nothing new."""
    counted_locations = {location for _, location in snapshot}
    keys = set(snapshot)
    for position in state.positions():
        if position.location in counted_locations and position.on_hand != 0:
            keys.add((position.sku, position.location))
    drifts: list[Drift] = []
    authority: dict[str, AuthorityDecision] = {}
    for sku, location in sorted(keys):
        position = state.position(sku, location)
        counted = snapshot.get((sku, location), ZERO)
        difference = counted - position.on_hand
        if difference == 0:
            continue
        if location not in authority:
            authority[location] = decide_authority(rules, location, source)
        drifts.append(_drift(position, counted, difference, authority[location], source, reconciliation_id, as_of))
    return ReconciliationReport(
        reconciliation_id=reconciliation_id,
        source=source,
        as_of=as_of,
        checked=len(keys),
        matched=len(keys) - len(drifts),
        drifts=tuple(drifts),
    )


def _drift(
    position: StockPosition,
    counted: Decimal,
    difference: Decimal,
    authority: AuthorityDecision,
    source: str,
    reconciliation_id: str,
    as_of: datetime,
) -> Drift:
    size = abs(difference)
    if difference > 0:
        explained = min(size, max(ZERO, position.in_transit))
        cause, why = DriftCause.IN_TRANSIT, f"{explained} in transit to this location, not yet received"
    else:
        explained = min(size, position.reserved)
        cause, why = DriftCause.UNCONFIRMED_SHIPMENT, f"{explained} reserved, likely shipped but not yet confirmed"
    if explained == 0:
        cause, why = DriftCause.UNKNOWN, "no pending movement explains it"
    unexplained = size - explained
    explanation = f"{source} counted {counted}, ledger holds {position.on_hand}: {why}"
    if explained and unexplained:
        explanation += f"; {unexplained} unexplained"
    adjustment = None
    if unexplained == 0:
        action = DriftAction.WAIT
    elif authority.outcome is AuthorityOutcome.ACCEPTED:
        action = DriftAction.ADJUST
        adjustment = Movement(
            id=events.derive_id("inventory.reconciliation", reconciliation_id, position.sku, position.location),
            kind=MovementKind.ADJUSTMENT,
            sku=position.sku,
            location=position.location,
            quantity=unexplained if difference > 0 else -unexplained,
            occurred_at=as_of,
            source=source,
            reason=f"reconciliation {reconciliation_id}: {explanation}",
        )
    elif authority.outcome is AuthorityOutcome.IGNORED:
        action = DriftAction.IGNORE
        explanation += f"; {authority.reason}"
    else:
        action = DriftAction.EXCEPTION
        explanation += f"; {authority.reason}"
    return Drift(
        sku=position.sku,
        location=position.location,
        ledger_on_hand=position.on_hand,
        counted=counted,
        drift=difference,
        cause=cause,
        explained=explained,
        unexplained=unexplained,
        action=action,
        explanation=explanation,
        adjustment=adjustment,
    )
