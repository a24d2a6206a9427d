"""The rules of API keys and the audit chain, without a database: tokens, hashing, scopes, channels, the per-key
rate limit, the key cache, and the chain's detection of edits, deletions and reordering."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from crossdock.entrypoints.api.auth import KeyCache, RateLimiter
from crossdock.hub import governance
from crossdock.hub.ports import ApiKey, AuditEntry, AuditRecord

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def make(*scopes: str, channel: str | None = None, rate: int | None = None) -> tuple[ApiKey, str]:
    return governance.new_key(name="k", scopes=scopes or ("admin",), at=T0, channel=channel, rate_per_minute=rate)


# ---- tokens and secrets ----------------------------------------------------------------------------------------


def test_a_new_token_names_its_key_and_only_its_secret_matches() -> None:
    key, token = make()

    parsed = governance.parse_token(token)

    assert parsed is not None and parsed[0] == key.id
    assert governance.secret_matches(key, parsed[1])
    assert not governance.secret_matches(key, parsed[1] + "x")
    assert parsed[1] not in repr(key), "the key as stored holds no secret"


def test_two_keys_never_share_a_salt_so_the_same_secret_hashes_differently() -> None:
    first, _ = make()
    second, _ = make()

    assert first.id != second.id and first.salt != second.salt
    assert governance.hash_secret(first.salt, "same") != governance.hash_secret(second.salt, "same")


@pytest.mark.parametrize(
    "token",
    [
        "",  # nothing
        "secret",  # no structure at all
        "cdk_0123456789ab",  # no secret part
        "cdk_0123456789ab_",  # an empty secret
        "xyz_0123456789ab_secret",  # another prefix
        "cdk_0123456789AB_secret",  # an id that is not lower-case hex
        "cdk_0123_secret",  # an id of the wrong length
    ],
)
def test_a_malformed_token_is_not_parsed(token: str) -> None:
    assert governance.parse_token(token) is None


def test_a_secret_may_hold_underscores() -> None:
    assert governance.parse_token("cdk_0123456789ab_a_b-c") == ("0123456789ab", "a_b-c")


@pytest.mark.parametrize(
    ("name", "rate"),
    [
        ("", None),  # no name
        ("x" * 61, None),  # a name too long to attribute in replay records
        ("ops", 0),  # a rate of nothing
    ],
)
def test_a_key_without_a_name_or_with_a_null_rate_is_refused(name: str, rate: int | None) -> None:
    with pytest.raises(ValueError):
        governance.new_key(name=name, scopes=["admin"], at=T0, rate_per_minute=rate)


# ---- scopes and channels ---------------------------------------------------------------------------------------


def test_known_scopes_and_webhook_scopes_are_accepted_in_order_without_repeats() -> None:
    assert governance.check_scopes([" orders:read", "webhook:shop-1", "orders:read", ""]) == (
        "orders:read",
        "webhook:shop-1",
    )


@pytest.mark.parametrize(
    "scopes",
    [
        ["orders:delete"],  # not a scope
        ["webhook:"],  # a webhook scope without a source
        ["webhook:<source>"],  # the placeholder of the documentation
        ["webhook:a b"],  # a source name with a space
        [],  # none at all
        [" "],  # only blanks
    ],
)
def test_unknown_scopes_are_refused(scopes: list[str]) -> None:
    with pytest.raises(governance.InvalidScope):
        governance.check_scopes(scopes)


def test_admin_grants_every_scope_and_others_grant_only_themselves() -> None:
    admin, _ = make("admin")
    reader, _ = make("orders:read", "webhook:shop")

    assert all(governance.grants(admin, s) for s in ("orders:write", "inventory:read", "webhook:any"))
    assert governance.grants(reader, "orders:read") and governance.grants(reader, "webhook:shop")
    assert not governance.grants(reader, "orders:write")
    assert not governance.grants(reader, "webhook:wms")
    assert not governance.grants(reader, "admin")


def test_a_channel_key_sees_only_its_channel_and_an_open_key_every_channel() -> None:
    web, _ = make("orders:read", channel="web")
    every, _ = make("orders:read")

    assert governance.sees_channel(web, "web")
    assert not governance.sees_channel(web, "market")
    assert not governance.sees_channel(web, None)
    assert governance.sees_channel(every, "market") and governance.sees_channel(every, None)


# ---- the rate limit --------------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.current = T0

    def now(self) -> datetime:
        return self.current


def test_a_key_gets_its_rate_per_minute_then_waits_for_the_next_token() -> None:
    limiter, clock = RateLimiter(), Clock()
    key, _ = make(rate=6)

    admitted = [limiter.admit(key, clock) for _ in range(6)]
    refused = limiter.admit(key, clock)
    clock.current += timedelta(seconds=10)
    refilled = limiter.admit(key, clock)

    assert admitted == [None] * 6, "a minute's worth may come at once"
    assert refused == pytest.approx(10.0), "six a minute: one every ten seconds"
    assert refilled is None


def test_keys_have_buckets_of_their_own_and_a_key_without_a_rate_is_never_limited() -> None:
    limiter, clock = RateLimiter(), Clock()
    slow, _ = make(rate=1)
    other, _ = make(rate=1)
    unlimited, _ = make()

    assert limiter.admit(slow, clock) is None
    assert limiter.admit(slow, clock) is not None
    assert limiter.admit(other, clock) is None
    assert all(limiter.admit(unlimited, clock) is None for _ in range(1000))


# ---- the key cache ---------------------------------------------------------------------------------------------


class Keys:
    def __init__(self) -> None:
        self.rows: dict[str, ApiKey] = {}
        self.reads = 0

    def get(self, key_id: str) -> ApiKey | None:
        self.reads += 1
        return self.rows.get(key_id)


class Uow:
    def __init__(self, keys: Keys) -> None:
        self.keys = keys


def cache_over(keys: Keys, ttl: float, now: list[float]) -> KeyCache:
    @contextmanager
    def begin() -> Iterator[Any]:
        yield Uow(keys)

    return KeyCache(begin, ttl, monotonic=lambda: now[0])  # type: ignore[arg-type]


def test_a_cached_key_is_trusted_for_its_ttl_then_read_again() -> None:
    keys, now = Keys(), [0.0]
    key, _ = make()
    keys.rows[key.id] = key
    cache = cache_over(keys, 5, now)

    first, second = cache.get(key.id), cache.get(key.id)
    keys.rows[key.id] = replace(key, revoked_at=T0)
    stale = cache.get(key.id)
    now[0] = 5.0
    fresh = cache.get(key.id)

    assert first == second == stale == key and keys.reads == 2
    assert fresh is not None and not fresh.active, "a revocation is seen once the ttl has passed"


def test_an_unknown_key_is_not_cached_so_a_new_key_works_at_once() -> None:
    keys, now = Keys(), [0.0]
    key, _ = make()
    cache = cache_over(keys, 60, now)

    assert cache.get(key.id) is None
    keys.rows[key.id] = key
    assert cache.get(key.id) == key


# ---- the audit chain -------------------------------------------------------------------------------------------


def trail(n: int = 5) -> list[AuditRecord]:
    entries = [
        AuditEntry(
            actor=f"cli:user{i % 2}",
            action="key.create",
            target=f"k{i}",
            at=T0 + timedelta(seconds=i),
            details={"scopes": ["admin"], "i": i},
        )
        for i in range(n)
    ]
    return governance.chain(None, entries)


def test_a_chain_verifies_and_continues_from_its_last_record() -> None:
    records = trail(3)
    more = governance.chain(records[-1], [AuditEntry("cli:ana", "key.revoke", "k0", T0)])

    verdict = governance.verify(records + more)

    assert verdict.intact and verdict.records == 4
    assert verdict.last_hash == more[0].hash
    assert more[0].seq == 4 and more[0].prev_hash == records[-1].hash


@pytest.mark.parametrize(
    ("tamper", "broken_at"),
    [
        (lambda r: [*r[:2], replace(r[2], details={"i": 99}), *r[3:]], 3),  # details edited
        (lambda r: [*r[:2], replace(r[2], at=r[2].at + timedelta(seconds=1)), *r[3:]], 3),  # time moved
        (lambda r: [*r[:2], *r[3:]], 4),  # a record deleted
        (lambda r: [*r[:2], r[3], r[2], *r[4:]], 4),  # two records swapped
        (lambda r: [*r[:2], replace(r[3], seq=3), replace(r[4], seq=4)], 3),  # deleted, then renumbered
        (lambda r: [replace(r[0], seq=2), *r[1:]], 2),  # the first record is not the first
    ],
)
def test_any_edit_deletion_or_reordering_breaks_the_chain_at_the_first_bad_record(tamper: Any, broken_at: int) -> None:
    verdict = governance.verify(tamper(trail()))

    assert not verdict.intact
    assert verdict.broken_at == broken_at


def test_a_forged_record_that_rehashes_itself_still_breaks_the_next_link() -> None:
    records = trail()
    edited = replace(records[2], actor="someone-else")
    forged = replace(edited, hash=governance.record_hash(edited))

    verdict = governance.verify([*records[:2], forged, *records[3:]])

    assert verdict.broken_at == 4 and "prev_hash" in verdict.reason


def test_the_hash_covers_the_time_to_the_microsecond_in_utc_whatever_the_zone_given() -> None:
    entry = AuditEntry("cli:ana", "key.create", "k", datetime(2025, 3, 3, 10, 0, 0, 1, tzinfo=UTC))
    shifted = replace(entry, at=entry.at.astimezone(ZoneInfo("Europe/Berlin")))

    assert governance.chain(None, [entry])[0].hash == governance.chain(None, [shifted])[0].hash
    later = replace(entry, at=entry.at + timedelta(microseconds=1))
    assert governance.chain(None, [entry])[0].hash != governance.chain(None, [later])[0].hash
