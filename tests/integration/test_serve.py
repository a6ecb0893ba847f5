"""``tidegate serve`` itself: refusing a busy address, a config with anonymous writes, and what
it prints on first start."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import stat
import subprocess
import time
from pathlib import Path

import httpx

from tests.support.server import TIDEGATE, free_port, tidegate_server


def test_a_second_server_on_a_busy_port_refuses_to_start(tmp_path: Path) -> None:
    with tidegate_server(tmp_path / "first") as first:
        env = {
            **os.environ,
            "TIDEGATE_DATA": str(tmp_path / "second"),
            "TIDEGATE_LISTEN": first.host,
            "TIDEGATE_ADMIN_PASSWORD": "second-server-pw",
        }
        result = subprocess.run(
            [str(TIDEGATE), "serve"], env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 2
        assert f"cannot listen on {first.host}" in result.stderr
        assert "TIDEGATE_LISTEN" in result.stderr
        with first.client() as c:  # the first one is unaffected
            assert c.get("/v2/").status_code == 200


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _serve(tmp_path: Path, config: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "tidegate.yaml"
    path.write_text(config)
    env = {
        **os.environ,
        "TIDEGATE_DATA": str(tmp_path / "data"),
        "TIDEGATE_LISTEN": "127.0.0.1:1",  # never reached: the refusal comes first
        "TIDEGATE_ADMIN_PASSWORD": "refused-server-pw",
    }
    return subprocess.run(
        [str(TIDEGATE), "serve", "--config", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_refuses_a_config_that_opens_anonymous_write_access(tmp_path: Path) -> None:
    result = _serve(
        tmp_path,
        "permission_targets:\n"
        "  - name: open\n"
        "    repositories: [dev]\n"
        "    anonymous: [read, deploy, delete]\n",
    )

    assert result.returncode == 2
    assert "anonymous may only be granted read" in result.stderr
    assert "deploy, delete" in result.stderr
    assert "permission_targets.0.anonymous" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "tidegate.db").exists()  # nothing was set up


def test_serve_accepts_anonymous_read(tmp_path: Path) -> None:
    config = tmp_path / "tidegate.yaml"
    config.write_text(
        "permission_targets:\n  - name: public\n    repositories: [dev]\n    anonymous: [read]\n"
    )
    with tidegate_server(tmp_path / "data", config=config) as server, server.client() as c:
        r = c.get("/api/v1/permissions/public")
        assert r.status_code == 200
        assert r.json()["anonymous"] == ["read"]


def test_the_data_directory_is_private_to_the_server_user(tmp_path: Path) -> None:
    """The database holds password hashes and the token signing key: no other local user may
    read it, nor the blobs."""
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    with tidegate_server(data) as server, server.client() as c:
        assert c.post("/v2/dev/app/blobs/uploads/", params={"digest": sha256(b"x")}, content=b"x")
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for path in data.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is open to others: {oct(mode)}"


def test_first_start_prints_the_admin_password_once_and_where_the_web_ui_is(
    tmp_path: Path,
) -> None:
    """No default password: a fresh install prints a random one, which opens the API and the
    web UI at the address printed beside it; a second start prints no password."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "TIDEGATE_ADMIN_PASSWORD"}
    env |= {"TIDEGATE_DATA": str(tmp_path / "data"), "TIDEGATE_LISTEN": f"127.0.0.1:{port}"}

    def start() -> tuple[subprocess.Popen[str], str]:
        proc = subprocess.Popen(
            [str(TIDEGATE), "serve"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        lines = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "Web UI:" in line:
                break
        output = "".join(lines)
        for _ in range(150):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        return proc, output

    proc, output = start()
    try:
        match = re.search(r"created user admin with password (\S+)", output)
        assert match, output
        assert f"Web UI: http://127.0.0.1:{port}/ui/" in output
        me = httpx.get(f"http://127.0.0.1:{port}/api/v1/me", auth=("admin", match.group(1)))
        assert me.status_code == 200 and me.json()["is_admin"], me.text
        login = httpx.get(f"http://127.0.0.1:{port}/ui/login")
        assert login.status_code == 200 and "Sign in to Tidegate" in login.text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    proc, output = start()
    try:
        assert "password" not in output, output
        assert f"Web UI: http://127.0.0.1:{port}/ui/" in output
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
