"""Engines and transactions: one engine per process, one write transaction per command.

SQLite gets what overlapping cron runs need: WAL (readers never block the writer), a busy
timeout (a second writer waits instead of failing) and BEGIN IMMEDIATE for write transactions
(the write lock is taken up front, so two writers never deadlock upgrading a read lock).
PostgreSQL writers serialise on an advisory lock instead.

Nothing waits without bound, so that a hung server or a stuck writer never hangs cron:
data_manager.connect_timeout_s bounds connecting (PostgreSQL's connect_timeout), and
data_manager.lock_timeout_s bounds every lock wait (SQLite's busy_timeout, PostgreSQL's
lock_timeout, which covers the advisory lock too). Hitting either is one clear error naming it.
On PostgreSQL a statement may run for STATEMENT_TIMEOUT_FACTOR x lock_timeout_s (its
statement_timeout: a lock wait, then the work); a server that stops answering altogether (a
frozen process, whose kernel still acknowledges every packet) is given that long plus
connect_timeout_s per wait before the connection is dropped; and TCP keepalives and
tcp_user_timeout, from connect_timeout_s, notice a host or network that is gone sooner.

A SQLite file can be damaged under datamgr (a failing disk, a bad copy, a program writing into
it). Every "database disk image is malformed" or "file is not a database" comes out as one
error naming the file and what to do (`damaged`); `check_intact` runs PRAGMA quick_check where
the services ask for it (docs/benchmarks.md has its cost, and where it runs).
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import sqlite3
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import cache
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
_QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement cancelled (by its statement_timeout, here)
# A PostgreSQL statement may run this many times data_manager.lock_timeout_s: it may first wait that
# long for a lock, and the largest one (an ingest's merge, measured in docs/benchmarks.md) needs far less.
STATEMENT_TIMEOUT_FACTOR = 5
# SQLite's primary result codes for a damaged file and for a file that is not a database at all.
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26
# What SQLite says of a damaged file, as ADBC's copy of SQLite words it too.
DAMAGE_WORDS = ("database disk image is malformed", "file is not a database")

T = TypeVar("T")
log = logging.getLogger(__name__)


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
    if libpq:
        chosen = {**libpq_timeouts(connect_timeout_s), "connect_timeout": connect_timeout_s}
        connect_args = {key: value for key, value in chosen.items() if key not in parsed.query}
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
        _configure_postgresql(engine, lock_timeout_s, connect_timeout_s)
    return engine


def libpq_timeouts(connect_timeout_s: int) -> dict[str, int]:
    """TCP keepalives and tcp_user_timeout from data_manager.connect_timeout_s: a host or network that
    is gone (no acknowledgement at all) drops the connection within about twice that, while waiting
    for an answer or while sending. A server process that is frozen is not seen by TCP (its kernel
    still acknowledges): the bounded wait of each statement covers that (see _configure_postgresql)."""
    return {
        "keepalives": 1,
        "keepalives_idle": connect_timeout_s,
        "keepalives_interval": max(1, connect_timeout_s // 3),
        "keepalives_count": 3,
        "tcp_user_timeout": connect_timeout_s * 1000,  # milliseconds
    }


def statement_timeout_s(lock_timeout_s: int) -> int:
    """PostgreSQL's statement_timeout, from data_manager.lock_timeout_s (see STATEMENT_TIMEOUT_FACTOR)."""
    return STATEMENT_TIMEOUT_FACTOR * lock_timeout_s


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


