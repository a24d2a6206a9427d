"""Pure mapping of a 3PL's flat files: a release as a CSV shipping order (the X12 940 is the x12 mapping's), CSV
shipment confirmations in as canonical shipments, and the daily stock snapshot read into a count to reconcile. No
I/O, no clock. Every refusal names the file's line and column.

Must not: reconcile or decide what a count changes (the stock desk does), or parse stock rows itself: the snapshot's
sku, location and on_hand are read by connectors/batch_import.py, as the CSV stock import reads them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import TypeVar

from pydantic import ValidationError

from crossdock.connectors import batch_import
from crossdock.connectors.wms.mapping import ShipTo
from crossdock.domain import catalog, documents
from crossdock.domain.errors import InvalidEvent
from crossdock.domain.events import Envelope
from crossdock.hub.errors import MappingError

# A shipping order file: one row per line released.
ORDER_COLUMNS = ("release", "order", "customer", "customer_name", "customer_reference", "warehouse", "line", "sku",
                 "quantity", "unit")  # fmt: skip
# A shipping order's cancel file: one row per line, the quantity cancelled of it so far.
CANCEL_COLUMNS = ("release", "order", "warehouse", "line", "sku", "cancelled", "unit", "reason")
CONFIRMATION_REQUIRED = ("shipment", "order", "line", "sku", "quantity", "shipped_at")
CONFIRMATION_OPTIONAL = ("unit", "carrier", "tracking")
AS_OF = "as_of"
ZERO = Decimal(0)
T = TypeVar("T")
P = TypeVar("P", bound=catalog.Payload)


# ---- out ------------------------------------------------------------------------------------------------------------


def shipping_order_csv(released: catalog.ShipmentReleased, ship_to: ShipTo) -> bytes:
    """The release as the CSV shipping order a 3PL without EDI picks from: a header, then one row per line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(ORDER_COLUMNS)
    for line in released.lines:
        writer.writerow(
            (
                released.release,
                released.order,
                ship_to.customer,
                ship_to.name,
                ship_to.customer_reference or "",
                released.from_location,
                line.line,
                line.sku,
                line.quantity.value,
                line.quantity.unit,
            )
        )
    return out.getvalue().encode("utf-8")


@dataclass(frozen=True)
class ReleaseCancellation:
    """What is cancelled of one shipping order (a release) so far, line by line: the content of its cancel file."""

    release: str
    order: str
    warehouse: str
    lines: tuple[tuple[int, str, Decimal, str], ...]  # (order line, sku, cancelled so far, unit)


def release_cancellations(
    events: Sequence[Envelope], location: str, cancellation: str
) -> tuple[list[ReleaseCancellation], Decimal]:
    """The shipping orders at `location` that the release cancellation with event id `cancellation` takes quantities
    off, each with the total cancelled of it so far; and what of the cancellation no shipping order here holds.
    `events` are the order's, in log order; those after the cancellation are not read, so a resend writes the same
    files. Quantities are placed as a WMS places them: newest release first, up to what each release holds of the
    line. A cancellation that names no location (recorded before they said) counts at every location."""
    releases: list[catalog.ShipmentReleased] = []
    cancelled: dict[str, Decimal] = {}  # order line id -> cancelled at this location so far
    for envelope in events:
        released = _read(envelope, catalog.ShipmentReleased)
        if released is not None:
            if released.from_location == location:
                releases.append(released)
            continue
        taken_off = _read(envelope, catalog.ReleaseCancelled)
        if taken_off is None or taken_off.from_location not in (None, location):
            continue
        before = _placed(releases, cancelled)
        unplaced_before = sum(cancelled.values(), ZERO) - _total(before)
        for line in taken_off.lines:
            # Read from v1, a cancellation said no quantity: the line's whole release here.
            quantity = line.quantity if line.quantity is not None else _released(releases, line.line_id)
            cancelled[line.line_id] = cancelled.get(line.line_id, ZERO) + quantity
        if envelope.id != cancellation:
            continue
        after = _placed(releases, cancelled)
        unplaced = sum(cancelled.values(), ZERO) - _total(after) - unplaced_before
        found = [
            ReleaseCancellation(
                release=r.release,
                order=r.order,
                warehouse=location,
                lines=tuple((n, sku, quantity, unit) for n, (sku, quantity, unit) in sorted(after[r.release].items())),
            )
            for r in releases
            if after.get(r.release, {}) != before.get(r.release, {})
        ]
        return found, max(ZERO, unplaced)
    raise LookupError(f"the release cancellation {cancellation} is not among the order's events")


