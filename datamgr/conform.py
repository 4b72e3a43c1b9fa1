"""Check and convert a batch read from a file into the exact columns and types of a table.

Column-wise throughout: a bad value is found with a vectorised mask, then reported with its
row number and value, so a broken file never reaches the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Table

from datamgr.columns import TIMESTAMP, TURBINE
from datamgr.errors import DataValidationError, QueryError
from datamgr.settings import TURBINE_ID_PATTERN
from datamgr.store.schema import TIME_SERIES_KEYS, UtcTimestamp
from datamgr.timestamps import describe_rows, to_utc_series

if TYPE_CHECKING:
    import pandas as pd

_PANDAS_INDEX = re.compile(r"^__index_level_\d+__$")
Limits = dict[str, tuple[float | None, float | None]]
GRID_SECONDS = 600  # SCADA's 10-minute grid: timestamps off it are counted, not refused
# The config's rule for a turbine id, applied to every source of one: files and `ingest --turbine`.
TURBINE_ID = re.compile(TURBINE_ID_PATTERN)
TURBINE_ID_RULE = "a turbine id is 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"


@dataclass(frozen=True)
class ConformedBatch:
    """The rows fit for the table, those refused for impossible values (with reason and row number),
    the columns left out with ignore_unknown, and how many timestamps are off the 10-minute grid."""

    rows: pd.DataFrame
    quarantined: pd.DataFrame
    ignored: tuple[str, ...] = ()
    off_grid: int = 0


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
    decimal: str = ".",
    power_ceilings: dict[str, float] | None = None,
) -> ConformedBatch:
    """Return the batch with the table's columns (those present), checked and typed.

    Key columns must be present, and at least one value column; other columns may be missing
    (they keep their stored values); unknown columns are an error unless ignore_unknown. A value
    that breaks the table's rules refuses the whole file; a value outside its physical limits
    sends only its row to quarantine. Text numbers use `decimal` as their decimal separator.
    power_ceilings (turbine -> kW) replace the upper Power limit for the turbines that have one.
    """
    import numpy as np
    import pandas as pd

    frame = frame.loc[:, [not _PANDAS_INDEX.match(str(c)) for c in frame.columns]]
    unknown = _names([str(c) for c in frame.columns if c not in table.c], frame)
    if unknown and not ignore_unknown:
        raise DataValidationError(
            f"{source}: unknown column(s) {', '.join(unknown)} for table {table.name}"
            f"{_did_you_mean(unknown, table)}; "
            "rename them or pass --ignore-unknown-columns"
        )
    key = TIME_SERIES_KEYS[table.name]
    missing = [k for k in key if k not in frame.columns]
    if missing:
        raise DataValidationError(f"{source}: no {', '.join(missing)} column; table {table.name} needs it")
    if not any(c in table.c and c not in key for c in frame.columns):
        raise DataValidationError(_no_value_column(source, table, unknown))

    out: dict[str, pd.Series] = {}
    off_grid = 0
    for column in table.columns:
        if column.name not in frame.columns:
            continue
        values = frame[column.name]
        where = f"{source}: column {column.name}"
        if isinstance(column.type, UtcTimestamp):
            stamps = to_utc_series(
                values, naive_zone=naive_zone, source=source, row_offset=row_offset, require_offsets=require_offsets
            )
            nanoseconds = stamps.astype("int64").to_numpy()
            fractional = nanoseconds % 10**9 != 0
            if fractional.any():
                raise DataValidationError(
                    f"{where}: sub-second timestamps at "
                    f"{describe_rows(pd.Series(fractional), values, row_offset)}; datamgr stores whole seconds"
                )
            if column.name == TIMESTAMP:
                off_grid = int(np.count_nonzero(nanoseconds % (GRID_SECONDS * 10**9)))
            out[column.name] = stamps
            continue
        if column.type.python_type is str:
            rule = TURBINE_ID if column.name == TURBINE else None
            out[column.name] = _identifiers(values, where, row_offset, getattr(column.type, "length", None), rule)
            continue
        numbers, blank = _numeric(values, decimal)
        bad = numbers.isna() & ~blank
        if bad.any():
            separator = f"; the decimal separator is {decimal!r} (see --decimal)" if decimal != "." else ""
            raise DataValidationError(
                f"{where}: {int(bad.sum())} non-numeric value(s) at {describe_rows(bad, values, row_offset)}{separator}"
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
    rows, quarantined = _split_impossible(conformed, limits or {}, power_ceilings or {}, source, row_offset)
    return ConformedBatch(rows, quarantined, tuple(unknown), off_grid)


def _names(names: list[str], frame: pd.DataFrame) -> list[str]:
    """Column names for messages; header cells left empty are named by their position."""
    empty = iter(i + 1 for i, column in enumerate(frame.columns) if not str(column).strip())
    return [name if name.strip() else f"(no name, column {next(empty)})" for name in names]


def _did_you_mean(names: list[str], table: Table) -> str:
    """` (did you mean Power, WindSpeed?)` for names that differ from the table's only in case."""
    by_lower = {column.name.lower(): column.name for column in table.columns}
    close = [by_lower[name.lower()] for name in names if name.lower() in by_lower]
    return f" (did you mean {', '.join(close)}?)" if close else ""


