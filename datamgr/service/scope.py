"""What a command applies to: its table, its turbines, its time range; checked before any work."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Table

from datamgr.errors import NotFoundError, QueryError
from datamgr.settings import MAX_INT, Settings
from datamgr.store import reads
from datamgr.store.schema import TIME_SERIES_TABLES, time_series_table
from datamgr.store.turbines import known_turbines
from datamgr.timestamps import format_instant, parse_instant

SHOWN = 3  # how many rows a warning names


def listed(shown: list[str], total: int, limit: int = SHOWN) -> str:
    """`a, b, c and 4 more`."""
    more = total - min(len(shown), limit)
    return ", ".join(shown[:limit]) + (f" and {more} more" if more > 0 else "")


def table_named(settings: Settings, name: str | None, allowed: tuple[str, ...] = TIME_SERIES_TABLES) -> Table:
    """The --table asked for, or data_manager.raw_data_table_name; looked up in the schema, never formatted."""
    return time_series_table(name or settings.data_manager.raw_data_table_name, allowed)


def turbine_ids(connection: Connection, turbine: str | None) -> list[str]:
    """The turbine asked for (which must exist), or every turbine the store knows."""
    known = known_turbines(connection)
    if turbine is None:
        return known
    if turbine not in known:
        names = ", ".join(known[:10]) + (" …" if len(known) > 10 else "") if known else "none yet"
        raise NotFoundError(f"unknown turbine {turbine!r}; known: {names} (`datamgr turbines` lists them)")
    return [turbine]


def configured_turbines(settings: Settings) -> dict[str, dict[str, object]]:
    """The config's turbines section as table rows: only the metadata it gives."""
    return {turbine_id: meta.model_dump(exclude_none=True) for turbine_id, meta in settings.turbines.items()}


def check_count(name: str, n: int) -> None:
    """A count of rows must be positive and fit the database's integers: a usage error otherwise."""
    if n <= 0:
        raise QueryError(f"{name} must be a positive number of rows, got {n}")
    if n > MAX_INT:
        raise QueryError(f"{name} must be at most {MAX_INT} rows, got {n}")


def check_model_id(model_id: int, what: str = "") -> None:
    if not 0 < model_id <= MAX_INT:
        raise QueryError(f"{what}{model_id} is not a model id; `datamgr models` lists the trained ones")


def resolve_range(settings: Settings, start: str | None, end: str | None) -> tuple[datetime, datetime | None]:
    """The inclusive range asked for; None as the end means "up to the newest row".

    Neither given: training_pipeline's range. Only --start: up to the newest row. Only --end:
    from training_pipeline.start_timestamp. Start after end is a usage error.
    """
    zone = settings.data_manager.naive_timezone
    training = settings.training_pipeline
    start_at = parse_instant(start or training.start_timestamp, naive_zone=zone, what="--start")
    if start is not None and end is None:
        return start_at, None
    end_at = parse_instant(end or training.end_timestamp, naive_zone=zone, what="--end")
    if start_at > end_at:
        first = "--start" if start else "training_pipeline.start_timestamp"
        last = "--end" if end else "training_pipeline.end_timestamp"
        raise QueryError(f"{first} {format_instant(start_at)} is after {last} {format_instant(end_at)}")
    return start_at, end_at


def range_end(connection: Connection, table: Table, start_at: datetime, end_at: datetime | None) -> datetime:
    """The end of a range: as given, or the newest row of the table (the start when it is empty)."""
    if end_at is not None:
        return end_at
    return reads.latest_timestamp(connection, table) or start_at
