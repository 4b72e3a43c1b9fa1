"""The writers, one per backend, chosen here once: SQLite (Arrow through ADBC into a scratch file,
merged in the command's transaction), PostgreSQL (binary COPY), and the staging merge for the rest.

Every writer follows the merge rules of store/upsert.py and works in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table

from datamgr.store.bulk import postgres, sqlite
from datamgr.store.bulk.staging import Staging, stage_frames
from datamgr.store.schema import TIME_SERIES_KEYS, TIMESTAMP, TURBINE
from datamgr.store.upsert import UpsertCounts

if TYPE_CHECKING:
    import pandas as pd


def insert_for(connection: Connection) -> Callable[[Table], Any]:
    """The backend's INSERT, the one that has ON CONFLICT."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def staging(connection: Connection, table: Table, columns: list[str], *, replace_blanks: bool = False) -> Staging:
    """A staging table for the backend: COPY and merge in passes on PostgreSQL, executemany elsewhere."""
    if connection.dialect.name == "postgresql":
        return postgres.PostgresStaging(connection, table, columns, replace_blanks)
    return Staging(connection, table, columns, insert_for(connection), replace_blanks=replace_blanks)


def upsert_frames(
    connection: Connection, table: Table, frames: Iterable[pd.DataFrame], *, replace_blanks: bool = False
) -> UpsertCounts:
    """Upsert conformed batches (all with the same columns) through a staging table and one merge."""
    return stage_frames(lambda columns: staging(connection, table, columns, replace_blanks=replace_blanks), frames)


def upsert(
    connection: Connection,
    table: Table,
    batches: Callable[[], Iterable[pd.DataFrame]],
    *,
    replace_blanks: bool = False,
) -> UpsertCounts:
    """Upsert conformed batches (all with the same columns) on the table's key, in the caller's transaction.

    Re-upserting the same rows changes nothing (not even a write); a row whose values differ is
    updated; among duplicate keys the last one wins. Columns the batches lack keep their values,
    and so do blank values unless replace_blanks (a row whose only differences are blanks is
    unchanged).

    A turbine-keyed table takes its backend's bulk path: Arrow through ADBC in a SQLite file
    (bulk/sqlite.py), binary COPY on PostgreSQL (bulk/postgres.py, which may call `batches` a
    second time to redo a file whose batches reach back in time). Everything else goes through a
    staging table and one set-based merge of the same statement.
    """
    if TIME_SERIES_KEYS[table.name] == (TURBINE, TIMESTAMP):
        if sqlite.usable(connection):
            return sqlite.upsert(connection, table, batches(), replace_blanks)
        if connection.dialect.name == "postgresql":
            return postgres.upsert_new_rows_first(connection, table, batches, replace_blanks=replace_blanks)
    return upsert_frames(connection, table, batches(), replace_blanks=replace_blanks)
