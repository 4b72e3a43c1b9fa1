"""Upsert semantics and reads, on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.pool import QueuePool

from datamgr.store import bulk, reads
from datamgr.store.engine import make_engine, read_connection, sqlite_path, write_transaction
from datamgr.store.migrate import upgrade_to_head
from datamgr.store.schema import raw_data
from datamgr.store.upsert import UpsertCounts
from tests.conftest import plain_engine, snapshot


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, create=True)
    with write_transaction(engine) as connection:
        upgrade_to_head(connection)
    yield engine
    engine.dispose()


def frame(minutes: list[int], power: list[float], turbine: str = "T01", **extra: list[float]) -> pd.DataFrame:
    stamps = pd.Series(pd.Timestamp("2008-01-01", tz="UTC") + pd.to_timedelta(minutes, unit="min"))
    return pd.DataFrame(
        {"turbine_id": turbine, "Timestamps": stamps.astype("datetime64[ns, UTC]"), "Power": power, **extra}
    )


@dataclass(frozen=True)
class Upsert:
    """One of the two write paths, with the same semantics: `upsert` (the backend's bulk path for
    a turbine-keyed table) and `upsert_frames` (always through a staging table)."""

    path: str

    def __call__(self, engine: Engine, *frames: pd.DataFrame, replace_blanks: bool = False) -> UpsertCounts:
        with write_transaction(engine) as connection:
            if self.path == "upsert":
                return bulk.upsert(connection, raw_data, lambda: iter(frames), replace_blanks=replace_blanks)
            return bulk.upsert_frames(connection, raw_data, frames, replace_blanks=replace_blanks)


@pytest.fixture(params=["upsert", "upsert_frames"])
def upsert(request: pytest.FixtureRequest) -> Upsert:
    return Upsert(str(request.param))


def test_insert_then_same_again_is_unchanged(engine: Engine, upsert: Upsert) -> None:
    data = frame([0, 10, 20], [1.0, 2.0, np.nan])
    assert upsert(engine, data) == UpsertCounts(rows_read=3, inserted=3)
    assert upsert(engine, data) == UpsertCounts(rows_read=3, unchanged=3)
    with read_connection(engine) as connection:
        assert reads.count_rows(connection, raw_data) == 3


def test_changed_row_is_updated_and_nan_to_value_counts_as_change(engine: Engine, upsert: Upsert) -> None:
    upsert(engine, frame([0, 10, 20], [1.0, 2.0, np.nan]))
    counts = upsert(engine, frame([0, 10, 20, 30], [1.0, 2.5, 3.0, 4.0]))
    assert counts == UpsertCounts(rows_read=4, inserted=1, updated=2, unchanged=1)
    with read_connection(engine) as connection:
        stored = reads.to_frame(reads.between(connection, raw_data, None, None))
    assert list(stored.Power) == [1.0, 2.5, 3.0, 4.0]


def test_duplicates_across_batches_collapse_to_the_last(engine: Engine, upsert: Upsert) -> None:
    counts = upsert(engine, frame([0, 10], [1.0, 2.0]), frame([10, 0], [20.0, 10.0]), frame([10], [200.0]))
    assert counts == UpsertCounts(rows_read=5, duplicates=3, inserted=2)
    with read_connection(engine) as connection:
        assert list(reads.to_frame(reads.between(connection, raw_data, None, None)).Power) == [10.0, 200.0]


def test_columns_a_file_lacks_keep_their_values(engine: Engine, upsert: Upsert) -> None:
    upsert(engine, frame([0], [1.0], WindSpeed=[7.0]))
    assert upsert(engine, frame([0], [5.0])) == UpsertCounts(rows_read=1, updated=1)
    with read_connection(engine) as connection:
        row = reads.to_frame(reads.between(connection, raw_data, None, None)).iloc[0]
    assert (row.Power, row.WindSpeed) == (5.0, 7.0)


def test_last_n_is_the_newest_oldest_first(engine: Engine, upsert: Upsert) -> None:
    upsert(engine, frame([30, 0, 20, 10, 40], [3.0, 0.0, 2.0, 1.0, 4.0]))
    with read_connection(engine) as connection:
        result = reads.to_frame(reads.last_n(connection, raw_data, 3, ["T01"]))
        everything = reads.to_frame(reads.last_n(connection, raw_data, 100, ["T01"]))
    assert list(result.Power) == [2.0, 3.0, 4.0]
    assert result.Timestamps.is_monotonic_increasing
    assert len(everything) == 5


def test_between_is_inclusive_and_chronological(engine: Engine, upsert: Upsert) -> None:
    upsert(engine, frame(list(range(0, 100, 10)), [float(i) for i in range(10)]))
    start, end = datetime(2008, 1, 1, 0, 20, tzinfo=UTC), datetime(2008, 1, 1, 0, 50, tzinfo=UTC)
    with read_connection(engine) as connection:
        result = reads.to_frame(reads.between(connection, raw_data, start, end))
        assert reads.latest_timestamp(connection, raw_data) == datetime(2008, 1, 1, 1, 30, tzinfo=UTC)
    assert list(result.Power) == [2.0, 3.0, 4.0, 5.0]
    assert result.Timestamps.iloc[0] == pd.Timestamp(start)
    assert str(result.Timestamps.dtype) == "datetime64[ns, UTC]"


def test_ordering_is_chronological_across_years_and_offsets(engine: Engine, upsert: Upsert) -> None:
    stamps = pd.Series(
        pd.to_datetime(["2010-01-01T00:00:00+05:00", "2009-12-31T20:00:00Z", "1999-06-01T00:00:00Z"], utc=True)
    )
    upsert(engine, pd.DataFrame({"turbine_id": "T01", "Timestamps": stamps, "Power": [3.0, 2.0, 1.0]}))
    with read_connection(engine) as connection:
        assert list(reads.to_frame(reads.last_n(connection, raw_data, 3, ["T01"])).Power) == [1.0, 3.0, 2.0]


def leftovers(engine: Engine, database_url: str) -> list[str]:
    """What an upsert may leave once its transaction is over, and must not: a scratch file beside the
    SQLite database, a staging table in the catalog of PostgreSQL (which lists every session's
    temporary tables), a file still attached to, or a temporary table kept by, the connection the
    upsert used."""
    found: list[str] = []
    database = sqlite_path(database_url)
    if database is not None:
        own = {database.name, *(f"{database.name}{suffix}" for suffix in ("-wal", "-shm", "-journal"))}
        found += sorted(f"file {p.name}" for p in database.parent.iterdir() if p.name not in own)
    else:
        catalog = plain_engine(database_url)
        with catalog.connect() as connection:
            names = connection.execute(text("SELECT relname FROM pg_class WHERE relname LIKE 'staging%'")).scalars()
            found += sorted(f"table {name}" for name in names)
        catalog.dispose()
    with engine.connect() as connection:
        # Used one after the other, the pool holds one connection: the one the upsert used.
        assert isinstance(engine.pool, QueuePool) and engine.pool.checkedin() == 0
        if database is not None:
            attached = [str(row[1]) for row in connection.exec_driver_sql("PRAGMA database_list")]
            found += [f"attached {name}" for name in attached if name not in ("main", "temp")]
            temporary = connection.exec_driver_sql("SELECT name FROM sqlite_temp_master WHERE type = 'table'")
            found += [f"temporary table {name}" for name in temporary.scalars()]
    return found


def test_a_failed_upsert_leaves_nothing(engine: Engine, upsert: Upsert, database_url: str) -> None:
    """On either write path, committed or not: no scratch file, staging table or attached file is
    left, and a failure changes no table."""
    assert upsert(engine, frame([0, 10], [1.0, 2.0])) == UpsertCounts(rows_read=2, inserted=2)
    assert leftovers(engine, database_url) == []
    before = snapshot(database_url)

    def batches() -> Iterator[pd.DataFrame]:
        yield frame([0, 20], [5.0, 3.0])  # a stored key (staged on every path) and a new one
        raise RuntimeError("file broke half-way")

    with pytest.raises(RuntimeError, match="file broke half-way"), write_transaction(engine) as connection:
        if upsert.path == "upsert":
            bulk.upsert(connection, raw_data, batches)
        else:
            bulk.upsert_frames(connection, raw_data, batches())
    assert leftovers(engine, database_url) == []
    assert snapshot(database_url) == before


def test_in_order_batches_then_an_overlapping_one_fall_back_with_exact_counts(engine: Engine, upsert: Upsert) -> None:
    upsert(engine, frame([0, 10], [1.0, 2.0]))
    counts = upsert(
        engine,
        frame([10, 20, 20], [2.0, 3.0, 3.5]),  # in order; a duplicate inside the batch
        frame([30, 40], [4.0, 5.0]),  # later, no overlap
        frame([0, 35], [9.0, 6.0]),  # reaches back: the whole file is redone through staging
    )
    assert counts == UpsertCounts(rows_read=7, duplicates=1, inserted=4, updated=1, unchanged=1)
    with read_connection(engine) as connection:
        assert list(reads.to_frame(reads.between(connection, raw_data, None, None)).Power) == [
            9.0,
            2.0,
            3.5,
            4.0,
            6.0,
            5.0,
        ]


def test_turbines_share_instants_and_keep_their_own_rows(engine: Engine, upsert: Upsert) -> None:
    farm = pd.concat([frame([0, 10, 20], [1.0, 2.0, 3.0], "T01"), frame([0, 10], [10.0, 20.0], "T02")])
    assert upsert(engine, farm.sort_values("Timestamps", kind="stable")) == UpsertCounts(rows_read=5, inserted=5)
    # Batches that are in time order for each turbine stay on the fast path; one key repeated is one duplicate.
    again = upsert(engine, frame([20, 30], [3.0, 4.0], "T01"), frame([10, 10, 20], [21.0, 22.0, 30.0], "T02"))
    assert again == UpsertCounts(rows_read=5, duplicates=1, inserted=2, updated=1, unchanged=1)
    with read_connection(engine) as connection:
        newest = reads.to_frame(reads.last_n(connection, raw_data, 2, ["T01", "T02"]))
        one = reads.to_frame(reads.between(connection, raw_data, None, None, ["T02"]))
    assert list(zip(newest.turbine_id, newest.Power, strict=True)) == [
        ("T01", 3.0),
        ("T01", 4.0),
        ("T02", 22.0),
        ("T02", 30.0),
    ]
    assert list(one.Power) == [10.0, 22.0, 30.0]


def test_a_turbine_reaching_back_redoes_the_file_with_exact_counts(engine: Engine, upsert: Upsert) -> None:
    counts = upsert(
        engine,
        frame([0, 10], [1.0, 2.0], "T01"),
        frame([0, 10], [5.0, 6.0], "T02"),  # another turbine at the same instants: no overlap
        frame([5], [1.5], "T01"),  # T01 reaches back into its own first batch
    )
    assert counts == UpsertCounts(rows_read=5, inserted=5)
    with read_connection(engine) as connection:
        stored = reads.to_frame(reads.between(connection, raw_data, None, None))
    assert list(zip(stored.turbine_id, stored.Power, strict=True)) == [
        ("T01", 1.0),
        ("T01", 1.5),
        ("T01", 2.0),
        ("T02", 5.0),
        ("T02", 6.0),
    ]


def test_backfill_batches_page_through_one_turbine(engine: Engine, upsert: Upsert) -> None:
    upsert(engine, frame(list(range(0, 70, 10)), [float(i) for i in range(7)], "T01"), frame([30], [9.0], "T02"))
    start, end = datetime(2008, 1, 1, 0, 10, tzinfo=UTC), datetime(2008, 1, 1, 0, 50, tzinfo=UTC)
    with read_connection(engine) as connection:
        pages = [reads.to_frame(p) for p in reads.batches_between(connection, raw_data, start, end, "T01", 2)]
    assert [list(page.Power) for page in pages] == [[1.0, 2.0], [3.0, 4.0], [5.0]]
