"""last-n, range, export and turbines: rows out, as Arrow tables (frames only where pandas is cheap)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine, Table

from datamgr.rows import Rows
from datamgr.service.scope import check_count, range_end, resolve_range, table_named, turbine_ids
from datamgr.settings import Settings
from datamgr.store import reads
from datamgr.store.engine import read_connection
from datamgr.store.migrate import check_schema_current
from datamgr.store.schema import TURBINE, quarantine, raw_data
from datamgr.store.turbines import turbine_summary

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


def last_n(
    engine: Engine, settings: Settings, n: int, *, table_name: str | None = None, turbine: str | None = None
) -> Rows:
    """The n newest rows of one turbine, or of each turbine, oldest first (no pandas: a fast `last-n`)."""
    check_count("N", n)
    table = table_named(settings, table_name)
    with read_connection(engine) as connection:
        check_schema_current(connection)
        return reads.newest_rows(connection, table, n, turbine_ids(connection, turbine))


def time_range(
    engine: Engine,
    settings: Settings,
    start: str | None,
    end: str | None,
    *,
    table_name: str | None = None,
    turbine: str | None = None,
) -> pa.Table:
    """Rows between start and end inclusive, by turbine and then oldest first."""
    table = table_named(settings, table_name)
    start_at, end_at = resolve_range(settings, start, end)
    return rows_between(engine, table, start_at, end_at, turbine, quick_check=False)


def export_table(
    engine: Engine, settings: Settings, *, table_name: str | None = None, turbine: str | None = None
) -> pa.Table:
    """Every row of a table (or of one turbine), by turbine and then oldest first (for a Parquet snapshot)."""
    return rows_between(engine, table_named(settings, table_name), None, None, turbine, quick_check=True)


def rows_between(
    engine: Engine,
    table: Table,
    start_at: datetime | None,
    end_at: datetime | None,
    turbine: str | None,
    *,
    quick_check: bool,
) -> pa.Table:
    """The checks (schema, turbine, end of the range) on a SQLAlchemy connection, released before
    the rows are read (columnar from a SQLite file: see store/snapshot.py).

    `export` runs PRAGMA quick_check first: it costs a fraction of reading every row. `range` does
    not: on a large file the check costs more than a range (docs/benchmarks.md); a read that a
    damaged page cut short is still refused (store/snapshot.py), and `status` runs the check.
    """
    with read_connection(engine) as connection:
        check_schema_current(connection)
        chosen = None if turbine is None else turbine_ids(connection, turbine)
        last = end_at if start_at is None else range_end(connection, table, start_at, end_at)
    return reads.rows_between(engine, table, start_at, last, chosen, quick_check=quick_check)


TURBINE_LIST_COLUMNS = [
    TURBINE, "name", "rated_power_kw", "hub_height_m", "rotor_diameter_m", "rows", "first", "last", "quarantined",
]  # fmt: skip


def list_turbines(engine: Engine) -> pd.DataFrame:
    """Every turbine: its metadata, stored rows, first and last timestamp, and quarantined rows."""
    import pandas as pd

    with read_connection(engine) as connection:
        check_schema_current(connection)
        rows = turbine_summary(connection, raw_data, quarantine)
    frame = pd.DataFrame(rows, columns=TURBINE_LIST_COLUMNS)
    for name in ("first", "last"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame
