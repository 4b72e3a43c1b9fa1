"""An init-db killed part-way leaves its unfinished copy of the database beside the target
(`.scada.db.PID.new`, its -wal and -shm, and the scratch files of its load); the next init-db or
ingest removes them, and only those of a process that has ended."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests import test_atomicity
from tests.conftest import Invoke, Project
from tests.test_atomicity import BIG_ROWS, wait_for
from tests.test_smoke import DATAMGR

pytestmark = pytest.mark.sqlite_only  # files beside a SQLite database
big_file = test_atomicity.big_file  # the kill -9 tests' file of 300,000 rows, in three batches


def killed_init_db(project: Project, history: Path) -> list[str]:
    """Start init-db on a big history file, kill -9 it once it is writing its staged rows; returns
    the names of the files it left in the database's folder."""
    assert DATAMGR
    env = {**os.environ, "DATAMGR_DATA_MANAGER__HISTORY_DATA_PATH": str(history)}
    process = subprocess.Popen(
        [DATAMGR, "--verbose", "init-db"], cwd=project.root, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(process, "staged 200000 rows")  # the first batch is in the scratch file by now
    finally:
        process.kill()
        assert process.wait(timeout=30) == -signal.SIGKILL
    assert process.stderr is not None
    process.stderr.close()
    left = sorted(path.name for path in project.db_path.parent.iterdir())
    pid = process.pid
    assert not project.db_path.exists()
    assert f".scada.db.{pid}.new" in left
    assert f".scada.db.{pid}.new-wal" in left
    assert any(name.startswith(f"..scada.db.{pid}.new.staging-{pid}-") for name in left), left
    return left


def besides_the_database(project: Project) -> list[str]:
    """What the folder holds apart from the database and SQLite's own -wal and -shm of it."""
    return sorted(p.name for p in project.db_path.parent.iterdir() if not p.name.startswith("scada.db"))


def test_the_next_init_db_removes_a_killed_init_db_s_files(
    project: Project, cli: Invoke, big_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    killed_init_db(project, big_file)
    monkeypatch.setenv("DATAMGR_DATA_MANAGER__HISTORY_DATA_PATH", str(big_file))
    outcome = cli("init-db")
    assert outcome.exit_code == 0, outcome.stderr
    assert besides_the_database(project) == []
    assert project.rows() == BIG_ROWS


def test_the_next_ingest_removes_a_killed_init_db_s_files(
    project: Project, cli: Invoke, big_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    left = killed_init_db(project, big_file)
    # the database comes back from elsewhere (a backup, another init-db's copy), not by init-db here
    elsewhere = tmp_path / "elsewhere" / "scada.db"
    monkeypatch.setenv("DATAMGR_DATA_MANAGER__DB_PATH", str(elsewhere))
    assert cli("init-db").exit_code == 0
    shutil.copyfile(elsewhere, project.db_path)
    monkeypatch.setenv("DATAMGR_DATA_MANAGER__DB_PATH", str(project.db_path))

    outcome = cli("ingest", project.files.inference)
    assert outcome.exit_code == 0, outcome.stderr
    assert besides_the_database(project) == []
    assert project.rows() == len(project.files.history_frame) + len(project.files.inference_frame)
    assert len(left) >= 3


def test_the_files_of_a_running_init_db_are_kept(project: Project, cli: Invoke) -> None:
    """Another init-db at work (here: a process that is alive) keeps its files; an ended one's go."""
    folder = project.db_path.parent
    folder.mkdir()
    alive = subprocess.Popen(["sleep", "60"])
    ended = subprocess.Popen(["true"])
    ended.wait()
    try:
        names = [f".scada.db.{{pid}}.new{suffix}" for suffix in ("", "-wal", "-shm")]
        names.append("..scada.db.{pid}.new.staging-{pid}-0123abcd")
        for pid in (alive.pid, ended.pid):
            for name in names:
                (folder / name.format(pid=pid)).write_bytes(b"")
        outcome = cli("init-db")
        assert outcome.exit_code == 0, outcome.stderr
        assert besides_the_database(project) == sorted(name.format(pid=alive.pid) for name in names)
    finally:
        alive.kill()
        alive.wait(timeout=10)
