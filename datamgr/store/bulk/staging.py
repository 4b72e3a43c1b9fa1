"""The staging merge: a temporary table shaped like the target, filled batch by batch, then one
set-based merge of the same INSERT … ON CONFLICT DO UPDATE … WHERE something changed.

It serves every write the columnar paths do not: composite keys (predictions, quarantine) and
in-memory SQLite. PostgreSQL's variant (binary COPY in, merge in passes) subclasses it in
bulk/postgres.py; bulk/__init__ picks one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    MetaData,
    Table,
    and_,
    case,
    delete,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    true,
)

from datamgr.store.schema import TIME_SERIES_KEYS, TURBINE, UtcTimestamp
from datamgr.store.upsert import (
    UpsertCounts,
    compared_columns,
    differs,
    index_labels,
    kept_under_blanks,
    on_conflict,
    totals,
)
from datamgr.timestamps import to_epoch_seconds

if TYPE_CHECKING:
    import pandas as pd

SEQ = "_seq"
ROW = "_row"

# Per turbine: staged rows, new ones, changed ones, stored values kept under blanks.
Tally = dict[str, tuple[int, int, int, int]]


class Staging:
    """A temporary table shaped like `table` (for the given columns), filled batch by batch.

    Each row keeps its arrival order (`_seq`, so that the last duplicate wins) and its frame's
    index label (`_row`, so that replaced duplicates can be named).
    """

    def __init__(
        self,
        connection: Connection,
        table: Table,
        columns: list[str],
        insert_for: Callable[[Table], Any],
        *,
        replace_blanks: bool = False,
    ) -> None:
        self.connection = connection
        self.table = table
        self.columns = columns
        self.insert_for = insert_for
        self.replace_blanks = replace_blanks
        self.key = list(TIME_SERIES_KEYS[table.name])
        self.compared = compared_columns(table, columns)
        self.staging = Table(
            f"staging_{table.name}",
            MetaData(),
            Column(SEQ, Integer, nullable=False),
            Column(ROW, BigInteger, nullable=False),
            *(Column(name, table.c[name].type) for name in columns),
            prefixes=["TEMPORARY"],
        )
        self.staging.create(connection)
        self.rows = 0

    def add(self, frame: pd.DataFrame) -> None:
        """Append a conformed batch, with its position so that the last duplicate wins."""
        if frame.empty:
            return
        self.write(frame, range(self.rows, self.rows + len(frame)), index_labels(frame))
        self.rows += len(frame)

    def write(self, frame: pd.DataFrame, sequence: range, labels: list[int]) -> None:
        """The driver's executemany fed by an iterator (no list of a batch's tuples), column-wise converted."""
        statement = str(insert(self.staging).compile(dialect=self.connection.dialect))
        columns: list[Any] = [sequence, labels, *(_driver_values(frame[c], self.table.c[c]) for c in self.columns)]
        cursor = self.connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(statement, zip(*columns, strict=True))
        finally:
            cursor.close()

    def merge(self, *, unique: bool = False) -> UpsertCounts:
        """Collapse duplicate keys to the last one (unless the caller already did: unique), merge
        into the table, count, and drop the staging table."""
        duplicates, first_duplicates = ({}, ()) if unique else self._collapse_duplicates()
        counted = self.merge_counted()
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

    def merge_counted(self) -> Tally:
        """Count with one outer join, then merge with one INSERT … ON CONFLICT."""
        counts = self.counts()
        rows = select(*(self.staging.c[c] for c in self.columns)).where(true())
        upsert = self.insert_for(self.table).from_select(self.columns, rows)
        self.connection.execute(on_conflict(upsert, self.table, self.columns, replace_blanks=self.replace_blanks))
        return counts

    def on_key(self) -> Any:
        return and_(*(self.table.c[k] == self.staging.c[k] for k in self.key))

    def counts(self) -> Tally:
        """Per turbine, before the merge: staged rows, new ones, changed ones, stored values kept under blanks."""
        s, t = self.staging, self.table
        turbine = s.c[TURBINE]
        changed = or_(false(), *(differs(t.c[c], s.c[c], self.replace_blanks) for c in self.compared))
        missing = t.c[self.key[0]].is_(None)
        kept = literal(0) if self.replace_blanks else kept_under_blanks(t, s, self.compared)
        counts = self.connection.execute(
            select(
                turbine,
                func.count(),
                func.coalesce(func.sum(case((missing, 1), else_=0)), 0),
                func.coalesce(func.sum(case((and_(~missing, changed), 1), else_=0)), 0),
                func.coalesce(func.sum(kept), 0),
            )
            .select_from(s.outerjoin(t, self.on_key()))
            .group_by(turbine)
        ).all()
        return {str(turbine_id): (int(a), int(b), int(c), int(d)) for turbine_id, a, b, c, d in counts}

    def _collapse_duplicates(self) -> tuple[dict[str, int], tuple[int, ...]]:
        """Delete all but the last staged row of each key; the count per turbine and the first row labels."""
        s = self.staging
        keep = select(func.max(s.c[SEQ])).group_by(*(s.c[k] for k in self.key))
        replaced = s.c[SEQ].not_in(keep)
        first = self.connection.execute(select(s.c[ROW]).where(replaced).order_by(s.c[SEQ]).limit(3)).scalars()
        first_duplicates = tuple(int(label) for label in first)
        if not first_duplicates:
            return {}, ()
        grouped = select(s.c[TURBINE], func.count()).where(replaced).group_by(s.c[TURBINE])
        duplicates = {str(t): int(n) for t, n in self.connection.execute(grouped)}
        self.connection.execute(delete(s).where(replaced))
        return duplicates, first_duplicates


def _driver_values(series: pd.Series, column: Column[Any]) -> list[Any]:
    """One column of a frame as sqlite3 values, converted column-wise (NaN becomes NULL)."""
    if isinstance(column.type, UtcTimestamp):
        seconds: list[Any] = to_epoch_seconds(series).tolist()
        return seconds
    values = series.to_numpy(dtype=object, na_value=None) if series.hasnans else series.to_numpy()
    return list(values.tolist())


def stage_frames(make: Callable[[list[str]], Staging], frames: Iterable[pd.DataFrame]) -> UpsertCounts:
    """Upsert conformed batches (all with the same columns) through one staging table and one merge."""
    staging: Staging | None = None
    for frame in frames:
        staging = staging or make(list(frame.columns))
        staging.add(frame)
    return staging.merge() if staging is not None else UpsertCounts()
