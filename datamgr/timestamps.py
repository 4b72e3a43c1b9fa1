"""The one place that parses, normalises (to UTC) and formats timestamps.

Every timestamp datamgr stores is a UTC instant. Naive values (no offset) are
read in the configured zone, UTC by default.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from datamgr.errors import ConfigError, DataValidationError, QueryError

if TYPE_CHECKING:
    import pandas as pd

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
EXAMPLE = "'2007-07-29 03:10:00' or '2007-07-29T03:10:00+02:00'"


def zone(name: str) -> ZoneInfo:
    """Look up an IANA time zone by name, as a config error if it does not exist."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"unknown time zone {name!r}; use an IANA name such as UTC or Europe/Madrid") from exc


def parse_instant(value: str | datetime, *, naive_zone: str = "UTC", what: str = "timestamp") -> datetime:
    """Parse one ISO 8601 timestamp (from an option or the config) into an aware UTC datetime.

    A naive time is read in naive_zone, and refused when that zone skips it or has it twice (a
    DST change), as ingest refuses such rows of a file: which instant is meant cannot be told.
    """
    if isinstance(value, datetime):
        parsed = value
    else:
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            raise QueryError(f"{what} {value!r} is not a valid timestamp; use ISO 8601 such as {EXAMPLE}") from None
    if parsed.tzinfo is None:
        shown = value if isinstance(value, str) else value.isoformat(sep=" ")
        parsed = _local_instant(parsed, naive_zone, f"{what} {shown!r}")
    return parsed.astimezone(UTC)


def _local_instant(naive: datetime, naive_zone: str, what: str) -> datetime:
    """A naive time in naive_zone, when it names exactly one instant there; `what` names the value."""
    local = zone(naive_zone)
    first, second = naive.replace(tzinfo=local, fold=0), naive.replace(tzinfo=local, fold=1)
    before, after = first.utcoffset(), second.utcoffset()
    if before == after:
        return first
    if first.astimezone(UTC).astimezone(local).replace(tzinfo=None) != naive:
        raise QueryError(
            f"{what} does not exist in {naive_zone} (the clocks skip it when they change); "
            f"give a time that exists there, or one with a UTC offset"
        )
    raise QueryError(
        f"{what} is ambiguous in {naive_zone} (the clocks show it twice, at {_offset(first)} and "
        f"{_offset(second)}); add the UTC offset you mean, such as '{naive.isoformat()}{_offset(first)}'"
    )


def _offset(moment: datetime) -> str:
    """A datetime's UTC offset as ISO 8601 writes it: +02:00."""
    return moment.isoformat()[-6:]


# A timestamp in a file: a date and hours:minutes at least, optional seconds (and fraction), and an
# optional offset written Z, ±HH:MM, ±HHMM or ±HH. Anything shorter is a cut or partial value.
_DATE_TIME = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
_OFFSET = r"(?:[zZ]|[+-]\d{2}(?::?\d{2})?)"
COMPLETE_TIMESTAMP = rf"{_DATE_TIME}(?: ?{_OFFSET})?"
_ENDS_WITH_OFFSET = rf"\d{{2}}:\d{{2}}(?::\d{{2}}(?:\.\d+)?)? ?{_OFFSET}$"
# What the store can hold: the instants of pandas' nanosecond timestamps, which every frame uses.
STORABLE_RANGE = "1677-09-21 to 2262-04-11"


