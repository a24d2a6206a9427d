"""Who may call the hub and what was done: API key secrets and scopes, and the audit trail's hash chain.

Owns: the key format, how secrets are hashed and checked, what each scope grants, the canonical form of an audit
record and the verification of the chain. Must not: store anything or read the clock (storage and entrypoints do).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crossdock.hub.ports import ApiKey, AuditEntry, AuditRecord

KEY_PREFIX = "cdk"
GENESIS_HASH = "0" * 64

ORDERS_WRITE = "orders:write"
ORDERS_READ = "orders:read"
INVENTORY_READ = "inventory:read"
ADMIN = "admin"
WEBHOOK_PREFIX = "webhook:"
SCOPES = {
    ORDERS_WRITE: "place orders (POST /v1/orders)",
    ORDERS_READ: "read orders (GET /v1/orders, GET /v1/orders/{id})",
    INVENTORY_READ: "read availability (GET /v1/availability)",
    ADMIN: "everything, operations included; implies every other scope",
    WEBHOOK_PREFIX + "<source>": "post to one intake source (POST /v1/inbound/<source>)",
}
_SOURCE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_KEY_ID = re.compile(r"^[0-9a-f]{12}$")


class InvalidScope(ValueError):
    """Not a scope the hub knows."""


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """The scopes, stripped, deduplicated and in order; raises InvalidScope naming the first unknown one."""
    found: list[str] = []
    for raw in scopes:
        scope = raw.strip()
        if not scope:
            continue
        known = scope in SCOPES and not scope.endswith("<source>")
        webhook = scope.startswith(WEBHOOK_PREFIX) and _SOURCE.match(scope.removeprefix(WEBHOOK_PREFIX)) is not None
        if not (known or webhook):
            raise InvalidScope(
                f"{scope!r} is not a scope: use {', '.join((ORDERS_WRITE, ORDERS_READ, INVENTORY_READ, ADMIN))} "
                f"or {WEBHOOK_PREFIX}<source>"
            )
        if scope not in found:
            found.append(scope)
    if not found:
        raise InvalidScope("a key needs at least one scope")
    return tuple(found)


def grants(key: ApiKey, scope: str) -> bool:
    """Whether the key may act under this scope: it holds it, or it is an admin key."""
    return ADMIN in key.scopes or scope in key.scopes


def sees_channel(key: ApiKey, channel: str | None) -> bool:
    """A key without a channel restriction sees every channel; a restricted one only its own."""
    return key.channel is None or channel == key.channel


# ---- secrets ---------------------------------------------------------------------------------------------------


def hash_secret(salt: str, secret: str) -> str:
    """HMAC-SHA256 keyed with the key's own random salt. The secret is 256 random bits, so a slow password hash
    would add no protection and would cost every request; the salt keeps equal inputs from hashing alike."""
    return hmac.new(bytes.fromhex(salt), secret.encode("utf-8"), hashlib.sha256).hexdigest()


def new_key(
    *,
    name: str,
    scopes: Sequence[str],
    at: datetime,
    channel: str | None = None,
    rate_per_minute: int | None = None,
    created_by: str = "",
) -> tuple[ApiKey, str]:
    """A new key and its token (`cdk_<id>_<secret>`): the token is shown once and never stored."""
    if not name.strip() or len(name.strip()) > 60:
        raise ValueError("a key needs a name of 1 to 60 characters")
    if rate_per_minute is not None and rate_per_minute < 1:
        raise ValueError("the rate limit is at least one request per minute")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    key = ApiKey(
        id=key_id,
        name=name.strip(),
        scopes=check_scopes(scopes),
        salt=salt,
        secret_hash=hash_secret(salt, secret),
        created_at=at,
        channel=channel or None,
        rate_per_minute=rate_per_minute,
        created_by=created_by,
    )
    return key, f"{KEY_PREFIX}_{key_id}_{secret}"


def parse_token(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed token, else None."""
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not _KEY_ID.match(parts[1]) or not parts[2]:
        return None
    return parts[1], parts[2]


def secret_matches(key: ApiKey, secret: str) -> bool:
    """Constant time in the secret: a caller learns nothing from how long a wrong guess took."""
    return hmac.compare_digest(hash_secret(key.salt, secret), key.secret_hash)


# ---- the audit chain -------------------------------------------------------------------------------------------


def canonical(
    seq: int, at: datetime, actor: str, action: str, target: str, details: Mapping[str, Any], prev_hash: str
) -> bytes:
    """The bytes a record's hash covers: sorted keys, no spaces, UTC time to the microsecond."""
    body = {
        "seq": seq,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "target": target,
        "details": details,
        "prev_hash": prev_hash,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def record_hash(record: AuditRecord) -> str:
    data = canonical(
        record.seq, record.at, record.actor, record.action, record.target, record.details, record.prev_hash
    )
    return hashlib.sha256(data).hexdigest()


def chain(last: AuditRecord | None, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
    """The entries as the next links after `last` (None: the first records of the trail)."""
    seq, prev = (last.seq, last.hash) if last is not None else (0, GENESIS_HASH)
    linked: list[AuditRecord] = []
    for entry in entries:
        seq += 1
        # The JSON round trip the database makes, done first: what is hashed is what will be read back.
        details = json.loads(json.dumps(dict(entry.details), default=str))
        at = entry.at.astimezone(UTC)
        digest = hashlib.sha256(canonical(seq, at, entry.actor, entry.action, entry.target, details, prev)).hexdigest()
        record = AuditRecord(seq, at, entry.actor, entry.action, entry.target, details, prev, digest)
        linked.append(record)
        prev = digest
    return linked


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking the chain: how many records were read, and the first that does not hold."""

    records: int
    broken_at: int | None = None  # the seq of the first bad record
    reason: str = ""
    last_hash: str = GENESIS_HASH

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def verify(records: Iterable[AuditRecord]) -> Verdict:
    """Walk the records in seq order: each must carry the next seq, link to its predecessor's hash and hash to
    its own. An edited row fails its hash; a deleted or moved one breaks the sequence and the link."""
    count, expected_seq, prev = 0, 1, GENESIS_HASH
    for record in records:
        count += 1
        if record.seq > expected_seq:
            missing = (
                f"record {expected_seq}"
                if record.seq == expected_seq + 1
                else f"records {expected_seq}-{record.seq - 1}"
            )
            return Verdict(count, record.seq, f"{missing} before it is missing", prev)
        if record.seq != expected_seq:
            return Verdict(count, record.seq, f"it is out of place: record {expected_seq} was expected here", prev)
        if record.prev_hash != prev:
            return Verdict(count, record.seq, "its prev_hash does not match the record before it", prev)
        if record_hash(record) != record.hash:
            return Verdict(count, record.seq, "its content does not match its hash", prev)
        expected_seq, prev = record.seq + 1, record.hash
    return Verdict(count, None, "", prev)
