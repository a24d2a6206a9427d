"""Building a hub from connectors' declarations: a factory's refusal of its settings is a configuration error naming
the section, and a shop's order poll is the Shopify connector's declared poller."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crossdock import bootstrap, config
from crossdock.connectors.shopify.connector import ShopOrders

SHOP_OPTIONS = {"shop": "northwind.myshopify.com", "token": "shpat-test", "base_url": "http://127.0.0.1:9"}
THREEPL = {"role": "3pl", "id": "ACME3PL", "our_id": "999999999", "location": "WH-3PL"}


def settings(tmp_path: Path, **sections: Any) -> config.Settings:
    return config.Settings.model_validate({"data_dir": str(tmp_path), **sections})


def test_a_3pl_destination_without_its_partner_is_a_configuration_error_naming_the_destination(
    tmp_path: Path,
) -> None:
    wrong = settings(tmp_path, partners={"acme": THREEPL}, destinations={"acme-out": {"kind": "3pl"}})

    with pytest.raises(config.ConfigError) as refused:
        bootstrap.build(wrong)

    message = str(refused.value)
    assert message.startswith("destinations.acme-out: "), message
    assert message.count("destinations.acme-out") == 1, "the destination is named once, not twice"
    assert "partner:" in message and "acme" in message


def test_a_3pl_source_without_its_partner_is_a_configuration_error_naming_the_source(tmp_path: Path) -> None:
    wrong = settings(tmp_path, partners={"acme": THREEPL}, sources={"acme-in": {"kind": "3pl"}})

    with pytest.raises(config.ConfigError, match=r"^sources\.acme-in: .*partner:"):
        bootstrap.build(wrong)


def test_a_wms_destination_without_its_address_is_a_configuration_error_naming_it(tmp_path: Path) -> None:
    wrong = settings(tmp_path, destinations={"wms-out": {"kind": "wms", "options": {"warehouses": {"WH": "W"}}}})

    with pytest.raises(config.ConfigError, match=r"^destinations\.wms-out: a wms destination needs options base_url"):
        bootstrap.build(wrong)


def test_a_shop_with_poll_minutes_is_polled_at_its_own_interval(tmp_path: Path) -> None:
    runtime = bootstrap.build(
        settings(
            tmp_path,
            sources={
                "polled": {"kind": "shopify", "options": {**SHOP_OPTIONS, "poll_minutes": 5}},
                "webhooks-only": {"kind": "shopify", "options": SHOP_OPTIONS},
            },
        )
    )
    runtime.close()

    shops = [poller for poller in runtime.pollers if isinstance(poller, ShopOrders)]
    assert [(shop.source, shop.every) for shop in shops] == [("polled", 300.0)], (
        "only a shop that asks for the safety net is polled, every poll_minutes"
    )


def test_a_shops_poll_seconds_sets_its_interval(tmp_path: Path) -> None:
    section = {"kind": "shopify", "poll_seconds": 30, "options": {**SHOP_OPTIONS, "poll_minutes": 5}}
    runtime = bootstrap.build(settings(tmp_path, sources={"polled": section}))
    runtime.close()

    [shop] = [poller for poller in runtime.pollers if isinstance(poller, ShopOrders)]
    assert shop.every == 30.0
