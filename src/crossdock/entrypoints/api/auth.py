"""API keys at the door and every call in the audit trail: who is calling, may they, how fast, and what they did.

Owns: reading the key from `Authorization: Bearer` or `X-API-Key`, the per-key rate limit (state in this process),
the refusals (401, 403, 429 as problem+json) and the batched writer of call records. Must not: decide what a scope
grants or hash anything itself (hub/governance.py does).
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crossdock.entrypoints.api import problems
from crossdock.hub import governance, retry
from crossdock.hub.ports import ApiKey, AuditEntry, Clock, EndpointState, UnitOfWorkFactory

log = logging.getLogger(__name__)

ANONYMOUS = "anonymous"
CALL_ACTION = "api.call"
AUDITED_PREFIX = "/v1/"

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer cdk_<id>_<secret>`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The same key in its own header.")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key, or nobody in particular when `api.auth` is off (then everything is allowed)."""

    key: ApiKey | None

    @property
    def actor(self) -> str:
        return ANONYMOUS if self.key is None else actor_of(self.key)

    @property
    def channel(self) -> str | None:
        return None if self.key is None else self.key.channel

    def sees(self, channel: str | None) -> bool:
        return self.key is None or governance.sees_channel(self.key, channel)


def actor_of(key: ApiKey) -> str:
    return f"key:{key.id}/{key.name}"


