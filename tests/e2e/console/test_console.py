"""The operator console in headless Chromium against a served hub: nothing without signing in with an admin key,
pages that show the seeded flow, a replay click that replays, an exception action that resolves, a bulk dry run that
only counts, and every action in the audit trail under the key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from crossdock.entrypoints.api import auth
from crossdock.hub.ports import AuditRecord, DeliveryStatus, ExceptionFilter, ExceptionStatus
from tests.e2e.console.conftest import ConsoleHub, console_get, sign_in

PAGES = [
    "/",
    "/overview/panel",
    "/orders",
    "/orders/SO-1",
    "/purchase-orders",
    "/dead-letters",
    "/exceptions",
    "/connectors",
]


def audit_trail(hub: ConsoleHub) -> list[AuditRecord]:
    with hub.runtime.hub.begin() as uow:
        return uow.audit.read(0, 100_000)


def wait_for_audit(hub: ConsoleHub, action: str, target_part: str, page: Any) -> AuditRecord:
    """Call records are committed by the API's writer shortly after each response: wait for this one."""
    for _ in range(50):
        found = [r for r in audit_trail(hub) if r.action == action and target_part in r.target]
        if found:
            return found[-1]
        page.wait_for_timeout(100)
    raise AssertionError(f"no {action} record about {target_part} reached the audit trail")


def test_no_console_page_is_readable_without_signing_in(console_hub: ConsoleHub, page: Any, artifacts: Path) -> None:
    for path in PAGES:
        response = console_get(console_hub, path)
        assert response.status_code == 303 and "/console/signin" in response.headers["location"], (
            f"{path} must send a visitor without a session to sign in"
        )
        assert "SO-1" not in response.text
    page.goto(f"{console_hub.url}/orders/SO-1")
    assert re.search(r"/console/signin\?next=", page.url), "the browser lands on the sign-in page"
    assert page.locator("input[name=key]").is_visible()
    assert "SO-1" not in page.locator("main").inner_text()
    page.screenshot(path=str(artifacts / "signin.png"), full_page=True)

    forged = console_get(console_hub, "/dead-letters", cookies={"crossdock_console": "not-a-session"})
    assert forged.status_code == 303, "a made-up session id opens nothing"
    dead_before = console_hub.dead()
    refused = httpx.post(f"{console_hub.url}/dead-letters/{dead_before[0]}/replay", follow_redirects=False, timeout=10)
    assert refused.status_code == 303 and console_hub.dead() == dead_before, "an anonymous POST replays nothing"


def test_only_a_valid_admin_key_signs_in_and_the_session_cookie_is_http_only_and_strict(
    console_hub: ConsoleHub, page: Any, artifacts: Path
) -> None:
    sign_in(page, console_hub, "cdk_000000000000_wrong")
    assert page.locator("[role=alert]").inner_text().startswith("this is not a valid API key")
    sign_in(page, console_hub, console_hub.reader_token)
    assert "does not have the admin scope" in page.locator("[role=alert]").inner_text()
    page.screenshot(path=str(artifacts / "signin-refused.png"), full_page=True)
    assert page.context.cookies() == [], "a refused key gets no session"

    sign_in(page, console_hub, path="/connectors")
    assert page.url.endswith("/console/connectors"), "signing in returns to the page that was asked for"
    [cookie] = page.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console/"
    assert console_hub.admin_token not in cookie["value"], "the browser never keeps the key itself"
    assert f"key {console_hub.admin.id}" in page.locator("header").inner_text()

    page.click("text=Sign out")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/console/signin")
    page.goto(f"{console_hub.url}/dead-letters")
    assert "/console/signin" in page.url, "after signing out nothing is readable again"
    signed_in = wait_for_audit(console_hub, "console.call", "POST /console/signin", page)
    assert signed_in.actor == auth.actor_of(console_hub.admin)


