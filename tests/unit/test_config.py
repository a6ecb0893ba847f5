"""Settings: defaults, the YAML file, TIDEGATE_* overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidegate.config import ENV_KEYS, Settings, load_settings
from tidegate.errors import ConfigInvalid


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tidegate.yaml"
    path.write_text(text)
    return path


def config_error(path: Path | None = None, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigInvalid) as raised:
        load_settings(path, environ or {})
    assert raised.value.code == "CONFIG_INVALID"
    return raised.value.message


# --- defaults ----------------------------------------------------------------------------------


def test_defaults_without_file_or_environment() -> None:
    settings = load_settings(None, {})

    assert settings == Settings()
    assert settings.listen == "127.0.0.1:5000"
    assert (settings.host, settings.port) == ("127.0.0.1", 5000)
    assert settings.data_dir == Path("./tidegate-data")
    assert settings.database_url is None
    expected_db = (Path("./tidegate-data") / "tidegate.db").resolve()
    assert settings.resolved_database_url == f"sqlite:///{expected_db}"
    assert settings.storage.driver == "filesystem"
    assert settings.storage_root == (Path("./tidegate-data") / "storage").resolve()
    assert settings.admin_password is None
    assert settings.default_repository == "docker"
    assert settings.repositories is None
    assert settings.workers == 1
    assert settings.server == "granian"
    assert settings.log_level == "info"
    assert settings.token_ttl == 900


def test_environment_names_are_the_documented_contract() -> None:
    assert ENV_KEYS == {
        "TIDEGATE_LISTEN": "listen",
        "TIDEGATE_DATA": "data_dir",
        "TIDEGATE_DATABASE_URL": "database_url",
        "TIDEGATE_ADMIN_PASSWORD": "admin_password",
        "TIDEGATE_DEFAULT_REPOSITORY": "default_repository",
        "TIDEGATE_WORKERS": "workers",
        "TIDEGATE_SERVER": "server",
        "TIDEGATE_LOG_LEVEL": "log_level",
        "TIDEGATE_TOKEN_TTL": "token_ttl",
        "TIDEGATE_BODY_IDLE_TIMEOUT": "body_idle_timeout",
        "TIDEGATE_LOGIN_FAILURES": "login_failures",
        "TIDEGATE_LOGIN_FAILURE_WINDOW": "login_failure_window",
        "TIDEGATE_PUBLIC_URL": "public_url",
        "TIDEGATE_TLS_CERT": "tls.cert",
        "TIDEGATE_TLS_KEY": "tls.key",
        "TIDEGATE_SMTP_HOST": "smtp.host",
        "TIDEGATE_SMTP_PORT": "smtp.port",
        "TIDEGATE_SMTP_USERNAME": "smtp.username",
        "TIDEGATE_SMTP_PASSWORD": "smtp.password",
        "TIDEGATE_GC_GRACE": "gc.grace",
        "TIDEGATE_GC_SCHEDULE": "gc.schedule",
        "TIDEGATE_UPLOADS_MAX_AGE": "uploads_max_age",
    }


# --- the YAML file -----------------------------------------------------------------------------

FULL_CONFIG = """
listen: "0.0.0.0:6000"
data_dir: /srv/tidegate
database_url: postgresql+psycopg://tidegate@db/tidegate
storage:
  driver: filesystem
  root: /mnt/blobs
admin_password: correct horse battery
default_repository: dev
workers: 4
server: uvicorn
log_level: debug
token_ttl: 300
repositories:
  - key: dev
    stage: dev
  - key: prod
    stage: prod
    allow_push: false
    immutable_tags: true
    gate: {from: [dev], require: [qa.uat=passed]}