def _read(envelope: Envelope, model: type[P]) -> P | None:
    """The event as `model` when it is one; an event that does not read places nothing."""
    if envelope.type != model.event_type:
        return None
    try:
        return catalog.payload_as(envelope, model)
    except InvalidEvent:
        return None


def _released(releases: Sequence[catalog.ShipmentReleased], line_id: str) -> Decimal:
    return sum((part.quantity.value for r in releases for part in r.lines if str(part.line) == line_id), ZERO)


def _total(placed: dict[str, dict[int, tuple[str, Decimal, str]]]) -> Decimal:
    return sum((quantity for lines in placed.values() for _sku, quantity, _unit in lines.values()), ZERO)


def _placed(
    releases: Sequence[catalog.ShipmentReleased], cancelled: dict[str, Decimal]
) -> dict[str, dict[int, tuple[str, Decimal, str]]]:
    """Per release, per line, what of the cancelled totals it carries: newest release first, up to its quantity."""
    placed: dict[str, dict[int, tuple[str, Decimal, str]]] = {}
    left = dict(cancelled)
    for released in reversed(releases):
        for part in released.lines:
            key = str(part.line)
            take = min(left.get(key, ZERO), part.quantity.value)
            if take > 0:
                placed.setdefault(released.release, {})[part.line] = (part.sku, take, part.quantity.unit)
                left[key] -= take
    return placed


def cancellation_csv(cancelled: ReleaseCancellation, reason: str) -> bytes:
    """A shipping order's cancel file: one row per line with the quantity cancelled of it so far."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CANCEL_COLUMNS)
    for line, sku, quantity, unit in cancelled.lines:
        writer.writerow((cancelled.release, cancelled.order, cancelled.warehouse, line, sku, quantity, unit, reason))
    return out.getvalue().encode("utf-8")


# ---- confirmations in ---------------------------------------------------------------------------------------------


def shipments_from_csv(content: bytes, location: str) -> list[documents.Shipment]:
    """A 3PL's CSV confirmation: rows of one `shipment` make one shipment of `order` from the 3PL's location; a row's
    `tracking` may hold several numbers separated by ';'. Every bad row is reported, each by line and column."""
    rows = _rows(content, CONFIRMATION_REQUIRED, CONFIRMATION_OPTIONAL)
    problems: list[str] = []
    grouped: dict[str, list[tuple[int, dict[str, str]]]] = {}
    for line, row in rows:
        missing = [column for column in CONFIRMATION_REQUIRED if not row.get(column)]
        if missing:
            problems.extend(f"line {line}, column {column}: missing" for column in missing)
            continue
        grouped.setdefault(row["shipment"], []).append((line, row))
    shipments = []
    for number, found in grouped.items():
        try:
            shipments.append(_shipment(number, found, location))
        except _CellProblem as problem:
            problems.append(str(problem))
    if problems:
        raise MappingError(
            "; ".join(problems[:20]) + (f" (and {len(problems) - 20} more)" if len(problems) > 20 else "")
        )
    if not shipments:
        raise MappingError("the confirmation file holds no shipment row")
    return shipments


class _CellProblem(ValueError):
    def __init__(self, line: int, column: str | None, reason: str) -> None:
        where = f"line {line}, column {column}" if column else f"line {line}"
        super().__init__(f"{where}: {reason}")


def _shipment(number: str, rows: list[tuple[int, dict[str, str]]], location: str) -> documents.Shipment:
    first_line, first = rows[0]
    for line, row in rows[1:]:
        for column in ("order", "carrier", "shipped_at"):
            if row.get(column, "") != first.get(column, ""):
                raise _CellProblem(
                    line, column, f"shipment {number} says {first.get(column, '')!r} on line {first_line}"
                )
    tracking: list[str] = []
    lines = []
    for line, row in rows:
        for value in (v.strip() for v in row.get("tracking", "").split(";")):
            if value and value not in tracking:
                tracking.append(value)
        try:
            number_of_line = int(row["line"])
        except ValueError:
            raise _CellProblem(line, "line", f"{row['line']!r} is not a line number") from None
        quantity = _decimal(line, row, "quantity")
        if quantity == 0:
            continue  # not shipped: a shipment lists only what left
        lines.append(_built(line, partial(_line, number_of_line, row["sku"], quantity, row.get("unit") or "EA")))
    shipped_at = _moment(first_line, first["shipped_at"], "shipped_at")
    return _built(
        first_line,
        lambda: documents.Shipment(
            number=number,
            order=first["order"],
            from_location=location,
            carrier=first.get("carrier") or None,
            tracking_numbers=tuple(tracking),
            shipped_at=shipped_at,
            lines=tuple(lines),
        ),
    )


def _line(number: int, sku: str, quantity: Decimal, unit: str) -> documents.ShipmentLine:
    return documents.ShipmentLine(line=number, sku=sku, quantity=documents.Quantity(value=quantity, unit=unit))


# ---- stock snapshots in -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """What a snapshot file says: the count to reconcile (locations with an unreadable row held back whole, since a
    count leaves nothing out of a location), as of when, and every row that could not be taken."""

    counts: dict[tuple[str, str], Decimal]
    as_of: datetime | None
    errors: tuple[batch_import.RowError, ...] = ()
    rows: int = 0
    held: tuple[batch_import.RowError, ...] = field(default=())

    def report(self) -> str:
        """The row errors as the reason kept beside a refused file, one per line."""
        found = sorted(self.errors, key=lambda e: e.line)
        lines = [f"line {e.line}, column {e.column}: {e.reason}" if e.column else f"line {e.line}: {e.reason}"
                 for e in found]  # fmt: skip
        lines.extend(f"line {e.line}: {e.reason}" for e in self.held)
        return "\n".join(lines)


def read_snapshot(name: str, content: bytes, location: str | None) -> Snapshot:
    """A daily stock snapshot (sku, location, on_hand, as_of), read by the batch import's stock layout with its
    `as_of` column required: a 3PL's count says when it was taken. The rule that a 3PL counts only its own `location`
    is this connector's. Raises batch_import.ImportFileError for what spoils the whole file."""
    parsed = batch_import.parse("stock", name, content, also_required=(AS_OF,))
    errors = list(parsed.errors)
    records = []
    for line, count in parsed.records:
        if location is not None and count.location != location:
            reason = f"{count.location!r} is not this 3PL's location ({location})"
            errors.append(
                batch_import.RowError(line, "location", reason, {"sku": count.sku, "location": count.location})
            )
            continue
        records.append((line, count))
    checked = batch_import.Parsed(kind="stock", records=records, errors=errors, rows=parsed.rows)
    counts, held = batch_import.stock_snapshot(checked)
    moments = [count.as_of for _line, count in records if count.as_of is not None]
    return Snapshot(counts, max(moments) if moments else None, tuple(errors), parsed.rows, tuple(held))


