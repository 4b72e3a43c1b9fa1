"""The lesson's DataManager, as functions: upsert, last n, range, counts. Take a Connection, return data.

Bulk writes are never row by row in Python. A turbine-keyed table in a SQLite file is upserted
through store/bulk/sqlite.py (Arrow batches into a scratch file, then a set-based merge per
turbine); everything else (PostgreSQL, composite keys, in-memory SQLite) goes through a temporary
staging table and one set-based merge of the same INSERT … ON CONFLICT DO UPDATE … WHERE
something changed.

A blank (NULL) in an update never erases a stored value: the statement sets
COALESCE(excluded.col, table.col), and compares with that, unless blanks are asked to replace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Insert,
    Integer,
    MetaData,
    Select,
    Table,
    and_,
    case,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    type_coerce,
    update,
)

from datamgr.rows import Rows
from datamgr.store.bulk import sqlite as sqlite_bulk
from datamgr.store.schema import (
    PROVENANCE_COLUMNS,
    TIME_SERIES_KEYS,
    TIMESTAMP,
    TURBINE,
    UtcTimestamp,
    evaluations,
    model_runs,
    predictions,
    quarantine,
    raw_data,
    turbines,
)
from datamgr.timestamps import format_stored_instant, from_epoch_seconds, to_epoch_seconds

if TYPE_CHECKING:
    import pandas as pd

_SEQ = "_seq"
_ROW = "_row"


@dataclass(frozen=True)
class UpsertCounts:
    """What an upsert did: every distinct key of the input is inserted, updated or unchanged.

    blanks_kept counts the stored values an update left in place because the incoming value was
    blank; first_duplicates holds the frame index labels of the first rows a later row with the
    same key replaced. quarantined and off_grid are filled in by the caller, which knows the file.
    """

    rows_read: int = 0
    duplicates: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    blanks_kept: int = 0
    off_grid: int = 0
    first_duplicates: tuple[int, ...] = field(default=(), compare=False)  # diagnostic, not a count
    # The same counts for each turbine of the input, in turbine order (the totals above are their sums).
    per_turbine: tuple[tuple[str, UpsertCounts], ...] = field(default=(), compare=False)

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        merged = dict(self.per_turbine)
        for turbine, counts in other.per_turbine:
            merged[turbine] = merged[turbine] + counts if turbine in merged else counts
        summed = {name: getattr(self, name) + getattr(other, name) for name in COUNTED}
        return UpsertCounts(**summed, per_turbine=tuple(sorted(merged.items())))


COUNTED = [name for name in UpsertCounts.__dataclass_fields__ if name != "per_turbine"]


def totals(per_turbine: dict[str, UpsertCounts], **extra: Any) -> UpsertCounts:
    """The sum of per-turbine counts, keeping the breakdown."""
    total = UpsertCounts(**extra)
    for turbine in sorted(per_turbine):
        total = total + replace(per_turbine[turbine], per_turbine=((turbine, per_turbine[turbine]),))
    return total


def count_rows(connection: Connection, table: Table) -> int:
    return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def latest_timestamp(connection: Connection, table: Table) -> datetime | None:
    return connection.execute(select(func.max(table.c[TIMESTAMP]))).scalar_one_or_none()


def known_turbines(connection: Connection) -> list[str]:
    """Every turbine the store knows (ingest registers each one it sees), in id order."""
    return list(connection.execute(select(turbines.c[TURBINE]).order_by(turbines.c[TURBINE])).scalars())


def chronological(table: Table) -> list[Column[Any]]:
    """One turbine's rows in time order: Timestamps, then the rest of the key (model_id for predictions)."""
    key = TIME_SERIES_KEYS[table.name]
    return [table.c[TIMESTAMP], *(table.c[k] for k in key if k not in (TURBINE, TIMESTAMP))]


def _newest(connection: Connection, table: Table, n: int, turbine: str) -> Select[Any]:
    """One turbine's n most recent rows, newest first (callers turn them round): an index seek, flat in table size."""
    newest_first = (c.desc() for c in chronological(table))
    return _select_all(connection, table).where(table.c[TURBINE] == turbine).order_by(*newest_first).limit(n)


def last_n(connection: Connection, table: Table, n: int, turbine_ids: Sequence[str]) -> pd.DataFrame:
    """The n most recent rows of each turbine, by turbine and then oldest first."""
    import pandas as pd

    frames = [read_frame(connection, table, _newest(connection, table, n, t)).iloc[::-1] for t in turbine_ids]
    if not frames:
        return read_frame(connection, table, _select_all(connection, table).where(false()))
    return pd.concat(frames, ignore_index=True)


def last_n_rows(connection: Connection, table: Table, n: int, turbine_ids: Sequence[str]) -> Rows:
    """The n most recent rows of each turbine, by turbine and then oldest first, as display-ready Rows.

    No pandas: a fast `last-n`.
    """
    names = [c.name for c in table.columns]
    stamps = [i for i, name in enumerate(names) if isinstance(table.c[name].type, UtcTimestamp)]
    rows = []
    for turbine in turbine_ids:
        result = connection.execute(_newest(connection, table, n, turbine))
        fetched = result.cursor.fetchall() if result.cursor is not None else []
        for row in reversed(fetched):
            values = list(row)
            for i in stamps:
                values[i] = None if values[i] is None else format_stored_instant(values[i])
            rows.append(tuple(values))
    return Rows(names, rows, frozenset(names[i] for i in stamps))


