"""The overview's inventory divergence in headless Chromium: per location of the last reconciliation, how many
positions drifted, how many were adjusted, how many units nothing explains, and what waits for a person."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.e2e.console.conftest import ConsoleHub, sign_in


def test_the_overview_shows_per_location_what_drifted_what_was_adjusted_and_the_units_nothing_explains(
    console_hub: ConsoleHub, page: Any, artifacts: Path
) -> None:
    hub = console_hub.runtime.hub
    # WH1 holds 50 A, 10 of them reserved for released orders: a count of 40 is explained by shipments not confirmed
    # yet, so it waits. WH2 holds none: a count of 3 is explained by nothing and, with no system owning WH2, adjusted.
    counted = {("A", "WH1"): Decimal(40), ("A", "WH2"): Decimal(3)}
    console_hub.runtime.order_to_cash.reconcile(
        hub.begin, hub.clock.now(), counted, source="wms", reconciliation_id="count-1", actor="ops-ana"
    )

    sign_in(page, console_hub)
    table = page.get_by_test_id("divergence")
    headers = [cell.inner_text() for cell in table.locator("thead th").all()]
    rows = {
        row.get_attribute("data-location"): [cell.inner_text() for cell in row.locator("td").all()]
        for row in table.locator("tbody tr").all()
    }

    assert headers == ["location", "drifted", "adjusted", "unexplained", "raised", "undecided"]
    assert rows == {
        "WH1": ["WH1", "1", "0", "0", "0", "0"],  # drifted, all of it explained: nothing adjusted, nothing raised
        "WH2": ["WH2", "1", "1", "3", "0", "0"],
    }
    page.screenshot(path=str(artifacts / "overview-divergence.png"), full_page=True)
