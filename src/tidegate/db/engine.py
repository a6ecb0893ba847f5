"""Engine construction, SQLite pragmas, migrations and the unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import NullPool

from tidegate.db.fastread import FastReader
from tidegate.db.generation import Generation

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's begin event issues BEGIN itself
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # a commit is durable before 201 is sent
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # Write transactions take the write lock at BEGIN, so concurrent writers queue on
    # busy_timeout instead of failing with "database is locked" when a read lock upgrades.
    immediate = conn.get_execution_options().get("immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def sqlite_path(url: str) -> str:
    return url.split("///", 1)[-1].split("?", 1)[0]


def make_engine(url: str, pool: bool = True) -> Engine:
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=None if pool else NullPool,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if not pool:
        return create_engine(url, poolclass=NullPool)
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


class Database:
    """Owns the engine. ``transaction()`` is the unit of work; ``read()`` a read-only one."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.is_sqlite = url.startswith("sqlite")
        # SQLite: every process is on this host, so a shared mapping can tell them of writes.
        self.generation = (
            Generation(Path(f"{sqlite_path(url)}-generation"))
            if (self.is_sqlite and sqlite_path(url) not in ("", ":memory:"))
            else None
        )
        self.fast = FastReader(make_engine(url, pool=False), self.generation)

    def migrate(self) -> None:
        """Bring the schema to the newest revision (Alembic)."""
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    @contextmanager
    def transaction(self, bump: bool = True) -> Iterator[Connection]:
        """``bump=False``: for writes no process caches (event delivery bookkeeping), so other
        processes keep their caches of content and identity."""
        with self.engine.connect().execution_options(immediate=True) as conn:
            with conn.begin():
                yield conn
            if bump and self.generation is not None:
                self.generation.bump()  # after the commit: see tidegate.db.generation

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def ping(self) -> None:
        """A round trip to the database (readiness): raises when it cannot be reached."""
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def dispose(self) -> None:
        self.engine.dispose()
