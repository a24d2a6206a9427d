"""A person's link between the hub's id and another system's: checked before anything is stored, refused when it
contradicts a link already made (naming it), audited, and settling the missing-cross-reference exceptions that waited
for exactly that pair, in either direction, as a decision published as exception.resolved."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from crossdock.domain import catalog
from crossdock.domain.events import Envelope
from crossdock.hub import xrefs
from crossdock.hub.ports import CrossReference, ExceptionAction, ExceptionFilter, ExceptionStatus, UnitOfWork
from crossdock.storage.memory import MemoryUnitOfWorkFactory
from tests.unit.factories import T0

SYSTEMS = {"shop-out", "wms", "acme"}
LATER = T0 + timedelta(hours=1)


class Published:
    """Stands where the processor's publish is: keeps what was published, in order."""

    def __init__(self) -> None:
        self.events: list[Envelope] = []

    def __call__(self, uow: UnitOfWork, events: Sequence[Envelope], message_id: int | None, now: datetime) -> None:
        assert message_id is None, "a person's link is caused by no inbound message"
        self.events.extend(events)

    def resolutions(self) -> list[catalog.ExceptionResolved]:
        return [
            catalog.payload_as(e, catalog.ExceptionResolved)
            for e in self.events
            if e.type == catalog.ExceptionResolved.event_type
        ]


def open_ids(uow: UnitOfWork) -> list[str]:
    return [e.id for e in uow.exceptions.find(ExceptionFilter(status=ExceptionStatus.OPEN))]


def test_linking_settles_the_exception_that_waited_for_it_by_the_person_who_linked() -> None:
    begin = MemoryUnitOfWorkFactory(lambda: T0)
    with begin() as uow:
        xrefs.require_external_id(uow, "item", "shop-out", "SKU-1", at=T0)
        (waiting,) = open_ids(uow)
        published = Published()

        linked = xrefs.link(
            uow, CrossReference("item", "shop-out", "SKU-1", "808950810"), actor="cli:ana", at=LATER, publish=published
        )

        assert (linked.created, linked.resolved) == (True, (waiting,))
        assert uow.xrefs.external_id("item", "shop-out", "SKU-1") == "808950810"
        assert open_ids(uow) == []
        settled = uow.exceptions.get(waiting)
        assert settled is not None and settled.resolved_at == LATER
        assert [(a.action, a.actor) for a in settled.actions] == [("accept", "cli:ana")]
        (resolution,) = published.resolutions()
        assert (resolution.exception, resolution.action, resolution.resolved_by) == (
            waiting,
            catalog.ExceptionAction.ACCEPT,
            "cli:ana",
        )
        assert published.events[0].partitionkey == "SKU-1", "announced in the order of what it is about"


def test_an_exception_that_waited_for_our_id_of_their_id_is_settled_by_the_same_link() -> None:
    begin = MemoryUnitOfWorkFactory(lambda: T0)
    with begin() as uow:
        xrefs.require_hub_id(uow, "location", "wms", "DC-EAST", at=T0)
        (waiting,) = open_ids(uow)

        linked = xrefs.link(
            uow, CrossReference("location", "wms", "EAST", "DC-EAST"), actor="ana", at=LATER, publish=Published()
        )

        assert linked.resolved == (waiting,)


def test_an_exception_opened_anew_after_a_resolution_is_settled_too() -> None:
    begin = MemoryUnitOfWorkFactory(lambda: T0)
    with begin() as uow:
        xrefs.require_external_id(uow, "item", "shop-out", "SKU-1", at=T0)
        (first,) = open_ids(uow)
        uow.exceptions.act(first, ExceptionAction("retry", "ops", T0, "linked, I thought"), resolve=True)
        xrefs.require_external_id(uow, "item", "shop-out", "SKU-1", at=T0 + timedelta(minutes=5))

        linked = xrefs.link(
            uow, CrossReference("item", "shop-out", "SKU-1", "808950810"), actor="ana", at=LATER, publish=Published()
        )

        assert linked.resolved == (f"{first}-1",)


