"""A cross-reference that must exist and does not is an exception for master data with the reason
missing-cross-reference, opened once and announced as exception.opened like every exception, and the caller gets
None instead of a crash."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from crossdock.domain import catalog
from crossdock.domain.events import Envelope
from crossdock.hub import xrefs
from crossdock.hub.ports import CrossReference, ExceptionAction, ExceptionFilter, UnitOfWork
from crossdock.hub.router import HandlerContext
from crossdock.storage.memory import MemoryUnitOfWorkFactory
from tests.unit.factories import T0, make_envelope


def open_exceptions(uow: UnitOfWork) -> list[tuple[str, str, str, str, str]]:
    return [
        (e.owner, e.reason_code, e.about_kind, e.about_key, e.message)
        for e in uow.exceptions.find(ExceptionFilter(status=None))
        if e.resolved_at is None
    ]


def context(uow: UnitOfWork) -> HandlerContext:
    return HandlerContext(uow=uow, now=T0, cause=make_envelope())


def test_a_linked_id_is_returned_and_opens_nothing() -> None:
    begin = MemoryUnitOfWorkFactory(lambda: T0)
    with begin() as uow:
        uow.xrefs.link(CrossReference("customer", "tryton", "C-100", "party.party,7"), T0)

        assert xrefs.require_external_id(context(uow), "customer", "tryton", "C-100") == "party.party,7"
        assert xrefs.require_hub_id(uow, "customer", "tryton", "party.party,7", at=T0) == "C-100"
        assert open_exceptions(uow) == []


def test_a_missing_link_opens_an_exception_for_master_data_naming_the_id_and_returns_none() -> None:
    begin = MemoryUnitOfWorkFactory(lambda: T0)
    with begin() as uow:
        found = xrefs.require_external_id(
            context(uow), "customer", "tryton", "C-100", about=("order", "SO-1001"), needed_for="to send SO-1001"
        )

        assert found is None
        ((owner, reason, about_kind, about_key, message),) = open_exceptions(uow)
        assert (owner, reason, about_kind, about_key) == ("master_data", "missing-cross-reference", "order", "SO-1001")
        assert all(word in message for word in ("customer", "C-100", "tryton", "to send SO-1001"))


def test_the_same_missing_link_found_again_opens_no_second_exception() -> None:
    begin = MemoryUnitOfWorkFactory(lambda: T0)
    with begin() as uow:
        for _ in range(3):
            assert xrefs.require_external_id(uow, "item", "shopify", "SKU-1", at=T0) is None

        assert len(open_exceptions(uow)) == 1


def test_a_link_still_missing_after_its_exception_was_resolved_opens_a_new_one() -> None:
    begin = MemoryUnitOfWorkFactory(lambda: T0)
    with begin() as uow:
        xrefs.require_external_id(uow, "item", "shopify", "SKU-1", at=T0)
        (first,) = uow.exceptions.find(ExceptionFilter(status=None))
        uow.exceptions.act(first.id, ExceptionAction("retry", "ops@example.com", T0, "linked, I think"), resolve=True)

        xrefs.require_external_id(uow, "item", "shopify", "SKU-1", at=T0 + timedelta(hours=1))

        assert [e.id for e in uow.exceptions.find(ExceptionFilter(status=None))] == [first.id, f"{first.id}-1"]


def test_a_missing_hub_id_names_the_other_systems_id() -> None:
    begin = MemoryUnitOfWorkFactory(lambda: T0)
    with begin() as uow:
        assert xrefs.require_hub_id(uow, "location", "wms", "DC-EAST", at=T0) is None

        ((owner, _, about_kind, about_key, message),) = open_exceptions(uow)
        assert (owner, about_kind, about_key) == ("master_data", "location", "wms:DC-EAST")
        assert "wms location DC-EAST is not linked" in message


def test_a_unit_of_work_without_the_time_is_refused_before_anything_is_opened() -> None:
    begin = MemoryUnitOfWorkFactory(lambda: T0)
    with begin() as uow:
        with pytest.raises(TypeError, match="pass at="):
            xrefs.require_external_id(uow, "item", "shopify", "SKU-1")
        assert open_exceptions(uow) == []


def test_a_missing_link_found_by_a_handler_is_announced_as_exception_opened_for_master_data() -> None:
    begin = MemoryUnitOfWorkFactory(lambda: T0)
    with begin() as uow:
        ctx = context(uow)
        xrefs.require_external_id(ctx, "customer", "tryton", "C-100", about=("order", "SO-1001"))
        xrefs.require_external_id(ctx, "customer", "tryton", "C-100", about=("order", "SO-1001"))

        (announced,) = ctx.emitted
        opened = catalog.payload_as(announced, catalog.ExceptionOpened)
        (stored,) = uow.exceptions.find(ExceptionFilter(status=None))
        assert announced.type == catalog.ExceptionOpened.event_type
        assert (opened.exception, opened.owner, opened.reason_code) == (
            stored.id,
            catalog.ExceptionOwner.MASTER_DATA,
            "missing-cross-reference",
        )
        assert (opened.about.kind, opened.about.key, announced.partition) == ("order", "SO-1001", "SO-1001")


def test_a_missing_link_found_outside_a_handler_is_published_through_the_processor_once() -> None:
    published: list[tuple[list[Envelope], datetime]] = []

    def publish(uow: UnitOfWork, events: Sequence[Envelope], message_id: int | None, now: datetime) -> None:
        assert message_id is None, "no inbound message caused it"
        published.append((list(events), now))

    begin = MemoryUnitOfWorkFactory(lambda: T0)
    with begin() as uow:
        for minutes in (0, 5):
            found = xrefs.require_hub_id(
                uow, "location", "wms", "DC-EAST", at=T0 + timedelta(minutes=minutes), publish=publish
            )
            assert found is None

        ((events, when),) = published
        (announced,) = events
        opened = catalog.payload_as(announced, catalog.ExceptionOpened)
        assert when == T0 and announced.time == T0
        assert (opened.owner, opened.about.key) == (catalog.ExceptionOwner.MASTER_DATA, "wms:DC-EAST")
        assert [e.id for e in uow.exceptions.find(ExceptionFilter(status=None))] == [opened.exception]
