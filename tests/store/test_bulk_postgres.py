"""PostgreSQL's bulk path on the real server: binary COPY of every column type, new rows COPYed
straight into raw_data, stored time ranges through the staging merge, exact counts either way."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    event,
    select,
)

from datamgr.store import bulk, reads
from datamgr.store.bulk.postgres import copy_columns
from datamgr.store.engine import make_engine, read_connection, write_transaction
from datamgr.store.migrate import upgrade_to_head
from datamgr.store.schema import UtcTimestamp, raw_data
from datamgr.store.upsert import UpsertCounts
from tests.conftest import Invoke, Project
from tests.postgres_server import PostgresServer


@pytest.fixture
def engine(postgres_server: tuple[PostgresServer | None, str]) -> Iterator[Engine]:
    """A migrated database on the tests' PostgreSQL server."""
    server, reason = postgres_server
    if server is None:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    database = server.create_database()
    engine = make_engine(server.url(database), create=True)
    with write_transaction(engine) as connection:
        upgrade_to_head(connection)
    yield engine
    engine.dispose()
    server.drop_database(database)


@pytest.fixture
def statements(engine: Engine) -> list[str]:
    """Every statement the engine sends through SQLAlchemy (COPY goes through the driver and is not seen)."""
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, statement, *_: seen.append(statement))
    return seen


def stamps(*texts: str | None) -> pd.Series:
    return pd.Series(pd.to_datetime(list(texts), utc=True, format="ISO8601")).astype("datetime64[ns, UTC]")