def between(
    connection: Connection,
    table: Table,
    start: datetime | None,
    end: datetime | None,
    turbine_ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Rows with start <= Timestamps <= end (either bound may be open), by turbine and then oldest first.

    turbine_ids=None reads every turbine.
    """
    stamp = table.c[TIMESTAMP]
    stmt = _select_all(connection, table)
    if turbine_ids is not None:
        stmt = stmt.where(table.c[TURBINE].in_(list(turbine_ids)))
    if start is not None:
        stmt = stmt.where(stamp >= start)
    if end is not None:
        stmt = stmt.where(stamp <= end)
    return read_frame(connection, table, stmt.order_by(table.c[TURBINE], *chronological(table)))


def batches_between(
    connection: Connection, table: Table, start: datetime, end: datetime, turbine: str, batch_rows: int
) -> Iterator[pd.DataFrame]:
    """One turbine's rows in [start, end], oldest first, batch_rows at a time (keyset pages on the key)."""
    stamp = table.c[TIMESTAMP]
    after: datetime | None = None
    while True:
        stmt = _select_all(connection, table).where(table.c[TURBINE] == turbine, stamp <= end)
        stmt = stmt.where(stamp > after if after is not None else stamp >= start)
        frame = read_frame(connection, table, stmt.order_by(stamp).limit(batch_rows))
        if frame.empty:
            return
        yield frame
        if len(frame) < batch_rows:
            return
        after = frame[TIMESTAMP].iloc[-1].to_pydatetime()


def _select_all(connection: Connection, table: Table) -> Select[Any]:
    """Select every column, timestamps in their stored form so they convert column-wise, not per row."""
    dialect = connection.dialect
    columns = [
        type_coerce(c, c.type.load_dialect_impl(dialect)).label(c.name) if isinstance(c.type, UtcTimestamp) else c
        for c in table.columns
    ]
    return select(*columns)


def read_frame(connection: Connection, table: Table, stmt: Select[Any]) -> pd.DataFrame:
    """Run a select over `table` and return a DataFrame with UTC timestamps and float sensors.

    On SQLite every column but the turbine id is a number, so the fetched tuples are turned into
    columns (one C-level transpose) and each numeric column into one float64 array (NULL -> NaN),
    instead of per-value object inference.
    """
    import numpy as np
    import pandas as pd

    result = connection.execute(stmt)
    names = list(result.keys())
    rows = result.cursor.fetchall() if result.cursor is not None else []
    columns = [table.c[name] for name in names]
    if connection.dialect.name == "sqlite":
        transposed = list(zip(*rows, strict=True)) if rows else [()] * len(names)
        frame = pd.DataFrame(
            {
                c.name: np.array(values, dtype=object if c.type.python_type is str else "float64")
                for c, values in zip(columns, transposed, strict=True)
            }
        )
    else:
        frame = pd.DataFrame(rows, columns=names)
    for column in columns:
        values = frame[column.name]
        if isinstance(column.type, UtcTimestamp):
            if connection.dialect.name == "sqlite":
                frame[column.name] = from_epoch_seconds(values)
            else:
                frame[column.name] = pd.to_datetime(values, utc=True).dt.as_unit("ns")
        elif column.type.python_type is float:
            frame[column.name] = values.astype("float64")
        elif column.type.python_type is int:
            frame[column.name] = values.astype("Int64")
    return frame


def _sqlite_values(series: pd.Series, column: Column[Any]) -> list[Any]:
    """One column of a frame as sqlite3 values, converted column-wise (NaN becomes NULL).

    (PostgreSQL batches go in by binary COPY, built column-wise, and never pass through here.)
    """
    if isinstance(column.type, UtcTimestamp):
        seconds: list[Any] = to_epoch_seconds(series).tolist()
        return seconds
    values = series.to_numpy(dtype=object, na_value=None) if series.hasnans else series.to_numpy()
    return list(values.tolist())


def _index_labels(frame: pd.DataFrame) -> list[int]:
    """The frame's row labels when they are integers (a file's row positions), else its positions."""
    import pandas as pd

    if pd.api.types.is_integer_dtype(frame.index.dtype):
        return list(frame.index.tolist())
    return list(range(len(frame)))


class Staging:
    """A temporary table shaped like `table` (for the given columns), filled batch by batch.

    Each row keeps its arrival order (`_seq`, so that the last duplicate wins) and its frame's
    index label (`_row`, so that replaced duplicates can be named).
    """

    def __init__(
        self, connection: Connection, table: Table, columns: list[str], *, replace_blanks: bool = False
    ) -> None:
        self.connection = connection
        self.table = table
        self.columns = columns
        self.replace_blanks = replace_blanks
        self.key = list(TIME_SERIES_KEYS[table.name])
        self.compared = compared_columns(table, columns)
        self.staging = Table(
            f"staging_{table.name}",
            MetaData(),
            Column(_SEQ, Integer, nullable=False),
            Column(_ROW, BigInteger, nullable=False),
            *(Column(name, table.c[name].type) for name in columns),
            prefixes=["TEMPORARY"],
        )
        self.staging.create(connection)
        self.rows = 0
        self._insert_sql = str(insert(self.staging).compile(dialect=connection.dialect))

    def add(self, frame: pd.DataFrame) -> None:
        """Append a conformed batch, with its position so that the last duplicate wins."""
        if frame.empty:
            return
        if self.connection.dialect.name == "postgresql":
            self._copy(frame)
        else:
            columns: list[Any] = [range(self.rows, self.rows + len(frame)), _index_labels(frame)]
            columns += [_sqlite_values(frame[c], self.table.c[c]) for c in self.columns]
            _executemany(self.connection, self._insert_sql, zip(*columns, strict=True))
        self.rows += len(frame)

    def _copy(self, frame: pd.DataFrame) -> None:
        """PostgreSQL: COPY the batch in binary, built column-wise (store/bulk/postgres.py), never row by row."""
        from datamgr.store.bulk.postgres import copy_columns

        ordered: list[tuple[str, Any]] = [
            (_SEQ, range(self.rows, self.rows + len(frame))),
            (_ROW, _index_labels(frame)),
        ]
        copy_columns(self.connection, self.staging, ordered + [(c, frame[c]) for c in self.columns])

    def merge(self, *, unique: bool = False) -> UpsertCounts:
        """Collapse duplicate keys to the last one (unless the caller already did: unique), merge
        into the table, count, and drop the staging table."""
        duplicates, first_duplicates = ({}, ()) if unique else self._collapse_duplicates()
        in_passes = self.connection.dialect.name == "postgresql"
        counted = self._merge_in_passes() if in_passes else self._merge_upsert()
        self.staging.drop(self.connection)
        tally = {}
        for turbine_id, (distinct, inserted, updated, blanks_kept) in counted.items():
            repeated = duplicates.get(turbine_id, 0)
            tally[turbine_id] = UpsertCounts(
                rows_read=distinct + repeated,
                duplicates=repeated,
                inserted=inserted,
                updated=updated,
                unchanged=distinct - inserted - updated,
                blanks_kept=blanks_kept,
            )
        return totals(tally, first_duplicates=first_duplicates)

    def _collapse_duplicates(self) -> tuple[dict[str, int], tuple[int, ...]]:
        """Delete all but the last staged row of each key; the count per turbine and the first row labels."""
        s = self.staging
        keep = select(func.max(s.c[_SEQ])).group_by(*(s.c[k] for k in self.key))
        replaced = s.c[_SEQ].not_in(keep)
        first = self.connection.execute(select(s.c[_ROW]).where(replaced).order_by(s.c[_SEQ]).limit(3)).scalars()
        first_duplicates = tuple(int(label) for label in first)
        if not first_duplicates:
            return {}, ()
        grouped = select(s.c[TURBINE], func.count()).where(replaced).group_by(s.c[TURBINE])
        duplicates = {str(t): int(n) for t, n in self.connection.execute(grouped)}
        self.connection.execute(delete(s).where(replaced))
        return duplicates, first_duplicates

    def _kept_expression(self) -> Any:
        """Per joined row: how many stored values a blank incoming value keeps."""
        return literal(0) if self.replace_blanks else kept_under_blanks(self.table, self.staging, self.compared)

    def _on_key(self) -> Any:
        return and_(*(self.table.c[k] == self.staging.c[k] for k in self.key))

    def _counts(self) -> dict[str, tuple[int, int, int, int]]:
        """Per turbine, before the merge: staged rows, new ones, changed ones, stored values kept under blanks."""
        s, t = self.staging, self.table
        turbine = s.c[TURBINE]
        changed = or_(false(), *(_differs(t.c[c], s.c[c], self.replace_blanks) for c in self.compared))
        missing = t.c[self.key[0]].is_(None)
        counts = self.connection.execute(
            select(
                turbine,
                func.count(),
                func.coalesce(func.sum(case((missing, 1), else_=0)), 0),
                func.coalesce(func.sum(case((and_(~missing, changed), 1), else_=0)), 0),
                func.coalesce(func.sum(self._kept_expression()), 0),
            )
            .select_from(s.outerjoin(t, self._on_key()))
            .group_by(turbine)
        ).all()
        return {str(turbine_id): (int(a), int(b), int(c), int(d)) for turbine_id, a, b, c, d in counts}

    def _merge_upsert(self) -> dict[str, tuple[int, int, int, int]]:
        """Count with one outer join, then merge with one INSERT … ON CONFLICT (SQLite)."""
        counts = self._counts()
        rows = select(*(self.staging.c[c] for c in self.columns)).where(true())
        upsert = _dialect_insert(self.connection)(self.table).from_select(self.columns, rows)
        self.connection.execute(_on_conflict(upsert, self.table, self.columns, replace_blanks=self.replace_blanks))
        return counts

    def _merge_in_passes(self) -> dict[str, tuple[int, int, int, int]]:
        """PostgreSQL: count with one outer join, then update the rows that differ and insert the new
        ones, each a set-based statement the planner can hash-join, and each only if it has rows.

        ON CONFLICT would probe the key index row by row: a re-ingest of 1M unchanged rows spent
        2.5 s there. Without it nothing stops another writer from inserting a key between the
        passes, but none can: writers hold the advisory lock (engine.write_transaction).
        """
        s, t, connection = self.staging, self.table, self.connection
        connection.exec_driver_sql(f"ANALYZE {connection.dialect.identifier_preparer.format_table(s)}")
        counts = self._counts()
        on_key = self._on_key()
        if any(updated for _, _, updated, _ in counts.values()):
            differs = or_(*(_differs(t.c[c], s.c[c], self.replace_blanks) for c in self.compared))
            set_ = {
                c: s.c[c] if c in PROVENANCE_COLUMNS else _incoming(t.c[c], s.c[c], self.replace_blanks)
                for c in self.columns
                if c not in self.key
            }
            connection.execute(update(t).values(set_).where(on_key, differs))
        if any(inserted for _, inserted, _, _ in counts.values()):
            new_rows = select(*(s.c[c] for c in self.columns)).where(~exists().where(on_key))
            connection.execute(insert(t).from_select(self.columns, new_rows.order_by(*(s.c[k] for k in self.key))))
        return counts


def compared_columns(table: Table, columns: Sequence[str]) -> list[str]:
    """The columns whose differences make an update: not the table's key, not provenance."""
    key = TIME_SERIES_KEYS[table.name]
    return [c for c in columns if c not in key and c not in PROVENANCE_COLUMNS]


def kept_under_blanks(stored: Table, incoming: Table, compared: Sequence[str]) -> Any:
    """Per row of stored joined with incoming: how many stored values a blank incoming value keeps."""
    kept: Any = literal(0)
    for c in compared:
        kept = kept + case((and_(incoming.c[c].is_(None), stored.c[c].is_not(None)), 1), else_=0)
    return kept


def _incoming(stored: Any, incoming: Any, replace_blanks: bool) -> Any:
    """The value an update writes: the incoming one, or the stored one where the incoming is blank."""
    return incoming if replace_blanks else func.coalesce(incoming, stored)


def _differs(stored: Any, incoming: Any, replace_blanks: bool) -> Any:
    """Whether an update would change the stored value (a blank that keeps it is no change)."""
    return stored.is_distinct_from(_incoming(stored, incoming, replace_blanks))


def _on_conflict(upsert: Any, table: Table, columns: list[str], *, replace_blanks: bool = False) -> Insert:
    """ON CONFLICT on the table's key: update the given columns, but only where a compared value differs.

    Blank incoming values keep the stored ones unless replace_blanks; provenance columns (when a
    prediction was made) are written with any change, as they come.
    """
    key = TIME_SERIES_KEYS[table.name]
    values = [c for c in columns if c not in key]
    compared = compared_columns(table, columns)
    if not values:
        return upsert.on_conflict_do_nothing(index_elements=[table.c[k] for k in key])
    return upsert.on_conflict_do_update(
        index_elements=[table.c[k] for k in key],
        set_={
            c: upsert.excluded[c]
            if c in PROVENANCE_COLUMNS
            else _incoming(table.c[c], upsert.excluded[c], replace_blanks)
            for c in values
        },
        where=or_(false(), *(_differs(table.c[c], upsert.excluded[c], replace_blanks) for c in compared)),
    )


def _dialect_insert(connection: Connection) -> Callable[[Table], Any]:
    """INSERT with ON CONFLICT for the connection's backend."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def upsert_frames(
    connection: Connection, table: Table, frames: Iterable[pd.DataFrame], *, replace_blanks: bool = False
) -> UpsertCounts:
    """Upsert conformed batches (all with the same columns) through a staging table and one merge."""
    staging: Staging | None = None
    for frame in frames:
        staging = staging or Staging(connection, table, list(frame.columns), replace_blanks=replace_blanks)
        staging.add(frame)
    return staging.merge() if staging is not None else UpsertCounts()


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
    (store/bulk/sqlite.py), binary COPY on PostgreSQL (store/bulk/postgres.py, which may call
    `batches` a second time to redo a file whose batches reach back in time). Everything else
    goes through a staging table and one set-based merge of the same statement.
    """
    if TIME_SERIES_KEYS[table.name] == (TURBINE, TIMESTAMP):
        if sqlite_bulk.usable(connection):
            return sqlite_bulk.upsert(connection, table, batches(), replace_blanks)
        if connection.dialect.name == "postgresql":
            from datamgr.store.bulk.postgres import upsert_new_rows_first

            return upsert_new_rows_first(connection, table, batches, replace_blanks=replace_blanks)
    return upsert_frames(connection, table, batches(), replace_blanks=replace_blanks)


def _executemany(connection: Connection, statement: str, rows: Iterable[tuple[Any, ...]]) -> int:
    """The driver's executemany fed by an iterator (no list of a batch's tuples), in the caller's transaction."""
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(statement, rows)
        return int(cursor.rowcount)
    finally:
        cursor.close()


def insert_model_run(connection: Connection, values: dict[str, Any]) -> int:
    """Register a trained model; returns its id."""
    result = connection.execute(insert(model_runs).values(**values).returning(model_runs.c.id))
    return int(result.scalar_one())


def active_model_run(connection: Connection, turbine: str) -> dict[str, Any] | None:
    """The model predict uses for a turbine (its active one), or None."""
    stmt = select(model_runs).where(model_runs.c[TURBINE] == turbine, model_runs.c.active)
    row = connection.execute(stmt.order_by(model_runs.c.id.desc()).limit(1)).mappings().first()
    return dict(row) if row is not None else None


def set_active(connection: Connection, model_id: int, turbine: str, note: str | None = None) -> None:
    """Make a model its turbine's only active one."""
    others = model_runs.c[TURBINE] == turbine
    connection.execute(update(model_runs).where(others, model_runs.c.active).values(active=False))
    connection.execute(update(model_runs).where(model_runs.c.id == model_id).values(active=True, note=note))


def retire(connection: Connection, model_id: int, note: str) -> None:
    connection.execute(update(model_runs).where(model_runs.c.id == model_id).values(active=False, note=note))


def get_model_run(connection: Connection, model_id: int | None, turbine: str | None = None) -> dict[str, Any] | None:
    """A model_runs row by id, or the newest one (of a turbine, when given) when model_id is None."""
    stmt = select(model_runs)
    if model_id is not None:
        stmt = stmt.where(model_runs.c.id == model_id)
    else:
        if turbine is not None:
            stmt = stmt.where(model_runs.c[TURBINE] == turbine)
        stmt = stmt.order_by(model_runs.c.id.desc())
    row = connection.execute(stmt.limit(1)).mappings().first()
    return dict(row) if row is not None else None


def list_model_runs(connection: Connection, turbine: str | None = None) -> list[dict[str, Any]]:
    stmt = select(model_runs).order_by(model_runs.c.id)
    if turbine is not None:
        stmt = stmt.where(model_runs.c[TURBINE] == turbine)
    return [dict(row) for row in connection.execute(stmt).mappings()]


def unpredicted_among_newest(
    connection: Connection, raw: Table, predicted: Table, turbine: str, model_id: int, n: int
) -> int:
    """How many of a turbine's n newest rows have no prediction from the model: n index probes."""
    newest = (
        select(raw.c[TIMESTAMP].label("at")).where(raw.c[TURBINE] == turbine).order_by(raw.c[TIMESTAMP].desc()).limit(n)
    ).subquery()
    done = select(predicted.c.model_id).where(
        predicted.c.model_id == model_id, predicted.c[TURBINE] == turbine, predicted.c[TIMESTAMP] == newest.c.at
    )
    return int(connection.execute(select(func.count()).select_from(newest).where(~done.exists())).scalar_one())


def newest_timestamp(
    connection: Connection, table: Table, turbine: str, model_id: int | None = None
) -> datetime | None:
    """The newest instant of one turbine in a table (for predictions, of one model's predictions)."""
    stmt = select(func.max(table.c[TIMESTAMP])).where(table.c[TURBINE] == turbine)
    if model_id is not None:
        stmt = stmt.where(table.c.model_id == model_id)
    return connection.execute(stmt).scalar_one_or_none()


def sync_turbines(connection: Connection, configured: dict[str, dict[str, Any]], seen: Iterable[str] = ()) -> None:
    """Make the turbines table hold every configured turbine with its metadata, and every turbine seen in data.

    The config is the source of the metadata: its values replace the stored ones. A turbine only
    seen in data gets a row without metadata; a stored turbine is never deleted.
    """
    upsert = _dialect_insert(connection)
    for turbine_id, values in configured.items():
        statement = upsert(turbines).values({TURBINE: turbine_id, **values})
        key = [turbines.c[TURBINE]]
        connection.execute(
            statement.on_conflict_do_update(index_elements=key, set_={k: statement.excluded[k] for k in values})
            if values
            else statement.on_conflict_do_nothing(index_elements=key)
        )
    others = sorted(set(seen) - set(configured))
    if others:
        connection.execute(
            upsert(turbines).on_conflict_do_nothing(index_elements=[turbines.c[TURBINE]]),
            [{TURBINE: turbine_id} for turbine_id in others],
        )


def rated_powers(connection: Connection) -> dict[str, float]:
    """Rated power (kW) of each turbine that has one."""
    rated = turbines.c.rated_power_kw
    rows = connection.execute(select(turbines.c[TURBINE], rated).where(rated.is_not(None)))
    return {str(turbine_id): float(value) for turbine_id, value in rows}


def turbine_summary(connection: Connection, raw: Table, refused: Table) -> list[dict[str, Any]]:
    """Every turbine with its metadata, row count, first and last timestamp, and quarantined rows."""
    stored = (
        select(
            raw.c[TURBINE],
            func.count().label("rows"),
            func.min(raw.c[TIMESTAMP]).label("first"),
            func.max(raw.c[TIMESTAMP]).label("last"),
        )
        .group_by(raw.c[TURBINE])
        .subquery()
    )
    held = select(refused.c[TURBINE], func.count().label("quarantined")).group_by(refused.c[TURBINE]).subquery()
    statement = (
        select(
            turbines,
            func.coalesce(stored.c.rows, 0).label("rows"),
            stored.c["first"],
            stored.c["last"],
            func.coalesce(held.c.quarantined, 0).label("quarantined"),
        )
        .select_from(
            turbines.outerjoin(stored, stored.c[TURBINE] == turbines.c[TURBINE]).outerjoin(
                held, held.c[TURBINE] == turbines.c[TURBINE]
            )
        )
        .order_by(turbines.c[TURBINE])
    )
    return [dict(row) for row in connection.execute(statement).mappings()]


def predictions_with_actuals(connection: Connection, turbine: str, model_id: int) -> pd.DataFrame:
    """A model's stored predictions for a turbine, each with the actual Power and wind speed of its row
    (NaN until they arrive) and the Power of the turbine's previous row (persistence), oldest first."""
    import pandas as pd

    p, r, before = predictions, raw_data, raw_data.alias("before")
    previous = (
        select(before.c.Power)
        .where(before.c[TURBINE] == p.c[TURBINE], before.c[TIMESTAMP] < p.c[TIMESTAMP])
        .order_by(before.c[TIMESTAMP].desc())
        .limit(1)
        .scalar_subquery()
    )
    stamp = p.c[TIMESTAMP]
    stmt = (
        select(
            type_coerce(stamp, UtcTimestamp().load_dialect_impl(connection.dialect)).label(TIMESTAMP),
            p.c.predicted_power,
            r.c.Power.label("actual"),
            r.c.WindSpeed.label("wind_speed"),
            previous.label("previous_power"),
        )
        .select_from(p.outerjoin(r, and_(r.c[TURBINE] == p.c[TURBINE], r.c[TIMESTAMP] == stamp)))
        .where(p.c.model_id == model_id, p.c[TURBINE] == turbine)
        .order_by(stamp)
    )
    rows = connection.execute(stmt).all()
    frame = pd.DataFrame(rows, columns=[TIMESTAMP, "predicted_power", "actual", "wind_speed", "previous_power"])
    frame[TIMESTAMP] = _instants(connection, frame[TIMESTAMP])
    for name in ("predicted_power", "actual", "wind_speed", "previous_power"):
        frame[name] = frame[name].astype("float64")
    return frame.assign(turbine_id=turbine, model_id=model_id)


def _instants(connection: Connection, values: pd.Series) -> pd.Series:
    """Stored instants (epoch seconds on SQLite, timestamptz elsewhere) as datetime64[ns, UTC]."""
    import pandas as pd

    if connection.dialect.name == "sqlite":
        return from_epoch_seconds(values) if len(values) else pd.Series([], dtype="datetime64[ns, UTC]")
    return pd.to_datetime(values, utc=True).dt.as_unit("ns")


def store_evaluations(connection: Connection, rows: list[dict[str, Any]]) -> int:
    """Upsert evaluate's results on (turbine, model, window start, metric); unchanged values are not rewritten."""
    if not rows:
        return 0
    statement = _dialect_insert(connection)(evaluations)
    kept = ("window_end", "value", "alert")
    upsert = statement.on_conflict_do_update(
        index_elements=[evaluations.c[k] for k in (TURBINE, "model_id", "window_start", "metric")],
        set_={c: statement.excluded[c] for c in (*kept, "created_at")},
        where=or_(*(evaluations.c[c].is_distinct_from(statement.excluded[c]) for c in kept)),
    )
    connection.execute(upsert, rows)
    return len(rows)


@dataclass(frozen=True)
class TurbineFacts:
    newest_row: datetime | None
    slots_present: int
    quarantined: int
    newest_prediction: datetime | None
    waiting_for_actuals: int
    active: dict[str, Any] | None
    last_mae: float | None


def turbine_facts(connection: Connection, turbine: str, since: datetime, until: datetime) -> TurbineFacts:
    """What `status` judges for one turbine, as of `until`: index seeks and counts over the last day."""
    raw, held, made = raw_data, quarantine, predictions
    mine, up_to = raw.c[TURBINE] == turbine, raw.c[TIMESTAMP] <= until
    newest = connection.execute(select(func.max(raw.c[TIMESTAMP])).where(mine, up_to)).scalar_one_or_none()
    present = connection.execute(select(func.count()).where(mine, raw.c[TIMESTAMP] > since, up_to)).scalar_one()
    quarantined = connection.execute(
        select(func.count()).where(held.c[TURBINE] == turbine, held.c[TIMESTAMP] > since, held.c[TIMESTAMP] <= until)
    ).scalar_one()
    predicted = connection.execute(
        select(func.max(made.c[TIMESTAMP])).where(made.c[TURBINE] == turbine, made.c[TIMESTAMP] <= until)
    ).scalar_one_or_none()
    active = active_model_run(connection, turbine)
    waiting, last_mae = 0, None
    if active is not None:
        on_row = and_(raw.c[TURBINE] == made.c[TURBINE], raw.c[TIMESTAMP] == made.c[TIMESTAMP])
        waiting = connection.execute(
            select(func.count())
            .select_from(made.outerjoin(raw, on_row))
            .where(made.c.model_id == active["id"], made.c[TURBINE] == turbine, raw.c.Power.is_(None))
        ).scalar_one()
        last_mae = connection.execute(
            select(evaluations.c.value)
            .where(
                evaluations.c.model_id == active["id"], evaluations.c.metric == "mae", evaluations.c.value.is_not(None)
            )
            .order_by(evaluations.c.window_start.desc())
            .limit(1)
        ).scalar_one_or_none()
    return TurbineFacts(newest, int(present), int(quarantined), predicted, int(waiting), active, last_mae)
