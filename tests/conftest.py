"""Shared fixtures: a real SQLite file in tmp_path, real Parquet sample files, the real CLI."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from datamgr.cli import app
from datamgr.sample_data import generate

# A quarter of history and two weeks after it: big enough to train on, quick to load.
HISTORY_START, HISTORY_END = "2007-07-01 00:00:00", "2007-09-30 23:50:00"
INFERENCE_END = "2007-10-14 23:50:00"
TRAIN_START, TRAIN_END = "2007-07-15 00:00:00", "2007-09-15 00:00:00"


@dataclass(frozen=True)
class SampleFiles:
    history: Path
    inference: Path
    history_frame: pd.DataFrame
    inference_frame: pd.DataFrame


@pytest.fixture(scope="session")
def sample_files(tmp_path_factory: pytest.TempPathFactory) -> SampleFiles:
    folder = tmp_path_factory.mktemp("sample")
    frame = generate(HISTORY_START, INFERENCE_END)
    cut = pd.Timestamp(HISTORY_END, tz="UTC")
    history, inference = frame[frame.Timestamps <= cut], frame[frame.Timestamps > cut]
    history.to_parquet(folder / "history.parquet", index=False)
    inference.to_parquet(folder / "inference.parquet", index=False)
    return SampleFiles(
        folder / "history.parquet",
        folder / "inference.parquet",
        history.reset_index(drop=True),
        inference.reset_index(drop=True),
    )


@dataclass
class Project:
    """A working directory laid out like a datamgr checkout, with its own database."""

    root: Path
    db_path: Path
    files: SampleFiles

    def rows(self, table: str = "raw_data") -> int:
        with sqlite3.connect(self.db_path) as connection:
            return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def checksum(self, table: str = "raw_data") -> tuple[int, str]:
        """Row count and a digest of every row, to prove a failed command changed nothing."""
        with sqlite3.connect(self.db_path) as connection:
            rows = connection.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
        return len(rows), str(hash(tuple(rows)))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_files: SampleFiles) -> Project:
    for name in list(os.environ):
        if name.startswith("DATAMGR_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    db_path = tmp_path / "db" / "scada.db"
    monkeypatch.setenv("DATAMGR_DATA_MANAGER__DB_PATH", str(db_path))
    monkeypatch.setenv("DATAMGR_DATA_MANAGER__HISTORY_DATA_PATH", str(sample_files.history))
    monkeypatch.setenv("DATAMGR_TRAINING_PIPELINE__START_TIMESTAMP", TRAIN_START)
    monkeypatch.setenv("DATAMGR_TRAINING_PIPELINE__END_TIMESTAMP", TRAIN_END)
    monkeypatch.setenv("DATAMGR_TRAINING_PIPELINE__MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("DATAMGR_TRAINING_PIPELINE__PARAMS", '{"max_iter": 60, "random_state": 0}')
    return Project(tmp_path, db_path, sample_files)


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str


Invoke = Callable[..., Outcome]


@pytest.fixture
def cli() -> Invoke:
    """Run the Typer app in-process; stdout and stderr apart, as cron sees them."""
    runner = CliRunner()

    def invoke(*args: str) -> Outcome:
        result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        return Outcome(result.exit_code, result.stdout, result.stderr)

    return invoke


@pytest.fixture
def initialized(project: Project, cli: Invoke) -> Project:
    outcome = cli("init-db")
    assert outcome.exit_code == 0, outcome.stderr
    return project
