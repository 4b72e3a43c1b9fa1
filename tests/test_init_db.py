"""init-db reads the history file only when it loads it, leaves nothing behind when it fails, and
counts the history rows it quarantined."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from datamgr.store.schema import SCHEMA_REVISION
from tests.conftest import Invoke, Project
from tests.test_bad_input import text


def test_a_populated_database_needs_no_history_file(
    initialized: Project, cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATAMGR_DATA_MANAGER__HISTORY_DATA_PATH", "gone/history.parquet")
    before = initialized.snapshot()
    outcome = cli("init-db")
    rows = len(initialized.files.history_frame)
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stderr.endswith(
        f"INFO init-db: schema at {SCHEMA_REVISION}; history not loaded: raw_data already holds {rows} rows; "
        f"raw_data holds {rows} rows\n"
    )
    assert initialized.snapshot() == before


def truncated(path: Path, project: Project) -> None:
    path.write_bytes(project.files.history.read_bytes()[:5000])


BAD_HISTORY: list[tuple[str, Callable[[Path, Project], None] | None, str]] = [
    ("missing.parquet", None, "{path}: no such file"),
    ("truncated.parquet", truncated, "{path}: not a readable Parquet file"),
    (
        "words.csv",
        text("Timestamps,Power\n2007-07-01 00:00,1\n2007-07-01 00:10,lots\n"),
        "{path}: column Power: 1 non-numeric value(s) at row 2 ('lots')",
    ),
]


@pytest.mark.parametrize(("name", "make", "message"), BAD_HISTORY, ids=[name for name, _, _ in BAD_HISTORY])
def test_a_failed_init_db_leaves_nothing_behind(
    project: Project,
    cli: Invoke,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    make: Callable[[Path, Project], None] | None,
    message: str,
) -> None:
    history = project.root / name
    if make is not None:
        make(history, project)
    monkeypatch.setenv("DATAMGR_DATA_MANAGER__HISTORY_DATA_PATH", str(history))
    project.db_path.parent.parent.joinpath("keep").mkdir()  # a folder that existed before stays
    outcome = cli("init-db")
    assert outcome.exit_code == 1
    assert outcome.stderr.startswith("Error: " + message.format(path=history))
    if project.backend == "sqlite":
        assert not project.db_path.parent.exists()  # no file, not even the folder made for it
        assert sorted(p.name for p in project.root.iterdir()) == sorted(["keep", *([name] if make else [])])
    else:
        assert project.tables() == set()


@pytest.mark.sqlite_only
def test_a_failed_init_db_keeps_an_existing_folder_empty(
    project: Project, cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.db_path.parent.mkdir()
    monkeypatch.setenv("DATAMGR_DATA_MANAGER__HISTORY_DATA_PATH", str(project.root / "missing.parquet"))
    assert cli("init-db").exit_code == 1
    assert list(project.db_path.parent.iterdir()) == []


def test_init_db_reports_quarantined_history_rows_even_when_quiet(
    project: Project, cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = project.root / "history.csv"
    history.write_text(
        "Timestamps,WindSpeed,Power\n2007-07-01 00:00,5,300\n2007-07-01 00:10,-4,300\n2007-07-01 00:20,6,400\n"
    )
    monkeypatch.setenv("DATAMGR_DATA_MANAGER__HISTORY_DATA_PATH", str(history))
    outcome = cli("--quiet", "init-db")
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stderr.split(" ", 1)[1] == (
        f"WARNING init-db: schema migrated empty -> {SCHEMA_REVISION}; loaded 2 rows from {history}, 1 rows "
        "quarantined for impossible values (see `datamgr last-n 100 -t quarantine`); raw_data holds 2 rows\n"
    )
    assert (project.rows(), project.rows("quarantine")) == (2, 1)
