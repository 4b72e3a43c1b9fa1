"""A nightly retrain of unchanged data stores nothing: "model N is up to date" unless --force, and
`make run` a second time changes nothing at all."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Invoke, Project
from tests.test_cron import database_state

REPO = Path(__file__).resolve().parents[1]
UP_TO_DATE = (
    "train: T01: model {id} is up to date (same range, data digest, estimator and parameters); nothing trained; "
    "pass --force to train again\n"
)


def artifacts(project: Project) -> list[str]:
    return sorted(p.name for p in (project.root / "models").glob("*.skops"))


def test_train_again_on_the_same_data_is_up_to_date(initialized: Project, cli: Invoke) -> None:
    first = cli("train", "-f", "csv")
    assert first.exit_code == 0, first.stderr
    saved, before = artifacts(initialized), initialized.snapshot()
    again = cli("train", "-f", "csv")
    assert (again.exit_code, again.stdout) == (0, first.stdout)  # the same metrics, from the registry
    assert again.stderr.split(" INFO ")[1] == UP_TO_DATE.format(id=1)
    assert initialized.snapshot() == before
    assert artifacts(initialized) == saved

    forced = cli("train", "--force")
    assert forced.exit_code == 0
    assert "train: T01: model 2 saved to " in forced.stderr
    assert (initialized.rows("model_runs"), len(artifacts(initialized))) == (2, 2)


def test_new_data_in_the_range_or_new_parameters_train_again(
    initialized: Project, cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("train").exit_code == 0
    fix = initialized.root / "fix.csv"
    fix.write_text("Timestamps,Power\n2007-08-01 00:00,1234.5\n")  # inside the training range
    assert cli("ingest", fix).exit_code == 0
    assert "train: T01: model 2 saved to " in cli("train").stderr
    monkeypatch.setenv("DATAMGR_TRAINING_PIPELINE__PARAMS", '{"max_iter": 61, "random_state": 0}')
    assert "train: T01: model 3 saved to " in cli("train").stderr
    assert cli("train").stderr.split(" INFO ")[1] == UP_TO_DATE.format(id=3)
    later = initialized.root / "later.csv"
    later.write_text("Timestamps,Power\n2031-01-01 00:00,1\n")  # outside it: the model stays up to date
    assert cli("ingest", later).exit_code == 0
    assert cli("train").stderr.split(" INFO ")[1] == UP_TO_DATE.format(id=3)


def test_a_missing_artifact_is_not_up_to_date(initialized: Project, cli: Invoke) -> None:
    assert cli("train").exit_code == 0
    for name in artifacts(initialized):
        (initialized.root / "models" / name).unlink()
    assert "train: T01: model 2 saved to " in cli("train").stderr


@pytest.mark.slow
def test_make_run_twice_changes_nothing_the_second_time(tmp_path: Path) -> None:
    """The README's quick start in a copy of the project, with this virtual environment."""
    venv = Path(sys.executable).parent.parent
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    source = tmp_path / "project"
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache", "*.parquet"),
    )
    for folder in ("data/sqlite", "data/06_models", "data/prod_data"):
        shutil.rmtree(source / folder, ignore_errors=True)
    # Never let make reinstall into this environment from the copy: only run when it is up to date.
    if subprocess.run(["make", "-q", "install", f"VENV={venv}"], cwd=source).returncode != 0:
        pytest.skip(f"{venv} was not made by `make install` for this pyproject.toml")

    def make_run() -> str:
        result = subprocess.run(
            ["make", "run", f"VENV={venv}"], cwd=source, capture_output=True, text=True, timeout=600, env=os.environ
        )
        assert result.returncode == 0, result.stderr
        return result.stderr

    make_run()
    db = source / "data" / "sqlite" / "app.db"
    first = database_state(db)
    models = sorted((source / "data" / "06_models").iterdir())
    second = make_run()
    assert database_state(db) == first
    assert sorted((source / "data" / "06_models").iterdir()) == models
    assert UP_TO_DATE.format(id=1) in second
    assert "predict: T01: no new rows since the last prediction (2008-07-28T23:50:00Z)" in second
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT count(*) FROM model_runs").fetchone() == (1,)