def test_signed_in_pages_load_with_the_flow_s_data(console_hub: ConsoleHub, page: Any, artifacts: Path) -> None:
    sign_in(page, console_hub)
    dead = len(console_hub.dead())
    assert dead > 0
    overview = page.locator("main")
    assert page.get_by_test_id("kpi-dead-letters").locator(".big").inner_text() == str(dead)
    stages = page.get_by_test_id("order-stages").inner_text()
    assert "released" in stages and "rejected" in stages
    chart = page.get_by_test_id("latency-chart")
    assert chart.is_visible() and chart.locator("polyline.p50").get_attribute("points"), (
        "the first order's deliveries reached the ERP: their latency is drawn"
    )
    assert "customer_service" in page.get_by_test_id("kpi-exceptions").inner_text()
    assert "Inventory divergence" in overview.inner_text()
    page.screenshot(path=str(artifacts / "overview.png"), full_page=True)

    page.goto(f"{console_hub.url}/orders")
    table = page.get_by_test_id("orders").inner_text()
    assert all(number in table for number in ("SO-1", "SO-2", "SO-3"))
    page.screenshot(path=str(artifacts / "orders.png"), full_page=True)

    page.click("text=SO-1")
    page.wait_for_load_state("networkidle")
    assert page.get_by_test_id("order-status").inner_text() == "released"
    timeline = page.get_by_test_id("timeline").inner_text()
    assert "crossdock.order.received.v1" in timeline or "message" in timeline
    assert page.get_by_test_id("timeline").locator("li").count() >= 3, "the order's trace is drawn as a timeline"
    page.screenshot(path=str(artifacts / "order.png"), full_page=True)

    page.goto(f"{console_hub.url}/purchase-orders")
    assert "No purchase orders match." in page.get_by_test_id("purchase-orders").inner_text()

    page.goto(f"{console_hub.url}/exceptions")
    assert "SO-3" in page.get_by_test_id("owner-customer_service").inner_text()
    page.screenshot(path=str(artifacts / "exceptions.png"), full_page=True)

    page.goto(f"{console_hub.url}/connectors")
    destinations = page.get_by_test_id("destinations").inner_text()
    assert "erp" in destinations and "degraded" in destinations, "dead letters make the ERP degraded"
    assert "wms" in page.get_by_test_id("sources").inner_text()
    page.screenshot(path=str(artifacts / "connectors.png"), full_page=True)

    page.goto(f"{console_hub.url}/dead-letters?destination=erp")
    assert page.get_by_test_id("dead-letters").locator("tbody tr").count() == len(console_hub.dead())
    page.screenshot(path=str(artifacts / "dead-letters.png"), full_page=True)


def test_the_overview_refreshes_by_itself(console_hub: ConsoleHub, page: Any) -> None:
    sign_in(page, console_hub)
    first = page.get_by_test_id("as-of").inner_text()
    with page.expect_response(lambda r: r.url.endswith("/console/overview/panel") and r.status == 200, timeout=15_000):
        pass
    page.wait_for_function(
        "previous => document.querySelector('[data-testid=as-of]').textContent !== previous", arg=first
    )


def test_bulk_dry_run_shows_the_count_without_replaying_and_the_confirmation_replays(
    console_hub: ConsoleHub, page: Any, artifacts: Path
) -> None:
    sign_in(page, console_hub, path="/dead-letters?destination=erp")
    dead = console_hub.dead()
    page.get_by_test_id("bulk-dry-run").click()
    count = page.get_by_test_id("bulk-count")
    count.wait_for()
    assert count.inner_text() == str(len(dead))
    assert console_hub.dead() == dead, "a dry run replays nothing"
    page.screenshot(path=str(artifacts / "bulk-dry-run.png"), full_page=True)

    page.fill("#bulk-result input[name=note]", "ERP fixed its validation")
    page.get_by_test_id("bulk-confirm").click()
    page.wait_for_selector("text=Replayed")
    assert page.get_by_test_id("bulk-count").inner_text() == str(len(dead))
    assert console_hub.dead() == [], "the confirmation replays what the dry run counted"
    record = wait_for_audit(console_hub, "deliveries.replay", "dead letters", page)
    assert record.actor == auth.actor_of(console_hub.admin) and record.details["note"] == "ERP fixed its validation"

    console_hub.drain()  # the ERP still refuses: they come back as dead letters for the next tests
    assert sorted(console_hub.dead()) == sorted(dead)


