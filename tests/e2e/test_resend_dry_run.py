"""A resync's dry run (`crossdock replay events --destination D --dry-run`) counts what the real resend would queue:
only the events of the range the destination subscribes to, and it queues nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crossdock.domain import catalog
from crossdock.hub import operations
from tests.e2e.order_to_cash_estate import OrderToCashEstate, sales_order, settings_for

RELEASES = "warehouse-releases"


@pytest.fixture
def estate(tmp_path: Path, database_url: str) -> Iterator[OrderToCashEstate]:
    settings = settings_for(
        tmp_path,
        storage={"url": database_url},
        destinations={RELEASES: {"kind": "jsonl", "path": "outbound/releases.jsonl"}},
        subscriptions=[{"destination": RELEASES, "events": [catalog.ShipmentReleased.event_type]}],
    )
    built = OrderToCashEstate(tmp_path, settings)
    yield built
    built.stop()


def test_a_dry_run_counts_only_the_events_the_destination_takes_and_queues_nothing(estate: OrderToCashEstate) -> None:
    estate.receipt("A", "WH1", 10)
    estate.order(sales_order("SO-1", ("A", 2, "10.00")))
    estate.order(sales_order("SO-2", ("A", 3, "10.00")))
    estate.drain()
    with estate.hub.begin() as uow:
        head = uow.log.head()
        queued_before = sum(uow.outbox.counts().values())
        releases = [e for e in uow.log.read(0, 1000) if e.envelope.type == catalog.ShipmentReleased.event_type]
    assert len(releases) == 2 and head > 2, "the range holds other events too"

    counted = operations.resend_events(
        estate.hub, destination=RELEASES, after=0, upto=head, actor="ops", dry_run=True, batch=3
    )

    with estate.hub.begin() as uow:
        assert sum(uow.outbox.counts().values()) == queued_before, "a dry run queues nothing"
    assert counted == len(releases)
    assert counted == operations.resend_events(estate.hub, destination=RELEASES, after=0, upto=head, actor="ops")
