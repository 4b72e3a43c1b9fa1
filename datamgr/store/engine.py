"""Engines and transactions: one engine per process, one write transaction per command.

SQLite gets what overlapping cron runs need: WAL (readers never block the writer), a busy
timeout (a second writer waits instead of failing) and BEGIN IMMEDIATE for write transactions
(the write lock is taken up front, so two writers never deadlock upgrading a read lock).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from datamgr.errors import DatabaseError, NotInitializedError

BUSY_TIMEOUT_MS = 60_000
_WRITE = "datamgr_write"


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other backends and in-memory databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def make_engine(url: str, *, create: bool = False) -> Engine:
    """Make the process's engine. With create=False a missing SQLite file is an error, not a new file."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(f"database URL {url!r} is not a valid SQLAlchemy URL") from None
    path = sqlite_path(url)
    if path is not None:
        if create:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseError(f"cannot create the folder of {path}: {exc.strerror}") from None
        elif not path.exists():
            raise NotInitializedError(f"database file {path} does not exist; run `datamgr init-db` first")
    try:
        engine = create_engine(parsed)
    except ModuleNotFoundError as exc:
        raise DatabaseError(
            f"no driver for {parsed.drivername} ({exc.name} is not installed); for PostgreSQL install datamgr[postgres]"
        ) from None
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    """Take transaction control from the sqlite3 module, so BEGIN is ours (DDL included)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


# PostgreSQL writers serialise on this transaction-level advisory lock, as SQLite's do on
# BEGIN IMMEDIATE: migrations never race, and upsert counts are exact. Readers never wait.
WRITE_LOCK_KEY = 0x44_4D_47_52  # "DMGR"


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One atomic write: committed when the block ends, rolled back on any error or signal."""
    with engine.connect() as connection:
        connection.execution_options(**{_WRITE: True})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(select(func.pg_advisory_xact_lock(WRITE_LOCK_KEY)))
            yield connection


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A read-only snapshot: never takes the write lock, so readers run beside a writer."""
    with engine.connect() as connection:
        yield connection
