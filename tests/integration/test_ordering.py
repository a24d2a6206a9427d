"""Several worker processes on one database: each partition's messages are logged and delivered in the order
they were received, while the shards move between the workers that join during the run."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from sqlalchemy.engine import Engine

from tests.integration.harness import (
    HubConfig,
    Processes,
    Sender,
    first_arrivals,
    lease_owners,
    log_out_of_order,
    orders,
    out_of_order,
    pid_of,
    rows,
    wait_until,
)

PARTITIONS = 30
PER_PARTITION = 50
MESSAGES = PARTITIONS * PER_PARTITION


def test_three_workers_keep_each_partition_in_order(
    database_url: str,
    processes: Processes,
    hub_config: Callable[..., HubConfig],
    database: Callable[[str], Engine],
) -> None:
    sink = processes.sink()
    config = hub_config(database_url, sink.hook, worker={"idle_sleep_ms": 10, "lease_seconds": 3})
    processes.upgrade(config)
    engine = database(database_url)
    processes.hub(config, workers=False)
    # The API process takes the messages in; three worker processes share the shards.
    workers = [processes.worker(config, f"worker-{n}") for n in (1, 2, 3)]
    owners = _OwnerWatch(engine)
    owners.start()
    try:
        # Workers start one after another; a burst sent before the last one is up can be drained by the first alone.
        wait_until(lambda: len(owners.pids["inbox"]) == 3, 60, "all three workers to hold inbox shards")
        asyncio.run(Sender(config.base_url, in_flight=PARTITIONS).send(orders(PARTITIONS, PER_PARTITION), 120))
        wait_until(lambda: sink.unique() >= MESSAGES, 90, f"the sink to see {MESSAGES} distinct deliveries")
        wait_until(
            lambda: rows(engine, "SELECT COUNT(*) FROM deliveries WHERE status = 'delivered'")[0][0] == MESSAGES,
            30,
            "every delivery recorded as delivered",
        )
    finally:
        owners.stop()

    first = first_arrivals(sink.received())
    assert len(first) == MESSAGES
    assert out_of_order(first) == {}, "a partition's messages reached the target out of order"
    assert log_out_of_order(engine) == {}, "a partition's events stand in the log out of order"
    expected = {worker.pid for worker in workers}
    for pool in ("inbox", "outbox"):
        assert len(owners.pids[pool]) > 1, f"one process held every {pool} shard: nothing was shared"
        assert owners.pids[pool] <= expected


class _OwnerWatch:
    """Samples which processes hold shards, in the background, for as long as the run lasts."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.pids: dict[str, set[int]] = {"inbox": set(), "outbox": set()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            for pool, found in self.pids.items():
                found.update(pid_of(owner) for owner in lease_owners(self.engine, pool).values())