def _no_value_column(source: str, table: Table, ignored: list[str]) -> str:
    """A file that would load rows of nothing but keys: say what it had and what the table takes."""
    key = TIME_SERIES_KEYS[table.name]
    takes = ", ".join(c.name for c in table.columns if c.name not in key)
    if ignored:
        return (
            f"{source}: no value column left for table {table.name} once the unknown column(s) "
            f"{', '.join(ignored)} are ignored{_did_you_mean(ignored, table)}; "
            f"name the columns as the table does: {takes}"
        )
    return f"{source}: no value column, only {', '.join(key)}; table {table.name} takes {takes}"


def _split_impossible(
    frame: pd.DataFrame, limits: Limits, power_ceilings: dict[str, float], source: str, row_offset: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Move rows with a value outside its column's limits to a quarantine frame, with the reason."""
    import numpy as np
    import pandas as pd

    checks = []
    for name, (low, high) in limits.items():
        if name not in frame.columns:
            continue
        values = frame[name].to_numpy()
        if low is not None:
            checks.append((name, "below", np.full(len(frame), low), values < low))
        ceiling = np.full(len(frame), np.inf if high is None else high)
        if name == "Power" and power_ceilings and TURBINE in frame.columns:
            codes, turbines = pd.factorize(frame[TURBINE])  # a few turbines: look each up once
            own = np.array([power_ceilings.get(t, np.nan) for t in turbines], dtype="float64")[codes]
            ceiling = np.where(np.isnan(own), ceiling, own)
        if np.isfinite(ceiling).any():
            checks.append((name, "above", ceiling, values > ceiling))
    bad = np.zeros(len(frame), dtype=bool)
    for *_, mask in checks:
        bad |= mask
    if not bad.any():
        return frame, frame.iloc[0:0]
    positions = np.flatnonzero(bad)
    reasons = [
        "; ".join(f"{name}={frame[name].iat[p]} {side} {limit[p]}" for name, side, limit, mask in checks if mask[p])
        for p in positions
    ]
    quarantined = frame.iloc[positions].copy()
    quarantined.insert(0, "source", source)
    quarantined.insert(quarantined.columns.get_loc(TIMESTAMP) + 1, "row_number", positions + row_offset + 1)
    quarantined.insert(quarantined.columns.get_loc("row_number") + 1, "reason", reasons)
    return frame[~bad], quarantined


def _identifiers(
    values: pd.Series, where: str, row_offset: int, length: int | None, rule: re.Pattern[str] | None
) -> pd.Series:
    """A text key (turbine_id) exactly as written: text, never empty, never longer than the column
    holds, and following `rule` (turbine ids: the config's TURBINE_ID_PATTERN), so that no control
    character, invisible space, quote or NUL is stored, and " T01 " is refused rather than taken for
    T01, on every backend alike. A file holds a few turbines in many rows: each distinct value is
    checked once."""
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(values)
    distinct = np.asarray(uniques, dtype=object)

    def rows_of(flags: list[bool]) -> pd.Series:
        """The rows holding one of the flagged distinct values."""
        return pd.Series(np.isin(codes, np.flatnonzero(flags)), index=values.index)

    def refuse(rows: pd.Series, what: str, why: str) -> DataValidationError:
        named = describe_rows(rows, values, row_offset)
        return DataValidationError(f"{where}: {int(rows.sum())} {what} at {named}; {why}")

    texts = [isinstance(value, str) for value in distinct]
    blank = rows_of([text and not value.strip() for text, value in zip(texts, distinct, strict=True)]) | (codes < 0)
    if blank.any():
        raise refuse(blank, "empty value(s)", "every row needs one")
    if not all(texts):
        raise refuse(
            rows_of([not text for text in texts]), "value(s) that are not text", "write them as text, such as 'T01'"
        )
    if length is not None and any(len(value) > length for value in distinct):
        long = rows_of([len(value) > length for value in distinct])
        raise DataValidationError(
            f"{where}: longer than {length} characters at {describe_rows(long, values, row_offset)}"
        )
    if rule is not None and not all(rule.fullmatch(value) for value in distinct):
        raise refuse(
            rows_of([rule.fullmatch(value) is None for value in distinct]), "invalid turbine id(s)", TURBINE_ID_RULE
        )
    return pd.Series(distinct[codes], index=values.index, dtype=object)


def _numeric(values: pd.Series, decimal: str = ".") -> tuple[pd.Series, pd.Series]:
    """The column as float64, and which values were missing to begin with (NaN, empty text).

    With a comma decimal separator a point is not a decimal separator (nor a thousands one we
    could trust): such values come back as NaN, so that they are refused as non-numeric.
    """
    import pandas as pd

    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("float64"), values.isna()
    parsed = _arrow_numeric(values, decimal)
    if parsed is not None:
        return parsed
    text = values.astype("string").str.strip()
    blank = (text.isna() | (text == "")).fillna(True).astype(bool)
    if decimal != ".":
        foreign = text.str.contains(".", regex=False).fillna(False).astype(bool)
        text = text.str.replace(decimal, ".", regex=False).mask(foreign)
    return pd.to_numeric(text.mask(blank), errors="coerce").astype("float64"), blank


def _arrow_numeric(values: pd.Series, decimal: str) -> tuple[pd.Series, pd.Series] | None:
    """Text held by Arrow (a CSV's columns) parsed by Arrow's cast, in C: the common case of a clean
    column. None when a value does not parse (or a point meets a comma decimal separator): then
    the pandas path above finds and names it."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    if not isinstance(values.array, pd.arrays.ArrowStringArray):
        return None
    text = pc.utf8_trim_whitespace(values.array._pa_array)
    blank = pc.fill_null(pc.equal(text, ""), True)
    if decimal != ".":
        if pc.any(pc.match_substring(text, ".")).as_py():
            return None
        text = pc.replace_substring(text, decimal, ".")
    try:
        numbers = pc.cast(pc.if_else(blank, pa.scalar(None, pa.string()), text), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    as_series = pd.Series(numbers.to_numpy(), index=values.index, dtype="float64")
    return as_series, pd.Series(blank.to_numpy(), index=values.index, dtype=bool)


def map_columns(batch: pd.DataFrame, column_map: dict[str, str | None]) -> pd.DataFrame:
    """Node: vendor column names -> datamgr's (data_manager.column_map); a column mapped to null is dropped."""
    if not column_map:
        return batch
    dropped = [name for name in batch.columns if name in column_map and column_map[name] is None]
    renamed = {name: target for name in batch.columns if (target := column_map.get(name))}
    clashes = sorted(set(renamed.values()) & (set(batch.columns) - set(renamed)))
    if clashes:
        raise DataValidationError(
            f"data_manager.column_map maps a column onto {', '.join(clashes)}, which the file also has; "
            "map only one of them"
        )
    return batch.drop(columns=dropped).rename(columns=renamed)


def with_turbine(batch: pd.DataFrame, turbine: str) -> pd.DataFrame:
    """Node: rows of a file without a turbine_id column belong to one turbine (`ingest --turbine`,
    else the default turbine), which is refused unless it is a turbine id, whatever the file holds."""
    check_turbine_id(turbine, "--turbine")
    return batch if TURBINE in batch.columns else batch.assign(**{TURBINE: turbine})


def check_turbine_id(turbine: str, what: str) -> str:
    """A turbine id given as an option, checked by the config's rule (a usage error, exit 2)."""
    if TURBINE_ID.fullmatch(turbine) is None:
        raise QueryError(f"{what} {turbine!r} is not a turbine id; {TURBINE_ID_RULE}")
    return turbine
