"""Columnar reads of a SQLite file (store.snapshot): the same rows as the SQLAlchemy path, typed
from the table whatever the driver infers per batch, in one snapshot, never beside a sqlite3
connection of the same engine."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import Engine, insert

from datamgr.errors import DatabaseError
from datamgr.service.models import load_training_data_from_db
from datamgr.store import bulk, reads
from datamgr.store import snapshot as arrow_reads
from datamgr.store.engine import make_engine, read_connection, sqlite_path, write_transaction
from datamgr.store.migrate import upgrade_to_head
from datamgr.store.schema import SENSOR_COLUMNS, TIME_SERIES_TABLES, model_runs, predictions, quarantine, raw_data
from datamgr.store.snapshot import Snapshot
from tests.test_smoke import DATAMGR

pytestmark = pytest.mark.sqlite_only  # ADBC reads SQLite files only; PostgreSQL keeps the SQLAlchemy path

PAGE = 7  # rows per page in these tests: every blank run below spans several pages
ROWS = 40
START = pd.Timestamp("2008-01-01", tz="UTC")


def stored_frame(turbine: str, rows: int = ROWS) -> pd.DataFrame:
    """Rows of one turbine: Power blank for the first 3 pages then present, GenRPM blank throughout,
    WindSpeed present throughout, Pitch present then blank."""
    rng = np.random.default_rng(len(turbine) + ord(turbine[-1]))
    frame = pd.DataFrame(
        {
            "turbine_id": turbine,
            "Timestamps": pd.date_range(START, periods=rows, freq="10min", tz="UTC"),
            **{name: rng.uniform(0, 20, rows).round(3) for name in SENSOR_COLUMNS},
        }
    )
    frame.loc[: 3 * PAGE + 2, "Power"] = np.nan
    frame["GenRPM"] = np.nan
    frame.loc[PAGE:, "Pitch"] = np.nan
    return frame


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated SQLite file with two turbines, predictions of one model and quarantined rows."""
    engine = make_engine(database_url, create=True)
    with write_transaction(engine) as connection:
        upgrade_to_head(connection)
        bulk.upsert_frames(connection, raw_data, [stored_frame("T01"), stored_frame("T02", ROWS - 5)])
        at = START.to_pydatetime()
        connection.execute(
            insert(model_runs).values(
                id=1, turbine_id="T01", created_at=at, estimator="e", params={}, features=[], train_start=at,
                train_end=at, row_count=0, data_digest="d", metrics={}, artifact_path="a", artifact_sha256="s",
            )
        )  # fmt: skip
        stamps = pd.date_range(START, periods=20, freq="10min", tz="UTC").to_pydatetime()
        connection.execute(
            insert(predictions),
            [
                {"model_id": 1, "turbine_id": "T01", "Timestamps": s, "created_at": at, "predicted_power": p}
                for s, p in zip(stamps, [None] * 10 + [float(i) for i in range(10)], strict=True)
            ],
        )
        connection.execute(
            insert(quarantine),
            [
                {"source": src, "turbine_id": "T02", "Timestamps": s, "row_number": i, "reason": "Power < 0",
                 "created_at": at, "Power": -1.0 if i > 12 else None}
                for i, s in enumerate(stamps) for src in ("a.csv", "b.csv")
            ],
        )  # fmt: skip
    yield engine
    engine.dispose()


def read_both(
    engine: Engine, table_name: str, start: datetime | None, end: datetime | None, turbines: list[str] | None
) -> tuple[pa.Table, pa.Table]:
    table = {"raw_data": raw_data, "predictions": predictions, "quarantine": quarantine}[table_name]
    with arrow_reads.reading(engine, PAGE) as snapshot:
        assert isinstance(snapshot, Snapshot)
        columnar = snapshot.between(table, start, end, turbines)
    with read_connection(engine) as connection:
        expected = reads.between(connection, table, start, end, turbines)
    return columnar, expected


BOUNDS = [
    (None, None, None),
    (None, None, ["T02"]),
    (datetime(2008, 1, 1, 1, 0, tzinfo=UTC), datetime(2008, 1, 1, 5, 0, tzinfo=UTC), None),
    (
        datetime(2008, 1, 1, 1, 0, 0, 500_000, tzinfo=UTC),
        None,
        ["T01"],
    ),  # a fraction of a second, as SQLAlchemy binds it
    (datetime(2009, 1, 1, tzinfo=UTC), None, ["T01", "T02"]),  # nothing in range
]


@pytest.mark.parametrize("table_name", TIME_SERIES_TABLES)
@pytest.mark.parametrize(("start", "end", "turbines"), BOUNDS)
def test_pages_give_the_sqlalchemy_rows_and_types(
    engine: Engine, table_name: str, start: datetime | None, end: datetime | None, turbines: list[str] | None
) -> None:
    """Blank runs longer than a page (the driver types such a page int64 or null) and blank columns
    come out float64; every table, bound and turbine choice gives exactly the SQLAlchemy path's
    rows, in the same Arrow schema."""
    columnar, expected = read_both(engine, table_name, start, end, turbines)
    assert columnar.schema.equals(expected.schema), (columnar.schema, expected.schema)
    assert columnar.equals(expected)
    pd.testing.assert_frame_equal(reads.to_frame(columnar), reads.to_frame(expected))


