"""Engines and transactions: one engine per process, one write transaction per command.

SQLite gets what overlapping cron runs need: WAL (readers never block the writer), a busy
timeout (a second writer waits instead of failing) and BEGIN IMMEDIATE for write transactions
(the write lock is taken up front, so two writers never deadlock upgrading a read lock).
PostgreSQL writers serialise on an advisory lock instead.

Nothing waits without bound, so that a hung server or a stuck writer never hangs cron:
data_manager.connect_timeout_s bounds connecting (PostgreSQL's connect_timeout), and
data_manager.lock_timeout_s bounds every lock wait (SQLite's busy_timeout, PostgreSQL's
lock_timeout, which covers the advisory lock too). Hitting either is one clear error naming it.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Dialect, Engine, create_engine, event, func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from datamgr.errors import (
    LOCK_RETRY_HINT,
    LOCK_TIMEOUT_HINT,
    DatabaseError,
    NotInitializedError,
    TimeoutExpiredError,
    mask_url,
)

CONNECT_TIMEOUT_S = 10
LOCK_TIMEOUT_S = 60
_WRITE = "datamgr_write"
_CONNECT_TIMEOUT = "datamgr_connect_timeout_s"
_LOCK_TIMEOUT = "datamgr_lock_timeout_s"
# A SQLite connection's list of callables, each run with the driver connection once the connection
# is back in the pool, its transaction over (a scratch file can only be detached then).
AFTER_TRANSACTION = "datamgr_after_transaction"
# Drivers that take libpq's connect_timeout keyword.
_LIBPQ_DRIVERS = ("psycopg", "psycopg2")
_LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for "canceling statement due to lock timeout"

T = TypeVar("T")


def stores_epoch_seconds(dialect: Dialect) -> bool:
    """Whether the backend keeps instants as whole epoch seconds (SQLite's INTEGER: ordering and ranges
    are integer comparisons); the others keep timestamptz. schema.UtcTimestamp asks."""
    return dialect.name == "sqlite"


def sqlite_path(url: str | URL) -> Path | None:
    """The file behind a SQLite URL, or None for other backends, in-memory databases and what is no URL
    (make_engine says why)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def make_engine(
    url: str | URL,
    *,
    create: bool = False,
    connect_timeout_s: int = CONNECT_TIMEOUT_S,
    lock_timeout_s: int = LOCK_TIMEOUT_S,
) -> Engine:
    """Make the process's engine; it connects only when first used.

    With create=False a missing SQLite file is refused when a connection is first made (so that
    a usage error is still found first), never silently created.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        shown = mask_url(str(url)) if "@" in str(url) or "?" in str(url) else str(url)  # a secret only there
        raise DatabaseError(f"database URL {shown!r} is not a valid SQLAlchemy URL") from None
    path = sqlite_path(parsed)
    if path is not None and create:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(f"cannot create the folder of {path}: {exc.strerror}") from None
    connect_args: dict[str, Any] = {}
    libpq = parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in _LIBPQ_DRIVERS
    if libpq and "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = connect_timeout_s
    try:
        engine = create_engine(
            parsed,
            connect_args=connect_args,
            execution_options={_CONNECT_TIMEOUT: connect_timeout_s, _LOCK_TIMEOUT: lock_timeout_s},
        )
    except ModuleNotFoundError as exc:
        raise DatabaseError(
            f"no driver for {parsed.drivername} ({exc.name} is not installed); for PostgreSQL install datamgr[postgres]"
        ) from None
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, lock_timeout_s, None if create else path)
    elif engine.dialect.name == "postgresql":
        _configure_postgresql(engine, lock_timeout_s)
    return engine


def _configure_sqlite(engine: Engine, lock_timeout_s: int, must_exist: Path | None) -> None:
    """Take transaction control from the sqlite3 module, so BEGIN is ours (DDL included)."""

    if must_exist is not None:

        @event.listens_for(engine, "do_connect")
        def _refuse_missing(*_args: Any) -> None:
            if not must_exist.exists():
                raise NotInitializedError(f"database file {must_exist} does not exist; run `datamgr init-db` first")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        record.info[AFTER_TRANSACTION] = []
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(lock_timeout_s * 1000)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, record: Any) -> None:
        cleanups = record.info.get(AFTER_TRANSACTION, [])
        while cleanups:
            cleanups.pop(0)(dbapi_connection)


def _configure_postgresql(engine: Engine, lock_timeout_s: int) -> None:
    """Bound every lock wait of the session, the writers' advisory lock included."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT set_config('lock_timeout', %s, false)", (f"{int(lock_timeout_s * 1000)}ms",))
        cursor.close()
        dbapi_connection.commit()