def to_utc_series(
    values: pd.Series, *, naive_zone: str, source: str, row_offset: int = 0, require_offsets: bool = False
) -> pd.Series:
    """Normalise a column of timestamps (text or datetimes) to datetime64[ns, UTC].

    Column-wise: ISO text with or without offsets, mixed offsets and pandas datetimes are all
    accepted (naive ones only when offsets are not required). Empty, partial or unparseable
    values, and instants the store cannot hold, are reported with their row numbers.
    """
    import pandas as pd

    where = f"{source}: column Timestamps"
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values.dtype):
        _refuse_empty(values.isna(), values, where, row_offset)
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            return _in_store_range(values.dt.tz_convert("UTC"), values, where, row_offset)
        if require_offsets:
            raise DataValidationError(f"{where} has no time zone, and data_manager.require_offsets is true")
        within = _in_store_range(values.dt.tz_localize("UTC"), values, where, row_offset).dt.tz_localize(None)
        return _localize_naive(within, naive_zone, source, row_offset)

    own_form = _iso_utc_column(values)
    if own_form is not None:
        return _in_store_range(own_form, values, where, row_offset)
    text = values.astype("string").str.strip()
    _refuse_empty((text.isna() | (text == "")).fillna(True).astype(bool), values, where, row_offset)
    complete = text.str.fullmatch(COMPLETE_TIMESTAMP).fillna(False).astype(bool)
    has_offset = complete & text.str.contains(_ENDS_WITH_OFFSET, regex=True).fillna(False).astype(bool)
    naive = complete & ~has_offset
    if require_offsets and naive.any():
        raise DataValidationError(
            f"{where}: {int(naive.sum())} value(s) without a UTC offset at "
            f"{describe_rows(naive, values, row_offset)}; data_manager.require_offsets is true"
        )
    # Parsed at microseconds, which reach far beyond what the store holds, so that an instant out
    # of its range is named as such rather than overflowing.
    parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]")
    if has_offset.any():
        parsed[has_offset] = pd.to_datetime(text[has_offset], utc=True, errors="coerce", format="ISO8601")
    if naive.any():
        local = pd.to_datetime(text[naive], errors="coerce", format="ISO8601").astype("datetime64[us]")
        parsed[naive] = _localize_naive(local, naive_zone, source, row_offset, unit="us")
    bad = parsed.isna()
    if bad.any():
        raise DataValidationError(
            f"{where}: {int(bad.sum())} value(s) are not valid timestamps at "
            f"{describe_rows(bad, values, row_offset)}; use ISO 8601 with a date and at least hours:minutes, "
            f"such as {EXAMPLE}"
        )
    return _in_store_range(parsed, values, where, row_offset)


_ISO_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"  # ISO_FORMAT, exactly


