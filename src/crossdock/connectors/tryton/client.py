"""Transport only: Tryton's JSON-RPC over httpx. A login gives a session; `call("model.sale.sale.quote", [ids])`
runs one method in its own Tryton transaction. Decimals and dates travel in Tryton's tagged JSON.

Must not: know what a sale or a shipment means (mapping.py does), or import trytond: the hub speaks to Tryton over
its network API only. Writes to a Tryton on SQLite go one at a time (its number sequences race otherwise): every
call of one client passes through one lock unless `serialise_writes` is off (a Tryton on PostgreSQL).

Errors (the tree):
    TrytonError                 anything Tryton or the way to it refused
    ├── TrytonUnavailable       no answer, a timeout, HTTP 5xx/429, a concurrent-update race: try again later
    └── TrytonRefused           an answer that will not change by retrying
        ├── TrytonLoginFailed   wrong user or password, or the database does not exist
        └── TrytonUserError     a business rule of Tryton (UserError / UserWarning), with its message
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import threading
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import httpx


class TrytonError(Exception):
    """Tryton could not do what was asked."""


class TrytonUnavailable(TrytonError):
    """Tryton did not answer, or answered that it cannot now: the call may be tried again."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TrytonRefused(TrytonError):
    """Tryton refused the call; the same call will be refused again."""


class TrytonLoginFailed(TrytonRefused):
    """Tryton refused the login: wrong user or password, or no such database."""


class TrytonUserError(TrytonRefused):
    """A business rule of Tryton refused the call (its UserError or UserWarning)."""


_CONTEXT_PREFERENCES = ("company", "companies", "employee", "employees", "language", "company_filter")
# Tryton's concurrency errors are worth another try; the rest of its exceptions are refusals.
_RETRYABLE_FAULTS = ("ConcurrencyException", "DatabaseOperationalError", "TooManyRequests", "RateLimitException")


