"""Settings: a YAML file, `${VAR}` references and CROSSDOCK_* overrides; errors an operator can act on, and
secrets that never leak into messages or logs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from crossdock import config

SECRET = "s3cr3t-Value-42"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "crossdock.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path | None = None, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(config.ConfigError) as caught:
        config.load(path, environ=environ or {})
    return str(caught.value)


WEBHOOK = """\
destinations:
  erp:
    kind: webhook
    url: https://erp.example/hook
"""


def test_defaults_load_without_a_file() -> None:
    settings = config.load(None, environ={})
    assert settings.http.port == 8080
    assert settings.worker.shards == 16
    assert (settings.sources, settings.destinations, settings.subscriptions) == ({}, {}, [])


def test_an_empty_file_means_the_defaults(tmp_path: Path) -> None:
    assert config.load(write(tmp_path, "# nothing configured yet\n"), environ={}) == config.load(None, environ={})


def test_a_file_sets_nested_values(tmp_path: Path) -> None:
    path = write(tmp_path, WEBHOOK + "http:\n  port: 9001\nsubscriptions:\n  - destination: erp\n    events: ['*']\n")
    settings = config.load(path, environ={})
    assert settings.http.port == 9001
    assert settings.destinations["erp"].url == "https://erp.example/hook"
    assert settings.subscriptions[0].events == ["*"]


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ("http:\n  port: 8080\n  hots: 0.0.0.0\n", "http.hots", 3),  # a typo in a section
        ("data_dir: ./var\nworkers:\n  shards: 4\n", "workers", 2),  # a typo in a section name
        (WEBHOOK + "    retry:\n      max_tries: 3\n", "destinations.erp.retry.max_tries", 6),  # deep in a destination
        ("subscriptions:\n  - events: ['*']\n    filter: x\n", "subscriptions.0.filter", 3),  # in a list item
    ],
)
def test_an_unknown_key_is_an_error_naming_its_path_and_line(tmp_path: Path, text: str, key: str, line: int) -> None:
    path = write(tmp_path, text)
    message = load_error(path)
    assert f"{path} line {line}: {key}: unknown key" in message


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ("http:\n  host: 0.0.0.0\n  port: -1\n", "http.port", 3),  # out of range
        ("worker:\n  shards: many\n", "worker.shards", 2),  # not a number
        ("destinations:\n  erp:\n    kind: ftp\n    url: ftp://erp\n", "destinations.erp.kind", 3),  # unknown kind
        ("sources:\n  shop:\n    kind: ftp\n", "sources.shop.kind", 3),  # unknown source kind
    ],
)
def test_a_bad_value_is_an_error_naming_its_key_and_line(tmp_path: Path, text: str, key: str, line: int) -> None:
    path = write(tmp_path, text)
    assert f"{path} line {line}: {key}: " in load_error(path)


def test_a_webhook_without_a_url_is_rejected(tmp_path: Path) -> None:
    message = load_error(write(tmp_path, "destinations:\n  erp:\n    kind: webhook\n"))
    assert "destinations.erp" in message
    assert "needs a url" in message


def test_a_file_that_is_not_a_mapping_is_rejected(tmp_path: Path) -> None:
    assert "line 1" in load_error(write(tmp_path, "- just\n- a list\n"))


def test_a_missing_file_is_reported_by_name(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    assert str(missing) in load_error(missing)


def test_variable_references_resolve_from_the_given_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "destinations:\n  erp:\n    kind: webhook\n    url: https://${ERP_HOST}:${ERP_PORT}/hook\n")
    settings = config.load(path, environ={"ERP_HOST": "erp.internal", "ERP_PORT": "8443"})
    assert settings.destinations["erp"].url == "https://erp.internal:8443/hook"


def test_an_unset_variable_is_an_error_naming_key_line_and_variable(tmp_path: Path) -> None:
    path = write(tmp_path, WEBHOOK + "    secret: ${ERP_SECRET}\n")
    message = load_error(path, environ={"OTHER": "x"})
    assert f"{path} line 5" in message
    assert "destinations.erp.secret" in message
    assert "${ERP_SECRET}" in message


@pytest.mark.parametrize(
    ("text", "environ"),
    [
        # A resolved secret next to an invalid value in the same destination.
        (WEBHOOK + "    secret: ${ERP_SECRET}\n    timeout_seconds: -5\n", {"ERP_SECRET": SECRET}),
        # A literal secret of the wrong shape.
        (WEBHOOK + f"    secret: [{SECRET}]\n", {}),
        # A database URL carrying a password, set where a mapping belongs.
        (f"storage:\n  url:\n    dsn: postgresql://crossdock:{SECRET}@db/crossdock\n", {}),
        # A secret resolved into a key that does not exist.
        (WEBHOOK + "    secrett: ${ERP_SECRET}\n", {"ERP_SECRET": SECRET}),
    ],
)
def test_secret_values_never_appear_in_error_messages(tmp_path: Path, text: str, environ: dict[str, str]) -> None:
    assert SECRET not in load_error(write(tmp_path, text), environ=environ)


def test_a_secret_on_a_line_that_is_not_valid_yaml_is_not_echoed(tmp_path: Path) -> None:
    message = load_error(write(tmp_path, WEBHOOK + f"    secret: {SECRET}: oops\n"))
    assert "line 5" in message
    assert SECRET not in message


def test_secret_values_never_appear_in_the_settings_repr(tmp_path: Path) -> None:
    path = write(tmp_path, WEBHOOK + "    secret: ${ERP_SECRET}\n")
    settings = config.load(
        path, environ={"ERP_SECRET": SECRET, "CROSSDOCK_STORAGE__URL": f"postgresql://u:{SECRET}@db/x"}
    )
    assert settings.destinations["erp"].secret is not None
    assert settings.destinations["erp"].secret.get_secret_value() == SECRET
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)


def test_a_secret_header_value_never_appears_in_the_settings_repr(tmp_path: Path) -> None:
    path = write(tmp_path, WEBHOOK + "    headers:\n      Authorization: Bearer ${ERP_TOKEN}\n")
    settings = config.load(path, environ={"ERP_TOKEN": SECRET})
    assert SECRET not in repr(settings)


def test_environment_overrides_apply_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "http:\n  port: 8080\nstorage:\n  url: sqlite:///from-file.db\n")
    settings = config.load(
        path, environ={"CROSSDOCK_HTTP__PORT": "9100", "CROSSDOCK_STORAGE__URL": "postgresql://db/crossdock"}
    )
    assert settings.http.port == 9100
    assert settings.database_url == "postgresql://db/crossdock"


def test_environment_overrides_apply_without_a_file(tmp_path: Path) -> None:
    settings = config.load(None, environ={"CROSSDOCK_WORKER__SHARDS": "4", "CROSSDOCK_DATA_DIR": str(tmp_path)})
    assert settings.worker.shards == 4
    assert settings.data_dir == tmp_path


def test_an_invalid_environment_override_names_the_key() -> None:
    assert "http.port" in load_error(environ={"CROSSDOCK_HTTP__PORT": "-1"})


def test_unrelated_crossdock_variables_are_not_settings() -> None:
    settings = config.load(None, environ={"CROSSDOCK_TEST_POSTGRES_URL": "postgresql://elsewhere/x"})
    assert settings.database_url.startswith("sqlite:")


def test_explicit_overrides_win_over_file_and_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "http:\n  port: 8080\n")
    settings = config.load(path, environ={"CROSSDOCK_HTTP__PORT": "9100"}, overrides={"http.port": 9200})
    assert settings.http.port == 9200


def test_a_subscription_to_an_unknown_destination_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, WEBHOOK + "subscriptions:\n  - destination: wms\n    events: ['*']\n")
    message = load_error(path)
    assert "subscriptions[0]" in message
    assert "'wms'" in message


def test_a_subscription_needs_at_least_one_event_pattern(tmp_path: Path) -> None:
    path = write(tmp_path, WEBHOOK + "subscriptions:\n  - destination: erp\n    events: []\n")
    assert "subscriptions.0.events" in load_error(path)


def test_the_database_defaults_to_a_sqlite_file_in_the_data_directory(tmp_path: Path) -> None:
    settings = config.load(None, environ={"CROSSDOCK_DATA_DIR": str(tmp_path / "data")})
    url = make_url(settings.database_url)
    assert url.get_backend_name() == "sqlite"
    assert Path(str(url.database)) == tmp_path / "data" / "crossdock.db"


def test_a_configured_database_url_is_used_as_given() -> None:
    url = f"postgresql+psycopg://crossdock:{SECRET}@db:5432/crossdock"
    assert config.load(None, environ={"CROSSDOCK_STORAGE__URL": url}).database_url == url
