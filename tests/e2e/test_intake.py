"""Intake through the HTTP API: idempotency under concurrency, conflicts, unreadable and unknown messages,
and a failed message replayed after the configuration is fixed."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from crossdock.entrypoints import cli
from tests.e2e.conftest import Estate, EstateFactory, estate_settings, order

PROBLEM = "application/problem+json"


def test_ten_concurrent_repeats_of_one_message_are_stored_processed_and_delivered_once(estate: Estate) -> None:
    body = order("SO-1001")
    start = threading.Barrier(10)

    def send(_: int) -> httpx.Response:
        start.wait(timeout=10)
        return estate.post("shop", body, key="shop-msg-1001")

    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(send, range(10)))

    assert {r.status_code for r in responses} <= {200, 202}, [r.text for r in responses]
    answers = [r.json() for r in responses]
    assert len({a["message_id"] for a in answers}) == 1, "repeats must answer with the first message's id"
    assert [a["duplicate"] for a in answers].count(False) == 1, "exactly one repeat is the original"
    assert all(r.status_code == 202 for r, a in zip(responses, answers, strict=True) if not a["duplicate"])
    assert all(r.status_code == 200 for r, a in zip(responses, answers, strict=True) if a["duplicate"])

    estate.drain()

    status = estate.status()
    assert status["messages"] == {"processed": 1}
    assert status["log_head"] == 1, "one message must give one event"
    assert status["deliveries"] == {"delivered": 1}
    assert [item["subject"] for item in estate.sink.received()] == ["SO-1001"]


def test_same_key_with_a_different_payload_is_a_conflict_and_leaves_the_first_message_unchanged(
    estate: Estate,
) -> None:
    first = estate.post("shop", order("SO-1"), key="k-1")
    assert first.status_code == 202
    message_id = first.json()["message_id"]

    conflict = estate.post("shop", order("SO-1", customer="C-999"), key="k-1")

    assert conflict.status_code == 409
    assert conflict.headers["content-type"] == PROBLEM
    assert conflict.json()["code"] == "idempotency-conflict"
    assert conflict.json()["message_id"] == message_id
    with estate.hub.begin() as uow:
        stored = uow.inbox.get(message_id)
        everything = uow.inbox.find(limit=10)
    assert stored is not None and json.loads(stored.body) == order("SO-1")
    assert [m.id for m in everything] == [message_id], "a conflicting repeat must not be stored"


def test_a_body_that_is_not_json_is_refused_with_the_reason_and_kept_as_failed(estate: Estate) -> None:
    response = estate.post("shop", b"{not json", key="broken-1")

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["code"] == "unreadable-message"
    assert "not valid JSON" in problem["detail"]
    kept = estate.client.get(f"/v1/messages/{problem['message_id']}").json()
    assert kept["status"] == "failed"
    assert "not valid JSON" in kept["error"]
    with estate.hub.begin() as uow:
        stored = uow.inbox.get(problem["message_id"])
    assert stored is not None and stored.body == b"{not json", "the raw bytes must be kept as received"


def test_a_message_for_an_unknown_source_is_refused_as_unknown_source(estate: Estate) -> None:
    response = estate.post("nobody", order("SO-1"))

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "unknown-source"
    assert estate.status()["messages"] == {}, "nothing is stored for a source that does not exist"


def _replay_through_api(fixed: Estate, message_id: int, _config: Path) -> None:
    response = fixed.client.post(f"/v1/messages/{message_id}/replay")
    assert response.status_code == 200, response.text
    assert response.json() == {"replayed": [message_id]}


def _replay_through_cli(_fixed: Estate, message_id: int, config_file: Path) -> None:
    result = CliRunner().invoke(cli.app, ["replay", "messages", "--config", str(config_file), "--source", "shop"])
    assert result.exit_code == 0, result.output
    assert "Replayed 1 failed messages" in result.output
    assert f"#{message_id}" in result.output


@pytest.mark.parametrize(
    "replay",
    [
        pytest.param(_replay_through_api, id="api"),  # POST /v1/messages/{id}/replay
        pytest.param(_replay_through_cli, id="cli"),  # crossdock replay messages --source shop
    ],
)
def test_a_message_that_failed_mapping_is_processed_and_delivered_once_after_the_fix_and_a_replay(
    make_estate: EstateFactory, tmp_path: Path, replay: Callable[[Estate, int, Path], None]
) -> None:
    wrong = make_estate(sources={"shop": {"subject_field": "order_no"}})
    accepted = wrong.post("shop", order("SO-7"), key="k-7")
    assert accepted.status_code == 202
    message_id = accepted.json()["message_id"]
    wrong.drain()
    failed = wrong.client.get(f"/v1/messages/{message_id}").json()
    assert failed["status"] == "failed"
    assert "order_no" in failed["error"]
    assert wrong.sink.received() == []

    fix: dict[str, Any] = {"sources": {"shop": {"subject_field": "number"}}}
    fixed = make_estate(**fix)
    config_file = tmp_path / "crossdock.yaml"
    config_file.write_text(yaml.safe_dump(estate_settings(make_estate.database_url, tmp_path, fixed.sink.url, **fix)))
    replay(fixed, message_id, config_file)
    fixed.drain()

    done = fixed.client.get(f"/v1/messages/{message_id}").json()
    assert done["status"] == "processed"
    assert done["replays"] == 1
    assert [e["subject"] for e in done["events"]] == ["SO-7"]
    assert [item["subject"] for item in fixed.sink.received()] == ["SO-7"], "delivered exactly once"
    with fixed.hub.begin() as uow:
        assert [(r.kind, r.target) for r in uow.replays.recent()] == [("message", str(message_id))]
    again = fixed.client.post(f"/v1/messages/{message_id}/replay")
    assert again.status_code == 409 and again.json()["code"] == "not-replayable"


def test_a_worker_that_stores_intake_answers_with_where_each_message_ended_up(estate: Estate) -> None:
    # As in `crossdock run`: the worker stores arrivals and processes them in the same unit of work.
    hub = estate.hub
    good = hub.intake.prepare(
        "shop", json.dumps(order("SO-2001")).encode(), {"Idempotency-Key": "k-good"}, hub.clock.now()
    )
    unmappable = hub.intake.prepare(
        "shop", json.dumps({"customer": "C-1"}).encode(), {"Idempotency-Key": "k-bad"}, hub.clock.now()
    )
    shards = list(range(hub.worker.shards))
    hub.lease("inbox", "pipeline-worker")

    step = hub.pipeline_round("pipeline-worker", shards, [], [], set(), [good, unmappable])

    answers = {result.message_id: result for result in step.accepted}
    assert [a.message_status.value for a in answers.values()] == ["processed", "failed"]
    assert "number" in (step.accepted[1].error or ""), "a failed message's answer says why"
    repeat = hub.pipeline_round("pipeline-worker", shards, [], [], set(), [good])
    assert repeat.accepted[0].status.value == "duplicate"
    assert repeat.accepted[0].message_status.value == "processed"
