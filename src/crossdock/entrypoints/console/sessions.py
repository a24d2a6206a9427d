"""Console sign-in: an API key is posted once, checked like any API call, and the browser keeps only the id of a
session held here (HttpOnly, SameSite=Strict cookie); every page re-checks that the key is still active and admin.

Owns: sessions (id -> key id, anti-forgery token, expiry), the cookie and the sign-in check. Must not: keep the key's
secret, or decide what a scope grants (hub/governance.py does).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request, Response

from crossdock.entrypoints.api.auth import KeyCache
from crossdock.hub import governance
from crossdock.hub.ports import ApiKey

COOKIE = "crossdock_console"
SCOPE = governance.ADMIN  # the console replays, overrides and cancels: it is an operator's tool
IDLE_SECONDS = 8 * 3600.0  # a session unused this long is gone; signing in again is one paste
MAX_SESSIONS = 10_000  # beyond this the longest-idle session is dropped: memory stays bounded


class SignInRefused(Exception):
    """The key is not one this hub knows, is revoked, or lacks the admin scope."""


@dataclass
class Session:
    id: str
    key_id: str
    csrf: str  # echoed by every form and htmx request: a page on another site cannot post as this operator
    last_seen: float


class Sessions:
    """Sessions live in this process: a restart signs everyone out, and several API processes behind one address
    need sticky routing for the console (the API itself needs none)."""

    def __init__(
        self, keys: KeyCache, *, idle_seconds: float = IDLE_SECONDS, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._keys = keys
        self._idle = idle_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def sign_in(self, token: str) -> tuple[Session, ApiKey]:
        """Check a pasted key as the API checks a bearer token; raises SignInRefused with the reason to show."""
        parsed = governance.parse_token(token)
        key = self._keys.get(parsed[0]) if parsed else None
        if parsed is None or key is None or not key.active or not governance.secret_matches(key, parsed[1]):
            # One answer for malformed, unknown, wrong and revoked keys: a guesser learns nothing.
            raise SignInRefused("this is not a valid API key: paste the whole key `crossdock keys create` printed")
        if not governance.grants(key, SCOPE):
            raise SignInRefused(f"key {key.id} ({key.name}) does not have the {SCOPE} scope the console needs")
        session = Session(secrets.token_urlsafe(32), key.id, secrets.token_urlsafe(24), self._monotonic())
        with self._lock:
            self._expire()
            if len(self._sessions) >= MAX_SESSIONS:
                idlest = min(self._sessions.values(), key=lambda s: s.last_seen)
                del self._sessions[idlest.id]
            self._sessions[session.id] = session
        return session, key

    def current(self, request: Request) -> tuple[Session, ApiKey] | None:
        """The session of this request and its key, if both are still good."""
        session_id = request.cookies.get(COOKIE)
        if not session_id:
            return None
        now = self._monotonic()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None or now - session.last_seen > self._idle:
                self._sessions.pop(session_id, None)
                return None
            session.last_seen = now
        key = self._keys.get(session.key_id)
        if key is None or not key.active or not governance.grants(key, SCOPE):
            self.sign_out(session_id)  # revoked or demoted since sign-in: the session ends with it
            return None
        return session, key

    def sign_out(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def _expire(self) -> None:
        now = self._monotonic()
        for stale in [s.id for s in self._sessions.values() if now - s.last_seen > self._idle]:
            del self._sessions[stale]


def csrf_ok(session: Session, offered: str | None) -> bool:
    return offered is not None and hmac.compare_digest(session.csrf.encode(), offered.encode())


def set_cookie(response: Response, request: Request, session: Session, path: str) -> None:
    response.set_cookie(
        COOKIE,
        session.id,
        path=path,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_cookie(response: Response, path: str) -> None:
    response.delete_cookie(COOKIE, path=path, httponly=True, samesite="strict")