def encode(value: Any) -> Any:
    """Python values to Tryton's tagged JSON (Decimal, date, datetime, bytes)."""
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:  # Tryton keeps naive UTC
            value = value.astimezone(dt.UTC)
        return {
            "__class__": "datetime",
            "year": value.year,
            "month": value.month,
            "day": value.day,
            "hour": value.hour,
            "minute": value.minute,
            "second": value.second,
            "microsecond": value.microsecond,
        }
    if isinstance(value, dt.date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, bytes):
        return {"__class__": "bytes", "base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return value


def decode(value: Any) -> Any:
    """Tryton's tagged JSON back to Python values; a naive datetime from Tryton is UTC."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get("__class__")
    if kind == "Decimal":
        return Decimal(value["decimal"])
    if kind == "date":
        return dt.date(value["year"], value["month"], value["day"])
    if kind == "datetime":
        return dt.datetime(
            value["year"],
            value["month"],
            value["day"],
            value.get("hour", 0),
            value.get("minute", 0),
            value.get("second", 0),
            value.get("microsecond", 0),
            tzinfo=dt.UTC,
        )
    if kind == "timedelta":
        return dt.timedelta(seconds=value["seconds"])
    if kind == "bytes":
        return base64.b64decode(value["base64"])
    return {k: decode(v) for k, v in value.items()}


class TrytonClient:
    """One Tryton database as one user. Thread-safe; logs in lazily and again when the session expires."""

    def __init__(
        self,
        url: str,
        database: str,
        username: str,
        password: str,
        *,
        timeout_seconds: float = 30.0,
        serialise_writes: bool = True,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        self.url = url.rstrip("/") + "/"
        self.database = database
        self.username = username
        self._password = password
        self._http = httpx.Client(timeout=timeout_seconds, headers={"User-Agent": "crossdock"})
        self._session: str | None = None
        self._ids = itertools.count(1)
        self._context = dict(context or {})
        self._preferences: dict[str, Any] = {}
        # One lock for all calls when serialising: a read between writes is cheap, and reads taking part in a
        # decision (does this sale exist yet?) must not interleave with another sender's write.
        self._gate: threading.Lock | None = threading.Lock() if serialise_writes else None
        self._login_lock = threading.Lock()
        self.calls = 0

    # ---- the session ----------------------------------------------------------------------------------------------
    def login(self) -> None:
        with self._login_lock:
            result = self._post("common.db.login", [self.username, {"password": self._password}, "en"], None)
            if not isinstance(result, list) or len(result) < 2:
                raise TrytonLoginFailed(f"Tryton database {self.database!r} refused the login of {self.username!r}")
            user_id, token = result[0], result[1]
            raw = f"{self.username}:{user_id}:{token}".encode()
            self._session = "Session " + base64.b64encode(raw).decode("ascii")
            # The user's preferences (company, language) are the context every call runs in, as Tryton's own
            # clients do: company-dependent defaults (sequences, accounts) need them.
            preferences = self._post("model.res.user.get_preferences", [True, {}], self._session)
            self._preferences = {k: v for k, v in dict(preferences or {}).items() if k in _CONTEXT_PREFERENCES}

    def close(self) -> None:
        self._http.close()

    # ---- calls --------------------------------------------------------------------------------------------------
    def call(self, method: str, *params: Any) -> Any:
        """Call `method` (e.g. "model.sale.sale.create") with positional params; the client's context is added."""
        if self._gate is None:
            return self._call(method, list(params))
        with self._gate:
            return self._call(method, list(params))

    def model(self, model: str, method: str, *params: Any, context: Mapping[str, Any] | None = None) -> Any:
        """`model.<model>.<method>(*params, context)`: Tryton's model methods take the context last."""
        if self._session is None:
            self.login()
        merged = {**self._preferences, **self._context, **(context or {})}
        return self.call(f"model.{model}.{method}", *params, merged)

    def search_read(
        self,
        model: str,
        domain: Sequence[Any],
        fields: Sequence[str],
        *,
        order: Sequence[tuple[str, str]] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        rows = self.model(
            model, "search_read", list(domain), offset, limit, [list(o) for o in order or []], list(fields)
        )
        return list(rows)

    def read(self, model: str, ids: Sequence[int], fields: Sequence[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        return list(self.model(model, "read", list(ids), list(fields)))

    def create(self, model: str, values: Sequence[Mapping[str, Any]]) -> list[int]:
        return list(self.model(model, "create", [dict(v) for v in values]))

    def write(self, model: str, ids: Sequence[int], values: Mapping[str, Any]) -> None:
        self.model(model, "write", list(ids), dict(values))

    def button(self, model: str, name: str, ids: Sequence[int]) -> Any:
        """A workflow button (quote, confirm, assign_try, pick, pack, do, post...)."""
        return self.model(model, name, list(ids))

    # ---- inside ---------------------------------------------------------------------------------------------------
    def _call(self, method: str, params: list[Any]) -> Any:
        if self._session is None:
            self.login()
        try:
            return self._post(method, params, self._session)
        except _SessionExpired:
            self.login()
            return self._post(method, params, self._session)

    def _post(self, method: str, params: list[Any], session: str | None) -> Any:
        body = json.dumps({"id": next(self._ids), "method": method, "params": encode(params)})
        headers = {"Content-Type": "application/json"}
        if session is not None:
            headers["Authorization"] = session
        self.calls += 1
        try:
            answer = self._http.post(f"{self.url}{self.database}/rpc/", content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise TrytonUnavailable(f"{method}: no answer from Tryton at {self.url} in time") from exc
        except httpx.HTTPError as exc:
            raise TrytonUnavailable(f"{method}: cannot reach Tryton at {self.url}: {exc}") from exc
        if answer.status_code == 401:
            if session is None:
                raise TrytonLoginFailed(f"Tryton refused the login of {self.username!r} on {self.database!r}")
            raise _SessionExpired
        if answer.status_code == 403:
            raise TrytonRefused(f"{method}: Tryton answered 403 (forbidden) for user {self.username!r}")
        if answer.status_code == 429 or answer.status_code >= 500:
            retry = answer.headers.get("retry-after")
            raise TrytonUnavailable(
                f"{method}: Tryton answered HTTP {answer.status_code}",
                float(retry) if retry and retry.isdigit() else None,
            )
        if answer.status_code != 200:
            raise TrytonRefused(f"{method}: Tryton answered HTTP {answer.status_code}: {answer.text[:300]}")
        try:
            payload = answer.json()
        except ValueError as exc:
            raise TrytonRefused(f"{method}: Tryton's answer is not JSON: {answer.text[:200]}") from exc
        if payload.get("error"):
            raise _fault(method, payload["error"])
        return decode(payload.get("result"))


class _SessionExpired(Exception):
    """The session token is no longer valid: log in again."""


def _fault(method: str, error: Any) -> TrytonError:
    """Tryton's error answer: [exception name, args] for its own exceptions, a text otherwise."""
    if isinstance(error, list) and error:
        name = str(error[0])
        args = error[1] if len(error) > 1 else []
        text = _message(args)
        if name in ("UserError", "UserWarning"):
            return TrytonUserError(f"{method}: {text}")
        if name in _RETRYABLE_FAULTS:
            return TrytonUnavailable(f"{method}: Tryton reported {name}: {text}")
        if name in ("LoginException", "NotLogged", "AccessError"):
            return TrytonRefused(f"{method}: Tryton refused access ({name}): {text}")
        return TrytonRefused(f"{method}: Tryton failed with {name}: {text}")
    text = str(error)
    if "database is locked" in text or "could not serialize" in text:
        return TrytonUnavailable(f"{method}: {text[:300]}")
    return TrytonRefused(f"{method}: Tryton failed: {text[:500]}")


def _message(args: Any) -> str:
    if isinstance(args, list):
        return " ".join(str(a) for a in args if isinstance(a, str)) or json.dumps(args)[:300]
    return str(args)[:300]
