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
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import TypeVar

from pydantic import ValidationError

from crossdock.connectors import batch_import
from crossdock.connectors.wms.mapping import ShipTo
from crossdock.domain import catalog, documents
from crossdock.hub.errors import MappingError

# A shipping order file: one row per line released.
ORDER_COLUMNS = ("release", "order", "customer", "customer_name", "customer_reference", "warehouse", "line", "sku",
                 "quantity", "unit")  # fmt: skip
CONFIRMATION_REQUIRED = ("shipment", "order", "line", "sku", "quantity", "shipped_at")
CONFIRMATION_OPTIONAL = ("unit", "carrier", "tracking")
AS_OF = "as_of"
T = TypeVar("T")


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
    """A daily stock snapshot (sku, location, on_hand, as_of). The stock columns are read by the batch import's
    stock layout; `as_of` (an ISO date or time) is read here, and so is the rule that a 3PL counts only its own
    `location`. Raises batch_import.ImportFileError for what spoils the whole file."""
    without, as_of_by_line = _split_as_of(name, content)
    parsed = batch_import.parse("stock", name, without)
    errors = list(parsed.errors)
    records = []
    moments: list[datetime] = []
    for line, count in parsed.records:
        cells = {"sku": count.sku, "location": count.location}
        try:
            if location is not None and count.location != location:
                raise _Cell("location", f"{count.location!r} is not this 3PL's location ({location})")
            moments.append(_moment_of(as_of_by_line.get(line, "")))
        except _Cell as problem:
            errors.append(batch_import.RowError(line, problem.column, problem.reason, cells))
            continue
        records.append((line, count))
    checked = batch_import.Parsed(kind="stock", records=records, errors=errors, rows=parsed.rows)
    counts, held = batch_import.stock_snapshot(checked)
    return Snapshot(counts, max(moments) if moments else None, tuple(errors), parsed.rows, tuple(held))


class _Cell(ValueError):
    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


def _moment_of(text: str) -> datetime:
    if not text:
        raise _Cell(AS_OF, "missing")
    try:
        return _parse_moment(text)
    except ValueError:
        raise _Cell(AS_OF, f"{text!r} is not an ISO date or time (2025-03-03 or 2025-03-03T06:00:00+00:00)") from None


def _split_as_of(name: str, content: bytes) -> tuple[bytes, dict[int, str]]:
    """The file without its `as_of` column, each row kept on the line it was on (so that the stock layout's errors
    name the file's own lines), and the as_of of each line."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise batch_import.ImportFileError(f"{name}: not UTF-8 text (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise batch_import.ImportFileError(
            f"{name}: the file is empty (a header line is needed: sku,location,on_hand,as_of)"
        )
    names = [value.strip() for value in header]
    if AS_OF not in names:
        raise batch_import.ImportFileError(
            f"{name} line 1: the header lacks column {AS_OF} (needs sku,location,on_hand,as_of)"
        )
    at = names.index(AS_OF)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names[:at] + names[at + 1 :])
    written = 1
    as_of: dict[int, str] = {}
    for values in reader:
        line = reader.line_num
        as_of[line] = values[at].strip() if at < len(values) else ""
        row = io.StringIO()
        csv.writer(row, lineterminator="\n").writerow(values[:at] + values[at + 1 :])
        rendered = row.getvalue()
        padding = max(0, line - written - rendered.count("\n"))
        out.write("\n" * padding + rendered)
        written += padding + rendered.count("\n")
    return out.getvalue().encode("utf-8"), as_of


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


def _parse_moment(text: str) -> datetime:
    """An ISO time (without an offset: UTC) or a date (its start, UTC)."""
    if "T" not in text and " " not in text:
        return datetime.combine(date.fromisoformat(text), time(0), tzinfo=UTC)
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _moment(line: int, text: str, column: str) -> datetime:
    try:
        return _parse_moment(text)
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
