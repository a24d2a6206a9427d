"""The shard-lease contract: one owner per shard at a time, a fair share each, and a crashed owner's shards
taken over once its leases expire."""

from __future__ import annotations

from datetime import datetime

from crossdock.hub.ports import UnitOfWorkFactory
from tests.contract.builders import at

TTL = 15.0


def rebalance(
    uow_factory: UnitOfWorkFactory, owner: str, now: datetime, shards: int = 8, pool: str = "inbox"
) -> list[int]:
    with uow_factory() as uow:
        owned = uow.leases.rebalance(pool, owner, shards, now, TTL)
        uow.commit()
    return owned


def hold(uow_factory: UnitOfWorkFactory, owner: str, shards: list[int], now: datetime) -> list[int]:
    with uow_factory() as uow:
        held = uow.leases.hold("inbox", owner, shards)
        uow.commit()
    return held


def test_a_lone_owner_takes_every_shard(uow_factory: UnitOfWorkFactory) -> None:
    assert rebalance(uow_factory, "worker-a", at()) == list(range(8))


def test_rebalancing_again_keeps_the_same_shards(uow_factory: UnitOfWorkFactory) -> None:
    rebalance(uow_factory, "worker-a", at())

    assert rebalance(uow_factory, "worker-a", at(seconds=5)) == list(range(8))


def test_two_owners_end_up_with_a_fair_split(uow_factory: UnitOfWorkFactory) -> None:
    rebalance(uow_factory, "worker-a", at())
    joined = rebalance(uow_factory, "worker-b", at(seconds=1))  # nothing free yet: it waits for a's next round
    a = rebalance(uow_factory, "worker-a", at(seconds=2))  # a sees b and gives up its extra shards
    b = rebalance(uow_factory, "worker-b", at(seconds=3))

    assert joined == []
    assert (len(a), len(b)) == (4, 4)
    assert sorted(a + b) == list(range(8))
    assert rebalance(uow_factory, "worker-a", at(seconds=4)) == a
    assert rebalance(uow_factory, "worker-b", at(seconds=5)) == b


def test_an_uneven_count_gives_no_owner_more_than_its_rounded_up_share(uow_factory: UnitOfWorkFactory) -> None:
    owners = ["worker-a", "worker-b", "worker-c"]
    owned: dict[str, list[int]] = {}
    for round_ in range(3):
        for i, owner in enumerate(owners):
            owned[owner] = rebalance(uow_factory, owner, at(seconds=round_ * 3 + i))

    assert sorted(len(shards) for shards in owned.values()) == [2, 3, 3]
    assert sorted(s for shards in owned.values() for s in shards) == list(range(8))


def test_a_crashed_owners_expired_shards_are_taken_over(uow_factory: UnitOfWorkFactory) -> None:
    rebalance(uow_factory, "worker-a", at())
    rebalance(uow_factory, "worker-b", at(seconds=1))
    a = rebalance(uow_factory, "worker-a", at(seconds=2))
    rebalance(uow_factory, "worker-b", at(seconds=3))
    # worker-a stops renewing; once its leases expire worker-b is alone and takes everything
    assert rebalance(uow_factory, "worker-b", at(seconds=2 + TTL - 1)) != list(range(8))

    assert rebalance(uow_factory, "worker-b", at(seconds=2 + TTL)) == list(range(8))
    assert hold(uow_factory, "worker-a", a, at(seconds=2 + TTL + 1)) == []


def test_no_shard_is_taken_from_a_live_owner_without_it_giving_it_up(uow_factory: UnitOfWorkFactory) -> None:
    a = rebalance(uow_factory, "worker-a", at())
    rebalance(uow_factory, "worker-b", at(seconds=1))

    assert hold(uow_factory, "worker-a", a, at(seconds=2)) == a


def test_hold_returns_only_the_shards_still_owned_and_leaves_renewal_to_rebalance(
    uow_factory: UnitOfWorkFactory,
) -> None:
    rebalance(uow_factory, "worker-a", at())
    rebalance(uow_factory, "worker-b", at(seconds=1))
    a = rebalance(uow_factory, "worker-a", at(seconds=2))
    gone = sorted(set(range(8)) - set(a))

    assert hold(uow_factory, "worker-a", list(range(8)), at(seconds=3)) == a
    assert hold(uow_factory, "worker-a", gone, at(seconds=3)) == []
    assert hold(uow_factory, "worker-a", [], at(seconds=3)) == []
    # hold is a read: the leases still run out when rebalance last renewed them (at 2s)
    with uow_factory() as uow:
        assert uow.leases.owners(at(seconds=2 + TTL - 1))["inbox"]["worker-a"] == 4
        assert "worker-a" not in uow.leases.owners(at(seconds=2 + TTL)).get("inbox", {})


def test_released_shards_are_free_for_another_owner_at_once(uow_factory: UnitOfWorkFactory) -> None:
    rebalance(uow_factory, "worker-a", at())

    with uow_factory() as uow:
        uow.leases.release("inbox", "worker-a")
        uow.commit()

    assert rebalance(uow_factory, "worker-b", at(seconds=1)) == list(range(8))
    with uow_factory() as uow:
        assert uow.leases.owners(at(seconds=1)) == {"inbox": {"worker-b": 8}}


def test_owners_lists_live_owners_per_pool_with_their_shard_count(uow_factory: UnitOfWorkFactory) -> None:
    rebalance(uow_factory, "worker-a", at(), pool="inbox")
    rebalance(uow_factory, "worker-a", at(), shards=4, pool="outbox")
    rebalance(uow_factory, "worker-b", at(seconds=1), pool="inbox")
    rebalance(uow_factory, "worker-a", at(seconds=2), pool="inbox")

    with uow_factory() as uow:
        assert uow.leases.owners(at(seconds=2)) == {"inbox": {"worker-a": 4}, "outbox": {"worker-a": 4}}
        assert uow.leases.owners(at(seconds=2 + TTL)) == {}


def test_pools_are_leased_independently(uow_factory: UnitOfWorkFactory) -> None:
    assert rebalance(uow_factory, "worker-a", at(), pool="inbox") == list(range(8))

    assert rebalance(uow_factory, "worker-b", at(seconds=1), pool="outbox") == list(range(8))
