"""The one place that parses, normalises (to UTC) and formats timestamps.

Every timestamp datamgr stores is a UTC instant. Naive values (no offset) are
read in the configured zone, UTC by default.
"""

from __future__ import annotations

import time
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
    """Parse one ISO 8601 timestamp (from an option or the config) into an aware UTC datetime."""
    if isinstance(value, datetime):
        parsed = value
    else:
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            raise QueryError(f"{what} {value!r} is not a valid timestamp; use ISO 8601 such as {EXAMPLE}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone(naive_zone))
    return parsed.astimezone(UTC)


def to_utc_series(
    values: pd.Series, *, naive_zone: str, source: str, row_offset: int = 0, require_offsets: bool = False
) -> pd.Series:
    """Normalise a column of timestamps (text or datetimes) to datetime64[ns, UTC].

    Column-wise: ISO text with or without offsets, mixed offsets and pandas datetimes are all
    accepted (naive ones only when offsets are not required); values that do not parse are
    reported with their row numbers.
    """
    import pandas as pd

    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    if pd.api.types.is_datetime64_dtype(values.dtype):
        if require_offsets:
            raise DataValidationError(
                f"{source}: column Timestamps has no time zone, and data_manager.require_offsets is true"
            )
        return _localize_naive(values, naive_zone, source, row_offset).astype("datetime64[ns, UTC]")

    text = values.astype("string").str.strip()
    missing = text.isna() | (text == "")
    if missing.any():
        raise DataValidationError(
            f"{source}: column Timestamps: {int(missing.sum())} empty value(s) at "
            f"{describe_rows(missing, values, row_offset)}; every row needs a timestamp"
        )
    has_offset = text.str.contains(r"(?:[zZ]|[+-]\d\d:?\d\d)$", regex=True)
    if require_offsets and not has_offset.all():
        raise DataValidationError(
            f"{source}: column Timestamps: {int((~has_offset).sum())} value(s) without a UTC offset at "
            f"{describe_rows(~has_offset, values, row_offset)}; data_manager.require_offsets is true"
        )
    result = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    if has_offset.any():
        result[has_offset] = pd.to_datetime(text[has_offset], utc=True, errors="coerce", format="ISO8601")
    if (~has_offset).any():
        naive = pd.to_datetime(text[~has_offset], errors="coerce", format="ISO8601")
        result[~has_offset] = _localize_naive(naive, naive_zone, source, row_offset)
    bad = result.isna()
    if bad.any():
        raise DataValidationError(
            f"{source}: column Timestamps: {int(bad.sum())} value(s) are not valid timestamps at "
            f"{describe_rows(bad, values, row_offset)}; use ISO 8601 such as {EXAMPLE}"
        )
    return result


def _localize_naive(values: pd.Series, naive_zone: str, source: str, row_offset: int) -> pd.Series:
    """Read naive datetimes in the configured zone; a time that a DST change skips is an error."""
    if naive_zone == "UTC":
        return values.dt.tz_localize("UTC")
    localized = values.dt.tz_localize(zone(naive_zone), ambiguous="NaT", nonexistent="NaT")
    bad = localized.isna() & values.notna()
    if bad.any():
        raise DataValidationError(
            f"{source}: column Timestamps: {int(bad.sum())} naive value(s) are ambiguous or do not "
            f"exist in {naive_zone} at {describe_rows(bad, values, row_offset)}; add UTC offsets"
        )
    return localized.dt.tz_convert("UTC")


def describe_rows(mask: pd.Series, values: pd.Series, row_offset: int, limit: int = 3) -> str:
    """Name the first few flagged rows (1-based data rows, header not counted) and their values."""
    positions = [i for i, flagged in enumerate(mask.to_numpy()) if flagged][:limit]
    shown = ", ".join(f"row {row_offset + p + 1} ({values.iloc[p]!r})" for p in positions)
    more = int(mask.sum()) - len(positions)
    return shown + (f" and {more} more" if more > 0 else "")


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