class Refused(Exception):
    """The request is refused before it reaches its route."""

    def __init__(self, status: int, code: str, title: str, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.code, self.title, self.detail, self.headers = status, code, title, detail, headers or {}


async def on_refused(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refused)
    response = problems.problem(exc.status, exc.code, exc.title, exc.detail)
    response.headers.update(exc.headers)
    return response


def _unauthenticated() -> Refused:
    # The same answer for a missing, malformed, unknown, wrong or revoked key: a caller learns nothing from it.
    return Refused(
        401,
        problems.Code.UNAUTHENTICATED,
        "Unauthenticated",
        "send a valid API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`",
        {"WWW-Authenticate": "Bearer"},
    )


def _forbidden() -> Refused:
    return Refused(403, problems.Code.FORBIDDEN, "Forbidden", "this key may not do this")


class KeyCache:
    """Keys read from storage, trusted for `ttl` seconds: a request does not open a transaction (on SQLite, a
    turn at the writer lock) just to read its key. Misses are not cached, so a new key works at once."""

    def __init__(self, begin: UnitOfWorkFactory, ttl: float, monotonic: Callable[[], float] = time.monotonic):
        self._begin = begin
        self._ttl = ttl
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[float, ApiKey]] = {}

    def get(self, key_id: str) -> ApiKey | None:
        now = self._monotonic()
        with self._lock:
            cached = self._keys.get(key_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        with self._begin() as uow:
            key = uow.keys.get(key_id)
        with self._lock:
            if key is None:
                self._keys.pop(key_id, None)
            elif self._ttl > 0:
                self._keys[key_id] = (now, key)
        return key


class RateLimiter:
    """A token bucket per key (hub/retry.py's arithmetic), refilled at the key's rate per minute, holding at most
    one minute's worth. The buckets live in this process: each API process grants a key its full rate."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, EndpointState] = {}

    def admit(self, key: ApiKey, clock: Clock) -> float | None:
        """None when the call may go ahead, else the seconds to wait for the next token."""
        if key.rate_per_minute is None:
            return None
        limit = retry.RateLimit(per_second=key.rate_per_minute / 60, burst=float(key.rate_per_minute))
        with self._lock:
            state = self._buckets.setdefault(key.id, EndpointState(endpoint=key.id))
            granted, wait = retry.take_tokens(state, limit, 1, clock.now())
        return None if granted else wait


class Guard:
    """Builds the routes' dependencies: `require(scope)` and `webhook()` answer the Principal, or refuse."""

    def __init__(self, begin: UnitOfWorkFactory, clock: Clock, *, required: bool, key_cache_seconds: float) -> None:
        self.required = required
        self._clock = clock
        self._keys = KeyCache(begin, key_cache_seconds)
        self._limiter = RateLimiter()

    def authenticate(self, request: Request, token: str | None) -> Principal:
        if not self.required:
            principal = Principal(None)
        else:
            parsed = governance.parse_token(token) if token else None
            key = self._keys.get(parsed[0]) if parsed else None
            if parsed is None or key is None or not key.active or not governance.secret_matches(key, parsed[1]):
                raise _unauthenticated()
            principal = Principal(key)
        request.state.principal = principal
        if principal.key is not None:
            wait = self._limiter.admit(principal.key, self._clock)
            if wait is not None:
                seconds = max(1, math.ceil(wait))
                raise Refused(
                    429,
                    problems.Code.RATE_LIMITED,
                    "Too many requests",
                    f"this key may make {principal.key.rate_per_minute} requests a minute; retry in {seconds}s",
                    {"Retry-After": str(seconds)},
                )
        return principal

    def _dependency(self, scope_of: Callable[[Request], str]) -> Callable[..., Principal]:
        def dependency(
            request: Request,
            bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
            header: Annotated[str | None, Depends(_header)],
        ) -> Principal:
            principal = self.authenticate(request, bearer.credentials if bearer else header)
            if principal.key is not None and not governance.grants(principal.key, scope_of(request)):
                raise _forbidden()
            return principal

        return dependency

    def require(self, scope: str) -> Callable[..., Principal]:
        return self._dependency(lambda _request: scope)

    def webhook(self) -> Callable[..., Principal]:
        """webhook:<source> of the path's source (or admin)."""
        return self._dependency(lambda request: governance.WEBHOOK_PREFIX + str(request.path_params.get("source")))


def forbidden() -> Refused:
    """For routes that refuse after reading the request (an order for another channel)."""
    return _forbidden()


# ---- the trail of calls ----------------------------------------------------------------------------------------

_FLUSH = object()
_STOP = object()


class AuditWriter:
    """Call records are queued and committed in batches by a thread of their own, after the response: one small
    transaction per batch, never one per request. A crash loses at most the records of the last moments; admin
    actions are recorded in the same transaction as their effect instead, and never lost that way."""

    def __init__(self, begin: UnitOfWorkFactory, *, window_seconds: float = 0.05, max_batch: int = 500) -> None:
        self._begin = begin
        self._window = window_seconds
        self._max_batch = max_batch
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def record(self, entry: AuditEntry) -> None:
        self._ensure_started()
        self._queue.put(entry)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every record queued so far is committed."""
        if self._thread is None:
            return
        done = threading.Event()
        self._queue.put((_FLUSH, done))
        done.wait(timeout)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=10)
            self._thread = None

    def _ensure_started(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            batch: list[AuditEntry] = []
            waiting: list[threading.Event] = []
            stop = self._gather(batch, waiting)
            if batch:
                self._commit(batch)
            for event in waiting:
                event.set()
            if stop:
                return

    def _gather(self, batch: list[AuditEntry], waiting: list[threading.Event]) -> bool:
        item = self._queue.get()
        deadline = time.monotonic() + self._window
        while True:
            if item is _STOP:
                return True
            if isinstance(item, tuple) and item[0] is _FLUSH:
                waiting.append(item[1])
                return False
            assert isinstance(item, AuditEntry)
            batch.append(item)
            if len(batch) >= self._max_batch:
                return False
            remaining = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                return False

    def _commit(self, batch: list[AuditEntry]) -> None:
        for attempt in range(3):
            try:
                with self._begin() as uow:
                    uow.audit.append(batch)
                    uow.commit()
                return
            except Exception:
                log.exception("audit batch of %d records failed (attempt %d of 3)", len(batch), attempt + 1)
                time.sleep(0.2 * (attempt + 1))
        log.error("audit batch of %d call records dropped after 3 attempts", len(batch))


class AuditMiddleware:
    """Records every /v1 call once its response has started: who (key or anonymous), method, route, status.
    The console records its own calls through a subclass, which says which calls and how their route reads."""

    action = CALL_ACTION

    def __init__(self, app: ASGIApp, *, writer: AuditWriter, clock: Clock) -> None:
        self.app = app
        self.writer = writer
        self.clock = clock

    def audits(self, scope: Scope) -> bool:
        return str(scope.get("path", "")).startswith(AUDITED_PREFIX)

    def route(self, scope: Scope) -> str:
        return str(getattr(scope.get("route"), "path", None) or scope.get("path", ""))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.audits(scope):
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        status = {"code": 500}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self._record(scope, state, status["code"])

    def _record(self, scope: Scope, state: dict[str, Any], status: int) -> None:
        principal = state.get("principal")
        key = principal.key if isinstance(principal, Principal) else None
        route = self.route(scope)
        method = str(scope.get("method", ""))
        self.writer.record(
            AuditEntry(
                actor=principal.actor if isinstance(principal, Principal) else ANONYMOUS,
                action=self.action,
                target=f"{method} {route}",
                at=self.clock.now(),
                details={
                    "key_id": key.id if key else None,
                    "method": method,
                    "route": route,
                    "path": scope.get("path", ""),
                    "status": status,
                },
            )
        )
