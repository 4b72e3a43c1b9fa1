"""Columnar reads of a SQLite file through ADBC: Arrow columns, never one Python object per value.

`range`, `export` and the training load read a SQLite file with the ADBC SQLite driver
(store/reads.py chooses). Every other store (PostgreSQL, in-memory SQLite) keeps the SQLAlchemy
path, `reads.between`. Two properties of the driver shape this module:

1. **Type inference per batch.** The driver types each column from the first batch of rows it
   reads and fails on a later batch that disagrees ("expected INT64 but got DOUBLE"): a sensor
   that is blank for a while and then has values. Within one batch it upcasts. So rows are read
   in keyset pages on the table's key, each page one query whose batch holds the whole page, and
   every page is cast to the table's Arrow schema (an all-blank sensor arrives as int64 or null).
2. **A second copy of SQLite in the process.** The driver links its own SQLite. POSIX advisory
   locks belong to the process, not to the copy that took them: when either copy closes a file
   descriptor on the database, the locks the other copy holds on that file are gone, and a
   writer in another process can then change pages under a reader or check-point over them
   (sqlite.org, "How To Corrupt An SQLite Database File", 2.2.1). In WAL mode an idle pooled
   sqlite3 connection holds such a lock all the time. So while the ADBC connection is open no
   sqlite3 connection of the engine may be open on the file: `reading` disposes of the
   engine's idle connections first, refuses (falls back to the SQLAlchemy path) when one is
   checked out, refuses any new one while ADBC is open, and closes ADBC before SQLAlchemy may
   connect again. Other engines of the same process on the same file are the caller's to close.

The ADBC connection is read-only (a `file:…?mode=ro` URI: a missing file is never created), has
the engine's busy timeout (data_manager.lock_timeout_s), and reads every page inside one read
transaction, so that the pages are one consistent snapshot while writers go on.

A damaged file can end a turbine's scan early without any error: the scan stops at the first
key that no longer matches, and garbage bytes in a page are such a key. So each turbine's read
is checked against a seek of its newest row in the range (one more index probe per turbine),
and a read that ends short, or a driver that says "malformed", is `engine.damaged`'s error.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import Column, Connection, Engine, Integer, Select, event, func, select, tuple_, type_coerce
from sqlalchemy.pool import QueuePool

from datamgr.errors import LOCK_RETRY_HINT, LOCK_TIMEOUT_HINT, DatabaseError, TimeoutExpiredError
from datamgr.store.engine import DAMAGE_WORDS, damaged, lock_timeout_s, read_connection, sqlite_path
from datamgr.store.schema import TIMESTAMP, TURBINE, UtcTimestamp, chronological

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlalchemy import Table

# Rows per page (and per driver batch): large enough that the per-query cost vanishes, small
# enough that a page's Python-side bookkeeping stays bounded.
PAGE_ROWS = 100_000
_BATCH_ROWS = "adbc.sqlite.query.batch_rows"


def columnar(engine: Engine) -> bool:
    """Whether reads of this engine's store can go through ADBC: a plain SQLite file URL (no driver
    options to carry over), pooled by SQLAlchemy's QueuePool (whose checked-out connections can be
    counted)."""
    url = engine.url
    return sqlite_path(url) is not None and not url.query and isinstance(engine.pool, QueuePool)


@contextmanager
def reading(engine: Engine, page_rows: int | None = None) -> Iterator[Connection | Snapshot]:
    """A source of rows for `between`: a columnar snapshot of the SQLite file when it is safe to
    open one, else a SQLAlchemy read connection (PostgreSQL, in-memory SQLite, or a connection of
    the engine still checked out by the caller)."""
    path = sqlite_path(engine.url)
    if path is None or not columnar(engine) or engine.pool.checkedout() != 0:  # type: ignore[attr-defined]
        with read_connection(engine) as connection:
            yield connection
        return
    engine.dispose()  # the pooled sqlite3 connections close now, while no ADBC descriptor is open

    def refuse(*_args: Any) -> None:
        raise RuntimeError(f"{path}: a sqlite3 connection was asked for while the ADBC snapshot is open")

    event.listen(engine, "do_connect", refuse)
    try:
        timeout_s = lock_timeout_s(engine)
        with _adbc_connection(path, timeout_s) as connection:
            yield Snapshot(connection, path, timeout_s, page_rows or PAGE_ROWS)
    finally:
        event.remove(engine, "do_connect", refuse)


@contextmanager
def _adbc_connection(path: Path, timeout_s: int) -> Iterator[Any]:
    """A read-only ADBC connection in one read transaction (autocommit off), closed at the end.

    The driver manager's low-level API, not its DB-API module: that one imports pyarrow.dataset,
    which imports pandas, and the columnar path must not pay for pandas.
    """
    import adbc_driver_manager
    import adbc_driver_sqlite

    if not path.exists():  # mode=ro never creates it, but the driver's message for a missing file misleads
        raise DatabaseError(f"database file {path} does not exist; run `datamgr init-db` first")
    uri = f"file:{quote(str(path.absolute()))}?mode=ro"
    with _driver_errors(path, timeout_s):
        database = adbc_driver_sqlite.connect(uri)
    try:
        with _driver_errors(path, timeout_s):
            connection = adbc_driver_manager.AdbcConnection(database)
        try:
            with _driver_errors(path, timeout_s):
                connection.set_autocommit(False)
                _run(connection, f"PRAGMA busy_timeout = {int(timeout_s * 1000)}", [], 1)
            yield connection
            with _driver_errors(path, timeout_s):
                connection.rollback()  # it only read: this ends the read transaction
        finally:
            connection.close()
    finally:
        database.close()


def _run(connection: Any, sql: str, values: list[Any], batch_rows: int) -> pa.Table:
    """One statement with its values bound (an Arrow batch of one row), its result read as one table."""
    import adbc_driver_manager
    import pyarrow as pa

    statement = adbc_driver_manager.AdbcStatement(connection)
    try:
        statement.set_options(**{_BATCH_ROWS: str(batch_rows)})
        statement.set_sql_query(sql)
        if values:
            statement.bind(_parameters(values))
        stream, _ = statement.execute_query()
        result: pa.Table = pa.RecordBatchReader._import_from_c(stream.address).read_all()
        return result
    finally:
        statement.close()


def _parameters(values: list[Any]) -> pa.RecordBatch:
    """Values to bind (integers, text) as a one-row Arrow batch, built from raw buffers:
    pa.array() of Python objects would import pandas, which pyarrow checks every input against."""
    import pyarrow as pa

    arrays = []
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool):
            arrays.append(pa.Array.from_buffers(pa.int64(), 1, [None, pa.py_buffer(struct.pack("=q", value))]))
        elif isinstance(value, str):
            data = value.encode()
            offsets = pa.py_buffer(struct.pack("=ii", 0, len(data)))
            arrays.append(pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(data)]))
        else:
            raise TypeError(f"cannot bind {value!r} on the columnar path")
    return pa.record_batch(arrays, names=[f"p{i}" for i in range(len(values))])


@contextmanager
def _driver_errors(path: Path, timeout_s: int) -> Iterator[None]:
    """ADBC's errors as datamgr's: a lock wait past the timeout, or one line naming the file.

    The driver reports a failed statement as its own error, and a failure while rows stream in
    (a lock, a type it cannot convert) through Arrow's stream reader, as an OSError or Arrow error.
    """
    import adbc_driver_manager
    import pyarrow as pa

    try:
        yield
    except (adbc_driver_manager.Error, pa.ArrowException, OSError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        for words in DAMAGE_WORDS:
            if words in message:
                raise damaged(path, f"SQLite: {words}") from exc
        if "database is locked" in message:
            raise TimeoutExpiredError(
                f"database {path}: {LOCK_TIMEOUT_HINT} = {timeout_s} s; nothing was read; {LOCK_RETRY_HINT}"
            ) from exc
        raise DatabaseError(f"database {path}: reading it failed: {message}; check the file") from exc


class Snapshot:
    """One read transaction of an ADBC connection: pages of rows as Arrow tables."""

    def __init__(self, connection: Any, path: Path, timeout_s: int, page_rows: int) -> None:
        from sqlalchemy.dialects import sqlite

        self._connection = connection
        self._path = path
        self._timeout_s = timeout_s
        self._page_rows = page_rows
        self._dialect = sqlite.dialect()

    def between(
        self, table: Table, start: datetime | None, end: datetime | None, turbine_ids: Sequence[str] | None
    ) -> pa.Table:
        """What `reads.between` returns: rows with start <= Timestamps <= end
        (either bound may be open) of the turbines asked for (None: every turbine), by turbine and then
        oldest first; timestamps as timestamp[ns, UTC], sensors float64."""
        import pyarrow as pa

        low, high = (None if at is None else _epoch(table, at) for at in (start, end))
        chosen = list(turbine_ids) if turbine_ids is not None else self._turbines(table)
        stored = _stored_schema(table)
        pages = [page for turbine in chosen for page in self._pages(table, stored, turbine, low, high)]
        rows = pa.concat_tables(pages) if pages else stored.empty_table()
        return _with_instants(table, rows)

    def _pages(
        self, table: Table, stored: pa.Schema, turbine: str, low: int | None, high: int | None
    ) -> Iterator[pa.Table]:
        """One turbine's rows in key order, page_rows at a time: each page starts after the last
        key of the one before (an index seek, not an offset), and is cast to the stored schema."""
        names = [column.name for column in chronological(table)]
        order = [type_coerce(table.c[TIMESTAMP], Integer), *(table.c[name] for name in names[1:])]
        stamp = order[0]
        after: list[Any] | None = None
        newest: int | None = None
        while True:
            stmt = select(*table.columns).where(table.c[TURBINE] == turbine)
            if high is not None:
                stmt = stmt.where(stamp <= high)
            if after is not None:
                stmt = stmt.where(tuple_(*order) > tuple_(*after) if len(order) > 1 else stamp > after[0])
            elif low is not None:
                stmt = stmt.where(stamp >= low)
            page = self._fetch(stmt.order_by(*order).limit(self._page_rows)).cast(stored)
            newest = page.column(TIMESTAMP)[-1].as_py() if page.num_rows else newest
            yield page
            if page.num_rows < self._page_rows:
                self._check_complete(table, turbine, low, high, newest)
                return
            after = [page.column(name)[-1].as_py() for name in names]

    def _check_complete(
        self, table: Table, turbine: str, low: int | None, high: int | None, newest: int | None
    ) -> None:
        """Refuse a turbine's read that ended before the newest row its index finds in the range."""
        stamp = type_coerce(table.c[TIMESTAMP], Integer)
        stmt = select(func.max(stamp)).where(table.c[TURBINE] == turbine)
        if low is not None:
            stmt = stmt.where(stamp >= low)
        if high is not None:
            stmt = stmt.where(stamp <= high)
        indexed = self._fetch(stmt).column(0)[0].as_py()
        if indexed != newest:
            raise damaged(self._path, f"the rows of turbine {turbine} end before the newest one its index holds")

    def _turbines(self, table: Table) -> list[str]:
        """Every turbine with rows in the table, in order: a loose index scan (one seek per turbine)."""
        turbine = table.c[TURBINE]
        ids = select(func.min(turbine).label("id")).cte("turbine_ids", recursive=True)
        following = select(func.min(turbine)).where(turbine > ids.c.id).scalar_subquery()
        ids = ids.union_all(select(following).where(ids.c.id.is_not(None)))
        found = self._fetch(select(ids.c.id).where(ids.c.id.is_not(None)))
        return [str(value) for value in found.column(0).to_pylist()]

    def _fetch(self, stmt: Select[Any]) -> pa.Table:
        """Run one statement (compiled by SQLAlchemy, values bound, never formatted in) as one batch."""
        compiled = stmt.compile(dialect=self._dialect, compile_kwargs={"render_postcompile": True})
        values = [compiled.params[name] for name in compiled.positiontup or []]
        with _driver_errors(self._path, self._timeout_s):
            return _run(self._connection, str(compiled), values, self._page_rows)


