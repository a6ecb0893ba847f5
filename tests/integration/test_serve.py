"""``tidegate serve`` itself: refusing a busy address."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.server import TIDEGATE, tidegate_server


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
