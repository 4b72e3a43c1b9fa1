"""Durations such as 30m, 2h, 1d, 7d: parsed once, for --window, --warn-after and --error-after."""

from __future__ import annotations

import re
from datetime import timedelta

from datamgr.errors import QueryError

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str, what: str) -> timedelta:
    """`7d` -> 7 days; a unit is required (s, m, h, d, w) and the amount must be positive."""
    match = _DURATION.match(text)
    if match is None or int(match.group(1)) == 0:
        raise QueryError(f"{what} {text!r} is not a duration; use a positive number and a unit, such as 30m, 2h or 7d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def format_duration(value: timedelta) -> str:
    """The largest whole unit that fits: 90 minutes -> 1h30m; for people, not for parsing back."""
    seconds = int(value.total_seconds())
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")) if n]
    return sign + ("".join(parts[:2]) or "0s")
