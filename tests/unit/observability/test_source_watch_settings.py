"""How the settings become source watches: every source is watched for failing its records, the ones with an
expected interval for silence too, and a partner whose inbound files are expected is heard through the sources its
files feed; a partner expected to send files that no source reads is a configuration error naming the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from crossdock import bootstrap, config
from crossdock.hub.silence import Watch
from tests.unit.factories import T0


class FixedClock:
    def now(self) -> Any:
        return T0


def partner(tmp_path: Path, **transport: Any) -> dict[str, Any]:
    return {
        "role": "supplier",
        "id": "ACME",
        "our_id": "CROSSDOCK",
        "transport": {"path": str(tmp_path / "acme"), **transport},
    }


def watches(settings: dict[str, Any]) -> list[Watch]:
    built = config.Settings.model_validate(settings)
    engine = create_engine("sqlite://")
    try:
        sources = sorted([*built.sources, bootstrap.ORDERS_API_SOURCE])
        return list(bootstrap.source_watch(built, sources, FixedClock(), engine).watches)
    finally:
        engine.dispose()


def test_each_source_is_watched_and_a_partners_files_through_the_sources_they_feed(tmp_path: Path) -> None:
    found = watches(
        {
            "sources": {
                "shop": {"expect_every_minutes": 30},
                "acme-850": {"kind": "edi", "partner": "acme"},
            },
            "partners": {"acme": partner(tmp_path, expect_every_minutes=24 * 60)},
        }
    )
    assert found == [
        Watch("acme-850", "source", ("acme-850",), None),
        Watch("api", "source", ("api",), None),
        Watch("shop", "source", ("shop",), timedelta(minutes=30)),
        Watch("acme", "partner", ("acme-850",), timedelta(days=1)),
    ]


def test_a_partner_expected_to_send_files_no_source_reads_is_refused_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match=r"partners\.acme\.transport\.expect_every_minutes"):
        watches({"partners": {"acme": partner(tmp_path, expect_every_minutes=60)}})


@pytest.mark.parametrize(
    ("section", "value"),
    [
        ({"sources": {"shop": {"expect_every_minutes": 0}}}, "expect_every_minutes"),  # must be positive
        ({"observability": {"exporter": "zipkin"}}, "exporter"),  # not an exporter we know
        ({"observability": {"endpoint": "http://collector:4318"}}, "endpoint"),  # only otlp reads it
        ({"observability": {"failing_share": 1.5}}, "failing_share"),  # a share is at most 1
    ],
)
def test_bad_observability_settings_are_refused_naming_the_key(section: dict[str, Any], value: str) -> None:
    with pytest.raises(config.ConfigError, match=value):
        config.load(overrides={".".join(k): v for k, v in _flatten(section)})


def _flatten(section: dict[str, Any], at: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found: list[tuple[tuple[str, ...], Any]] = []
    for key, value in section.items():
        if isinstance(value, dict):
            found += _flatten(value, (*at, key))
        else:
            found.append(((*at, key), value))
    return found
