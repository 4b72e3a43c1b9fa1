"""The one timestamp module: everything lands in UTC, bad values are named with their rows."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pandas as pd
import pytest

from datamgr.errors import DataValidationError, QueryError
from datamgr.timestamps import format_iso_series, parse_instant, to_utc_series


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2007-07-29 03:10:00", datetime(2007, 7, 29, 3, 10, tzinfo=UTC)),
        ("2007-07-29T03:10:00Z", datetime(2007, 7, 29, 3, 10, tzinfo=UTC)),
        ("2007-07-29T05:10:00+02:00", datetime(2007, 7, 29, 3, 10, tzinfo=UTC)),
        ("2007-07-28T22:10:00-05:00", datetime(2007, 7, 29, 3, 10, tzinfo=UTC)),
        ("2007-07-29", datetime(2007, 7, 29, tzinfo=UTC)),
    ],
)
def test_parse_instant_lands_in_utc(text: str, expected: datetime) -> None:
    assert parse_instant(text) == expected


def test_parse_instant_naive_zone() -> None:
    assert parse_instant("2007-07-29 05:10", naive_zone="Europe/Madrid") == datetime(2007, 7, 29, 3, 10, tzinfo=UTC)


def test_parse_instant_refuses_nonsense() -> None:
    with pytest.raises(QueryError, match=r"^--end '2007-02-29' is not a valid timestamp"):
        parse_instant("2007-02-29", what="--end")


def test_series_with_mixed_offsets_and_naive_values() -> None:
    values = pd.Series(["2007-07-29T05:10:00+02:00", "2007-07-29 03:20:00", "2007-07-29T03:30:00Z"])
    result = to_utc_series(values, naive_zone="UTC", source="f.csv")
    assert list(format_iso_series(result)) == [
        "2007-07-29T03:10:00Z",
        "2007-07-29T03:20:00Z",
        "2007-07-29T03:30:00Z",
    ]


def test_series_of_pandas_datetimes() -> None:
    naive = pd.Series(pd.to_datetime(["2007-07-29 03:10"]))
    aware = naive.dt.tz_localize("Europe/Berlin")
    assert to_utc_series(naive, naive_zone="UTC", source="f").iloc[0] == pd.Timestamp("2007-07-29 03:10", tz="UTC")
    assert to_utc_series(aware, naive_zone="UTC", source="f").iloc[0] == pd.Timestamp("2007-07-29 01:10", tz="UTC")


def test_bad_values_are_named_with_rows() -> None:
    values = pd.Series(["2007-07-29 03:10", "2007-13-01 00:00", "tomorrow", "2007-07-29 03:30", "2007-02-30"])
    with pytest.raises(DataValidationError) as caught:
        to_utc_series(values, naive_zone="UTC", source="f.csv", row_offset=100)
    assert str(caught.value) == (
        "f.csv: column Timestamps: 3 value(s) are not valid timestamps at row 102 ('2007-13-01 00:00'), "
        "row 103 ('tomorrow'), row 105 ('2007-02-30'); use ISO 8601 with a date and at least hours:minutes, "
        "such as '2007-07-29 03:10:00' or '2007-07-29T03:10:00+02:00'"
    )


def test_dst_gap_in_naive_zone_is_refused() -> None:
    values = pd.Series(["2007-03-25 02:30:00"])  # does not exist in Madrid
    with pytest.raises(DataValidationError, match="ambiguous or do not exist in Europe/Madrid at row 1"):
        to_utc_series(values, naive_zone="Europe/Madrid", source="f.csv")


def arrow_text(values: list[str | None]) -> pd.Series:
    """A column as a CSV's arrives: text held by Arrow."""
    import pyarrow as pa

    return pa.table({"Timestamps": pa.array(values, pa.string())}).to_pandas()["Timestamps"]


@pytest.mark.parametrize(
    "values",
    [
        ["2008-01-01T00:00:00Z", "2008-02-29T23:59:59Z", "1999-12-31T12:30:05Z"],  # datamgr's own form: Arrow
        ["2008-01-01T00:00:00Z", "2008-01-01 00:10:00"],  # one value in another form: all take the general path
        ["2008-01-01T00:00:00Z", "2008-01-01T01:10:00+01:00"],
    ],
)
def test_arrow_text_lands_as_the_general_path_puts_it(values: list[str | None]) -> None:
    fast = to_utc_series(arrow_text(values), naive_zone="UTC", source="f.csv")
    general = to_utc_series(pd.Series(values, dtype=object), naive_zone="UTC", source="f.csv")
    assert fast.dtype == general.dtype == "datetime64[ns, UTC]"
    assert fast.tolist() == general.tolist()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        # Arrow's parser would roll these over into the next month or minute; they are refused.
        ("2007-02-29T00:00:00Z", "1 value(s) are not valid timestamps at row 2 ('2007-02-29T00:00:00Z')"),
        ("2008-01-01T00:00:60Z", "1 value(s) are not valid timestamps at row 2 ('2008-01-01T00:00:60Z')"),
        ("1600-01-01T00:00:00Z", "1 value(s) outside the range datamgr can store (1677-09-21 to 2262-04-11)"),
        (None, "1 empty value(s) at row 2 (nan); every row needs a timestamp"),
    ],
)
def test_arrow_text_that_is_no_instant_is_named(value: str | None, message: str) -> None:
    with pytest.raises(DataValidationError, match=re.escape(f"f.csv: column Timestamps: {message}")):
        to_utc_series(arrow_text(["2008-01-01T00:00:00Z", value]), naive_zone="UTC", source="f.csv")
