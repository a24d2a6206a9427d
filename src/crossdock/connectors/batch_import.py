"""CSV batch files of master data and stock counts read into domain records: items, customers, price-list
entries and stock snapshots, with every bad row reported by line, column and reason while the good ones go on.

Pure: bytes in, records and row errors out. Must not: store anything or decide what a record changes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from crossdock.domain.documents import Customer, Item
from crossdock.domain.workflows.order_to_cash import PriceList

Model = TypeVar("Model", bound=BaseModel)


class ImportFileError(ValueError):
    """The file as a whole cannot be read (not UTF-8 text, no header, a required column missing)."""


@dataclass(frozen=True)
class RowError:
    line: int
    column: str | None  # None: the row as a whole
    reason: str
    cells: dict[str, str] = field(default_factory=dict, compare=False)  # the row as read, by column


@dataclass(frozen=True)
class PriceEntry:
    """One sku's price on one price list."""

    price_list: str
    currency: str
    sku: str
    price: Decimal


@dataclass(frozen=True)
class StockCount:
    sku: str
    location: str
    on_hand: Decimal
    as_of: datetime | None = None  # when the count was taken, when the file says (column `as_of`)


@dataclass(frozen=True)
class Parsed:
    kind: str
    records: list[tuple[int, Any]] = field(default_factory=list)  # (line, record), in file order
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0  # data rows read (blank lines aside)


@dataclass(frozen=True)
class _Layout:
    required: tuple[str, ...]
    optional: tuple[str, ...]
    key: Callable[[Any], str]  # what two rows may not share
    build: Callable[[dict[str, str]], Any]


class _RowProblem(ValueError):
    def __init__(self, column: str | None, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


def _conversions(text: str) -> dict[str, str]:
    """`CASE=12;PAL=480` -> {"CASE": "12", "PAL": "480"}."""
    found: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        unit, sep, factor = part.partition("=")
        if not sep or not unit.strip() or not factor.strip():
            raise _RowProblem("conversions", f"{part!r} is not UNIT=FACTOR (e.g. CASE=12;PAL=480)")
        found[unit.strip()] = factor.strip()
    return found


def _item(row: dict[str, str]) -> Item:
    fields: dict[str, Any] = {k: v for k, v in row.items() if v and k != "conversions"}
    fields["conversions"] = _conversions(row.get("conversions", ""))
    return _validated(Item, fields)


def _customer(row: dict[str, str]) -> Customer:
    return _validated(Customer, {k: v for k, v in row.items() if v})


def _price(row: dict[str, str]) -> PriceEntry:
    price = _decimal(row, "price")
    if price < 0:
        raise _RowProblem("price", f"{row['price']!r} is below zero")
    _validated(PriceList, {"currency": row["currency"], "prices": {row["sku"]: price}})
    return PriceEntry(price_list=row["price_list"], currency=row["currency"], sku=row["sku"], price=price)


def _stock(row: dict[str, str]) -> StockCount:
    on_hand = _decimal(row, "on_hand")
    if on_hand < 0:
        raise _RowProblem("on_hand", f"{row['on_hand']!r} is not a count (a number of zero or more)")
    as_of = None
    if row.get("as_of"):
        try:
            as_of = moment(row["as_of"])
        except ValueError:
            raise _RowProblem(
                "as_of", f"{row['as_of']!r} is not an ISO date or time (2025-03-03 or 2025-03-03T06:00:00+00:00)"
            ) from None
    return StockCount(sku=row["sku"], location=row["location"], on_hand=on_hand, as_of=as_of)


def moment(text: str) -> datetime:
    """An ISO time (without an offset: UTC) or an ISO date (its start, UTC); ValueError for anything else."""
    if "T" not in text and " " not in text:
        return datetime.combine(date.fromisoformat(text), time(0), tzinfo=UTC)
    found = datetime.fromisoformat(text)
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def _decimal(row: dict[str, str], column: str) -> Decimal:
    try:
        value = Decimal(row[column])
    except InvalidOperation:
        raise _RowProblem(column, f"{row[column]!r} is not a number") from None
    if not value.is_finite():
        raise _RowProblem(column, f"{row[column]!r} is not a number")
    return value


def _validated(model: type[Model], fields: dict[str, Any]) -> Model:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(part) for part in first["loc"]]
        column = loc[0] if loc else None
        if column is None:
            # A rule over the whole record names its field at the start of its message ("conversions: ...").
            named = str(first["msg"]).removeprefix("Value error, ").split(":", 1)[0]
            column = named if named in model.model_fields else None
        if model is PriceList and column is not None:
            column = "currency" if column == "currency" else "price"
        detail = f" ({'.'.join(loc[1:])})" if len(loc) > 1 and model is not PriceList else ""
        given = first.get("input")
        shown = f"{given!r}: " if isinstance(given, str) else ""
        raise _RowProblem(column, f"{shown}{first['msg']}{detail}") from None


LAYOUTS: dict[str, _Layout] = {
    "items": _Layout(
        required=("sku",),
        optional=("description", "base_unit", "item_class", "conversions"),
        key=lambda item: f"sku {item.sku}",
        build=_item,
    ),
    "customers": _Layout(
        required=("number", "currency", "credit_limit"),
        optional=("name", "price_list", "region"),
        key=lambda customer: f"customer {customer.number}",
        build=_customer,
    ),
    "prices": _Layout(
        required=("price_list", "currency", "sku", "price"),
        optional=(),
        key=lambda entry: f"sku {entry.sku} on price list {entry.price_list}",
        build=_price,
    ),
    "stock": _Layout(
        required=("sku", "location", "on_hand"),
        optional=("as_of",),
        key=lambda count: f"{count.sku} at {count.location}",
        build=_stock,
    ),
}