"""


def test_yaml_file_sets_every_setting(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, FULL_CONFIG), {})

    assert (settings.host, settings.port) == ("0.0.0.0", 6000)
    assert settings.data_dir == Path("/srv/tidegate")
    assert settings.resolved_database_url == "postgresql+psycopg://tidegate@db/tidegate"
    assert settings.storage_root == Path("/mnt/blobs")
    assert settings.admin_password is not None
    assert settings.admin_password.get_secret_value() == "correct horse battery"
    assert settings.default_repository == "dev"
    assert (settings.workers, settings.server, settings.log_level) == (4, "uvicorn", "debug")
    assert settings.token_ttl == 300
    assert settings.repositories is not None
    dev, prod = settings.repositories
    assert (dev.key, dev.kind, dev.stage, dev.allow_push) == ("dev", "local", "dev", True)
    assert (prod.key, prod.allow_push, prod.immutable_tags) == ("prod", False, True)
    assert prod.gate == {"from": ["dev"], "require": ["qa.uat=passed"]}


def test_admin_password_is_not_shown_in_the_settings(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, FULL_CONFIG), {})

    assert "correct horse battery" not in repr(settings)
    assert "correct horse battery" not in str(settings)


def test_config_file_named_by_tidegate_config(tmp_path: Path) -> None:
    path = write_config(tmp_path, "listen: '127.0.0.1:7000'\n")

    settings = load_settings(None, {"TIDEGATE_CONFIG": str(path)})

    assert settings.port == 7000


def test_empty_config_file_gives_defaults(tmp_path: Path) -> None:
    assert load_settings(write_config(tmp_path, "# nothing yet\n"), {}) == Settings()


# --- environment overrides ---------------------------------------------------------------------


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, FULL_CONFIG)
    environ = {
        "TIDEGATE_LISTEN": "[::1]:8443",
        "TIDEGATE_DATABASE_URL": "sqlite:////var/lib/tidegate/meta.db",
        "TIDEGATE_ADMIN_PASSWORD": "another long password",
        "TIDEGATE_DEFAULT_REPOSITORY": "prod",
        "TIDEGATE_WORKERS": "8",
        "TIDEGATE_SERVER": "granian",
        "TIDEGATE_LOG_LEVEL": "warning",
        "TIDEGATE_TOKEN_TTL": "3600",
    }

    settings = load_settings(path, environ)

    assert (settings.host, settings.port) == ("::1", 8443)
    assert settings.resolved_database_url == "sqlite:////var/lib/tidegate/meta.db"
    assert settings.admin_password is not None
    assert settings.admin_password.get_secret_value() == "another long password"
    assert settings.default_repository == "prod"
    assert (settings.workers, settings.server, settings.log_level) == (8, "granian", "warning")
    assert settings.token_ttl == 3600
    assert settings.storage_root == Path("/mnt/blobs")  # not overridden: kept from the file


def test_tidegate_data_moves_the_data_directory(tmp_path: Path) -> None:
    settings = load_settings(None, {"TIDEGATE_DATA": str(tmp_path / "data")})

    assert settings.data_dir == tmp_path / "data"
    assert settings.storage_root == tmp_path / "data" / "storage"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'data' / 'tidegate.db'}"


def test_empty_environment_variable_does_not_override(tmp_path: Path) -> None:
    path = write_config(tmp_path, "listen: '127.0.0.1:7000'\n")

    assert load_settings(path, {"TIDEGATE_LISTEN": ""}).port == 7000


def test_unrelated_environment_is_ignored() -> None:
    assert load_settings(None, {"TIDEGATE_UNKNOWN": "x", "HOME": "/root"}) == Settings()


# --- errors name the key -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "listen", ["5000", "localhost", ":5000", "host:0", "host:65536", "host:http", "host:"]
)
def test_invalid_listen_names_the_key(listen: str) -> None:
    message = config_error(environ={"TIDEGATE_LISTEN": listen})

    assert "listen:" in message
    assert "HOST:PORT" in message


def test_unknown_key_is_named(tmp_path: Path) -> None:
    message = config_error(write_config(tmp_path, "listen: '127.0.0.1:5000'\nlisten_port: 80\n"))

    assert "listen_port" in message


def test_unknown_nested_key_is_named(tmp_path: Path) -> None:
    message = config_error(write_config(tmp_path, "storage:\n  driver: filesystem\n  bucket: x\n"))

    assert "storage.bucket" in message


def test_short_admin_password_is_named_but_not_shown() -> None:
    message = config_error(environ={"TIDEGATE_ADMIN_PASSWORD": "hunter2"})

    assert "admin_password" in message
    assert "at least 8 characters" in message
    assert "hunter2" not in message


@pytest.mark.parametrize("key", ["Dev", "dev/prod", "-dev", "a" * 65, ""])
def test_invalid_repository_key_is_named(tmp_path: Path, key: str) -> None:
    path = write_config(tmp_path, f"repositories:\n  - key: dev\n  - key: '{key}'\n")

    message = config_error(path)

    assert "repositories.1.key" in message


def test_invalid_default_repository_is_named() -> None:
    message = config_error(environ={"TIDEGATE_DEFAULT_REPOSITORY": "Not A Key"})

    assert "default_repository" in message


@pytest.mark.parametrize(
    ("name", "value", "key"),
    [
        ("TIDEGATE_WORKERS", "0", "workers"),
        ("TIDEGATE_WORKERS", "many", "workers"),
        ("TIDEGATE_SERVER", "gunicorn", "server"),
        ("TIDEGATE_LOG_LEVEL", "verbose", "log_level"),
        ("TIDEGATE_TOKEN_TTL", "4", "token_ttl"),
        ("TIDEGATE_LOGIN_FAILURES", "0", "login_failures"),
    ],
)
def test_invalid_values_name_the_key(name: str, value: str, key: str) -> None:
    assert f"{key}:" in config_error(environ={name: value})


def test_every_error_is_reported_at_once() -> None:
    message = config_error(environ={"TIDEGATE_LISTEN": "nope", "TIDEGATE_WORKERS": "0"})

    assert "listen:" in message
    assert "workers:" in message


def test_missing_config_file(tmp_path: Path) -> None:
    message = config_error(tmp_path / "absent.yaml")

    assert "cannot read config file" in message
    assert "absent.yaml" in message


def test_config_file_that_is_not_yaml(tmp_path: Path) -> None:
    assert "is not valid YAML" in config_error(write_config(tmp_path, "listen: [unclosed\n"))


def test_config_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    assert "must hold a mapping" in config_error(write_config(tmp_path, "- listen\n- workers\n"))


# --- permission targets ------------------------------------------------------------------------


def test_anonymous_write_access_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """
permission_targets:
  - name: public
    repositories: [dev]
    anonymous: [read, deploy]
