"""Stopping the hub the way service managers do (SIGTERM): it finishes its round, records what it sent and
hands its shards back at once, instead of leaving them to expire."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy.engine import Engine

from tests.integration.harness import HubConfig, Processes, Sender, orders, rows, wait_until


def test_a_terminated_hub_hands_its_shards_back_and_leaves_nothing_in_flight(
    sqlite_url: str,
    processes: Processes,
    hub_config: Callable[..., HubConfig],
    database: Callable[[str], Engine],
) -> None:
    sink = processes.sink()
    config = hub_config(sqlite_url, sink.hook)
    engine = database(sqlite_url)
    hub = processes.hub(config)
    asyncio.run(Sender(config.base_url, in_flight=8).send(orders(8, 25), 60))
    wait_until(lambda: sink.unique() >= 200, 30, "the sink to see every delivery")

    hub.stop()

    assert hub.popen is not None and hub.popen.returncode == 143, "SIGTERM should end the hub through its shutdown"
    held = rows(engine, "SELECT COUNT(*) FROM shard_leases WHERE owner IS NOT NULL")[0][0]
    assert held == 0, f"{held} shard leases still name the stopped hub: the next worker would wait for expiry"
    unrecorded = rows(engine, "SELECT COUNT(*) FROM deliveries WHERE status = 'pending'")[0][0]
    assert unrecorded == 0, "a send the target answered was left unrecorded"
