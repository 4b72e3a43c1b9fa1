"""One ingest is one transaction: a kill -9 or Ctrl-C part-way leaves the database exactly as before."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datamgr.store.schema import SENSOR_COLUMNS
from tests.conftest import Project
from tests.test_smoke import DATAMGR

BIG_ROWS = 300_000
pytestmark = pytest.mark.sqlite_only  # PRAGMA integrity_check; PostgreSQL's transactions are tested elsewhere


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Rows after the sample history: ingest stages them in three batches before merging."""
    rng = np.random.default_rng(7)
    stamps = pd.date_range("2010-01-01", periods=BIG_ROWS, freq="10min", tz="UTC")
    frame = pd.DataFrame({"Timestamps": stamps, **{c: rng.uniform(1, 20, BIG_ROWS).round(3) for c in SENSOR_COLUMNS}})
    path = tmp_path_factory.mktemp("big") / "big.parquet"
    frame.to_parquet(path, index=False, row_group_size=50_000)
    return path


def start_ingest(project: Project, path: Path) -> subprocess.Popen[str]:
    """A real `datamgr --verbose ingest` whose debug lines say where it is."""
    assert DATAMGR
    return subprocess.Popen(
        [DATAMGR, "--verbose", "ingest", str(path)],
        cwd=project.root,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=os.environ,
    )


def wait_for(process: subprocess.Popen[str], marker: str) -> None:
    assert process.stderr is not None
    for line in process.stderr:
        if marker in line:
            return
    raise AssertionError(f"the ingest ended (exit {process.wait()}) before saying {marker!r}")


def integrity(project: Project) -> str:
    with sqlite3.connect(project.db_path) as connection:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])


@pytest.mark.parametrize(
    "marker",
    ["staged 100000 rows", "staged 200000 rows", "staged 300000 rows"],
    ids=["before-first-write", "after-one-batch-written", "after-two-batches-written"],
)
def test_kill_9_part_way_leaves_the_database_as_before(initialized: Project, big_file: Path, marker: str) -> None:
    before = initialized.snapshot()
    process = start_ingest(initialized, big_file)
    wait_for(process, marker)
    process.kill()
    assert process.wait(timeout=30) == -signal.SIGKILL
    assert integrity(initialized) == "ok"
    assert initialized.snapshot() == before

    again = subprocess.run(
        [str(DATAMGR), "ingest", str(big_file)], cwd=initialized.root, capture_output=True, text=True, env=os.environ
    )
    assert again.returncode == 0, again.stderr
    assert again.stderr.endswith(f"{BIG_ROWS} rows read, {BIG_ROWS} inserted, 0 updated, 0 unchanged\n")
    assert initialized.rows() == before["raw_data"][0] + BIG_ROWS
    assert integrity(initialized) == "ok"


def test_ctrl_c_rolls_back_with_exit_130(initialized: Project, big_file: Path) -> None:
    before = initialized.snapshot()
    process = start_ingest(initialized, big_file)
    wait_for(process, "staged 100000 rows")
    process.send_signal(signal.SIGINT)
    assert process.stderr is not None
    rest = process.stderr.read()
    assert process.wait(timeout=60) == 130
    assert rest.splitlines()[-1] == "Error: interrupted; the transaction was rolled back and nothing was written"
    assert initialized.snapshot() == before
    assert integrity(initialized) == "ok"