# PostgreSQL writers serialise on this transaction-level advisory lock, as SQLite's do on
# BEGIN IMMEDIATE: migrations never race, and upsert counts are exact. Readers never wait.
WRITE_LOCK_KEY = 0x44_4D_47_52  # "DMGR"


def lock_timeout_s(engine: Engine) -> int:
    """data_manager.lock_timeout_s as the engine was made with it (for a driver used beside SQLAlchemy)."""
    return int(engine.get_execution_options().get(_LOCK_TIMEOUT, LOCK_TIMEOUT_S))


def _is_connect_timeout(exc: BaseException) -> bool:
    original = exc.orig if isinstance(exc, DBAPIError) else exc
    return type(original).__name__ == "ConnectionTimeout" or "timeout expired" in str(original)


def _is_lock_timeout(exc: BaseException) -> bool:
    original = exc.orig if isinstance(exc, DBAPIError) else exc
    if getattr(original, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
        return True
    return isinstance(original, sqlite3.OperationalError) and str(original) == "database is locked"


@contextmanager
def _connection(engine: Engine) -> Iterator[Connection]:
    """A connection whose timeouts come out as one error naming the setting to look at."""
    options = engine.get_execution_options()
    try:
        connection = engine.connect()
    except DBAPIError as exc:
        if not _is_connect_timeout(exc):
            raise
        raise TimeoutExpiredError(
            f"database {mask_url(engine.url)}: no answer within data_manager.connect_timeout_s = "
            f"{options.get(_CONNECT_TIMEOUT)} s; check that the server is up and reachable, or raise the setting"
        ) from exc
    with connection:
        try:
            yield connection
        except Exception as exc:
            if not _is_lock_timeout(exc):
                raise
            raise TimeoutExpiredError(
                f"database {mask_url(engine.url)}: {LOCK_TIMEOUT_HINT} = {options.get(_LOCK_TIMEOUT)} s; "
                f"nothing was written; {LOCK_RETRY_HINT}"
            ) from exc


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One atomic write: committed when the block ends, rolled back on any error or signal."""
    with _connection(engine) as connection:
        connection.execution_options(**{_WRITE: True})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(select(func.pg_advisory_xact_lock(WRITE_LOCK_KEY)))
            yield connection


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A read-only snapshot: never takes the write lock, so readers run beside a writer."""
    with _connection(engine) as connection:
        yield connection


def create_database(engine: Engine, work: Callable[[Engine], T]) -> T:
    """Run `work` (init-db's) so that a new SQLite file appears only if it succeeds, complete.

    A new file is built beside the target under a temporary name and linked into place at the
    end; on any failure it is removed, with the folders made for it. An existing file, or
    another backend, is worked on in place: its own transaction undoes a failure.
    """
    path = sqlite_path(engine.url)
    if path is None or path.exists():
        return work(engine)
    made = _make_folders(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.new")
    options = engine.get_execution_options()
    scratch = make_engine(
        engine.url.set(database=str(temporary)),
        create=True,
        connect_timeout_s=options.get(_CONNECT_TIMEOUT, CONNECT_TIMEOUT_S),
        lock_timeout_s=options.get(_LOCK_TIMEOUT, LOCK_TIMEOUT_S),
    )
    try:
        result = work(scratch)
        scratch.dispose()  # the last connection closed: WAL checkpointed into the file, and removed
        if not _publish(temporary, path):
            return work(engine)  # another init-db made the database meanwhile: work on that one
        return result
    finally:
        scratch.dispose()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{temporary}{suffix}").unlink(missing_ok=True)
        for folder in reversed(made):
            with suppress(OSError):
                folder.rmdir()  # only the empty ones: a published database keeps its folder


def _make_folders(path: Path) -> list[Path]:
    """Create the folder of a file and its missing parents; returns the ones made, outermost first."""
    missing = [parent for parent in path.parents if not parent.exists()][::-1]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseError(f"cannot create the folder of {path}: {exc.strerror}") from None
    return missing


def _publish(temporary: Path, path: Path) -> bool:
    """Give the finished file its name unless one appeared meanwhile; False when it did."""
    try:
        os.link(temporary, path)
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: a small race, but still all or nothing
        if path.exists():
            return False
        os.replace(temporary, path)
    return True