def _configure_postgresql(engine: Engine, lock_timeout_s: int, connect_timeout_s: int) -> None:
    """Bound every lock wait of the session (the writers' advisory lock included) and every statement;
    and, with psycopg, every wait for the server's answer: statement_timeout plus connect_timeout_s,
    the time a live server takes at most to answer, even if only to say it cancelled the statement."""
    statement_s = statement_timeout_s(lock_timeout_s)
    if engine.dialect.driver == "psycopg":
        bounded = _bounded_connection_class()
        wait_s = statement_s + connect_timeout_s

        @event.listens_for(engine, "do_connect")
        def _connect_bounded(_dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
            connection = bounded.connect(*cargs, **cparams)
            connection.datamgr_wait_s = wait_s
            return connection

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(
            "SELECT set_config('lock_timeout', %s, false), set_config('statement_timeout', %s, false)",
            (f"{int(lock_timeout_s * 1000)}ms", f"{int(statement_s * 1000)}ms"),
        )
        cursor.close()
        dbapi_connection.commit()


@cache
def _bounded_connection_class() -> Any:
    """psycopg's Connection whose every wait for the server ends after `datamgr_wait_s` seconds.

    psycopg waits for the server in one place, Connection.wait (statements, fetches, COPY, commit,
    rollback). A wait that outlasts the bound drops the connection (libpq's PQfinish: no further
    wait on it), and raises an OperationalError marked `datamgr_no_answer`, which SQLAlchemy sees as
    a disconnect: the server rolls back whatever was not committed once it notices.
    """
    import psycopg

    class BoundedConnection(psycopg.Connection[Any]):
        datamgr_wait_s: float | None = None

        def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
            bound = self.datamgr_wait_s if timeout is None else timeout
            started = time.monotonic()
            try:
                return super().wait(gen, interval, bound)
            except psycopg.OperationalError as exc:
                if timeout is not None or bound is None or time.monotonic() - started < bound:
                    raise
                self.pgconn.finish()
                silent = psycopg.OperationalError(f"no answer from the server within {bound:g} s")
                silent.datamgr_no_answer = True  # type: ignore[attr-defined]
                raise silent from exc

    return BoundedConnection


# PostgreSQL writers serialise on this transaction-level advisory lock, as SQLite's do on
# BEGIN IMMEDIATE: migrations never race, and upsert counts are exact. Readers never wait.
WRITE_LOCK_KEY = 0x44_4D_47_52  # "DMGR"


def lock_timeout_s(engine: Engine) -> int:
    """data_manager.lock_timeout_s as the engine was made with it (for a driver used beside SQLAlchemy)."""
    return int(engine.get_execution_options().get(_LOCK_TIMEOUT, LOCK_TIMEOUT_S))


def damaged(path: Path, finding: str) -> DatabaseError:
    """The one error for a damaged SQLite file, whichever check or read found it: the file, what was
    found, and what to do (a backup; else SQLite's .recover, which copies out what is still readable)."""
    recovered = path.with_name(f"{path.stem}-recovered{path.suffix}")
    return DatabaseError(
        f"database file {path} is damaged ({finding}); restore it from a backup, or copy out what is "
        f"still readable with `sqlite3 {shlex.quote(str(path))} .recover | sqlite3 {shlex.quote(str(recovered))}`"
    )


def damage_reported(exc: BaseException) -> str | None:
    """SQLite's words when an error of the sqlite3 driver says the file is damaged (or no database)."""
    original = exc.orig if isinstance(exc, DBAPIError) else exc
    if not isinstance(original, sqlite3.DatabaseError):
        return None
    code = getattr(original, "sqlite_errorcode", 0) & 0xFF  # the primary code, without its extension
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return f"SQLite: {original}"
    return None


def check_intact(connection: Connection) -> None:
    """PRAGMA quick_check of a SQLite file (nothing for other stores): refuse a damaged file before
    its rows are reported or written to. It reads every page (O(file size)): docs/benchmarks.md."""
    path = sqlite_path(connection.engine.url)
    if path is None:
        return
    found = [str(row[0]) for row in connection.exec_driver_sql("PRAGMA quick_check").all()]
    if found != ["ok"]:
        lines = [line for text in found for line in text.splitlines() if not line.startswith("*** in database")]
        raise damaged(path, f"PRAGMA quick_check: {(lines or found)[0]}")


_CHECKED: weakref.WeakSet[Engine] = weakref.WeakSet()


def check_intact_once(engine: Engine) -> None:
    """check_intact on a read connection, once per engine (a command's process has one): a command
    that reads per turbine (train) pays for one check, not one per turbine."""
    if engine in _CHECKED or sqlite_path(engine.url) is None:
        return
    with read_connection(engine) as connection:
        check_intact(connection)
    _CHECKED.add(engine)


def _no_answer(exc: BaseException) -> bool:
    original = exc.orig if isinstance(exc, DBAPIError) else exc
    return bool(getattr(original, "datamgr_no_answer", False))


def _is_statement_timeout(exc: BaseException) -> bool:
    original = exc.orig if isinstance(exc, DBAPIError) else exc
    return getattr(original, "sqlstate", None) == _QUERY_CANCELED and "statement timeout" in str(original)


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
    """A connection whose timeouts and damage reports come out as one error saying what to do."""
    try:
        connection = engine.connect()
    except Exception as exc:
        if (explained := _explained(engine, exc)) is exc:
            raise
        raise explained from exc
    with connection:
        try:
            yield connection
        except Exception as exc:
            if (explained := _explained(engine, exc)) is exc:
                raise
            raise explained from exc


def _explained(engine: Engine, exc: Exception) -> Exception:
    """A driver's error as datamgr's: a timeout naming its setting, or a damaged file; else itself."""
    options = engine.get_execution_options()
    connect_s, lock_s = options.get(_CONNECT_TIMEOUT, CONNECT_TIMEOUT_S), options.get(_LOCK_TIMEOUT, LOCK_TIMEOUT_S)
    path = sqlite_path(engine.url)
    finding = damage_reported(exc)
    if path is not None and finding is not None:
        return damaged(path, finding)
    if _is_connect_timeout(exc):
        return TimeoutExpiredError(
            f"database {mask_url(engine.url)}: no answer within data_manager.connect_timeout_s = "
            f"{connect_s} s; check that the server is up and reachable, or raise the setting"
        )
    if _is_lock_timeout(exc):
        return TimeoutExpiredError(
            f"database {mask_url(engine.url)}: {LOCK_TIMEOUT_HINT} = {lock_s} s; nothing was written; {LOCK_RETRY_HINT}"
        )
    statement_s = statement_timeout_s(lock_s)
    if _is_statement_timeout(exc):
        return TimeoutExpiredError(
            f"database {mask_url(engine.url)}: a statement ran longer than its statement_timeout of {statement_s} s "
            f"({STATEMENT_TIMEOUT_FACTOR} x data_manager.lock_timeout_s); nothing was written; "
            "check what slows the server, or raise data_manager.lock_timeout_s"
        )
    if _no_answer(exc):
        return TimeoutExpiredError(
            f"database {mask_url(engine.url)}: the server did not answer within {statement_s + connect_s} s "
            f"(its statement_timeout, {STATEMENT_TIMEOUT_FACTOR} x data_manager.lock_timeout_s = {statement_s} s, "
            f"plus data_manager.connect_timeout_s = {connect_s} s), so the connection was dropped; the server "
            "rolls back what was not committed; check that it is running and not overloaded, then run again"
        )
    return exc


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
    if path is not None:
        remove_leftovers(path)
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


def _leftover_pattern(path: Path) -> re.Pattern[str]:
    """The files an init-db building `path` makes beside it, by the id of its process: the new file
    `.NAME.PID.new` with its -wal, -shm and -journal, and the scratch files of its ingest, which are
    named after that file (`..NAME.PID.new.staging-…`, see store/bulk/sqlite.py)."""
    return re.compile(rf"\.?\.{re.escape(path.name)}\.(?P<pid>[0-9]+)\.new(?:-wal|-shm|-journal|\..+)?")


def remove_leftovers(path: Path) -> list[Path]:
    """Remove the files a killed init-db left beside the database, and only those of a process that
    is gone (another init-db at work keeps its own); returns what was removed.

    Process ids are those of this host, which is where a SQLite database in WAL mode is used from
    (its -shm file is shared memory: WAL does not work across hosts on a network file system).
    """
    pattern = _leftover_pattern(path)
    try:
        names = [entry.name for entry in os.scandir(path.parent)]
    except OSError:
        return []  # no folder yet, or not readable: nothing of ours can be there
    removed = []
    for name in sorted(names):
        match = pattern.fullmatch(name)
        if match is None or _alive(int(match["pid"])):
            continue
        leftover = path.with_name(name)
        log.info(f"removing {leftover}, left by init-db process {match['pid']}, which has ended")
        with suppress(FileNotFoundError):
            leftover.unlink()
            removed.append(leftover)
    return removed


def _alive(pid: int) -> bool:
    """Whether a process of that id runs here (one we may not signal runs too)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    return True


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
