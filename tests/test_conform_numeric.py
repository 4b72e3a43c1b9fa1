"""CSV columns arrive as Arrow text and are parsed by Arrow's cast; the pandas parser is the
reference, and remains the one that finds and names a bad value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from datamgr.conform import _arrow_numeric, _numeric

CLEAN = ["1.5", " 2 ", "", "-3.25", "+4", "1e3", ".5", "5.", "0", "  "]


def as_arrow_text(values: list[str | None]) -> pd.Series:
    series = pa.table({"v": pa.array(values, pa.string())}).to_pandas()["v"]
    assert isinstance(series.array, pd.arrays.ArrowStringArray)
    return series


def as_object_text(values: list[str | None]) -> pd.Series:
    return pd.Series(values, dtype=object)


@pytest.mark.parametrize(
    ("values", "decimal"),
    [
        (CLEAN, "."),
        ([*CLEAN, None], "."),
        (["1,5", " 2 ", "", "-3,25", "7"], ","),
    ],
)
def test_arrow_parses_clean_columns_as_pandas_does(values: list[str | None], decimal: str) -> None:
    fast = _arrow_numeric(as_arrow_text(values), decimal)
    assert fast is not None
    reference = _numeric(as_object_text(values), decimal)
    np.testing.assert_array_equal(fast[0].to_numpy(), reference[0].to_numpy())
    assert fast[1].tolist() == reference[1].tolist()
    assert fast[0].dtype == "float64" and fast[1].dtype == bool


@pytest.mark.parametrize(
    ("values", "decimal"),
    [
        (["1.5", "abc"], "."),
        (["1.5", "1,5"], "."),
        (["1,5", "2.5"], ","),  # a point under a comma separator is refused, not guessed
        (["12:00"], "."),
    ],
)
def test_a_value_arrow_cannot_parse_goes_to_the_pandas_path(values: list[str | None], decimal: str) -> None:
    assert _arrow_numeric(as_arrow_text(values), decimal) is None
    numbers, blank = _numeric(as_arrow_text(values), decimal)
    assert bool((numbers.isna() & ~blank).any())  # conform_batch refuses it, naming the row


def test_other_text_columns_are_left_to_pandas() -> None:
    assert _arrow_numeric(as_object_text(["1.5"]), ".") is None
