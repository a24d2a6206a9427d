"""The interchange store contract: one row per delivery, saved again as its acknowledgement arrives, found by partner
and by the interchange or group number an acknowledgement names, the newest holder of a number first."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from crossdock.hub.ports import SentInterchange, UnitOfWorkFactory

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def interchange(
    delivery_id: str = "dlv-1", partner: str = "acme", number: int = 1, **changes: object
) -> SentInterchange:
    sent = SentInterchange(
        delivery_id=delivery_id,
        partner=partner,
        standard="x12",
        interchange=f"{number:09d}",
        group=str(number),
        functional_id="PO",
        sets=(("850", "0001"),),
        document="purchase order PO-1 revision 1",
        business_key="PO-1",
        event_id=f"evt-{delivery_id}",
        queued_at=T0,
        due_by=T0 + timedelta(hours=24),
        status="awaiting",
    )
    return replace(sent, **changes)  # type: ignore[arg-type]


def save(uow_factory: UnitOfWorkFactory, *rows: SentInterchange) -> None:
    with uow_factory() as uow:
        for row in rows:
            uow.interchanges.save(row)
        uow.commit()


def test_an_interchange_reads_back_as_it_was_saved(uow_factory: UnitOfWorkFactory) -> None:
    save(uow_factory, interchange())

    with uow_factory() as uow:
        assert uow.interchanges.get("dlv-1") == interchange()
        assert uow.interchanges.get("dlv-2") is None


def test_saving_the_same_delivery_again_records_its_acknowledgement_in_place(uow_factory: UnitOfWorkFactory) -> None:
    save(uow_factory, interchange(), interchange("dlv-2", number=2))
    answered = interchange(status="accepted", sent_at=T0, acknowledged_at=T0 + timedelta(hours=1), acknowledgement="ok")
    save(uow_factory, answered)

    with uow_factory() as uow:
        assert uow.interchanges.get("dlv-1") == answered
        assert [s.delivery_id for s in uow.interchanges.find(partner="acme")] == ["dlv-2", "dlv-1"]


def test_an_acknowledgement_finds_what_it_names_per_partner_newest_holder_of_a_number_first(
    uow_factory: UnitOfWorkFactory,
) -> None:
    # The sequence wrapped: number 1 was given twice; a late answer is about the newest.
    save(uow_factory, interchange("old"), interchange("bolt", partner="bolt"), interchange("new"))

    with uow_factory() as uow:
        assert [s.delivery_id for s in uow.interchanges.find(partner="acme", group="1")] == ["new", "old"]
        assert [s.delivery_id for s in uow.interchanges.find(partner="acme", interchange="000000001", limit=1)] == [
            "new"
        ]
        assert [s.delivery_id for s in uow.interchanges.find(partner="bolt")] == ["bolt"]
        assert uow.interchanges.find(status="accepted") == []
