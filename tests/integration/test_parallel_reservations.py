"""Reservation is atomic under parallel workers on PostgreSQL: thirty one-unit orders race for ten units, processed
by four workers that each lease their own shards, so reservations of the same sku run in concurrent transactions.

A round aborted by a concurrent update or a deadlock is redone (nothing of it was committed), as a worker does.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import exc as sa_exc

from crossdock import bootstrap
from crossdock.domain import errors
from crossdock.hub.ports import INBOX_POOL, ConcurrentUpdate
from crossdock.hub.runtime import Hub
from tests.e2e import order_to_cash_harness as h

pytestmark = pytest.mark.postgres

WORKERS = 4
ORDERS = 30
SKU = "A"
STORE_ERRORS = (ConcurrentUpdate, sa_exc.OperationalError, sa_exc.InterfaceError)


@pytest.fixture
def runtime(postgres_url: str, tmp_path: Path) -> Iterator[bootstrap.Runtime]:
    settings = h.settings_for(
        tmp_path,
        postgres_url,
        unit_costs={SKU: "1.00"},
        # Many shards and small batches: the orders spread over every worker and each round commits a few.
        worker={"shards": 16, "batch_size": 2, "lease_seconds": 30},
        storage={"pool_size": WORKERS + 2},
    )
    built = h.build_runtime(settings, h.SteppingClock())
    yield built
    built.close()


@dataclass
class Race:
    """Four workers and a watcher that reads the stock ledger between their commits."""

    hub: Hub
    processed: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    retried: int = 0
    errors: list[BaseException] = field(default_factory=list)
    oversold: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pending(self) -> int:
        with self.hub.begin() as uow:
            return uow.inbox.counts().get("pending", 0)

    def work(self, owner: str, ready: threading.Barrier) -> None:
        try:
            self.hub.lease(INBOX_POOL, owner)
            ready.wait()
            idle = 0
            while idle < 20:
                try:
                    processed, failed = self.hub.process_round(owner, self.hub.lease(INBOX_POOL, owner))
                except STORE_ERRORS:
                    with self.lock:
                        self.retried += 1
                    continue
                with self.lock:
                    self.processed[owner] += processed
                    self.failed += failed
                idle = idle + 1 if processed + failed == 0 and self.pending() == 0 else 0
        except BaseException as error:  # noqa: BLE001 - reported by the test, never swallowed
            self.errors.append(error)

    def watch(self, skus: list[str]) -> None:
        while not self.done.is_set():
            try:
                with self.hub.begin() as uow:
                    ledger = uow.inventory.load(skus)
            except errors.Oversell as oversold:  # the ledger refuses to even build such a state
                self.oversold.append(str(oversold))
                continue
            for position in ledger.positions():
                if position.reserved > position.on_hand:
                    self.oversold.append(f"{position.sku}@{position.location} {position.reserved}>{position.on_hand}")

    def run(self, skus: list[str]) -> None:
        ready = threading.Barrier(WORKERS)
        workers = [threading.Thread(target=self.work, args=(f"worker-{n}", ready)) for n in range(WORKERS)]
        watcher = threading.Thread(target=self.watch, args=(skus,))
        watcher.start()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        self.done.set()
        watcher.join(timeout=30)
        assert not any(worker.is_alive() for worker in workers), "every worker finishes once the inbox is drained"


def _stock(hub: Hub, stock: dict[str, int]) -> None:
    for location, units in stock.items():
        body = h.cloudevent(h.receipt(SKU, location, units, f"rcv-{location}"), f"rcv-{location}")
        hub.receive(h.WAREHOUSE, body, {})
    hub.drain("stocker")
    hub.release("stocker")


def _orders(hub: Hub) -> None:
    messages = [
        hub.intake.prepare(
            h.ORDERS,
            h.sales_order(f"SO-{n:02}", f"C{n % 5}", "web", [h.Line(line=1, sku=SKU, units=1, price=Decimal("9.99"))]),
            {"idempotency-key": f"SO-{n:02}"},
            hub.clock.now(),
        )
        for n in range(1, ORDERS + 1)
    ]
    hub.accept(messages)


@pytest.mark.parametrize(
    "stock",
    [
        pytest.param({"WH1": 10}, id="one-location"),  # every worker locks the same position
        pytest.param({"WH1": 6, "WH2": 4}, id="two-locations"),  # a line may split over both
    ],
)
def test_thirty_orders_racing_for_ten_units_reserve_exactly_ten(
    runtime: bootstrap.Runtime, stock: dict[str, int]
) -> None:
    hub = runtime.hub
    _stock(hub, stock)
    _orders(hub)
    with hub.begin() as uow:
        shards = {m.shard for m in uow.inbox.find(source=h.ORDERS, limit=100)}
    assert len(shards) >= WORKERS, "the orders spread over shards that different workers lease"

    race = Race(hub)
    race.run([SKU])

    assert race.errors == [], f"no worker dies: {race.errors!r}"
    assert race.failed == 0, "no message fails: a lost race is a backorder, not an error"
    assert sum(1 for n in race.processed.values() if n) >= 2, f"the work really ran in parallel: {race.processed}"
    assert race.oversold == [], f"no oversell, in any committed state: {race.oversold[:5]}"
    with hub.begin() as uow:
        states = h.all_orders(uow)
        ledger = uow.inventory.load([SKU])
        assert h.failed_messages(uow) == [], "no message fails"
        broken = h.check_stock(uow, [SKU]) + h.check_order_lines(states) + h.check_no_stranded_holds(uow, [SKU], states)
    assert broken == [], h.summary(broken)
    assert len(states) == ORDERS, "every order is stored once"
    lines = [line for state in states.values() for line in state.lines]
    total = sum(stock.values())
    assert sum((line.reserved for line in lines), Decimal(0)) == total, "the orders hold exactly the units on hand"
    assert sum(1 for line in lines if line.backordered == 1) == ORDERS - total, "every other line is backordered"
    assert all(line.reserved + line.backordered == 1 for line in lines), "each line is reserved or backordered"
    for location, units in stock.items():
        position = ledger.position(SKU, location)
        assert position.on_hand == units, f"reserving moves no stock: {location}"
        assert position.reserved == units, f"the ledger holds every unit of {location} for an order, no more"
    held = sum((reservation.reserved for reservation in ledger.reservations()), Decimal(0))
    assert held == total, "the ledger's reservations and the orders agree on what is held"
    print(f"\nprocessed per worker {dict(race.processed)}; rounds redone after a store conflict: {race.retried}")
