"""A stock count imported from a CSV file is reconciled under the person who imported it: the kept run names them
(not the counting system, as an automatic snapshot would) and the audit trail records the reconciliation under them,
with the file it came from."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from crossdock import bootstrap, config
from crossdock.hub.handlers import RECONCILE_ACTION
from crossdock.storage.sql import migrate
from tests.e2e.conftest import OWNER
from tests.e2e.test_csv_import import crossdock, receipt, write


@pytest.fixture
def config_file(tmp_path: Path, sqlite_url: str) -> Path:
    path = tmp_path / "crossdock.yaml"
    settings = {"data_dir": str(tmp_path), "storage": {"url": sqlite_url}, "sources": {"wms": {"kind": "canonical"}}}
    path.write_text(json.dumps(settings), encoding="utf-8")  # JSON is YAML
    return path


@pytest.fixture
def hub(config_file: Path) -> Iterator[bootstrap.Runtime]:
    runtime = bootstrap.build(config.load(config_file))
    migrate.upgrade(runtime.engine)
    yield runtime
    runtime.close()


def test_a_stock_import_is_reconciled_and_audited_under_the_person_who_ran_it(
    config_file: Path, hub: bootstrap.Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USER", "ana")
    receipt(hub, "SKU-1", "WH2", 3)
    hub.hub.drain(OWNER)
    file = write(tmp_path, "count.csv", "sku,location,on_hand\nSKU-1,WH2,5\n")

    result = crossdock("import", "stock", str(file), "--source", "wms", "--config", str(config_file))

    assert result.exit_code == 0, result.output
    with hub.hub.begin() as uow:
        [run] = uow.reconciliations.recent(limit=10)
        audited = [r for r in uow.audit.read(0, 1000) if r.action == RECONCILE_ACTION]
    assert (run.source, run.actor) == ("wms", "cli:ana"), "the person who imported reconciled, not system:wms"
    assert [(r.actor, r.target, r.details["file"]) for r in audited] == [("cli:ana", run.id, "count.csv")]