def columns(kind: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(required, optional) columns of a kind of file."""
    layout = LAYOUTS[kind]
    return layout.required, layout.optional


def parse(
    kind: str,
    name: str,
    content: bytes,
    on_row: Callable[[], None] | None = None,
    *,
    also_required: Sequence[str] = (),
) -> Parsed:
    """Every row of the file checked; `on_row` is told after each one (a progress bar). `also_required`: optional
    columns of the layout that this reader needs (a 3PL's snapshot needs its `as_of`). Raises ImportFileError only for
    what spoils the whole file."""
    if kind not in LAYOUTS:
        raise ImportFileError(f"{name}: unknown kind of import {kind!r} (known: {', '.join(LAYOUTS)})")
    layout = LAYOUTS[kind]
    if also_required:
        unknown = [column for column in also_required if column not in layout.optional]
        if unknown:
            raise ImportFileError(f"{name}: {', '.join(unknown)} is not an optional column of a {kind} file")
        kept = tuple(column for column in layout.optional if column not in also_required)
        layout = _Layout(required=(*layout.required, *also_required), optional=kept, key=layout.key, build=layout.build)
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{name}: not UTF-8 text (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = _header(name, next(reader, None), layout)
    parsed = Parsed(kind=kind)
    first_seen: dict[str, int] = {}
    currencies: dict[str, tuple[str, int]] = {}
    rows = 0
    for values in reader:
        line = reader.line_num
        if not any(value.strip() for value in values):
            continue  # a blank line
        rows += 1
        try:
            record = _record(layout, header, values)
            key = layout.key(record)
            if key in first_seen:
                raise _RowProblem(None, f"{key} appears again (first on line {first_seen[key]})")
            if isinstance(record, PriceEntry):
                _same_currency(record, line, currencies)
            first_seen[key] = line
            parsed.records.append((line, record))
        except _RowProblem as problem:
            cells = {column: value.strip() for column, value in zip(header, values, strict=False)}
            parsed.errors.append(RowError(line, problem.column, problem.reason, cells))
        if on_row is not None:
            on_row()
    return Parsed(kind=kind, records=parsed.records, errors=parsed.errors, rows=rows)


def count_rows(content: bytes) -> int:
    """Roughly how many rows the file holds (for a progress bar's total)."""
    return max(content.count(b"\n") - 1, 0) + (0 if content.endswith(b"\n") else 1)


def _header(name: str, values: Sequence[str] | None, layout: _Layout) -> list[str]:
    if values is None:
        raise ImportFileError(f"{name}: the file is empty (a header line is needed: {','.join(layout.required)})")
    header = [value.strip() for value in values]
    missing = [column for column in layout.required if column not in header]
    if missing:
        raise ImportFileError(
            f"{name} line 1: the header lacks column {', '.join(missing)} (needs {','.join(layout.required)})"
        )
    known = set(layout.required) | set(layout.optional)
    unknown = [column for column in header if column not in known]
    if unknown:
        raise ImportFileError(f"{name} line 1: unknown column {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    repeated = sorted({column for column in header if header.count(column) > 1})
    if repeated:
        raise ImportFileError(f"{name} line 1: column {', '.join(repeated)} appears twice")
    return header


def _record(layout: _Layout, header: list[str], values: list[str]) -> Any:
    if len(values) > len(header):
        raise _RowProblem(None, f"{len(values)} values, but the header has {len(header)} columns")
    row = {column: (values[i].strip() if i < len(values) else "") for i, column in enumerate(header)}
    for column in layout.required:
        if not row[column]:
            raise _RowProblem(column, "missing")
    return layout.build(row)


def _same_currency(entry: PriceEntry, line: int, currencies: dict[str, tuple[str, int]]) -> None:
    currency, first_line = currencies.setdefault(entry.price_list, (entry.currency, line))
    if currency != entry.currency:
        raise _RowProblem(
            "currency",
            f"price list {entry.price_list} is in {currency} (line {first_line}), not {entry.currency}",
        )


def stock_snapshot(parsed: Parsed) -> tuple[dict[tuple[str, str], Decimal], list[RowError]]:
    """The count to reconcile, and the good rows held back from it. A count leaves nothing out of a location (a
    position it does not list counts as zero), so a location with a row that could not be read is not reconciled
    at all; when a bad row names no location, no location is."""
    unsure = {error.cells.get("location", "") for error in parsed.errors}
    snapshot: dict[tuple[str, str], Decimal] = {}
    held: list[RowError] = []
    for line, count in parsed.records:
        if count.location in unsure or "" in unsure:
            bad = min(e.line for e in parsed.errors if e.cells.get("location", "") in (count.location, ""))
            reason = f"held back: line {bad} at this location could not be read, and a count leaves nothing out"
            held.append(RowError(line, None, reason, {"sku": count.sku, "location": count.location}))
            continue
        snapshot[(count.sku, count.location)] = count.on_hand
    return snapshot, held
