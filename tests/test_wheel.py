"""A real package: the wheel, installed in a fresh virtual environment outside the repository, runs
the whole pipeline in a directory holding nothing but a config file and data files, and upgrades
a database an older datamgr left.

`make install` is editable, so without this test nothing would notice a file the wheel lacks (the
migrations, which live in the top-level migrations/ and ship as datamgr/migrations, say). Building
and installing takes about half a minute, once for the module: the tests are marked `wheel`, left
out of the main run, and run by `make test-wheel` (a step of .ci/run).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from datamgr.store.schema import SCHEMA_REVISION
from tests.conftest import SampleFiles
from tests.test_cron import CRON_ENV, make_scada_project

pytestmark = pytest.mark.wheel
REPO = Path(__file__).resolve().parents[1]
MIGRATIONS = REPO / "migrations"
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".benchmarks", "data", "history_data"
)
BUDGET_S = 300  # building and installing, with dependencies from the package index's cache
# The installed datamgr's script directory, and every file in it (relative to it).
LIST_MIGRATIONS = """
from datamgr.store.migrate import MIGRATIONS_DIR
print(MIGRATIONS_DIR)
for path in sorted(MIGRATIONS_DIR.rglob("*")):
    if path.is_file() and "__pycache__" not in path.parts:
        print(path.relative_to(MIGRATIONS_DIR).as_posix())
"""
# A database left at the first revision, as the oldest datamgr made it, by the installed datamgr's migrations.
AT_FIRST_REVISION = """
import sys
from datamgr.store.engine import make_engine, write_transaction
from datamgr.store.migrate import upgrade_to_head
with write_transaction(make_engine(sys.argv[1], create=True)) as connection:
    upgrade_to_head(connection, target="0001_initial")
"""


def repo_migrations() -> list[str]:
    """The files the wheel must ship in datamgr/migrations: the script directory and every revision in the repo."""
    revisions = sorted(path.name for path in (MIGRATIONS / "versions").glob("*.py"))
    assert "0001_raw_data_and_predictions.py" in revisions
    assert f"{SCHEMA_REVISION}.py" in revisions
    return ["env.py", "script.py.mako", *(f"versions/{name}" for name in revisions)]


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env or dict(os.environ), capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"{' '.join(map(str, args))}: {result.stderr}"
    return result


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    seconds: float  # building the wheel and installing it

    def bin(self, name: str) -> Path:
        return self.venv / "bin" / name


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel built from a clean copy of the repository, installed in a fresh virtual environment."""
    started = time.monotonic()
    folder = tmp_path_factory.mktemp("wheel")
    source = folder / "source"  # a clean copy: stale build/ output must not leak into the wheel
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", folder / "dist", source, cwd=folder)
    (wheel,) = (folder / "dist").glob("datamgr-*.whl")
    venv = folder / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=folder)
    run(venv / "bin" / "python", "-m", "pip", "install", "-q", wheel, cwd=folder)
    return Installed(wheel, venv, time.monotonic() - started)


def test_the_wheel_ships_every_migration_of_the_repo(installed: Installed, tmp_path: Path) -> None:
    shipped = repo_migrations()
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    assert [name for name in shipped if f"datamgr/migrations/{name}" not in names] == []
    listed = run(installed.bin("python"), "-c", LIST_MIGRATIONS, cwd=tmp_path).stdout.splitlines()
    assert listed[0].startswith(str(installed.venv)) and listed[0].endswith("/site-packages/datamgr/migrations")
    assert [name for name in shipped if name not in listed[1:]] == []


def test_wheel_installed_outside_the_repo_runs_the_pipeline(
    installed: Installed, tmp_path: Path, sample_files: SampleFiles
) -> None:
    found = run(installed.bin("python"), "-c", "import datamgr; print(datamgr.__file__)", cwd=tmp_path)
    assert found.stdout.startswith(str(installed.venv))
    assert installed.seconds < BUDGET_S

    site = make_scada_project(tmp_path / "site", sample_files)
    datamgr = installed.bin("datamgr")
    init = run(datamgr, "init-db", cwd=site, env=CRON_ENV)
    assert f"init-db: schema migrated empty -> {SCHEMA_REVISION}; loaded " in init.stderr
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


def test_wheel_installed_outside_the_repo_upgrades_an_old_database(
    installed: Installed, tmp_path: Path, sample_files: SampleFiles
) -> None:
    site = make_scada_project(tmp_path / "site", sample_files)
    db = site / "data" / "sqlite" / "app.db"
    run(installed.bin("python"), "-c", AT_FIRST_REVISION, f"sqlite:///{db}", cwd=tmp_path)
    upgraded = run(installed.bin("datamgr"), "init-db", cwd=site, env=CRON_ENV)
    assert f"init-db: schema migrated 0001_initial -> {SCHEMA_REVISION}; loaded " in upgraded.stderr
    again = run(installed.bin("datamgr"), "init-db", cwd=site, env=CRON_ENV)
    assert f"init-db: schema at {SCHEMA_REVISION}; " in again.stderr
