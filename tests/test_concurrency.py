"""Overlapping cron runs on one SQLite file: every process succeeds, no row is lost or duplicated."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

from datamgr.store.schema import SENSOR_COLUMNS
from tests.conftest import Project
from tests.test_smoke import DATAMGR

TIMEOUT_S = 240  # for the whole stress run; each process is bounded by it too


def launch(project: Project, *args: str) -> subprocess.Popen[str]:
    assert DATAMGR
    return subprocess.Popen(
        [DATAMGR, *args],
        cwd=project.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ,
    )


def finish(processes: list[subprocess.Popen[str]]) -> list[tuple[int, str]]:
    results = []
    for process in processes:
        try:
            _, err = process.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
        results.append((process.returncode, err))
    return results


def overlapping_files(folder: Path, count: int, rows: int, step: int) -> tuple[list[Path], int]:
    """`count` files of `rows` rows, each `step` rows after the previous; equal values where they overlap."""
    rng = np.random.default_rng(3)
    total = step * (count - 1) + rows
    stamps = pd.date_range("2012-01-01", periods=total, freq="10min", tz="UTC")
    frame = pd.DataFrame({"Timestamps": stamps, **{c: rng.uniform(1, 20, total).round(3) for c in SENSOR_COLUMNS}})
    paths = []
    for i in range(count):
        part = frame.iloc[i * step : i * step + rows]
        path = folder / f"feed_{i}.{'csv' if i % 2 else 'parquet'}"
        if i % 2:
            part.assign(Timestamps=part.Timestamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(path, index=False)
        else:
            part.to_parquet(path, index=False)
        paths.append(path)
    return paths, total


def test_parallel_writers_and_readers_all_succeed(initialized: Project) -> None:
    history_rows = initialized.rows()
    files, feed_rows = overlapping_files(initialized.root, count=6, rows=20_000, step=8_000)
    first_train = finish([launch(initialized, "train")])
    assert first_train[0][0] == 0, first_train[0][1]

    processes = [launch(initialized, "ingest", str(path)) for path in files]
    processes += [launch(initialized, "ingest", str(files[0]))]  # the same file twice at once
    processes += [launch(initialized, "predict", "--batch-size", "32") for _ in range(2)]
    processes += [launch(initialized, "train", "--force")]  # same range and data: only --force trains again
    processes += [launch(initialized, "last-n", "100") for _ in range(3)]
    processes += [launch(initialized, "range", "--start", "2012-01-01", "--end", "2012-02-01") for _ in range(2)]
    results = finish(processes)

    failures = [(code, err) for code, err in results if code != 0]
    assert failures == []
    count, distinct = initialized.sql('SELECT count(*), count(DISTINCT "Timestamps") FROM raw_data')[0]
    assert count == distinct == history_rows + feed_rows
    assert initialized.rows("model_runs") == 2
    if initialized.backend == "sqlite":
        assert initialized.sql("PRAGMA integrity_check") == [("ok",)]


def test_two_init_db_at_once_load_history_once(project: Project) -> None:
    results = finish([launch(project, "init-db") for _ in range(3)])
    assert [code for code, _ in results] == [0, 0, 0], results
    loaded = [err for _, err in results if "; loaded " in err]
    assert len(loaded) == 1
    assert project.rows() == len(project.files.history_frame)
    assert project.sql("SELECT version_num FROM alembic_version") == [("0005_monitoring",)]
