"""The cross-reference store contract: one business object is known under the hub's id and another system's, one
to one per kind and system, linked once for good and read back in both directions."""

from __future__ import annotations

from typing import Any

import pytest

from crossdock.hub.ports import CrossReference, UnitOfWorkFactory
from tests.contract.builders import at


def ref(**overrides: Any) -> CrossReference:
    fields: dict[str, Any] = {"kind": "order", "system": "tryton", "hub_id": "SO-1001", "external_id": "sale.sale,42"}
    fields.update(overrides)
    return CrossReference(**fields)


def link(uow_factory: UnitOfWorkFactory, *refs: tuple[CrossReference, float]) -> None:
    with uow_factory() as uow:
        for reference, minutes in refs:
            uow.xrefs.link(reference, at(minutes=minutes))
        uow.commit()


def test_a_link_reads_back_in_both_directions(uow_factory: UnitOfWorkFactory) -> None:
    link(uow_factory, (ref(), 1))

    with uow_factory() as uow:
        assert uow.xrefs.external_id("order", "tryton", "SO-1001") == "sale.sale,42"
        assert uow.xrefs.hub_id("order", "tryton", "sale.sale,42") == "SO-1001"


def test_an_id_is_unknown_under_another_kind_or_system(uow_factory: UnitOfWorkFactory) -> None:
    link(uow_factory, (ref(), 1))

    with uow_factory() as uow:
        assert uow.xrefs.external_id("invoice", "tryton", "SO-1001") is None
        assert uow.xrefs.external_id("order", "shopify", "SO-1001") is None
        assert uow.xrefs.hub_id("order", "shopify", "sale.sale,42") is None
        assert uow.xrefs.external_id("order", "tryton", "SO-2002") is None


def test_linking_the_same_pair_again_keeps_one_link_and_its_first_time(uow_factory: UnitOfWorkFactory) -> None:
    link(uow_factory, (ref(), 1))
    link(uow_factory, (ref(), 9), (ref(), 10))

    with uow_factory() as uow:
        assert uow.xrefs.of("SO-1001") == [ref(created_at=at(minutes=1))]


@pytest.mark.parametrize(
    "other",
    [
        ref(external_id="sale.sale,43"),  # the same hub order under a second Tryton sale
        ref(hub_id="SO-2002"),  # a second hub order under the same Tryton sale
    ],
)
def test_linking_either_id_to_a_second_partner_is_refused_naming_both(
    uow_factory: UnitOfWorkFactory, other: CrossReference
) -> None:
    link(uow_factory, (ref(), 1))

    with uow_factory() as uow, pytest.raises(ValueError) as refused:
        uow.xrefs.link(other, at(minutes=2))

    assert all(word in str(refused.value) for word in ("order", "tryton", "SO-1001", "sale.sale,42"))
    assert other.hub_id in str(refused.value) and other.external_id in str(refused.value)
    with uow_factory() as uow:
        assert uow.xrefs.find() == [ref(created_at=at(minutes=1))]


def test_the_same_ids_may_be_linked_under_other_kinds_and_systems(uow_factory: UnitOfWorkFactory) -> None:
    link(
        uow_factory,
        (ref(), 1),
        (ref(system="shopify", external_id="gid://shopify/Order/5001"), 2),
        (ref(kind="invoice", external_id="sale.sale,42"), 3),
    )

    with uow_factory() as uow:
        assert uow.xrefs.external_id("order", "shopify", "SO-1001") == "gid://shopify/Order/5001"
        assert uow.xrefs.external_id("invoice", "tryton", "SO-1001") == "sale.sale,42"


def test_of_lists_every_systems_id_for_a_hub_id_oldest_link_first(uow_factory: UnitOfWorkFactory) -> None:
    link(
        uow_factory,
        (ref(system="shopify", external_id="5001"), 3),
        (ref(kind="customer", hub_id="C-1", external_id="party.party,7"), 1),
        (ref(), 2),
    )

    with uow_factory() as uow:
        assert [(r.system, r.external_id, r.created_at) for r in uow.xrefs.of("SO-1001")] == [
            ("tryton", "sale.sale,42", at(minutes=2)),
            ("shopify", "5001", at(minutes=3)),
        ]
        assert uow.xrefs.of("SO-9999") == []


def test_find_filters_by_kind_and_system_oldest_first_up_to_a_limit(uow_factory: UnitOfWorkFactory) -> None:
    link(
        uow_factory,
        (ref(hub_id="SO-3", external_id="3"), 3),
        (ref(hub_id="SO-1", external_id="1"), 1),
        (ref(kind="customer", hub_id="C-1", external_id="7"), 2),
        (ref(system="shopify", hub_id="SO-2", external_id="2"), 2),
    )

    with uow_factory() as uow:
        assert [r.hub_id for r in uow.xrefs.find()] == ["SO-1", "C-1", "SO-2", "SO-3"]
        assert [r.hub_id for r in uow.xrefs.find(kind="order")] == ["SO-1", "SO-2", "SO-3"]
        assert [r.hub_id for r in uow.xrefs.find(kind="order", system="tryton")] == ["SO-1", "SO-3"]
        assert [r.hub_id for r in uow.xrefs.find(system="tryton", limit=2)] == ["SO-1", "C-1"]


def test_links_made_at_the_same_time_keep_the_order_they_were_made_in(uow_factory: UnitOfWorkFactory) -> None:
    link(uow_factory, *((ref(system=name, external_id=name), 1) for name in ("wms", "erp", "shop")))

    with uow_factory() as uow:
        assert [r.system for r in uow.xrefs.of("SO-1001")] == ["wms", "erp", "shop"]


def test_links_of_a_unit_of_work_left_without_commit_are_not_stored(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.xrefs.link(ref(), at())

    with uow_factory() as uow:
        assert uow.xrefs.external_id("order", "tryton", "SO-1001") is None
        assert uow.xrefs.find() == []


def test_a_refused_link_inside_a_savepoint_leaves_the_rest_of_the_transaction_usable(
    uow_factory: UnitOfWorkFactory,
) -> None:
    with uow_factory() as uow:
        uow.xrefs.link(ref(), at(minutes=1))
        with pytest.raises(ValueError), uow.savepoint():
            uow.xrefs.link(ref(hub_id="SO-2002"), at(minutes=2))
        uow.xrefs.link(ref(kind="customer", hub_id="C-1", external_id="party.party,7"), at(minutes=3))
        uow.commit()

    with uow_factory() as uow:
        assert [(r.kind, r.hub_id) for r in uow.xrefs.find()] == [("order", "SO-1001"), ("customer", "C-1")]
