"""Check and convert a batch read from a file into the exact columns and types of a table.

Column-wise throughout: a bad value is found with a vectorised mask, then reported with its
row number and value, so a broken file never reaches the database.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sqlalchemy import Table

from datamgr.errors import DataValidationError
from datamgr.store.schema import TIME_SERIES_KEYS, UtcTimestamp
from datamgr.timestamps import describe_rows, to_utc_series

if TYPE_CHECKING:
    import pandas as pd

_PANDAS_INDEX = re.compile(r"^__index_level_\d+__$")


def conform_batch(
    frame: pd.DataFrame,
    table: Table,
    *,
    source: str,
    row_offset: int = 0,
    naive_zone: str = "UTC",
    ignore_unknown: bool = False,
) -> pd.DataFrame:
    """Return the batch with the table's columns (those present), checked and typed.

    Key columns must be present; other columns may be missing (they keep their stored values);
    unknown columns are an error unless ignore_unknown.
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
            stamps = to_utc_series(values, naive_zone=naive_zone, source=source, row_offset=row_offset)
            fractional = (stamps.astype("int64") % 10**9) != 0
            if fractional.any():
                raise DataValidationError(
                    f"{where}: sub-second timestamps at {describe_rows(fractional, values, row_offset)}; "
                    "datamgr stores whole seconds"
                )
            out[column.name] = stamps
            continue
        numbers = _numeric(values)
        blank = values.isna() | (values.astype("string").str.strip() == "")
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
    return pd.DataFrame(out, index=frame.index)


def _numeric(values: pd.Series) -> pd.Series:
    import pandas as pd

    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("float64")
    text = values.astype("string").str.strip()
    return pd.to_numeric(text.mask(text == ""), errors="coerce").astype("float64")
