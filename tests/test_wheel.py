"""A real package: the wheel, installed in a fresh virtual environment outside the repository, runs
the whole pipeline in a directory holding nothing but a config file and data files.

`make install` is editable, so without this test nothing would notice a file the wheel lacks (the
migrations, say). Building and installing takes about half a minute: the test is marked `wheel`,
left out of the main run, and run by `make test-wheel` (a step of .ci/run).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.conftest import SampleFiles
from tests.test_cron import CRON_ENV, make_scada_project

pytestmark = pytest.mark.wheel
REPO = Path(__file__).resolve().parents[1]
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".benchmarks", "data", "history_data"
)
BUDGET_S = 300  # building and installing, with dependencies from the package index's cache


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env or dict(os.environ), capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"{' '.join(map(str, args))}: {result.stderr}"
    return result


def test_wheel_installed_outside_the_repo_runs_the_pipeline(tmp_path: Path, sample_files: SampleFiles) -> None:
    started = time.monotonic()
    source = tmp_path / "source"  # a clean copy: stale build/ output must not leak into the wheel
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", source, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("datamgr-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (
        "datamgr/store/migrations/env.py",
        "datamgr/store/migrations/script.py.mako",
        "datamgr/store/migrations/versions/0001_raw_data_and_predictions.py",
        "datamgr/store/migrations/versions/0003_quarantine.py",
        "datamgr/store/migrations/versions/0004_turbines.py",
        "datamgr/store/migrations/versions/0005_monitoring.py",
    ):
        assert name in names

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    run(venv / "bin" / "python", "-m", "pip", "install", "-q", wheel, cwd=tmp_path)
    installed = run(venv / "bin" / "python", "-c", "import datamgr; print(datamgr.__file__)", cwd=tmp_path)
    assert installed.stdout.startswith(str(venv))
    assert time.monotonic() - started < BUDGET_S

    site = make_scada_project(tmp_path / "site", sample_files)
    datamgr = venv / "bin" / "datamgr"
    init = run(datamgr, "init-db", cwd=site, env=CRON_ENV)
    assert "init-db: schema migrated empty -> 0005_monitoring; loaded " in init.stderr
    run(datamgr, "ingest", "data/01_raw/inference_data.parquet", cwd=site, env=CRON_ENV)
    run(datamgr, "train", cwd=site, env=CRON_ENV)
    predicted = run(datamgr, "predict", "-n", "5", "-f", "csv", cwd=site, env=CRON_ENV)
    assert len(predicted.stdout.splitlines()) == 6
    assert (
        predicted.stderr.split(" INFO ")[1]
        == "predict: T01: model 1 -> predictions: 5 rows read, 5 inserted, 0 updated, 0 unchanged\n"
    )
    assert sorted(p.name for p in site.iterdir()) == ["config", "data", "history_data"]
    assert (site / "data" / "sqlite" / "app.db").is_file()
