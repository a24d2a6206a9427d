"""The reconciliation run store contract: a run is kept once under its id and never changed, read back as it was kept
(times in UTC, drifts as JSON), and listed newest first, per counting system if asked."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from crossdock.hub.ports import ReconciliationRun, UnitOfWorkFactory

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
DRIFT = {
    "sku": "SKU-1",
    "location": "WH1",
    "ledger": "5",
    "counted": "7",
    "drift": "2",
    "explained": "0",
    "unexplained": "2",
    "cause": "unknown",
    "action": "adjust",
    "explanation": "no pending movement explains it",
    "adjustment": "mv-1",
}


def run(ident: str = "wms-1", *, source: str = "wms", at: datetime = T0, **changes: object) -> ReconciliationRun:
    kept = ReconciliationRun(ident, source, "key:abc/ops", at, "a" * 64, 3, 2, (DRIFT,), ("EX-1",))
    return replace(kept, **changes)  # type: ignore[arg-type]


def test_a_run_is_kept_once_and_read_back_as_it_ran(uow_factory: UnitOfWorkFactory) -> None:
    local = timezone(timedelta(hours=2))
    with uow_factory() as uow:
        added = uow.reconciliations.add(run(at=T0.astimezone(local)))
        again = uow.reconciliations.add(run(actor="cli:someone-else", checked=99))
        uow.commit()

    with uow_factory() as uow:
        found = uow.reconciliations.get("wms-1")
        missing = uow.reconciliations.get("wms-2")

    assert (added, again) == (True, False), "the second run under the same id is not kept"
    assert found == run(), "the first run stands, its time in UTC"
    assert found is not None and found.at.tzinfo is not None and found.at.utcoffset() == timedelta(0)
    assert found.adjusted == 1 and missing is None


def test_runs_are_listed_newest_first_and_by_counting_system(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        for index, source in enumerate(("wms", "tpl", "wms")):
            uow.reconciliations.add(run(f"{source}-{index}", source=source, at=T0 + timedelta(minutes=index)))
        uow.commit()

    with uow_factory() as uow:
        everything = [r.id for r in uow.reconciliations.recent()]
        newest = [r.id for r in uow.reconciliations.recent(limit=1)]
        wms = [r.id for r in uow.reconciliations.recent(source="wms")]

    assert everything == ["wms-2", "tpl-1", "wms-0"]
    assert newest == ["wms-2"]
    assert wms == ["wms-2", "wms-0"]


def test_a_run_rolled_back_is_not_kept(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.reconciliations.add(run())

    with uow_factory() as uow:
        assert uow.reconciliations.get("wms-1") is None
        assert uow.reconciliations.recent() == []
