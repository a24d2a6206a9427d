"""The hub killed with SIGKILL in the middle of a burst of intake: once restarted on the same database, every
acknowledged and every retried message is delivered, none twice in effect, and the event log has no gap."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable

import pytest
from sqlalchemy.engine import Engine

from tests.integration.harness import (
    HubConfig,
    Processes,
    Sender,
    delivered,
    first_arrivals,
    log_out_of_order,
    orders,
    out_of_order,
    rows,
    wait_until,
)

PARTITIONS = 200
PER_PARTITION = 25
MESSAGES = PARTITIONS * PER_PARTITION
KILL_AT = int(MESSAGES * 0.4)


@pytest.mark.slow
def test_hub_killed_mid_burst_loses_nothing_and_doubles_nothing(
    database_url: str,
    processes: Processes,
    hub_config: Callable[..., HubConfig],
    database: Callable[[str], Engine],
) -> None:
    sink = processes.sink()
    config = hub_config(database_url, sink.hook)
    hub = processes.hub(config)
    sender = Sender(config.base_url, in_flight=32)
    killed_after: list[int] = []

    async def burst_with_a_crash() -> None:
        sending = asyncio.ensure_future(sender.send(orders(PARTITIONS, PER_PARTITION), timeout=120))
        await sender.wait_acknowledged(KILL_AT, timeout=60)
        hub.kill()
        killed_after.append(sender.acknowledged)
        # Same database, same port; the sender keeps retrying meanwhile.
        await asyncio.to_thread(processes.hub, config, "hub-restarted")
        await sending

    asyncio.run(burst_with_a_crash())

    assert killed_after[0] < MESSAGES, "the hub was killed only after the whole burst was acknowledged"
    assert sender.retries > 0, "no request failed: the kill did not land in the middle of the burst"
    assert sender.acknowledged == MESSAGES
    wait_until(lambda: sink.unique() >= MESSAGES, 60, f"the sink to see {MESSAGES} distinct deliveries")
    engine = database(database_url)
    wait_until(lambda: _unfinished(engine) == {}, 30, "every message processed and every delivery delivered")

    items = sink.received()
    arrived = delivered(items)
    delivery_ids_per_message: dict[str, set[str]] = defaultdict(set)
    for item in arrived:
        delivery_ids_per_message[item["data"]["id"]].add(item["delivery_id"])
    expected = {message["id"] for batch in orders(PARTITIONS, PER_PARTITION).values() for message in batch}
    # Each message's event reached the target...
    assert set(delivery_ids_per_message) == expected
    assert len({item["delivery_id"] for item in arrived}) == MESSAGES
    # ...and a repeat, if any, carried the delivery id of the first send, so the target could drop it.
    doubled = {message: ids for message, ids in delivery_ids_per_message.items() if len(ids) != 1}
    assert doubled == {}, f"messages delivered under more than one delivery id: {doubled}"

    positions = [row[0] for row in rows(engine, "SELECT position FROM events ORDER BY position")]
    assert positions == list(range(1, MESSAGES + 1)), "the event log has a gap or a repeat"
    assert rows(engine, "SELECT position FROM log_head")[0][0] == MESSAGES
    assert rows(engine, "SELECT COUNT(DISTINCT subject) FROM events")[0][0] == MESSAGES

    assert out_of_order(first_arrivals(items)) == {}, "a partition's messages reached the target out of order"
    assert log_out_of_order(engine) == {}, "a partition's events stand in the log out of order"


def _unfinished(engine: Engine) -> dict[str, int]:
    """Messages not processed and deliveries not delivered, counted by status."""
    found = {
        f"message {status}": count
        for status, count in rows(engine, "SELECT status, COUNT(*) FROM inbox_messages GROUP BY status")
        if status != "processed"
    }
    found |= {
        f"delivery {status}": count
        for status, count in rows(engine, "SELECT status, COUNT(*) FROM deliveries GROUP BY status")
        if status != "delivered"
    }
    return found
