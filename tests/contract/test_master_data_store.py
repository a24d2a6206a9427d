"""The master data store contract: imported customers, items and price-list entries are kept as the latest document
per kind and key; importing the same content again writes nothing; and what one order needs (its customer and the
prices of its skus on the lists that apply) is read in one go, the customer's own list named by its record."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from crossdock.hub.ports import CUSTOMER_RECORD, ITEM_RECORD, PRICE_RECORD, UnitOfWorkFactory, price_key
from tests.contract.builders import at


def customer(number: str = "C-1", **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"number": number, "currency": "EUR", "credit_limit": "5000.00", "price_list": "TRADE"}
    return fields | overrides


def price(price_list: str, sku: str, amount: str, currency: str = "EUR") -> dict[str, Any]:
    return {"price_list": price_list, "currency": currency, "sku": sku, "price": amount}


def put(uow_factory: UnitOfWorkFactory, *records: tuple[str, str, dict[str, Any]], minutes: float = 1) -> list[str]:
    with uow_factory() as uow:
        outcomes = [
            uow.master_records.put(kind, key, document, f"import-{minutes}.csv", at(minutes=minutes))
            for kind, key, document in records
        ]
        uow.commit()
    return outcomes


def price_record(price_list: str, sku: str, amount: str, currency: str = "EUR") -> tuple[str, str, dict[str, Any]]:
    return PRICE_RECORD, price_key(price_list, sku), price(price_list, sku, amount, currency)


def test_a_record_reads_back_with_its_source_time_and_digest(uow_factory: UnitOfWorkFactory) -> None:
    assert put(uow_factory, (CUSTOMER_RECORD, "C-1", customer())) == ["added"]

    with uow_factory() as uow:
        found = uow.master_records.get(CUSTOMER_RECORD, "C-1")
        assert uow.master_records.get(CUSTOMER_RECORD, "C-2") is None
        assert uow.master_records.get(ITEM_RECORD, "C-1") is None, "a key is known only under its own kind"

    assert found is not None
    assert (found.kind, found.key, dict(found.document)) == (CUSTOMER_RECORD, "C-1", customer())
    assert (found.source, found.updated_at) == ("import-1.csv", at(minutes=1))
    assert len(found.digest) == 64


def test_importing_the_same_content_again_writes_nothing(uow_factory: UnitOfWorkFactory) -> None:
    put(uow_factory, (CUSTOMER_RECORD, "C-1", customer()))
    reordered = dict(reversed(list(customer().items())))

    assert put(uow_factory, (CUSTOMER_RECORD, "C-1", reordered), minutes=9) == ["unchanged"]

    with uow_factory() as uow:
        found = uow.master_records.get(CUSTOMER_RECORD, "C-1")
    assert found is not None
    assert (found.source, found.updated_at) == ("import-1.csv", at(minutes=1)), "an unchanged row keeps its import"


def test_changed_content_replaces_the_document_and_names_the_new_import(uow_factory: UnitOfWorkFactory) -> None:
    put(uow_factory, (CUSTOMER_RECORD, "C-1", customer()))
    before = _digest(uow_factory, "C-1")

    assert put(uow_factory, (CUSTOMER_RECORD, "C-1", customer(credit_limit="9000.00")), minutes=5) == ["changed"]

    with uow_factory() as uow:
        found = uow.master_records.get(CUSTOMER_RECORD, "C-1")
    assert found is not None
    assert found.document["credit_limit"] == "9000.00"
    assert (found.source, found.updated_at) == ("import-5.csv", at(minutes=5))
    assert found.digest != before


def test_a_decimal_is_kept_as_its_text(uow_factory: UnitOfWorkFactory) -> None:
    put(uow_factory, (PRICE_RECORD, price_key("TRADE", "W-1"), {"price": Decimal("4.50"), "sku": "W-1"}))

    with uow_factory() as uow:
        found = uow.master_records.get(PRICE_RECORD, price_key("TRADE", "W-1"))
    assert found is not None and found.document["price"] == "4.50"


def test_an_import_rolled_back_leaves_nothing(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.master_records.put(CUSTOMER_RECORD, "C-1", customer(), "import.csv", at(minutes=1))

    with uow_factory() as uow:
        assert uow.master_records.get(CUSTOMER_RECORD, "C-1") is None
        assert not uow.master_records.holds(CUSTOMER_RECORD)


def test_holds_tells_whether_any_record_of_a_kind_was_imported(uow_factory: UnitOfWorkFactory) -> None:
    put(uow_factory, price_record("TRADE", "W-1", "4.50"))

    with uow_factory() as uow:
        assert uow.master_records.holds(PRICE_RECORD)
        assert not uow.master_records.holds(CUSTOMER_RECORD)


def test_an_order_reads_its_customer_and_its_skus_on_the_customers_own_list(uow_factory: UnitOfWorkFactory) -> None:
    put(
        uow_factory,
        (CUSTOMER_RECORD, "C-1", customer(price_list="TRADE")),
        (CUSTOMER_RECORD, "C-2", customer("C-2", price_list="RETAIL")),
        price_record("TRADE", "W-1", "4.50"),
        price_record("TRADE", "W-2", "7.00"),
        price_record("TRADE", "W-3", "9.99"),  # not on the order
        price_record("RETAIL", "W-1", "6.00"),  # another customer's list
    )

    with uow_factory() as uow:
        found = uow.master_records.for_order("C-1", ["W-1", "W-2", "W-9"], [])

    assert found.customer is not None and found.customer["number"] == "C-1"
    assert {k: v["price"] for k, v in found.prices.items()} == {("TRADE", "W-1"): "4.50", ("TRADE", "W-2"): "7.00"}


def test_an_order_reads_the_lists_configuration_would_use_as_well(uow_factory: UnitOfWorkFactory) -> None:
    put(
        uow_factory,
        (CUSTOMER_RECORD, "C-1", customer(price_list="TRADE")),
        price_record("TRADE", "W-1", "4.50"),
        price_record("STANDARD", "W-1", "5.00"),
        price_record("STANDARD", "W-2", "8.00"),
        price_record("OUTLET", "W-1", "3.00"),  # named by neither
    )

    with uow_factory() as uow:
        found = uow.master_records.for_order("C-1", ["W-1", "W-2"], ["STANDARD"])

    assert {k: v["price"] for k, v in found.prices.items()} == {
        ("TRADE", "W-1"): "4.50",
        ("STANDARD", "W-1"): "5.00",
        ("STANDARD", "W-2"): "8.00",
    }


def test_an_order_from_a_customer_not_imported_reads_only_the_configured_lists(
    uow_factory: UnitOfWorkFactory,
) -> None:
    put(uow_factory, price_record("STANDARD", "W-1", "5.00"), price_record("TRADE", "W-1", "4.50"))

    with uow_factory() as uow:
        found = uow.master_records.for_order("C-404", ["W-1"], ["STANDARD"])
        nothing = uow.master_records.for_order("C-404", [], ["STANDARD"])

    assert found.customer is None
    assert {k: v["price"] for k, v in found.prices.items()} == {("STANDARD", "W-1"): "5.00"}
    assert (nothing.customer, dict(nothing.prices)) == (None, {})


def test_a_customer_without_a_price_list_reads_only_the_configured_lists(uow_factory: UnitOfWorkFactory) -> None:
    put(
        uow_factory,
        (CUSTOMER_RECORD, "C-1", customer(price_list=None)),
        price_record("STANDARD", "W-1", "5.00"),
    )

    with uow_factory() as uow:
        found = uow.master_records.for_order("C-1", ["W-1"], ["STANDARD"])

    assert found.customer is not None and found.customer["price_list"] is None
    assert list(found.prices) == [("STANDARD", "W-1")]


def _digest(uow_factory: UnitOfWorkFactory, number: str) -> str:
    with uow_factory() as uow:
        found = uow.master_records.get(CUSTOMER_RECORD, number)
    assert found is not None
    return found.digest
