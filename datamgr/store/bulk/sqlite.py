"""SQLite's bulk upsert: a file's batches go in as Arrow columns, then one set-based merge per turbine.

The sqlite3 driver binds every value as a Python object; ADBC (`adbc_driver_sqlite`) binds Arrow
columns in C, about twice as fast. But an ADBC connection is a connection of its own, with its own
copy of SQLite linked in, and it cannot join datamgr's BEGIN IMMEDIATE transaction. So ADBC never
opens the database: it writes the batches into a scratch file beside it and closes it; then
datamgr's own connection ATTACHes that file inside its transaction and merges from it with
INSERT … SELECT … ON CONFLICT, one turbine at a time and in key order. Every write to the database
is still in the one transaction, and the two copies of SQLite never have the same file open at once
(POSIX locks belong to the process: one copy closing a file would drop the other's locks on it).

SQLite refuses to DETACH a file a transaction has read, so the file is detached and removed when
the connection goes back to the pool (engine.AFTER_TRANSACTION), after the commit or rollback.

Counts stay exact without a join: inserted rows are the growth of the turbine's row count over its
time range in the file, updated rows are the merge's changes less those, and stored values kept
under blanks are counted only for the staged rows that have a blank.
"""

from __future__ import annotations

import glob
import logging
import os
import uuid
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Column, Connection, Index, Integer, MetaData, Table, and_, func, or_, select

from datamgr.errors import DatabaseError
from datamgr.store.bulk.plan import FileSpans, plan_batch
from datamgr.store.bulk.staging import ROW, SEQ
from datamgr.store.engine import AFTER_TRANSACTION, sqlite_path
from datamgr.store.schema import TIMESTAMP, TURBINE
from datamgr.store.snapshot import stored_type
from datamgr.store.upsert import UpsertCounts, compared_columns, index_labels, kept_under_blanks, on_conflict, totals
from datamgr.timestamps import to_epoch_seconds

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

log = logging.getLogger(__name__)
_STAGING_TABLE = "staging"


def usable(connection: Connection) -> bool:
    """Whether this connection can take the bulk path: a SQLite file whose engine cleans up after
    transactions, and a free ATTACH slot (SQLite allows a handful of attached files per connection)."""
    import sqlite3

    database = sqlite_path(connection.engine.url)
    if database is None or not os.access(database.parent, os.W_OK):
        return False  # no file, or no room for a scratch file beside it (a read-only folder)
    if AFTER_TRANSACTION not in connection.info:
        return False
    driver = connection.connection.driver_connection
    if not isinstance(driver, sqlite3.Connection):
        return False
    names = [str(row[1]) for row in connection.exec_driver_sql("PRAGMA database_list")]
    attached = [name for name in names if name not in ("main", "temp")]  # temp is listed once it is used
    return len(attached) < driver.getlimit(sqlite3.SQLITE_LIMIT_ATTACHED)


def upsert(connection: Connection, table: Table, frames: Iterable[pd.DataFrame], replace_blanks: bool) -> UpsertCounts:
    """Upsert conformed batches of a (turbine_id, Timestamps)-keyed table, in the caller's transaction."""
    database = sqlite_path(connection.engine.url)
    assert database is not None  # usable() said so
    _remove_leftovers(database)
    scratch = database.with_name(f"{_scratch_prefix(database)}{os.getpid()}-{uuid.uuid4().hex[:8]}")
    schema = f"datamgr_staging_{uuid.uuid4().hex[:8]}"
    _after_transaction(connection, scratch, schema)
    spans, blanks = _stage(scratch, table, frames)
    if not spans.read:
        return UpsertCounts()
    connection.exec_driver_sql(f"ATTACH DATABASE ? AS {schema}", (str(scratch),))
    connection.exec_driver_sql(f"PRAGMA {schema}.journal_mode = OFF")  # its index needs no undo
    columns = [c for c in _staged_columns(connection, schema) if c not in (SEQ, ROW)]
    staging = Table(
        _STAGING_TABLE,
        MetaData(),
        Column(SEQ, Integer),
        Column(ROW, BigInteger),
        *(Column(name, table.c[name].type) for name in columns),
        schema=schema,
    )
    if spans.overlap:
        _collapse_duplicates(connection, staging, spans)
    indexed = len(spans.read) > 1 or spans.overlap
    if indexed:
        Index(f"ix_{_STAGING_TABLE}_key", staging.c[TURBINE], staging.c[TIMESTAMP]).create(connection)
    tally = {
        turbine: _merge_turbine(connection, table, staging, columns, turbine, spans, blanks, replace_blanks, indexed)
        for turbine in spans.read
    }
    return totals(tally, first_duplicates=tuple(spans.first_duplicates))