def _epoch(table: Table, at: datetime) -> int:
    """A bound as the store keeps it, converted by the column type itself (as the SQLAlchemy path does)."""
    from sqlalchemy.dialects import sqlite

    column = table.c[TIMESTAMP]
    return int(column.type.process_bind_param(at, sqlite.dialect()))  # type: ignore[attr-defined]


def stored_type(column: Column[Any]) -> pa.DataType:
    """A column as SQLite returns it: epoch seconds for instants, float64, int64 or text."""
    import pyarrow as pa

    if isinstance(column.type, UtcTimestamp):
        return pa.int64()
    python_type = column.type.python_type
    if python_type is float:
        return pa.float64()
    if python_type is int:
        return pa.int64()
    if python_type is str:
        return pa.large_string()  # what pandas' str columns are written as, so Parquet files stay the same
    raise TypeError(f"column {column.name} of {column.type} has no columnar read")


def _stored_schema(table: Table) -> pa.Schema:
    import pyarrow as pa

    return pa.schema([pa.field(c.name, stored_type(c)) for c in table.columns])


def _with_instants(table: Table, rows: pa.Table) -> pa.Table:
    """Epoch seconds as timestamp[ns, UTC], the type of datamgr's frames and Parquet files."""
    import pyarrow as pa

    for column in table.columns:
        if isinstance(column.type, UtcTimestamp):
            at = rows.schema.get_field_index(column.name)
            seconds = rows.column(at).cast(pa.timestamp("s", tz="UTC"))
            instants = seconds.cast(pa.timestamp("ns", tz="UTC"))
            rows = rows.set_column(at, rows.schema.field(at).with_type(instants.type), instants)
    return rows