""",
    )

    message = config_error(path)

    assert "permission_targets.0.anonymous" in message
    assert "anonymous may only be granted read" in message
    assert "deploy" in message


def test_anonymous_read_and_group_grants_are_accepted(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """
groups: [builders]
permission_targets:
  - name: public
    repositories: [dev, "team-*"]
    include: ["shop/**"]
    groups: {builders: [read, deploy]}
    anonymous: [read]
""",
    )

    settings = load_settings(path, {})

    assert settings.permission_targets is not None
    target = settings.permission_targets[0]
    assert (target.repositories, target.include, target.exclude) == (
        ["dev", "team-*"],
        ["shop/**"],
        [],
    )
    assert target.groups == {"builders": ["read", "deploy"]}


def test_grants_to_groups_that_will_not_exist_are_refused(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """
groups: [builders]
permission_targets:
  - name: t
    repositories: [dev]
    groups: {developers: [read]}
""",
    )

    assert "grants to group(s) not listed in groups: developers" in config_error(path)


def test_unknown_actions_are_refused(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """
permission_targets:
  - name: t
    repositories: [dev]
    groups: {developers: [read, fly]}
""",
    )

    assert "permission_targets.0.groups.developers" in config_error(path)


def test_an_admin_password_that_looks_like_an_access_token_is_refused() -> None:
    """It could never be used: credentials starting with tdg_ are checked as tokens."""
    message = config_error(environ={"TIDEGATE_ADMIN_PASSWORD": "tdg_adminpass1"})

    assert "admin_password: Value error, must not start with 'tdg_'" in message


def test_sizes_and_durations_read_as_people_write_them() -> None:
    from tidegate.config import format_size, parse_duration, parse_size

    assert parse_size("10GiB") == 10 * 1024**3
    assert parse_size("500MB") == 500_000_000
    assert parse_size("1.5 KiB") == 1536
    assert parse_size(123) == parse_size("123") == 123
    for bad in ("lots", "-1", True, -5):
        with pytest.raises(ValueError):
            parse_size(bad)
    assert format_size(10 * 1024**3) == "10.0 GiB" and format_size(12) == "12 B"
    assert parse_duration("1h") == 3600 and parse_duration("30m") == 1800
    assert parse_duration(0) == 0 and parse_duration("7d") == 7 * 86400
    assert parse_duration("1d12h") == 36 * 3600 and parse_duration("90") == 90  # one grammar
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_gc_settings_from_the_file_and_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "gc:\n  grace: 30m\nuploads_max_age: 2h\nrepositories:\n  - {key: team-a, quota: 10GiB}\n"
    )
    settings = load_settings(config, {})
    assert settings.gc.grace == 1800 and settings.gc.schedule is None
    assert settings.uploads_max_age == 7200
    assert settings.repositories is not None and settings.repositories[0].quota == 10 * 1024**3
    env = {"TIDEGATE_GC_GRACE": "0", "TIDEGATE_GC_SCHEDULE": "6h"}
    settings = load_settings(config, env)
    assert (settings.gc.grace, settings.gc.schedule) == (0, 6 * 3600)
    with pytest.raises(ConfigInvalid) as bad:
        load_settings(None, {"TIDEGATE_GC_SCHEDULE": "5s"})
    assert "gc.schedule" in bad.value.message
