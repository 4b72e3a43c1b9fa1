"""Check and convert a batch read from a file into the exact columns and types of a table.

Column-wise throughout: a bad value is found with a vectorised mask, then reported with its
row number and value, so a broken file never reaches the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Table

from datamgr.errors import DataValidationError
from datamgr.store.schema import TIME_SERIES_KEYS, TIMESTAMP, TURBINE, UtcTimestamp
from datamgr.timestamps import describe_rows, to_utc_series

if TYPE_CHECKING:
    import pandas as pd

_PANDAS_INDEX = re.compile(r"^__index_level_\d+__$")
Limits = dict[str, tuple[float | None, float | None]]


@dataclass(frozen=True)
class ConformedBatch:
    """The rows fit for the table, and those refused for impossible values (with reason and row number)."""

    rows: pd.DataFrame
    quarantined: pd.DataFrame


def conform_batch(
    frame: pd.DataFrame,
    table: Table,
    *,
    source: str,
    row_offset: int = 0,
    naive_zone: str = "UTC",
    require_offsets: bool = False,
    ignore_unknown: bool = False,
    limits: Limits | None = None,
    power_ceilings: dict[str, float] | None = None,
) -> ConformedBatch:
    """Return the batch with the table's columns (those present), checked and typed.

    Key columns must be present; other columns may be missing (they keep their stored values);
    unknown columns are an error unless ignore_unknown. A value that breaks the table's rules
    refuses the whole file; a value outside its physical limits sends only its row to quarantine.
    power_ceilings (turbine -> kW) replace the upper Power limit for the turbines that have one.
    """
    import numpy as np
    import pandas as pd

    frame = frame[[c for c in frame.columns if not _PANDAS_INDEX.match(str(c))]]
    unknown = [str(c) for c in frame.columns if c not in table.c]
    if unknown and not ignore_unknown:
        raise DataValidationError(
            f"{source}: unknown column(s) {', '.join(unknown)} for table {table.name}; "
            "rename them or pass --ignore-unknown-columns"
        )
    missing = [k for k in TIME_SERIES_KEYS[table.name] if k not in frame.columns]
    if missing:
        raise DataValidationError(f"{source}: no {', '.join(missing)} column; table {table.name} needs it")

    out: dict[str, pd.Series] = {}
    for column in table.columns:
        if column.name not in frame.columns:
            continue
        values = frame[column.name]
        where = f"{source}: column {column.name}"
        if isinstance(column.type, UtcTimestamp):
            stamps = to_utc_series(
                values, naive_zone=naive_zone, source=source, row_offset=row_offset, require_offsets=require_offsets
            )
            fractional = (stamps.astype("int64") % 10**9) != 0
            if fractional.any():
                raise DataValidationError(
                    f"{where}: sub-second timestamps at {describe_rows(fractional, values, row_offset)}; "
                    "datamgr stores whole seconds"
                )
            out[column.name] = stamps
            continue
        if column.type.python_type is str:
            out[column.name] = _identifiers(values, where, row_offset, getattr(column.type, "length", None))
            continue
        numbers, blank = _numeric(values)
        bad = numbers.isna() & ~blank
        if bad.any():
            raise DataValidationError(
                f"{where}: {int(bad.sum())} non-numeric value(s) at {describe_rows(bad, values, row_offset)}"
            )
        infinite = pd.Series(np.isinf(numbers.to_numpy(dtype="float64", na_value=np.nan)), index=values.index)
        if infinite.any():
            raise DataValidationError(
                f"{where}: {int(infinite.sum())} infinite value(s) at {describe_rows(infinite, values, row_offset)}"
            )
        if column.type.python_type is int:
            fraction = numbers.notna() & (numbers != numbers.round())
            if fraction.any() or (column.primary_key and blank.any()):
                flagged = fraction | (blank if column.primary_key else fraction)
                raise DataValidationError(
                    f"{where}: needs whole numbers; bad at {describe_rows(flagged, values, row_offset)}"
                )
            out[column.name] = numbers.astype("Int64")
        else:
            out[column.name] = numbers.astype("float64")
    conformed = pd.DataFrame(out, index=frame.index)
    return _split_impossible(conformed, limits or {}, power_ceilings or {}, source, row_offset)


def _split_impossible(
    frame: pd.DataFrame, limits: Limits, power_ceilings: dict[str, float], source: str, row_offset: int
) -> ConformedBatch:
    """Move rows with a value outside its column's limits to a quarantine frame, with the reason."""
    import numpy as np

    checks = []
    for name, (low, high) in limits.items():
        if name not in frame.columns:
            continue
        values = frame[name].to_numpy()
        if low is not None:
            checks.append((name, "below", np.full(len(frame), low), values < low))
        ceiling = np.full(len(frame), np.inf if high is None else high)
        if name == "Power" and power_ceilings and TURBINE in frame.columns:
            own = frame[TURBINE].map(power_ceilings).to_numpy(dtype="float64", na_value=np.nan)
            ceiling = np.where(np.isnan(own), ceiling, own)
        if np.isfinite(ceiling).any():
            checks.append((name, "above", ceiling, values > ceiling))
    bad = np.zeros(len(frame), dtype=bool)
    for *_, mask in checks:
        bad |= mask
    if not bad.any():
        return ConformedBatch(frame, frame.iloc[0:0])
    positions = np.flatnonzero(bad)
    reasons = [
        "; ".join(f"{name}={frame[name].iat[p]} {side} {limit[p]}" for name, side, limit, mask in checks if mask[p])
        for p in positions
    ]
    quarantined = frame.iloc[positions].copy()
    quarantined.insert(0, "source", source)
    quarantined.insert(quarantined.columns.get_loc(TIMESTAMP) + 1, "row_number", positions + row_offset + 1)
    quarantined.insert(quarantined.columns.get_loc("row_number") + 1, "reason", reasons)
    return ConformedBatch(frame[~bad], quarantined)


def _identifiers(values: pd.Series, where: str, row_offset: int, length: int | None) -> pd.Series:
    """A text key (turbine_id) as stripped strings: never empty, never longer than the column holds."""
    text = values.astype("string").str.strip()
    blank = (text.isna() | (text == "")).fillna(True).astype(bool)
    if blank.any():
        raise DataValidationError(
            f"{where}: {int(blank.sum())} empty value(s) at {describe_rows(blank, values, row_offset)}; "
            "every row needs one"
        )
    if length is not None:
        long = (text.str.len() > length).fillna(False).astype(bool)
        if long.any():
            raise DataValidationError(
                f"{where}: longer than {length} characters at {describe_rows(long, values, row_offset)}"
            )
    return text.astype(object)


def _numeric(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The column as float64, and which values were missing to begin with (NaN, empty text)."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("float64"), values.isna()
    text = values.astype("string").str.strip()
    blank = (text.isna() | (text == "")).fillna(True).astype(bool)
    return pd.to_numeric(text.mask(blank), errors="coerce").astype("float64"), blank
