"""SQLite's columnar upsert (store/bulk/sqlite.py) against the staging merge, which is the reference:
the same counts and the same table for every mix of turbines, duplicates, blanks and overlaps; and
its scratch files never outlive the transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from datamgr.store import bulk as writers
from datamgr.store import reads
from datamgr.store.engine import make_engine, read_connection, write_transaction
from datamgr.store.migrate import upgrade_to_head
from datamgr.store.schema import SENSOR_COLUMNS, raw_data
from datamgr.store.upsert import UpsertCounts


def migrated(path: Path) -> Engine:
    """A migrated database, its engine with no connection left from the migration (as a command
    starts: SQLite lists no temp schema until a temporary table is made)."""
    engine = make_engine(f"sqlite:///{path}", create=True)
    with write_transaction(engine) as connection:
        upgrade_to_head(connection)
    engine.dispose()
    return engine


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    """Two empty databases: one written through the bulk path, one through the staging merge."""
    bulk, staged = migrated(tmp_path / "bulk.db"), migrated(tmp_path / "staged.db")
    yield bulk, staged
    bulk.dispose()
    staged.dispose()


def scratch_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".staging-" in p.name)


def random_batches(seed: int, batches: int = 4, rows: int = 60) -> list[pd.DataFrame]:
    """Batches of three turbines, shuffled, with repeated keys within and across batches, and blanks."""
    rng = np.random.default_rng(seed)
    out: list[pd.DataFrame] = []
    for _ in range(batches):
        minutes = rng.integers(0, 40, rows) * 10
        turbines = rng.choice(["T01", "T02", "T03"], rows)
        values = {c: rng.integers(0, 4, rows).astype("float64") for c in ("Power", "WindSpeed", "Pitch")}
        for column in values.values():
            column[rng.random(rows) < 0.3] = np.nan
        stamps = pd.Timestamp("2008-01-01", tz="UTC") + pd.to_timedelta(minutes, unit="min")
        batch = pd.DataFrame({"turbine_id": turbines, "Timestamps": stamps.astype("datetime64[ns, UTC]"), **values})
        out.append(batch.set_axis(range(len(out) * rows, (len(out) + 1) * rows)))
    return out


def stored(engine: Engine) -> list[tuple[object, ...]]:
    with read_connection(engine) as connection:
        rows = reads.to_frame(reads.between(connection, raw_data, None, None))
    return [tuple(row) for row in rows.astype(object).where(rows.notna(), None).itertuples(index=False)]


@pytest.mark.parametrize("replace_blanks", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_the_bulk_path_counts_and_writes_exactly_as_the_staging_merge(
    pair: tuple[Engine, Engine], seed: int, replace_blanks: bool
) -> None:
    bulk, staged = pair
    first, second = random_batches(seed), random_batches(seed + 100)
    # The second file meets the first's rows (updates, blanks kept); the third pass repeats it (unchanged).
    seen = []
    for batches in (first, second, second):
        with write_transaction(bulk) as connection:
            assert writers.sqlite.usable(connection)
            ours = writers.upsert(connection, raw_data, batches.__iter__, replace_blanks=replace_blanks)
        with write_transaction(staged) as connection:
            reference = writers.upsert_frames(connection, raw_data, batches, replace_blanks=replace_blanks)
        assert ours.per_turbine == reference.per_turbine
        assert ours == reference
        seen.append(ours)
    assert seen[1].updated > 0 and seen[1].duplicates > 0 and seen[2].unchanged > 0
    assert replace_blanks or seen[1].blanks_kept > 0
    assert stored(bulk) == stored(staged)


def test_a_time_ordered_turbine_file_counts_inserts_updates_and_kept_blanks(pair: tuple[Engine, Engine]) -> None:
    bulk, _ = pair
    stamps = pd.date_range("2008-01-01", periods=1000, freq="10min", tz="UTC").astype("datetime64[ns, UTC]")
    values = {c: np.arange(1000, dtype="float64") for c in SENSOR_COLUMNS}
    full = pd.DataFrame({"turbine_id": "T01", "Timestamps": stamps, **values})
    with write_transaction(bulk) as connection:
        assert writers.upsert(connection, raw_data, lambda: iter([full[:500], full[500:]])) == UpsertCounts(
            rows_read=1000, inserted=1000
        )
    changed = full[900:].assign(Power=-1.0, Pitch=np.nan)  # 100 updated; 100 Pitch values kept
    with write_transaction(bulk) as connection:
        counts = writers.upsert(connection, raw_data, lambda: iter([changed]))
    assert counts == UpsertCounts(rows_read=100, updated=100, blanks_kept=100)


def test_scratch_files_go_with_the_transaction_committed_or_not(tmp_path: Path) -> None:
    engine = migrated(tmp_path / "db.sqlite")
    good = random_batches(1)

    def broken() -> Iterator[pd.DataFrame]:
        yield good[0]
        yield good[1]
        raise RuntimeError("the file broke off")

    with pytest.raises(RuntimeError, match="the file broke off"), write_transaction(engine) as connection:
        writers.upsert(connection, raw_data, broken)
    assert scratch_files(tmp_path) == []
    with read_connection(engine) as connection:
        assert reads.count_rows(connection, raw_data) == 0
        attached = [row[1] for row in connection.exec_driver_sql("PRAGMA database_list")]
    assert [name for name in attached if name.startswith("datamgr_staging")] == []

    with write_transaction(engine) as connection:
        counts = writers.upsert(connection, raw_data, lambda: iter(good))
        assert len(scratch_files(tmp_path)) == 1  # attached until the transaction ends, without a journal
    assert scratch_files(tmp_path) == []
    with read_connection(engine) as connection:
        assert reads.count_rows(connection, raw_data) == counts.inserted > 0
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    engine.dispose()


def test_more_files_in_one_transaction_than_sqlite_can_attach(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """SQLite attaches at most ten files to a connection; the files past that go through the
    staging merge, with the same exact counts. The scratch files of earlier files of the same
    transaction are not taken for leftovers."""
    caplog.set_level("INFO", logger="datamgr.store.bulk.sqlite")
    engine = migrated(tmp_path / "db.sqlite")
    limit = sqlite3.connect(":memory:").getlimit(sqlite3.SQLITE_LIMIT_ATTACHED)
    files = limit + 3
    stamps = pd.date_range("2008-01-01", periods=files * 10, freq="10min", tz="UTC").astype("datetime64[ns, UTC]")
    whole = pd.DataFrame({"turbine_id": "T01", "Timestamps": stamps, "Power": np.arange(files * 10, dtype=float)})
    bulk_taken = 0
    with write_transaction(engine) as connection:
        assert [row[1] for row in connection.exec_driver_sql("PRAGMA database_list")] == ["main"]
        for i in range(files):
            bulk_taken += writers.sqlite.usable(connection)
            part = whole[i * 10 : (i + 1) * 10]
            assert writers.upsert(connection, raw_data, [part].__iter__) == UpsertCounts(rows_read=10, inserted=10)
    assert bulk_taken == limit
    assert [r.getMessage() for r in caplog.records if "removing" in r.getMessage()] == []
    assert scratch_files(tmp_path) == []
    with read_connection(engine) as connection:
        assert list(reads.to_frame(reads.between(connection, raw_data, None, None)).Power) == list(whole.Power)
    engine.dispose()


def test_an_in_memory_database_takes_the_staging_merge(tmp_path: Path) -> None:
    engine = make_engine("sqlite://", create=True)
    with write_transaction(engine) as connection:
        upgrade_to_head(connection)
        assert not writers.sqlite.usable(connection)
        counts = writers.upsert(connection, raw_data, lambda: iter(random_batches(3)))
    assert counts.inserted > 0 and counts.duplicates > 0


def test_an_ingest_removes_the_scratch_files_a_killed_one_left(tmp_path: Path) -> None:
    engine = migrated(tmp_path / "db.sqlite")
    left = [tmp_path / ".db.sqlite.staging-999999-0badf00d", tmp_path / ".db.sqlite.staging-999999-0badf00d-journal"]
    other = tmp_path / ".other.sqlite.staging-999999-0badf00d"  # another database's: not ours to touch
    for path in [*left, other]:
        path.write_bytes(b"partial")
    with write_transaction(engine) as connection:
        assert writers.upsert(connection, raw_data, random_batches(2).__iter__).inserted > 0
    assert scratch_files(tmp_path) == [other.name]
    engine.dispose()


def test_no_room_for_the_scratch_file_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    """The installed command under a file-size limit (as a full disk refuses a write): the scratch
    file cannot grow, ingest says so in one line, and every table and file is as it was."""
    import resource
    import shutil
    import subprocess
    import sys

    datamgr = shutil.which("datamgr", path=str(Path(sys.executable).parent))
    assert datamgr is not None
    db = tmp_path / "db" / "app.db"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8", "DATAMGR_DB_URL": f"sqlite:///{db}"}
    created = subprocess.run([datamgr, "--quiet", "init-db", "--no-history"], env=env, capture_output=True, text=True)
    assert created.returncode == 0, created.stderr
    feed = tmp_path / "feed.parquet"
    stamps = pd.date_range("2008-01-01", periods=200_000, freq="10min", tz="UTC")
    values = {c: np.linspace(0, 1, len(stamps)) for c in SENSOR_COLUMNS}
    pd.DataFrame({"Timestamps": stamps, **values}).to_parquet(feed, index=False)
    before = {p.name: p.read_bytes() for p in db.parent.iterdir()}

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, 4 << 20))

    refused = subprocess.run(
        [datamgr, "--quiet", "ingest", str(feed)], env=env, capture_output=True, text=True, preexec_fn=limit_file_size
    )
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr.startswith(f"Error: cannot write ingest's scratch file {db.parent}/.app.db.staging-")
    assert refused.stderr.endswith(
        "; nothing was written; make room beside the database (it takes about the size of the rows ingested)\n"
    )
    assert refused.stderr.count("\n") == 1
    assert {p.name: p.read_bytes() for p in db.parent.iterdir()} == before


def test_ctrl_c_while_staging_is_an_interrupt_and_changes_nothing(tmp_path: Path) -> None:
    """SIGINT at any moment of a large ingest (the scratch file is written for most of it): exit 130
    with the one interrupt line, never a failed write; no rows, no scratch file left."""
    import shutil
    import signal
    import subprocess
    import sys
    import time

    datamgr = shutil.which("datamgr", path=str(Path(sys.executable).parent))
    assert datamgr is not None
    db = tmp_path / "db" / "app.db"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8", "DATAMGR_DB_URL": f"sqlite:///{db}"}
    assert subprocess.run([datamgr, "--quiet", "init-db", "--no-history"], env=env).returncode == 0
    feed = tmp_path / "farm.parquet"
    stamps = pd.date_range("2008-01-01", periods=50_000, freq="10min")
    turbines = [f"T{t:02d}" for t in range(30)]
    frame = pd.DataFrame(
        {
            "turbine_id": np.tile(turbines, len(stamps)),
            "Timestamps": np.repeat(stamps.to_numpy(), len(turbines)),
            **{c: np.linspace(0.0, 1.0, len(stamps) * len(turbines)) for c in SENSOR_COLUMNS},
        }
    )
    frame["Timestamps"] = frame["Timestamps"].dt.tz_localize("UTC")
    frame.to_parquet(feed, index=False, row_group_size=100_000)
    for delay in (1.0, 1.6, 2.2):
        process = subprocess.Popen(
            [datamgr, "--quiet", "ingest", str(feed)], env=env, stderr=subprocess.PIPE, text=True
        )
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
        assert (process.returncode, stderr) == (
            130,
            "Error: interrupted; the transaction was rolled back and nothing was written\n",
        ), delay
        assert scratch_files(db.parent) == []
    engine = make_engine(f"sqlite:///{db}")
    with read_connection(engine) as connection:
        assert reads.count_rows(connection, raw_data) == 0
    engine.dispose()

    # Started in the background by a shell, SIGINT is ignored: it must stay ignored while staging.
    def ignore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    process = subprocess.Popen(
        [datamgr, "--quiet", "ingest", str(feed)], env=env, stderr=subprocess.PIPE, text=True, preexec_fn=ignore_sigint
    )
    time.sleep(1.6)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert (process.returncode, stderr) == (0, "")
    with read_connection(engine) as connection:
        assert reads.count_rows(connection, raw_data) == len(frame)
    engine.dispose()