def _scratch_prefix(database: Path) -> str:
    return f".{database.name}.staging-"


def _remove_leftovers(database: Path) -> None:
    """Remove the scratch files of an ingest that was killed before it could clean up.

    We hold the write lock, so no other ingest is staging: a scratch file of this database that
    another process made is a leftover (or its owner has committed and is about to remove it: both
    are done with). This process's own belong to earlier files of the same transaction."""
    prefix = _scratch_prefix(database)
    for leftover in database.parent.glob(f"{glob.escape(prefix)}*"):
        if leftover.name.startswith(f"{prefix}{os.getpid()}-"):
            continue
        log.info(f"removing {leftover}, the scratch file of an ingest that was killed or has just ended")
        leftover.unlink(missing_ok=True)


def _after_transaction(connection: Connection, scratch: Path, schema: str) -> None:
    """Detach and remove the scratch file once the transaction is over, whatever its outcome."""

    def cleanup(driver_connection: Any) -> None:
        if driver_connection is not None:
            attached = [row[1] for row in driver_connection.execute("PRAGMA database_list").fetchall()]
            if schema in attached:
                driver_connection.execute(f"DETACH DATABASE {schema}")
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{scratch}{suffix}").unlink(missing_ok=True)

    connection.info[AFTER_TRANSACTION].append(cleanup)


def _stage(scratch: Path, table: Table, frames: Iterable[pd.DataFrame]) -> tuple[FileSpans, set[str]]:
    """Write the batches into the scratch file through ADBC: duplicates within a batch already
    collapsed (the last wins), each row with its arrival order and its row label in the file.

    The driver manager's low-level API, not its DB-API module: that one wraps each call in a
    SIGINT handler of its own that asks the driver to cancel, which the SQLite driver cannot do
    (an interrupt came out as a failed write, and an ignored SIGINT was no longer ignored).
    Here Ctrl-C is Python's: it lands between batches as KeyboardInterrupt, and rolls back."""
    import adbc_driver_manager as adbc
    import adbc_driver_sqlite
    import pyarrow as pa

    spans, blanks = FileSpans(), set[str]()
    staged = 0
    try:
        database = closing(adbc_driver_sqlite.connect(str(scratch)))
        with database as opened, closing(adbc.AdbcConnection(opened)) as connection:  # autocommit, as ADBC starts
            _execute(connection, "PRAGMA journal_mode = OFF")  # a scratch file: nothing to recover
            _execute(connection, "PRAGMA synchronous = OFF")
            for frame in frames:
                if frame.empty:
                    continue
                columns = _staged_batch(frame, table, staged, spans, blanks)
                mode = adbc.INGEST_OPTION_MODE_APPEND if staged else adbc.INGEST_OPTION_MODE_CREATE
                _execute(connection, None, pa.table(columns), mode)
                staged += len(frame)
    except adbc.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseError(
            f"cannot write ingest's scratch file {scratch} ({reason}); nothing was written; "
            "make room beside the database (it takes about the size of the rows ingested)"
        ) from exc
    return spans, blanks


def _execute(connection: Any, sql: str | None, rows: pa.Table | None = None, mode: str = "") -> None:
    """One statement on the scratch connection: `sql`, or an ingest of `rows` into the staging table."""
    import adbc_driver_manager as adbc

    with closing(adbc.AdbcStatement(connection)) as statement:
        if sql is not None:
            statement.set_sql_query(sql)
        else:
            ingest = adbc.StatementOptions
            statement.set_options(**{ingest.INGEST_TARGET_TABLE.value: _STAGING_TABLE, ingest.INGEST_MODE.value: mode})
            statement.bind_stream(rows)
        statement.execute_update()


def _staged_batch(frame: pd.DataFrame, table: Table, staged: int, spans: FileSpans, blanks: set[str]) -> dict[str, Any]:
    """One batch as Arrow columns: its rows in key order (each turbine's merge then writes its pages
    in turn), less those a later row of the same key replaces; its turbines' ranges go into `spans`."""
    import numpy as np
    import pyarrow as pa

    n = len(frame)
    seconds = to_epoch_seconds(frame[TIMESTAMP]).to_numpy()
    labels = np.asarray(index_labels(frame))
    plan = plan_batch(frame[TURBINE], seconds, labels)
    spans.add(plan)
    blanks.update(_turbines_with_blanks(frame, table))
    order = plan.order
    identity = len(order) == n and bool((order == np.arange(n)).all())

    def column(values: np.ndarray) -> np.ndarray:
        return values if identity else values[order]

    batch: dict[str, Any] = {SEQ: pa.array(column(np.arange(staged, staged + n))), ROW: pa.array(column(labels))}
    for name in frame.columns:
        values = seconds if name == TIMESTAMP else frame[name].to_numpy()
        batch[name] = pa.array(column(values), from_pandas=True, type=stored_type(table.c[name]))
    return batch