def _iso_utc_column(values: pd.Series) -> pd.Series | None:
    """Text in datamgr's own form (ISO_FORMAT, as export and CSV output write it), parsed by Arrow in
    C rather than per value. None unless every value is in that form and a real instant: then the
    general path names what is wrong."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    if not isinstance(values.array, pd.arrays.ArrowStringArray) or values.empty:
        return None
    text = values.array._pa_array
    if text.null_count or not pc.all(pc.match_substring_regex(text, _ISO_UTC)).as_py():
        return None
    parsed = pc.strptime(text, format=ISO_FORMAT, unit="s", error_is_null=True)
    if parsed.null_count:
        return None
    # Arrow rolls 30 February over into March, and second 60 into the next minute; those are not instants.
    for part, first, stop in ((pc.day, 8, 10), (pc.second, 17, 19)):
        written = pc.cast(pc.utf8_slice_codeunits(text, first, stop), pa.int64())
        if not pc.all(pc.equal(part(parsed), written)).as_py():
            return None
    seconds = pc.cast(parsed, pa.int64()).to_numpy()
    return pd.Series(seconds.astype("datetime64[s]"), index=values.index).dt.tz_localize("UTC")


def _refuse_empty(missing: pd.Series, values: pd.Series, where: str, row_offset: int) -> None:
    """Every row needs a timestamp: empty text and nulls (NaT) alike are refused with their rows."""
    if missing.any():
        raise DataValidationError(
            f"{where}: {int(missing.sum())} empty value(s) at "
            f"{describe_rows(missing, values, row_offset)}; every row needs a timestamp"
        )


def _in_store_range(stamps: pd.Series, values: pd.Series, where: str, row_offset: int) -> pd.Series:
    """UTC datetimes as datetime64[ns, UTC]; instants outside what the store holds are refused with their rows."""
    import pandas as pd

    low, high = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")
    if stamps.dt.unit == "ns" or (low <= stamps.min() and stamps.max() <= high):
        return stamps.astype("datetime64[ns, UTC]")
    outside = (stamps < low) | (stamps > high)
    if outside.any():
        raise DataValidationError(
            out_of_range_message(where, int(outside.sum()), describe_rows(outside, values, row_offset))
        )
    return stamps.astype("datetime64[ns, UTC]")


def out_of_range_message(where: str, count: int, rows: str) -> str:
    """The one wording for instants the store cannot hold, whether found in Arrow or in pandas."""
    return f"{where}: {count} value(s) outside the range datamgr can store ({STORABLE_RANGE}) at {rows}; check the year"


def _localize_naive(values: pd.Series, naive_zone: str, source: str, row_offset: int, unit: str = "ns") -> pd.Series:
    """Read naive datetimes in the configured zone; a time that a DST change skips is an error."""
    if naive_zone == "UTC":
        return values.dt.tz_localize("UTC").astype(f"datetime64[{unit}, UTC]")
    localized = values.dt.tz_localize(zone(naive_zone), ambiguous="NaT", nonexistent="NaT")
    bad = localized.isna() & values.notna()
    if bad.any():
        raise DataValidationError(
            f"{source}: column Timestamps: {int(bad.sum())} naive value(s) are ambiguous or do not "
            f"exist in {naive_zone} at {describe_rows(bad, values, row_offset)}; add UTC offsets"
        )
    return localized.dt.tz_convert("UTC").astype(f"datetime64[{unit}, UTC]")


def describe_rows(mask: pd.Series, values: pd.Series, row_offset: int, limit: int = 3) -> str:
    """Name the first few flagged rows (1-based data rows, header not counted) and their values."""
    import numpy as np

    positions = np.flatnonzero(mask.to_numpy(dtype=bool))
    shown = [values.iloc[p] for p in positions[:limit]]
    return describe_positions(positions[:limit].tolist(), shown, len(positions), row_offset)


def describe_positions(positions: Sequence[int], shown: Sequence[object], total: int, row_offset: int) -> str:
    """`row 3 ('x'), row 7 ('y') and 5 more`: the first flagged rows by 0-based position in a batch."""
    plain = [value.item() if hasattr(value, "item") and hasattr(value, "dtype") else value for value in shown]
    text = ", ".join(f"row {row_offset + p + 1} ({value!r})" for p, value in zip(positions, plain, strict=True))
    more = total - len(positions)
    return text + (f" and {more} more" if more > 0 else "")


def format_iso_series(values: pd.Series) -> pd.Series:
    """Format UTC timestamps as ISO 8601 text with a Z, the form every text output uses."""
    return values.dt.tz_convert("UTC").dt.strftime(ISO_FORMAT)


def format_instant(value: datetime) -> str:
    """Format one aware datetime as ISO 8601 UTC text with a Z."""
    return value.astimezone(UTC).strftime(ISO_FORMAT)


def format_stored_instant(value: int | datetime) -> str:
    """Format a timestamp as the database returns it: epoch seconds (SQLite) or a datetime (PostgreSQL)."""
    if isinstance(value, datetime):
        return format_instant(value)
    return time.strftime(ISO_FORMAT, time.gmtime(value))


def to_epoch_seconds(values: pd.Series) -> pd.Series:
    """UTC datetimes as whole seconds since the epoch, whatever resolution pandas chose for them."""
    return values.dt.tz_convert("UTC").dt.as_unit("ns").astype("int64") // 10**9


def from_epoch_seconds(values: pd.Series) -> pd.Series:
    """Seconds since the epoch as datetime64[ns, UTC], the one resolution datamgr's frames use."""
    import pandas as pd

    return pd.to_datetime(values.astype("int64"), unit="s", utc=True).dt.as_unit("ns")