def test_binary_copy_round_trips_every_column_type(engine: Engine) -> None:
    kinds = Table(
        "kinds",
        MetaData(),
        Column("text", String(50)),
        Column("int4", Integer),
        Column("int8", BigInteger),
        Column("int2", SmallInteger),
        Column("flag", Boolean),
        Column("real", Float),
        Column("at", UtcTimestamp()),
    )
    values: list[tuple[str, Any]] = [
        ("text", pd.Series(["Ä-Nord 7", "", None, "T01"], dtype=object)),
        ("int4", pd.array([2**31 - 1, -2, None, 0], dtype="Int64")),
        ("int8", np.array([2**40, -1, 0, 5], dtype=np.int64)),
        ("int2", range(4)),
        ("flag", pd.Series([True, False, None, True], dtype=object)),
        ("real", [1.5, np.nan, -0.25, 1e300]),
        ("at", stamps("1970-01-01T00:00:00Z", "1999-12-31T23:59:59.999999Z", None, "2031-06-01T12:10:00+02:00")),
    ]
    with write_transaction(engine) as connection:
        kinds.create(connection)
        copy_columns(connection, kinds, values)
        stored = connection.execute(select(kinds).order_by(kinds.c.int2)).all()
    assert [tuple(row) for row in stored] == [
        ("Ä-Nord 7", 2**31 - 1, 2**40, 0, True, 1.5, datetime(1970, 1, 1, tzinfo=UTC)),
        ("", -2, -1, 1, False, None, datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        (None, None, 0, 2, None, -0.25, None),
        ("T01", 0, 5, 3, True, 1e300, datetime(2031, 6, 1, 10, 10, tzinfo=UTC)),
    ]


def batch(turbine: str, minutes: list[int], power: list[float], wind: list[float]) -> pd.DataFrame:
    at = pd.Timestamp("2031-01-01", tz="UTC") + pd.to_timedelta(minutes, unit="min")
    return pd.DataFrame(
        {"turbine_id": turbine, "Timestamps": pd.Series(at).astype("datetime64[ns, UTC]"), "Power": power,
         "WindSpeed": wind}
    )  # fmt: skip


def upsert(engine: Engine, *frames: pd.DataFrame) -> UpsertCounts:
    with write_transaction(engine) as connection:
        return bulk.upsert(connection, raw_data, lambda: iter(frames))


def stored(engine: Engine) -> list[tuple[str, int, float | None, float | None]]:
    with read_connection(engine) as connection:
        rows = reads.to_frame(reads.between(connection, raw_data, None, None))
    minutes = (rows.Timestamps - pd.Timestamp("2031-01-01", tz="UTC")) // pd.Timedelta(minutes=1)
    power = [None if np.isnan(v) else v for v in rows.Power]
    wind = [None if np.isnan(v) else v for v in rows.WindSpeed]
    return list(zip(rows.turbine_id, minutes.tolist(), power, wind, strict=True))


def test_new_rows_are_copied_in_without_a_staging_table(engine: Engine, statements: list[str]) -> None:
    counts = upsert(
        engine,
        batch("T01", [0, 10, 10], [1.0, 2.0, 2.5], [5.0, np.nan, 6.0]),  # a duplicate: the last one wins
        batch("T02", [0, 10], [7.0, np.nan], [np.nan, 8.0]),
        batch("T01", [20], [3.0], [7.0]),
    )
    assert counts == UpsertCounts(rows_read=6, duplicates=1, inserted=5)
    assert counts.first_duplicates == (1,)
    assert dict(counts.per_turbine) == {
        "T01": UpsertCounts(rows_read=4, duplicates=1, inserted=3),
        "T02": UpsertCounts(rows_read=2, inserted=2),
    }
    assert not [s for s in statements if "staging_raw_data" in s]
    assert stored(engine) == [
        ("T01", 0, 1.0, 5.0),
        ("T01", 10, 2.5, 6.0),
        ("T01", 20, 3.0, 7.0),
        ("T02", 0, 7.0, None),
        ("T02", 10, None, 8.0),
    ]


def test_stored_ranges_go_through_the_merge_and_new_ones_straight_in(engine: Engine, statements: list[str]) -> None:
    upsert(engine, batch("T01", [0, 10, 20], [1.0, 2.0, 3.0], [5.0, 5.0, 5.0]))
    statements.clear()
    counts = upsert(
        engine,
        pd.concat(
            [
                batch("T01", [10, 20], [np.nan, 3.0], [6.0, 5.0]),  # stored: a blank keeps Power, one update
                batch("T02", [0, 10, 10], [7.0, 8.0, 9.0], [1.0, 1.0, 1.0]),  # new, with a duplicate
            ],
            ignore_index=True,
        ),
        batch("T01", [30, 40, 40], [4.0, 5.0, 5.5], [2.0, 2.0, 2.0]),  # new for T01, with a duplicate
    )
    assert counts == UpsertCounts(rows_read=8, duplicates=2, inserted=4, updated=1, unchanged=1, blanks_kept=1)
    assert dict(counts.per_turbine) == {
        "T01": UpsertCounts(rows_read=5, duplicates=1, inserted=2, updated=1, unchanged=1, blanks_kept=1),
        "T02": UpsertCounts(rows_read=3, duplicates=1, inserted=2),
    }
    assert len([s for s in statements if s.startswith("\nCREATE TEMPORARY TABLE staging_raw_data")]) == 1
    assert stored(engine) == [
        ("T01", 0, 1.0, 5.0),
        ("T01", 10, 2.0, 6.0),
        ("T01", 20, 3.0, 5.0),
        ("T01", 30, 4.0, 2.0),
        ("T01", 40, 5.5, 2.0),
        ("T02", 0, 7.0, 1.0),
        ("T02", 10, 9.0, 1.0),
    ]


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    import datamgr.files

    monkeypatch.setattr(datamgr.files, "BATCH_ROWS", 2)


QUARANTINED_FEED = (
    "Timestamps,WindSpeed,Power\n"
    "2031-01-01 00:00,5,300\n2031-01-01 00:10,-3,300\n"  # batch 1: one quarantined
    "2031-01-01 00:20,6,400\n2031-01-01 00:30,7,500\n"  # batch 2: both new
    "2031-01-01 00:40,8,9000\n2031-01-01 00:50,9,600\n"  # batch 3: one quarantined
)


def test_quarantined_rows_between_batches_of_new_rows(initialized: Project, cli: Invoke, small_batches: None) -> None:
    path = initialized.root / "feed.csv"
    path.write_text(QUARANTINED_FEED)
    outcome = cli("ingest", path)
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stderr.endswith(
        "6 rows read, 4 inserted, 0 updated, 0 unchanged, "
        "2 quarantined for impossible values (see `datamgr last-n 100 -t quarantine`)\n"
    )
    stamp = initialized.epoch('"Timestamps"')
    assert initialized.sql(f'SELECT "Power" FROM raw_data WHERE {stamp} >= 1924992000 ORDER BY 1') == [
        (300.0,),
        (400.0,),
        (500.0,),
        (600.0,),
    ]
    assert initialized.sql("SELECT row_number, reason FROM quarantine ORDER BY row_number") == [
        (2, "WindSpeed=-3.0 below 0.0"),
        (5, "Power=9000.0 above 2600.0"),
    ]


def test_a_bad_batch_after_new_rows_and_quarantine_changes_nothing(
    initialized: Project, cli: Invoke, small_batches: None
) -> None:
    path = initialized.root / "feed.csv"
    path.write_text(QUARANTINED_FEED + "2031-01-01 01:00,9,?\n")
    before = initialized.snapshot()
    outcome = cli("ingest", path)
    assert outcome.exit_code == 1
    assert outcome.stderr == f"Error: {path}: column Power: 1 non-numeric value(s) at row 7 ('?')\n"
    assert initialized.snapshot() == before
    assert cli("--quiet", "last-n", "1").exit_code == 0  # the connection pool is left usable