# ---- inside -------------------------------------------------------------------------------------------------------


def _rows(content: bytes, required: Sequence[str], optional: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MappingError(f"not UTF-8 text (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    first = next(reader, None)
    if first is None:
        raise MappingError(f"the file is empty (a header line is needed: {','.join(required)})")
    header = [value.strip() for value in first]
    missing = [column for column in required if column not in header]
    if missing:
        raise MappingError(f"line 1: the header lacks column {', '.join(missing)} (needs {','.join(required)})")
    unknown = [column for column in header if column not in (*required, *optional)]
    if unknown:
        raise MappingError(f"line 1: unknown column {', '.join(unknown)} (known: {', '.join((*required, *optional))})")
    rows = []
    for values in reader:
        if not any(value.strip() for value in values):
            continue
        if len(values) > len(header):
            raise MappingError(
                f"line {reader.line_num}: {len(values)} values, but the header has {len(header)} columns"
            )
        rows.append(
            (reader.line_num, {c: (values[i].strip() if i < len(values) else "") for i, c in enumerate(header)})
        )
    return rows


def _decimal(line: int, row: dict[str, str], column: str) -> Decimal:
    try:
        value = Decimal(row[column])
    except InvalidOperation:
        raise _CellProblem(line, column, f"{row[column]!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise _CellProblem(line, column, f"{row[column]!r} is not a quantity (a number of zero or more)")
    return value


def _moment(line: int, text: str, column: str) -> datetime:
    try:
        return batch_import.moment(text)
    except ValueError:
        raise _CellProblem(line, column, f"{text!r} is not an ISO date or time") from None


def _built(line: int, build: Callable[[], T]) -> T:
    try:
        return build()
    except ValidationError as exc:
        error = exc.errors()[0]
        column = str(error["loc"][0]) if error["loc"] else None
        raise _CellProblem(line, column, str(error["msg"])) from None
    except ValueError as exc:
        raise _CellProblem(line, None, str(exc)) from None
