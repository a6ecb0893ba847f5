"""A client that stops sending in the middle of a body is cut off; it cannot hold an upload."""

from __future__ import annotations

import base64
import socket
import time
from pathlib import Path

from tests.integration.conftest import sha256
from tests.support.server import tidegate_server


def test_a_stalled_patch_is_cut_off_and_the_upload_resumes(tmp_path: Path) -> None:
    env = {"TIDEGATE_BODY_IDLE_TIMEOUT": "1"}
    with tidegate_server(tmp_path / "data", env=env) as server, server.client() as client:
        name = "dev/stall/app"
        loc = client.post(f"/v2/{name}/blobs/uploads/").headers["location"]
        auth = base64.b64encode(f"{server.username}:{server.password}".encode()).decode()
        host, port = server.host.split(":")
        with socket.create_connection((host, int(port))) as raw:
            raw.sendall(
                f"PATCH {loc} HTTP/1.1\r\nHost: {server.host}\r\nAuthorization: Basic {auth}\r\n"
                "Content-Length: 100000\r\nContent-Type: application/octet-stream\r\n\r\n".encode()
                + b"a" * 5000
            )
            started = time.monotonic()
            raw.settimeout(30)
            answer = raw.recv(65536).decode(errors="replace")
            waited = time.monotonic() - started
        assert answer.startswith("HTTP/1.1 400"), answer
        assert "no data arrived for 1 seconds" in answer
        assert waited < 20
        # What arrived is kept; the client resumes from there and finishes.
        assert client.get(loc).headers["range"] == "0-4999"
        rest = b"b" * 1000
        r = client.patch(loc, content=rest, headers={"Content-Range": "5000-5999"})
        assert r.status_code == 202
        done = client.put(loc, params={"digest": sha256(b"a" * 5000 + rest)})
        assert done.status_code == 201
