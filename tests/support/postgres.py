"""A private PostgreSQL cluster for the tests: initdb in a temporary directory, started on a
free port, stopped at the end. Uses the server binaries of Debian's ``postgresql`` package
(installed by scripts/system-deps). Set TIDEGATE_TEST_POSTGRES_URL to use a server you run."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support.server import free_port


def _bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        raise RuntimeError(
            "PostgreSQL server binaries not found: run scripts/system-deps (Debian package"
            " postgresql) or set TIDEGATE_TEST_POSTGRES_URL"
        )
    return Path(candidates[-1]).parent


def _as_postgres(args: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """Yield a SQLAlchemy URL of a fresh cluster (superuser ``postgres`` over a unix socket)."""
    env_url = os.environ.get("TIDEGATE_TEST_POSTGRES_URL")
    if env_url:
        yield env_url
        return
    bindir = _bindir()
    # Not under pytest's private tmp: the postgres user must be able to reach it.
    base = Path(tempfile.mkdtemp(prefix="tidegate-pg-"))
    base.chmod(0o755)
    data = base / "pgdata"
    sock = base / "pgsock"
    data.mkdir(parents=True)
    sock.mkdir()
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        for path in (base, data, sock):
            os.chown(path, pg.pw_uid, pg.pw_gid)
    subprocess.run(
        _as_postgres(
            [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"]
        ),
        check=True,
        capture_output=True,
    )
    port = free_port()
    log = base / "pg.log"
    subprocess.run(
        _as_postgres(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-w",
                "-o",
                f"-p {port} -k {sock} -c listen_addresses='' -c fsync=off",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        url = f"postgresql+psycopg://postgres@/postgres?host={sock}&port={port}"
        deadline = time.monotonic() + 20
        while not list(sock.glob(".s.PGSQL.*")) and time.monotonic() < deadline:
            time.sleep(0.1)
        yield url
    finally:
        subprocess.run(
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """A new, empty database on ``server`` (a URL to its ``postgres`` database), dropped after."""
    name = f"tidegate_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.replace("/postgres?", f"/{name}?", 1)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def database_for(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, label: str
) -> Iterator[str]:
    """For a fixture parametrised ``["sqlite", "postgresql"]``: a SQLite file or a fresh
    database on the session's PostgreSQL server (``yield from database_for(...)``)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp(f'{label}-sqlite') / 'tidegate.db'}"
        return
    with fresh_database(str(request.getfixturevalue("postgres_server"))) as url:
        yield url
