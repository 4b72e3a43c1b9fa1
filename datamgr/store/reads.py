"""Reads: counts, the newest rows, a time range. Rows come out as Arrow tables (timestamps as
timestamp[ns, UTC], sensors float64, ids int64, text large_string), except `newest_rows`, which
`last-n` prints: plain Python values, because importing pyarrow would double its start-up.

A time range of a SQLite file is read columnar through ADBC (store/snapshot.py); everything else
through SQLAlchemy, whose fetched tuples are laid into Arrow buffers column by column. No pandas
here: `last-n` must start fast (pyarrow's array constructors import pandas, its buffers do not).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Connection, Engine, Row, Select, false, func, select, type_coerce

from datamgr.rows import Rows
from datamgr.store.engine import check_intact_once
from datamgr.store.schema import TIMESTAMP, TURBINE, UtcTimestamp, chronological
from datamgr.store.snapshot import Snapshot, reading

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from sqlalchemy import Table

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def count_rows(connection: Connection, table: Table) -> int:
    return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def latest_timestamp(connection: Connection, table: Table) -> datetime | None:
    return connection.execute(select(func.max(table.c[TIMESTAMP]))).scalar_one_or_none()


def newest_timestamp(
    connection: Connection, table: Table, turbine: str, model_id: int | None = None
) -> datetime | None:
    """The newest instant of one turbine in a table (for predictions, of one model's predictions)."""
    stmt = select(func.max(table.c[TIMESTAMP])).where(table.c[TURBINE] == turbine)
    if model_id is not None:
        stmt = stmt.where(table.c.model_id == model_id)
    return connection.execute(stmt).scalar_one_or_none()


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


def select_stored(connection: Connection, table: Table) -> Select[Any]:
    """Select every column, timestamps in their stored form so that they convert column-wise, not per row."""
    dialect = connection.dialect
    columns = [
        type_coerce(c, c.type.load_dialect_impl(dialect)).label(c.name) if isinstance(c.type, UtcTimestamp) else c
        for c in table.columns
    ]
    return select(*columns)


def last_n(connection: Connection, table: Table, n: int, turbine_ids: Sequence[str]) -> pa.Table:
    """The n most recent rows of each turbine, by turbine and then oldest first: one index seek each."""
    return to_arrow(table, _newest(connection, table, select_stored(connection, table), n, turbine_ids))


def newest_rows(connection: Connection, table: Table, n: int, turbine_ids: Sequence[str]) -> Rows:
    """`last_n` as plain Python values (timestamps as aware UTC datetimes), for `last-n` to print
    without importing pyarrow or numpy: half its start-up otherwise."""
    names = [c.name for c in table.columns]
    stamps = frozenset(c.name for c in table.columns if isinstance(c.type, UtcTimestamp))
    return Rows(names, [tuple(row) for row in _newest(connection, table, select(table), n, turbine_ids)], stamps)


def _newest(
    connection: Connection, table: Table, columns: Select[Any], n: int, turbine_ids: Sequence[str]
) -> list[Row[Any]]:
    rows: list[Row[Any]] = []
    newest_first = [c.desc() for c in chronological(table)]
    for turbine in turbine_ids:
        stmt = columns.where(table.c[TURBINE] == turbine).order_by(*newest_first).limit(n)
        rows += reversed(connection.execute(stmt).all())
    return rows


def between(
    connection: Connection,
    table: Table,
    start: datetime | None,
    end: datetime | None,
    turbine_ids: Sequence[str] | None = None,
) -> pa.Table:
    """Rows with start <= Timestamps <= end (either bound may be open), by turbine and then oldest
    first, through SQLAlchemy; turbine_ids=None reads every turbine."""
    stamp = table.c[TIMESTAMP]
    stmt = select_stored(connection, table)
    if turbine_ids is not None:
        stmt = stmt.where(table.c[TURBINE].in_(list(turbine_ids)) if turbine_ids else false())
    if start is not None:
        stmt = stmt.where(stamp >= start)
    if end is not None:
        stmt = stmt.where(stamp <= end)
    return to_arrow(table, connection.execute(stmt.order_by(table.c[TURBINE], *chronological(table))).all())


def rows_between(
    engine: Engine,
    table: Table,
    start: datetime | None,
    end: datetime | None,
    turbine_ids: Sequence[str] | None = None,
    *,
    quick_check: bool = True,
) -> pa.Table:
    """`between`, columnar from a SQLite file when that is safe (see store/snapshot.py), else through SQLAlchemy.

    With quick_check, a SQLite file is checked first, once per engine (train reads turbine by
    turbine and pays once); `range` leaves it out (docs/benchmarks.md says why).
    """
    if quick_check:
        check_intact_once(engine)
    with reading(engine) as source:
        if isinstance(source, Snapshot):
            return source.between(table, start, end, turbine_ids)
        return between(source, table, start, end, turbine_ids)


def batches_between(
    connection: Connection, table: Table, start: datetime, end: datetime, turbine: str, batch_rows: int
) -> Iterator[pa.Table]:
    """One turbine's rows in [start, end], oldest first, batch_rows at a time (keyset pages on the key)."""
    stamp = table.c[TIMESTAMP]
    after: datetime | None = None
    while True:
        stmt = select_stored(connection, table).where(table.c[TURBINE] == turbine, stamp <= end)
        stmt = stmt.where(stamp > after if after is not None else stamp >= start)
        page = to_arrow(table, connection.execute(stmt.order_by(stamp).limit(batch_rows)).all())
        if page.num_rows == 0:
            return
        yield page
        if page.num_rows < batch_rows:
            return
        last = page.column(TIMESTAMP)[-1].cast("int64").as_py()
        after = EPOCH + timedelta(microseconds=last // 1000)


def to_arrow(table: Table, rows: Sequence[Sequence[Any]]) -> pa.Table:
    """Fetched tuples (every column of `table`, timestamps in stored form) as an Arrow table."""
    return columns_to_arrow([(c.name, c) for c in table.columns], rows)


def columns_to_arrow(columns: Sequence[tuple[str, Column[Any]]], rows: Sequence[Sequence[Any]]) -> pa.Table:
    """Fetched tuples as an Arrow table: each value typed by its (name, column) (timestamps in stored form)."""
    import pyarrow as pa

    values = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    arrays = [_array(column, list(part)) for (_, column), part in zip(columns, values, strict=True)]
    return pa.Table.from_arrays(arrays, names=[name for name, _ in columns])


def _array(column: Column[Any], values: list[Any]) -> pa.Array:
    """One column's values in Arrow buffers (NULL as null), typed by the column."""
    import numpy as np
    import pyarrow as pa

    n = len(values)
    valid = np.fromiter((v is not None for v in values), dtype=bool, count=n)
    nulls = n - int(valid.sum())
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
    if isinstance(column.type, UtcTimestamp):
        if any(isinstance(v, datetime) for v in values):  # timestamptz: aware datetimes, microseconds
            ticks = [0 if v is None else (v - EPOCH) // MICROSECOND for v in values]
            unit = "us"
        else:  # SQLite: whole epoch seconds
            ticks, unit = [0 if v is None else v for v in values], "s"
        data = np.fromiter(ticks, dtype=np.int64, count=n)
        stamps = pa.Array.from_buffers(pa.timestamp(unit, tz="UTC"), n, [bitmap, pa.py_buffer(data)], nulls)
        return stamps.cast(pa.timestamp("ns", tz="UTC"))
    python_type = column.type.python_type
    if python_type is float:
        floats = np.fromiter((np.nan if v is None else v for v in values), dtype=np.float64, count=n)
        return pa.Array.from_buffers(pa.float64(), n, [bitmap, pa.py_buffer(floats)], nulls)
    if python_type is int:
        ints = np.fromiter((0 if v is None else v for v in values), dtype=np.int64, count=n)
        return pa.Array.from_buffers(pa.int64(), n, [bitmap, pa.py_buffer(ints)], nulls)
    if python_type is str:
        encoded = [b"" if v is None else str(v).encode() for v in values]
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.fromiter((len(b) for b in encoded), dtype=np.int64, count=n), out=offsets[1:])
        text = pa.py_buffer(b"".join(encoded))
        return pa.Array.from_buffers(pa.large_string(), n, [bitmap, pa.py_buffer(offsets), text], nulls)
    raise TypeError(f"column {column.name} of {column.type} has no Arrow form")


def to_frame(rows: pa.Table) -> pd.DataFrame:
    """An Arrow read as the pipelines' DataFrame: UTC timestamps, float sensors, ids as nullable Int64."""
    import pandas as pd
    import pyarrow as pa

    return rows.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
