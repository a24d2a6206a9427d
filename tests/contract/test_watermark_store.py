"""The watermark store contract: how far a poller has read, per connector and stream, moves only with a commit,
so a poll that crashed reads its page again instead of skipping it."""

from __future__ import annotations

from crossdock.hub.ports import UnitOfWorkFactory
from tests.contract.builders import at


def test_a_stream_never_polled_has_no_watermark(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        assert uow.watermarks.get("tryton", "sale.sale") is None
        assert uow.watermarks.all() == {}


def test_an_advanced_watermark_reads_back_with_when_it_moved(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.watermarks.advance("tryton", "sale.sale", "2024-05-06T07:00:00Z", at(minutes=1))
        uow.commit()

    with uow_factory() as uow:
        assert uow.watermarks.get("tryton", "sale.sale") == "2024-05-06T07:00:00Z"
        assert uow.watermarks.all() == {("tryton", "sale.sale"): ("2024-05-06T07:00:00Z", at(minutes=1))}


def test_advancing_again_replaces_the_value_and_the_time(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.watermarks.advance("tryton", "sale.sale", "cursor-1", at(minutes=1))
        uow.commit()
    with uow_factory() as uow:
        uow.watermarks.advance("tryton", "sale.sale", "cursor-2", at(minutes=2))
        uow.commit()

    with uow_factory() as uow:
        assert uow.watermarks.all() == {("tryton", "sale.sale"): ("cursor-2", at(minutes=2))}


def test_each_connector_and_stream_keeps_its_own_watermark(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.watermarks.advance("tryton", "sale.sale", "s-1", at(minutes=1))
        uow.watermarks.advance("tryton", "stock.shipment.out", "sh-1", at(minutes=2))
        uow.watermarks.advance("shopify", "sale.sale", "o-1", at(minutes=3))
        uow.commit()

    with uow_factory() as uow:
        assert uow.watermarks.get("tryton", "sale.sale") == "s-1"
        assert uow.watermarks.get("tryton", "stock.shipment.out") == "sh-1"
        assert uow.watermarks.get("shopify", "sale.sale") == "o-1"
        assert len(uow.watermarks.all()) == 3


def test_a_poll_that_did_not_commit_leaves_the_watermark_where_it_was(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.watermarks.advance("tryton", "sale.sale", "page-1", at(minutes=1))
        uow.commit()
    with uow_factory() as uow:
        uow.watermarks.advance("tryton", "sale.sale", "page-2", at(minutes=2))

    with uow_factory() as uow:
        assert uow.watermarks.get("tryton", "sale.sale") == "page-1"


def test_a_long_opaque_cursor_is_kept_whole(uow_factory: UnitOfWorkFactory) -> None:
    cursor = "eyJsYXN0X2lkIjo" + "x" * 2000

    with uow_factory() as uow:
        uow.watermarks.advance("shopify", "orders", cursor, at())
        uow.commit()

    with uow_factory() as uow:
        assert uow.watermarks.get("shopify", "orders") == cursor
