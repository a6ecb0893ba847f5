"""The ``tidegate`` remote commands, run as a person or a pipeline would, against a running
server: login, users, service accounts, tokens, groups, permission targets, exit codes."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import RunningServer, tidegate_server

TIDEGATE = Path(sys.executable).with_name("tidegate")
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with tidegate_server(tmp_path_factory.mktemp("cli") / "data") as running:
        yield running


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """``tidegate`` with its own home directory and no TIDEGATE_* from the test's environment."""

    def __init__(self, home: Path, **env: str) -> None:
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TIDEGATE_")}
        self.env.pop("XDG_CONFIG_HOME", None)
        self.env.update({"HOME": str(home), "COLUMNS": "200", **env})

    def __call__(self, *args: str, stdin: str = "", **env: str) -> Run:
        done = subprocess.run(
            [str(TIDEGATE), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env={**self.env, **env},
            timeout=60,
        )
        return Run(done.returncode, done.stdout, done.stderr)

    @property
    def config(self) -> Path:
        return self.home / ".config" / "tidegate" / "cli.json"


@pytest.fixture(scope="module")
def admin_cli(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """Logged in as admin (with ``tidegate login``)."""
    cli = Cli(tmp_path_factory.mktemp("admin-home"))
    run = cli("login", server.url, "-u", "admin", "--password-stdin", stdin=server.password)
    assert run.code == 0, run.err
    yield cli


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_login_stores_a_token_readable_only_by_its_owner(
    server: RunningServer, tmp_path: Path
) -> None:
    cli = Cli(tmp_path)
    run = cli("login", server.url, "-u", "admin", "--password-stdin", stdin=server.password + "\n")
    assert run.code == 0, run.err
    assert "Logged in" in run.out
    assert stat.S_IMODE(cli.config.stat().st_mode) == 0o600
    stored = json.loads(cli.config.read_text())
    assert stored["url"] == server.url
    assert stored["username"] == "admin"
    assert stored["token"].startswith("tdg_")
    assert stored["token"] not in run.out + run.err
    assert server.password not in run.out + run.err

    tokens = cli("token", "list", "--json").json()
    expected_name = "cli-" + socket.gethostname().lower()
    mine = [t for t in tokens if t["id"] == stored["token_id"]]
    assert mine and mine[0]["name"].startswith(expected_name[:20])

    # logging in again from the same host replaces the token instead of failing
    again = cli("login", server.url, "-u", "admin", "--password-stdin", stdin=server.password)
    assert again.code == 0, again.err
    first = {"Authorization": f"Bearer {stored['token']}"}
    assert httpx.get(f"{server.url}/api/v1/me", headers=first).status_code == 401

    second = json.loads(cli.config.read_text())["token"]
    run = cli("logout")
    assert run.code == 0, run.err
    assert not cli.config.exists()
    bearer = {"Authorization": f"Bearer {second}"}
    assert httpx.get(f"{server.url}/api/v1/me", headers=bearer).status_code == 401
    assert cli("user", "list").code == 1  # no server known any more


def test_login_with_a_wrong_password_exits_3(server: RunningServer, tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    run = cli("login", server.url, "-u", "admin", "--password-stdin", stdin="wrong-password")
    assert run.code == 3
    assert "invalid username or password" in run.err
    assert not cli.config.exists()


def test_create_a_user_a_service_account_and_a_token_that_pulls(
    server: RunningServer, admin_cli: Cli
) -> None:
    user = unique("bob")
    run = admin_cli(
        "user",
        "create",
        user,
        "--password-stdin",
        "--group",
        "developers",
        "--json",
        stdin=PASSWORD,
    )
    assert run.code == 0, run.err
    assert run.json()["groups"] == ["developers"]
    assert httpx.get(f"{server.url}/v2/", auth=(user, PASSWORD)).status_code == 200
    listing = admin_cli("user", "list")
    assert listing.code == 0 and user in listing.out
    assert user in [u["name"] for u in admin_cli("user", "list", "--json").json()]

    robot = unique("ci")
    run = admin_cli("sa", "create", robot, "--group", "ci", "--json")
    assert run.code == 0, run.err
    assert run.json()["kind"] == "service"
    assert admin_cli("sa", "show", robot, "--json").json()["groups"] == ["ci"]

    run = admin_cli("token", "create", "pipeline", "--principal", robot, "--json")
    assert run.code == 0, run.err
    token = run.json()
    assert token["principal"] == robot
    assert "not shown again" not in run.err  # --json is for scripts: no chatter
    assert httpx.get(f"{server.url}/v2/", auth=(robot, token["token"])).status_code == 200

    table = admin_cli("token", "create", "second", "--principal", robot)
    assert table.code == 0
    assert "tdg_" in table.out  # shown once, to the person who made it
    assert "not shown again" in table.err

    listed = admin_cli("token", "list", "--principal", robot, "--json").json()
    assert {t["name"] for t in listed} == {"pipeline", "second"}
    assert "tdg_" not in json.dumps(listed)

    assert admin_cli("token", "revoke", token["id"]).code == 0
    assert httpx.get(f"{server.url}/v2/", auth=(robot, token["token"])).status_code == 401


def test_exit_codes_for_conflict_not_found_refusal_and_bad_input(
    server: RunningServer, admin_cli: Cli, tmp_path: Path
) -> None:
    user = unique("carol")
    assert admin_cli("user", "create", user, "--password-stdin", stdin=PASSWORD).code == 0

    again = admin_cli("user", "create", user, "--password-stdin", stdin=PASSWORD)
    assert again.code == 5
    assert "already exists" in again.err

    missing = admin_cli("user", "show", "nobody-at-all")
    assert missing.code == 4
    assert "nobody-at-all" in missing.err

    bad = admin_cli("user", "create", "Not Valid", "--password-stdin", stdin=PASSWORD)
    assert bad.code == 1
    short = admin_cli("user", "create", unique("dave"), "--password-stdin", stdin="short")
    assert short.code == 1
    assert "8" in short.err

    # a pipeline that is not an admin: its token from the environment, no login
    token = admin_cli("token", "create", "ci", "--principal", user, "--json").json()["token"]
    pipeline = Cli(tmp_path, TIDEGATE_URL=server.url, TIDEGATE_TOKEN=token)
    refused = pipeline("user", "list")
    assert refused.code == 3
    assert "admin" in refused.err
    assert token not in refused.out + refused.err
    assert pipeline("perm", "check", "dev", "--json").json()["actions"] == []
    with_name = pipeline("token", "list", "--json", TIDEGATE_USERNAME=user)
    assert with_name.code == 0, with_name.err
    assert [t["name"] for t in with_name.json()] == ["ci"]

    wrong = Cli(tmp_path, TIDEGATE_URL=server.url, TIDEGATE_TOKEN="tdg_x")
    assert wrong("user", "list").code == 3

    elsewhere = admin_cli("user", "list", "--server", "http://127.0.0.1:9")
    assert elsewhere.code == 3  # the stored token is never sent to another server
    assert "not logged in" in elsewhere.err
    down = Cli(tmp_path, TIDEGATE_URL="http://127.0.0.1:9", TIDEGATE_TOKEN=token)
    assert down("user", "list").code == 6


def test_groups_and_permission_targets(
    server: RunningServer, admin_cli: Cli, tmp_path: Path
) -> None:
    user = unique("erin")
    assert admin_cli("user", "create", user, "--password-stdin", stdin=PASSWORD).code == 0
    group = unique("team")
    run = admin_cli("group", "create", group, "--member", user, "--json")
    assert run.code == 0, run.err
    assert run.json()["members"] == [user]
    assert admin_cli("group", "add", group, "admin", "--json").json()["ok"] is True
    assert admin_cli("group", "show", group, "--json").json()["members"] == sorted(["admin", user])
    assert admin_cli("group", "remove", group, "admin").code == 0
    assert admin_cli("group", "remove", group, "admin").code == 4

    name = unique("team-dev")
    spec = tmp_path / "target.json"
    spec.write_text(
        json.dumps(
            {
                "name": name,
                "repositories": ["dev"],
                "include": ["team/**"],
                "groups": {group: ["read", "deploy"]},
            }
        )
    )
    run = admin_cli("perm", "create", str(spec), "--json")
    assert run.code == 0, run.err
    assert run.json()["groups"] == {group: ["read", "deploy"]}
    assert admin_cli("perm", "create", str(spec)).code == 5
    assert name in admin_cli("perm", "list").out

    token = admin_cli("token", "create", "t", "--principal", user, "--json").json()["token"]
    as_user = Cli(tmp_path, TIDEGATE_URL=server.url, TIDEGATE_TOKEN=token)
    check = as_user("perm", "check", "dev", "team/app", "--json")
    assert check.code == 0, check.err
    assert check.json() == {"repo": "dev", "image": "team/app", "actions": ["read", "deploy"]}
    assert "deploy" in as_user("perm", "check", "dev", "team/app").out
    assert as_user("perm", "check", "dev", "other/app", "--json").json()["actions"] == []

    spec.write_text(json.dumps({"repositories": ["dev"], "groups": {group: ["read"]}}))
    run = admin_cli("perm", "update", name, str(spec), "--json")
    assert run.code == 0, run.err
    assert run.json()["include"] == ["**"]
    assert as_user("perm", "check", "dev", "other/app", "--json").json()["actions"] == ["read"]

    spec.write_text(json.dumps({"name": name, "repositories": ["dev"], "anonymous": ["deploy"]}))
    refused = admin_cli("perm", "update", name, str(spec))
    assert refused.code == 1
    assert "anonymous" in refused.err
    spec.write_text("{not json")
    assert admin_cli("perm", "create", str(spec)).code == 1

    assert admin_cli("perm", "delete", name).code == 0
    assert admin_cli("perm", "show", name).code == 4
    assert admin_cli("group", "delete", group).code == 0