def test_exceptions_waiting_for_another_link_stay_open() -> None:
    begin = MemoryUnitOfWorkFactory(lambda: T0)
    with begin() as uow:
        xrefs.require_external_id(uow, "item", "shop-out", "SKU-2", at=T0)  # another sku
        xrefs.require_external_id(uow, "item", "wms", "SKU-1", at=T0)  # the same sku in another system
        xrefs.require_external_id(uow, "location", "shop-out", "SKU-1", at=T0)  # another kind
        waiting = open_ids(uow)

        linked = xrefs.link(
            uow, CrossReference("item", "shop-out", "SKU-1", "808950810"), actor="ana", at=LATER, publish=Published()
        )

        assert linked.resolved == ()
        assert open_ids(uow) == waiting


def test_a_link_that_contradicts_one_made_before_is_refused_naming_it_and_changes_nothing() -> None:
    begin = MemoryUnitOfWorkFactory(lambda: T0)
    with begin() as uow:
        uow.xrefs.link(CrossReference("item", "shop-out", "SKU-1", "808950810"), T0)
        xrefs.require_external_id(uow, "item", "shop-out", "SKU-9", at=T0)
        waiting = open_ids(uow)

        with pytest.raises(xrefs.LinkConflict, match="SKU-1 is linked to shop-out id 808950810") as hub_side:
            xrefs.link(
                uow, CrossReference("item", "shop-out", "SKU-1", "999"), actor="ana", at=LATER, publish=Published()
            )
        with pytest.raises(xrefs.LinkConflict) as their_side:
            xrefs.link(
                uow,
                CrossReference("item", "shop-out", "SKU-9", "808950810"),
                actor="ana",
                at=LATER,
                publish=Published(),
            )

        existing = CrossReference("item", "shop-out", "SKU-1", "808950810")
        assert hub_side.value.existing == existing and their_side.value.existing == existing
        assert [(r.hub_id, r.external_id) for r in uow.xrefs.find()] == [("SKU-1", "808950810")]
        assert open_ids(uow) == waiting, "a refused link settles nothing"
        assert uow.audit.read() == [], "nothing was done, so nothing is in the audit trail"


def test_the_same_link_again_changes_nothing_and_is_audited_as_not_created() -> None:
    begin = MemoryUnitOfWorkFactory(lambda: T0)
    with begin() as uow:
        ref = CrossReference("customer", "acme", "C-100", "ACME-7")
        first = xrefs.link(uow, ref, actor="ana", at=T0, publish=Published(), note="from the onboarding sheet")
        again = xrefs.link(uow, ref, actor="ben", at=LATER, publish=Published())

        assert (first.created, again.created) == (True, False)
        assert again.ref.created_at == first.ref.created_at == T0, "the link keeps when it was first made"
        records = uow.audit.read()
        assert [(r.actor, r.action, r.target, r.details["created"]) for r in records] == [
            ("ana", "xref.link", "customer:acme:C-100", True),
            ("ben", "xref.link", "customer:acme:C-100", False),
        ]
        assert records[0].details["note"] == "from the onboarding sheet"


@pytest.mark.parametrize(
    ("ref", "field", "reason"),
    [
        # a system the configuration does not name: a link nothing would ever read
        (CrossReference("item", "shopify", "SKU-1", "1"), "system", "no source, destination or partner"),
        # a kind that is not a word of the store (a plural, a capital)
        (CrossReference("Items", "wms", "SKU-1", "1"), "kind", "is not a kind"),
        # an id pasted with blanks around it would never match
        (CrossReference("item", "wms", " SKU-1", "1"), "hub_id", "blanks around it"),
        # PostgreSQL keeps no NUL, and no id holds a control character
        (CrossReference("item", "wms", "SKU-1", "1\x00"), "external_id", "control character"),
        # an empty id links nothing
        (CrossReference("item", "wms", "SKU-1", ""), "external_id", "missing"),
        # longer than the store keeps
        (CrossReference("item", "wms", "S" * 301, "1"), "hub_id", "longer than 300"),
    ],
)
def test_a_link_the_hub_cannot_use_is_refused_naming_the_field(ref: CrossReference, field: str, reason: str) -> None:
    ((named, said),) = xrefs.check(ref, SYSTEMS)

    assert named == field and reason in said


def test_a_good_link_passes_the_check() -> None:
    assert xrefs.check(CrossReference("purchase_order", "acme", "PO-1", "4500012345"), SYSTEMS) == []