def test_a_replay_click_replays_the_dead_letter(console_hub: ConsoleHub, page: Any, artifacts: Path) -> None:
    sign_in(page, console_hub, path="/dead-letters")
    row = page.get_by_test_id("dead-letters").locator("tbody tr").first
    delivery_id = row.get_attribute("data-delivery")
    assert delivery_id in console_hub.dead()
    row.get_by_test_id("replay-one").click()
    page.get_by_test_id("replayed").wait_for()
    assert delivery_id in page.get_by_test_id("replayed").inner_text()
    page.screenshot(path=str(artifacts / "replayed.png"), full_page=True)

    assert delivery_id not in console_hub.dead(), "the delivery leaves the dead letters"
    with console_hub.runtime.hub.begin() as uow:
        replayed = uow.outbox.get(delivery_id)
    assert replayed is not None and replayed.status is DeliveryStatus.PENDING and replayed.replays >= 1
    console_hub.sink.heal()
    try:
        console_hub.drain()
    finally:
        console_hub.sink.program(always={"status": 400})
    with console_hub.runtime.hub.begin() as uow:
        assert uow.outbox.get(delivery_id).status is DeliveryStatus.DELIVERED  # type: ignore[union-attr]
    assert any(item["delivery_id"] == delivery_id for item in console_hub.sink.accepted())
    record = wait_for_audit(console_hub, "delivery.replay", delivery_id, page)
    assert record.actor == auth.actor_of(console_hub.admin)
    wait_for_audit(console_hub, "console.call", "/replay", page)


def test_editing_a_payload_then_replaying_sends_the_edited_payload(
    console_hub: ConsoleHub, page: Any, artifacts: Path
) -> None:
    delivery_id = console_hub.dead()[0]
    sign_in(page, console_hub, path=f"/dead-letters/{delivery_id}")
    page.fill("textarea[name=payload]", "{not json")
    page.get_by_test_id("replay-edited").click()
    assert "payload: not JSON" in page.locator("[role=alert]").inner_text()
    assert delivery_id in console_hub.dead(), "an unreadable edit replays nothing"

    page.fill("textarea[name=payload]", '{"order": "SO-1", "corrected": true}')
    page.fill("input[name=note]", "ERP wants the corrected flag")
    page.get_by_test_id("replay-edited").click()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(artifacts / "edited-replay.png"), full_page=True)
    with console_hub.runtime.hub.begin() as uow:
        edited = uow.outbox.get(delivery_id)
    assert edited is not None and edited.status is DeliveryStatus.PENDING
    assert dict(edited.payload) == {"order": "SO-1", "corrected": True}
    console_hub.drain()


def test_an_exception_action_resolves_it(console_hub: ConsoleHub, page: Any, artifacts: Path) -> None:
    with console_hub.runtime.hub.begin() as uow:
        [rejected] = uow.exceptions.find(ExceptionFilter(about_key="SO-3"))
    sign_in(page, console_hub, path="/exceptions")
    card = page.locator(f"[data-exception='{rejected.id}']")
    card.locator("select[name=action]").select_option("cancel")
    card.locator("button").click()
    assert "needs a reason" in page.locator("[role=alert]").first.inner_text(), "a cancel is not taken without why"

    page.goto(f"{console_hub.url}/exceptions")
    card = page.locator(f"[data-exception='{rejected.id}']")
    card.locator("select[name=action]").select_option("cancel")
    card.locator("input[name=note]").fill("customer unknown: order placed by mistake")
    card.locator("button").click()
    page.get_by_test_id("exception-resolved").wait_for()
    assert "resolved" in page.get_by_test_id("exception-resolved").inner_text()
    page.screenshot(path=str(artifacts / "exception-resolved.png"), full_page=True)

    with console_hub.runtime.hub.begin() as uow:
        done = uow.exceptions.get(rejected.id)
    assert done is not None and done.status is ExceptionStatus.RESOLVED
    assert (done.actions[-1].action, done.actions[-1].actor) == ("cancel", auth.actor_of(console_hub.admin))
    assert done.actions[-1].note == "customer unknown: order placed by mistake"
    record = wait_for_audit(console_hub, "exception.act", rejected.id, page)
    assert record.actor == auth.actor_of(console_hub.admin) and record.details["action"] == "cancel"
    page.goto(f"{console_hub.url}/exceptions")
    assert page.locator(f"[data-exception='{rejected.id}']").count() == 0, "a resolved exception leaves the queue"
