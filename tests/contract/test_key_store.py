"""The key-store contract: keys are stored with their hash, never their secret, listed oldest first, and revoked
once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pytest
import sqlalchemy as sa

from crossdock.hub import governance
from crossdock.hub.ports import ApiKey, UnitOfWorkFactory
from crossdock.storage.memory import UniqueViolation
from tests.contract.builders import T0, at


def key(
    name: str = "webshop",
    *,
    scopes: Sequence[str] = ("orders:write", "orders:read"),
    created: datetime = T0,
    channel: str | None = "web",
    rate_per_minute: int | None = 600,
) -> tuple[ApiKey, str]:
    return governance.new_key(
        name=name, scopes=scopes, at=created, channel=channel, rate_per_minute=rate_per_minute, created_by="cli:ana"
    )


def test_a_stored_key_reads_back_as_it_was_given_and_still_checks_its_secret(uow_factory: UnitOfWorkFactory) -> None:
    stored, token = key()
    with uow_factory() as uow:
        uow.keys.add(stored)
        uow.commit()

    with uow_factory() as uow:
        found = uow.keys.get(stored.id)

    assert found == stored
    assert found is not None and governance.secret_matches(found, token.split("_", 2)[2])


def test_keys_are_listed_oldest_first_with_revoked_ones(uow_factory: UnitOfWorkFactory) -> None:
    first, _ = key("first", created=at(minutes=1))
    second, _ = key("second", created=at(minutes=2), channel=None, rate_per_minute=None, scopes=["admin"])
    with uow_factory() as uow:
        uow.keys.add(second)
        uow.keys.add(first)
        uow.keys.revoke(first.id, at(minutes=3))
        uow.commit()

    with uow_factory() as uow:
        listed = uow.keys.all()

    assert [(k.name, k.active) for k in listed] == [("first", False), ("second", True)]
    assert listed[1] == second


def test_revoking_twice_keeps_the_first_time_and_an_unknown_key_is_none(uow_factory: UnitOfWorkFactory) -> None:
    stored, _ = key()
    with uow_factory() as uow:
        uow.keys.add(stored)
        first = uow.keys.revoke(stored.id, at(minutes=1))
        second = uow.keys.revoke(stored.id, at(minutes=2))
        unknown = uow.keys.revoke("0123456789ab", at(minutes=2))
        uow.commit()

    assert first is not None and first.revoked_at == at(minutes=1)
    assert second is not None and second.revoked_at == at(minutes=1)
    assert unknown is None


def test_a_revocation_that_is_not_committed_leaves_the_key_active(uow_factory: UnitOfWorkFactory) -> None:
    stored, _ = key()
    with uow_factory() as uow:
        uow.keys.add(stored)
        uow.commit()
    with uow_factory() as uow:
        uow.keys.revoke(stored.id, at(minutes=1))

    with uow_factory() as uow:
        found = uow.keys.get(stored.id)
    assert found is not None and found.active


def test_a_second_key_with_the_same_id_is_refused(uow_factory: UnitOfWorkFactory) -> None:
    stored, _ = key()
    with uow_factory() as uow:
        uow.keys.add(stored)
        with pytest.raises((UniqueViolation, sa.exc.IntegrityError)):
            uow.keys.add(stored)