def _turbines_with_blanks(frame: pd.DataFrame, table: Table) -> set[str]:
    """The turbines of the batch that have a blank in a compared column (only theirs need counting)."""
    compared = compared_columns(table, list(frame.columns))
    if not compared:
        return set()
    blank = frame[compared].isna().to_numpy().any(axis=1)
    return set(frame[TURBINE].to_numpy()[blank].tolist()) if blank.any() else set()


def _staged_columns(connection: Connection, schema: str) -> list[str]:
    rows = connection.exec_driver_sql(f"PRAGMA {schema}.table_info({_STAGING_TABLE})").all()
    return [str(row[1]) for row in rows]


def _collapse_duplicates(connection: Connection, staging: Table, spans: FileSpans) -> None:
    """Batches overlapped in time: keep the last staged row of each key, counting the others per turbine."""
    from sqlalchemy import delete

    key = (staging.c[TURBINE], staging.c[TIMESTAMP])
    replaced = staging.c[SEQ].not_in(select(func.max(staging.c[SEQ])).group_by(*key))
    first = connection.execute(select(staging.c[ROW]).where(replaced).order_by(staging.c[SEQ]).limit(3)).scalars()
    spans.first_duplicates = sorted({*spans.first_duplicates, *(int(label) for label in first)})[:3]
    counted = select(staging.c[TURBINE], func.count()).where(replaced).group_by(staging.c[TURBINE])
    for turbine, n in connection.execute(counted):
        spans.duplicates[str(turbine)] += int(n)
    connection.execute(delete(staging).where(replaced))


def _merge_turbine(
    connection: Connection,
    table: Table,
    staging: Table,
    columns: list[str],
    turbine: str,
    spans: FileSpans,
    blank_turbines: set[str],
    replace_blanks: bool,
    indexed: bool,
) -> UpsertCounts:
    """Merge one turbine's staged rows in key order, and count what that did.

    Unindexed, the staging holds one turbine whose batches were each staged in key order: it is
    merged in staged order, without a sort."""
    from sqlalchemy.dialects.sqlite import insert

    low, high = spans.bounds(turbine)
    stamp = table.c[TIMESTAMP]
    in_range = select(func.count()).where(table.c[TURBINE] == turbine, stamp.between(*_instants(low, high)))
    mine = staging.c[TURBINE] == turbine
    before = connection.execute(in_range).scalar_one()
    blanks = not replace_blanks and turbine in blank_turbines
    kept = _stored_under_blanks(connection, table, staging, columns, turbine) if blanks else 0
    rows = select(*(staging.c[c] for c in columns)).where(mine)
    if indexed:
        rows = rows.order_by(staging.c[TIMESTAMP])
    merge = on_conflict(insert(table).from_select(columns, rows), table, columns, replace_blanks=replace_blanks)
    changed = connection.execute(merge).rowcount
    inserted = connection.execute(in_range).scalar_one() - before
    read, duplicates = spans.read[turbine], spans.duplicates[turbine]
    return UpsertCounts(
        rows_read=read,
        duplicates=duplicates,
        inserted=inserted,
        updated=changed - inserted,
        unchanged=read - duplicates - changed,
        blanks_kept=kept,
    )


def _instants(low: int, high: int) -> tuple[Any, Any]:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(low, tz=UTC), datetime.fromtimestamp(high, tz=UTC)


def _stored_under_blanks(connection: Connection, table: Table, staging: Table, columns: list[str], turbine: str) -> int:
    """How many stored values sit where this turbine's staged rows are blank (the merge keeps them).

    Only staged rows with a blank are looked up in the table."""
    compared = compared_columns(table, columns)
    s, t = staging, table
    on_key = and_(t.c[TURBINE] == s.c[TURBINE], t.c[TIMESTAMP] == s.c[TIMESTAMP])
    query = (
        select(func.coalesce(func.sum(kept_under_blanks(t, s, compared)), 0))
        .select_from(s.join(t, on_key))
        .where(s.c[TURBINE] == turbine, or_(*(s.c[c].is_(None) for c in compared)))
    )
    return int(connection.execute(query).scalar_one())
