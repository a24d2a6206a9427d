"""The connector registry: connectors are found by kind through the `crossdock.connectors` entry points, a package
installed beside Crossdock adds its own, an unknown kind is a configuration error naming the installed ones, and a
destination never goes past the limits its connector declares."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from crossdock import bootstrap, config
from crossdock.connectors import registry
from crossdock.hub import retry
from crossdock.storage.sql import migrate

FAKE_MODULE = "acme_wms_connector"

# A third-party connector as its own package would ship it: a declaration, a sender, a limit on batches and rate.
FAKE_SOURCE = textwrap.dedent(
    """
    from crossdock.connectors.registry import Connector, Limits, Reach
    from crossdock.hub.ports import AttemptOutcome, SendResult

    SETUPS = []
    BATCHES = []


    class WmsSender:
        def __init__(self, setup):
            SETUPS.append(setup)

        def send(self, deliveries):
            BATCHES.append([d.subject for d in deliveries])
            return [SendResult(d.id, AttemptOutcome.DELIVERED, 200) for d in deliveries]

        def close(self):
            pass


    CONNECTOR = Connector(
        kind="acme-wms",
        reaches=(Reach.API,),
        sender=WmsSender,
        limits=Limits(rate_per_second=50, burst=60, concurrency=3, batch_size=2),
    )
    MISNAMED = Connector(kind="something-else", reaches=(Reach.API,), sender=WmsSender)
    NOT_A_CONNECTOR = "a string"
    """
)


def install(site: Path, entry_points: str) -> None:
    """A distribution on sys.path, as pip would leave it: the module and its dist-info with entry points."""
    (site / f"{FAKE_MODULE}.py").write_text(FAKE_SOURCE, encoding="utf-8")
    info = site / "acme_wms_connector-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-wms-connector\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[crossdock.connectors]\n{entry_points}\n", encoding="utf-8")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "site-packages"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    sys.modules.pop(FAKE_MODULE, None)


@pytest.fixture
def acme(site: Path) -> ModuleType:
    install(site, f"acme-wms = {FAKE_MODULE}:CONNECTOR")
    return __import__(FAKE_MODULE)


def settings(tmp_path: Path, **destination: Any) -> config.Settings:
    return config.Settings.model_validate(
        {
            "data_dir": str(tmp_path),
            "worker": {"shards": 2, "send_concurrency": 8},
            "sources": {"shop": {"event_type": "crossdock.order.placed.v1", "subject_field": "number"}},
            "destinations": {"wms": {"kind": "acme-wms", "options": {"warehouse": "north"}, **destination}},
            "subscriptions": [{"destination": "wms", "events": ["crossdock.order.*"]}],
        }
    )


def test_every_built_in_kind_is_registered_through_the_entry_point_group() -> None:
    assert {"generic", "canonical", "edi", "webhook", "jsonl"} <= set(registry.installed_kinds())
    assert all(registry.load(kind).kind == kind for kind in ("generic", "canonical", "edi", "webhook", "jsonl"))


def test_a_connector_installed_by_another_package_takes_the_hubs_deliveries(tmp_path: Path, acme: ModuleType) -> None:
    runtime = bootstrap.build(settings(tmp_path))
    try:
        migrate.upgrade(runtime.engine)
        for number in range(1, 6):
            body = json.dumps({"number": f"SO-{number}"}).encode()
            runtime.hub.receive("shop", body, {"content-type": "application/json"})
        runtime.hub.drain("test-worker")
    finally:
        runtime.close()

    sent = sorted(subject for batch in acme.BATCHES for subject in batch)
    assert sent == [f"SO-{n}" for n in range(1, 6)], "every order must reach the installed connector once"
    assert all(len(batch) <= 2 for batch in acme.BATCHES), "a send must not carry more than the declared batch size"
    (setup,) = acme.SETUPS
    assert setup.name == "wms"
    assert setup.options == {"warehouse": "north"}


def test_a_destination_keeps_within_the_rate_and_concurrency_its_connector_declares(
    tmp_path: Path, acme: ModuleType
) -> None:
    runtime = bootstrap.build(settings(tmp_path, rate_limit={"per_second": 500, "burst": 500}))
    runtime.close()

    assert runtime.hub.outbox.destinations["wms"].rate_limit == retry.RateLimit(per_second=50, burst=60)
    assert acme.SETUPS[0].limits.concurrency == 3, "send_concurrency 8 must not override the declared 3"


def test_a_configured_rate_below_the_declared_one_is_kept(tmp_path: Path, acme: ModuleType) -> None:
    runtime = bootstrap.build(settings(tmp_path, rate_limit={"per_second": 5, "burst": 10}))
    runtime.close()

    assert runtime.hub.outbox.destinations["wms"].rate_limit == retry.RateLimit(per_second=5, burst=10)


def test_an_unknown_kind_is_a_configuration_error_naming_it_and_the_installed_ones(
    tmp_path: Path, acme: ModuleType
) -> None:
    path = tmp_path / "crossdock.yaml"
    path.write_text("destinations:\n  wms:\n    kind: acme-3pl\n", encoding="utf-8")

    with pytest.raises(config.ConfigError) as refused:
        config.load(path)

    message = str(refused.value)
    assert f"{path} line 3: destinations.wms.kind" in message
    assert "'acme-3pl'" in message
    assert all(kind in message for kind in ("acme-wms", "webhook", "edi", "jsonl"))


def test_a_connector_without_an_inbound_side_cannot_be_a_source(tmp_path: Path, acme: ModuleType) -> None:
    wrong = config.Settings.model_validate({"data_dir": str(tmp_path), "sources": {"wms": {"kind": "acme-wms"}}})

    with pytest.raises(config.ConfigError, match=r"sources\.wms\.kind: connector 'acme-wms' cannot be used here"):
        bootstrap.build(wrong)


@pytest.mark.parametrize(
    ("entry_point", "problem"),
    [
        (f"acme-wms = {FAKE_MODULE}:NOT_A_CONNECTOR", "is a str, not a Connector"),  # points at something else
        (f"acme-wms = {FAKE_MODULE}:MISNAMED", "declares kind 'something-else'"),  # its name and kind differ
        ("acme-wms = acme_missing_module:CONNECTOR", "acme-wms-connector 1.0) cannot be loaded"),  # not importable
    ],
)
def test_a_broken_registration_is_refused_naming_the_connector(site: Path, entry_point: str, problem: str) -> None:
    install(site, entry_point)

    with pytest.raises(registry.ConnectorError, match="acme-wms") as refused:
        registry.load("acme-wms")

    assert problem in str(refused.value)


def test_a_declared_limit_of_zero_is_refused() -> None:
    with pytest.raises(registry.ConnectorError, match="batch_size limit must be above zero"):
        registry.Limits(batch_size=0)