def test_page_counts_and_blank_columns(engine: Engine) -> None:
    columnar, expected = read_both(engine, "raw_data", None, None, None)
    assert columnar.num_rows == 2 * ROWS - 5 == len(expected)
    assert columnar.schema.field("GenRPM").type == pa.float64()
    assert columnar.column("GenRPM").null_count == columnar.num_rows
    assert columnar.column("Power").null_count == 2 * (3 * PAGE + 3)
    assert str(columnar.schema.field("Timestamps").type) == "timestamp[ns, tz=UTC]"


def refused_by_the_driver(engine: Engine, sql: str, match: str) -> None:
    """Run one statement on a bare ADBC connection (batches of PAGE rows) and expect the driver's refusal."""
    path = sqlite_path(engine.url)
    assert path is not None
    engine.dispose()
    refused = pytest.raises(DatabaseError, match=match)
    with arrow_reads._adbc_connection(path, 5) as connection, refused, arrow_reads._driver_errors(path, 5):
        arrow_reads._run(connection, sql, [], PAGE)


def test_without_pages_the_driver_refuses_a_late_value(engine: Engine) -> None:
    """Why the pages exist: one batch smaller than a blank run fails in the driver, which pages avoid."""
    refused_by_the_driver(engine, "SELECT Power FROM raw_data ORDER BY turbine_id, Timestamps", "Type mismatch")


def test_training_load_is_the_same_frame(engine: Engine) -> None:
    start, end = datetime(2008, 1, 1, tzinfo=UTC), datetime(2008, 1, 1, 6, 0, tzinfo=UTC)
    columnar = load_training_data_from_db(engine, start, end, "T01")
    with read_connection(engine) as connection:
        expected = reads.to_frame(reads.between(connection, raw_data, start, end, ["T01"]))
    pd.testing.assert_frame_equal(columnar, expected)
    assert len(columnar) == 37


def test_no_sqlite3_connection_is_open_beside_adbc(engine: Engine) -> None:
    """The engine's idle connections are closed first, and none may open while ADBC is."""
    with read_connection(engine) as connection:
        reads.count_rows(connection, raw_data)
    assert engine.pool.checkedin() == 1  # type: ignore[attr-defined]
    with arrow_reads.reading(engine, PAGE) as snapshot:
        assert isinstance(snapshot, Snapshot)
        assert engine.pool.checkedin() == 0  # type: ignore[attr-defined]
        with pytest.raises(RuntimeError, match="while the ADBC snapshot is open"):
            engine.connect()
    with read_connection(engine) as connection:  # open again once ADBC is closed
        assert reads.count_rows(connection, raw_data) == 2 * ROWS - 5


def test_a_checked_out_connection_means_the_sqlalchemy_path(engine: Engine) -> None:
    with engine.connect() as held:
        with arrow_reads.reading(engine, PAGE) as source:
            assert source is not held
            assert not isinstance(source, Snapshot)
        rows = reads.rows_between(engine, raw_data, None, None, ["T01"])
        assert rows.num_rows == ROWS
        assert held.exec_driver_sql("SELECT count(*) FROM raw_data").scalar_one() == 2 * ROWS - 5


def test_a_missing_file_is_refused_and_never_created(tmp_path: Path) -> None:
    path = tmp_path / "gone.db"
    with pytest.raises(DatabaseError) as refused, arrow_reads._adbc_connection(path, 5):
        pass
    assert str(refused.value) == f"database file {path} does not exist; run `datamgr init-db` first"
    assert not path.exists()


def test_the_connection_is_read_only(engine: Engine) -> None:
    refused_by_the_driver(engine, "DELETE FROM raw_data", "readonly")
    with read_connection(engine) as connection:
        assert reads.count_rows(connection, raw_data) == 2 * ROWS - 5


def test_one_snapshot_while_another_process_writes(engine: Engine, tmp_path: Path) -> None:
    """A writer process commits rows inside the range while the snapshot is open: it is not blocked,
    the snapshot's later pages do not see them, the next snapshot does, and the file stays sound."""
    later = stored_frame("T01", ROWS + 30).iloc[ROWS:]
    feed = tmp_path / "later.parquet"
    later.to_parquet(feed, index=False)
    env = {"DATAMGR_CONFIG": "/dev/null", "DATAMGR_DB_URL": str(engine.url), "PATH": "/usr/bin:/bin"}
    assert DATAMGR
    with arrow_reads.reading(engine, PAGE) as snapshot:
        assert isinstance(snapshot, Snapshot)
        before = snapshot.between(raw_data, None, None, ["T01"])
        ingest = subprocess.run(
            [DATAMGR, "--quiet", "ingest", str(feed)], env=env, capture_output=True, text=True, timeout=120
        )
        assert (ingest.returncode, ingest.stderr) == (0, "")
        during = snapshot.between(raw_data, None, None, ["T01"])
    assert before.num_rows == during.num_rows == ROWS
    with arrow_reads.reading(engine, PAGE) as snapshot:
        assert isinstance(snapshot, Snapshot)
        assert snapshot.between(raw_data, None, None, ["T01"]).num_rows == ROWS + 30
    with read_connection(engine) as connection:
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
