"""The dialect-neutral merge rules every writer follows, and the counts it reports.

A re-upsert of the same rows changes nothing (not even a write); among duplicate keys the last
one wins; a blank (NULL) in an update never erases a stored value: the statement sets
COALESCE(incoming, stored), and compares with that, unless blanks are asked to replace.
Provenance columns (when a prediction was made) are written along with a change, never a change
by themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Insert, Table, and_, case, false, func, literal, or_

from datamgr.store.schema import PROVENANCE_COLUMNS, TIME_SERIES_KEYS

if TYPE_CHECKING:
    import pandas as pd


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


def index_labels(frame: pd.DataFrame) -> list[int]:
    """The frame's row labels when they are integers (a file's row positions), else its positions:
    what a warning names for a replaced duplicate."""
    import pandas as pd

    if pd.api.types.is_integer_dtype(frame.index.dtype):
        return list(frame.index.tolist())
    return list(range(len(frame)))


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


def incoming_value(stored: Any, incoming: Any, replace_blanks: bool) -> Any:
    """The value an update writes: the incoming one, or the stored one where the incoming is blank."""
    return incoming if replace_blanks else func.coalesce(incoming, stored)


def differs(stored: Any, incoming: Any, replace_blanks: bool) -> Any:
    """Whether an update would change the stored value (a blank that keeps it is no change)."""
    return stored.is_distinct_from(incoming_value(stored, incoming, replace_blanks))


def on_conflict(upsert: Any, table: Table, columns: list[str], *, replace_blanks: bool = False) -> Insert:
    """ON CONFLICT on the table's key: update the given columns, but only where a compared value differs.

    `upsert` is the backend's INSERT (it carries `excluded`); see bulk.insert_for.
    """
    key = TIME_SERIES_KEYS[table.name]
    values = [c for c in columns if c not in key]
    if not values:
        return upsert.on_conflict_do_nothing(index_elements=[table.c[k] for k in key])
    return upsert.on_conflict_do_update(
        index_elements=[table.c[k] for k in key],
        set_={
            c: upsert.excluded[c]
            if c in PROVENANCE_COLUMNS
            else incoming_value(table.c[c], upsert.excluded[c], replace_blanks)
            for c in values
        },
        where=or_(
            false(),
            *(differs(table.c[c], upsert.excluded[c], replace_blanks) for c in compared_columns(table, columns)),
        ),
    )
