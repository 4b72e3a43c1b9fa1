"""Query results as plain Python values, without pandas or pyarrow: what `last-n` reads and every
command prints, so that `last-n` starts fast.

A `Rows` holds column names and tuples of plain values; timestamps are aware UTC datetimes as the
store returns them, or ISO 8601 UTC text once `displayed`. Arrow tables and DataFrames of the other
commands are turned into `Rows` for printing, so that there is one printing path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


@dataclass(frozen=True)
class Rows:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    timestamp_columns: frozenset[str] = field(default_factory=frozenset)

    def __len__(self) -> int:
        return len(self.rows)


def displayed(rows: Rows) -> Rows:
    """Timestamps as ISO 8601 UTC text (whole seconds), the one form every output shows."""
    from datetime import datetime

    from datamgr.timestamps import format_instant

    at = [i for i, name in enumerate(rows.columns) if name in rows.timestamp_columns]
    if not at:
        return rows

    def text(row: tuple[Any, ...]) -> tuple[Any, ...]:
        values = list(row)
        for i in at:
            if isinstance(values[i], datetime):
                values[i] = format_instant(values[i])
        return tuple(values)

    return Rows(rows.columns, [text(row) for row in rows.rows], rows.timestamp_columns)


def frame_to_rows(frame: pd.DataFrame) -> Rows:
    """Timestamps formatted column-wise; missing values as None."""
    from datamgr.timestamps import format_iso_series

    text = frame.copy()
    stamps = frozenset(str(c) for c in text.columns if str(text[c].dtype).startswith("datetime64"))
    for name in stamps:
        text[name] = format_iso_series(text[name])
    text = text.astype(object).where(text.notna(), None)
    return Rows([str(c) for c in text.columns], list(text.itertuples(index=False, name=None)), stamps)


def arrow_to_rows(table: pa.Table) -> Rows:
    """What `frame_to_rows` makes of the same rows as a DataFrame, straight from Arrow columns:
    timestamps as ISO 8601 UTC text (whole seconds, as stored), nulls as None."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from datamgr.timestamps import ISO_FORMAT

    columns, stamps = [], set()
    for column, values in zip(table.schema, table.columns, strict=True):
        if pa.types.is_timestamp(column.type):
            stamps.add(column.name)
            values = pc.strftime(values.cast(pa.timestamp("s", tz="UTC")), format=ISO_FORMAT)
        columns.append(values.to_pylist())
    rows = list(zip(*columns, strict=True)) if columns else []
    return Rows(list(table.column_names), rows, frozenset(stamps))


def rows_to_frame(rows: Rows) -> pd.DataFrame:
    """Back to a typed DataFrame (UTC timestamps, float sensors), for Parquet output."""
    import pandas as pd

    frame = pd.DataFrame(rows.rows, columns=rows.columns)
    for name in rows.timestamp_columns:
        frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601").dt.as_unit("ns")
    return frame
