"""A damaged SQLite file is noticed: no command reports part of its rows, or writes into it, as if all
were well. Each refusal is one `Error:` line naming the file and what to do, and leaves the file as
it was, byte for byte (which its tables cannot be read to show: the file is damaged)."""

from __future__ import annotations

import hashlib
import random
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import event

from datamgr.store.engine import make_engine
from tests.conftest import HISTORY_END, HISTORY_START, Invoke, Project

pytestmark = pytest.mark.sqlite_only  # a file's bytes; PostgreSQL keeps no such file


def settled(path: Path) -> None:
    """Every committed page in the main file, the WAL empty: the bytes written next are the file's."""
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def write_noise(path: Path, offset: int) -> None:
    """4 KB of random bytes (always the same ones) written over the file at offset."""
    with path.open("r+b") as file:
        file.seek(offset)
        file.write(random.Random(0).randbytes(4096))


def in_the_middle(path: Path) -> None:
    """The review's damage: 4 KB of random bytes written into the middle of the file."""
    write_noise(path, path.stat().st_size // 2)


def raw_data_leaf(path: Path, which: Callable[[list[tuple[str, int]]], tuple[str, int]]) -> int:
    """The page number of one of raw_data's leaf pages (in key order, by SQLite's dbstat table)."""
    with closing(sqlite3.connect(path)) as connection:
        leaves = connection.execute(
            "SELECT path, pageno FROM dbstat WHERE name = 'raw_data' AND pagetype = 'leaf' ORDER BY path"
        ).fetchall()
        page_size = int(connection.execute("PRAGMA page_size").fetchone()[0])
    return (which(leaves)[1] - 1) * page_size


def state(path: Path) -> tuple[str, int]:
    """The file's digest and the size of its WAL: a refused command changes neither."""
    wal = Path(f"{path}-wal")
    return hashlib.sha256(path.read_bytes()).hexdigest(), wal.stat().st_size if wal.exists() else 0


def quick_check_says(path: Path) -> str:
    """What SQLite's own PRAGMA quick_check reports first (the oracle the message must quote)."""
    with closing(sqlite3.connect(path)) as connection:
        found = [str(row[0]) for row in connection.execute("PRAGMA quick_check").fetchall()]
    lines = [line for text in found for line in text.splitlines() if not line.startswith("***")]
    return f"PRAGMA quick_check: {lines[0]}"


def damaged_line(path: Path, finding: str) -> str:
    return (
        f"database file {path} is damaged ({finding}); restore it from a backup, or copy out what is still "
        f"readable with `sqlite3 {path} .recover | sqlite3 {path.with_name('scada-recovered.db')}`"
    )


@pytest.fixture
def damaged(initialized: Project) -> Project:
    settled(initialized.db_path)
    in_the_middle(initialized.db_path)
    return initialized


def models(project: Project) -> list[Path]:
    folder = project.root / "models"
    return sorted(folder.iterdir()) if folder.exists() else []


# Each command, and what tells its refusal: quick_check's first finding, or (range, which does not
# run the check) the read of a turbine that ended before the newest row of its index.
CUT_SHORT = "the rows of turbine T01 end before the newest one its index holds"
COMMANDS: list[tuple[str, list[str], str | None]] = [
    ("export", ["export", "-o", "out.csv"], None),
    ("range", ["range", "--start", HISTORY_START, "--end", HISTORY_END, "-f", "csv"], CUT_SHORT),
    ("train", ["train", "--force"], None),
    ("ingest", ["ingest", "{inference}"], None),
    ("init-db", ["init-db"], None),
]


@pytest.mark.parametrize(("args", "finding"), [(a, f) for _, a, f in COMMANDS], ids=[n for n, _, _ in COMMANDS])
def test_no_command_reports_part_of_a_damaged_file_or_writes_into_it(
    damaged: Project, cli: Invoke, args: list[str], finding: str | None
) -> None:
    path = damaged.db_path
    expected = damaged_line(path, finding or quick_check_says(path))
    before = state(path)
    outcome = cli(*(arg.format(inference=damaged.files.inference) for arg in args))
    assert (outcome.exit_code, outcome.stdout, outcome.stderr) == (1, "", f"Error: {expected}\n")
    assert state(path) == before
    assert not (damaged.root / "out.csv").exists()
    assert models(damaged) == []


def test_status_says_unknown_for_a_damaged_file(damaged: Project, cli: Invoke) -> None:
    """UNKNOWN (3), as for any database status cannot read: its freshness figures would be untrue."""
    path = damaged.db_path
    expected = damaged_line(path, quick_check_says(path))
    before = state(path)
    outcome = cli("status", "--format", "nagios")
    assert (outcome.exit_code, outcome.stdout, outcome.stderr) == (
        3,
        f"DATAMGR UNKNOWN - {expected}\n",
        f"Error: {expected}\n",
    )
    assert state(path) == before


MALFORMED = "SQLite: database disk image is malformed"
PAGES: list[tuple[str, Callable[[Path], int], list[str], str]] = [
    # last-n reads the newest rows through sqlite3 (SQLAlchemy), without quick_check
    ("sqlite3-last-n", lambda p: raw_data_leaf(p, lambda leaves: leaves[-1]), ["last-n", "5"], MALFORMED),
    # range reads through ADBC, without quick_check: the middle of the turbine's rows
    (
        "adbc-range",
        lambda p: raw_data_leaf(p, lambda leaves: leaves[len(leaves) // 2]),
        ["range", "--start", HISTORY_START, "--end", HISTORY_END],
        MALFORMED,
    ),
    # the header: no connection can even be made
    ("header-last-n", lambda p: 0, ["last-n", "5"], "SQLite: file is not a database"),
    ("header-export", lambda p: 0, ["export", "-o", "out.parquet"], "SQLite: file is not a database"),
]


@pytest.mark.parametrize(("offset", "args", "finding"), [p[1:] for p in PAGES], ids=[p[0] for p in PAGES])
def test_every_malformed_read_is_the_same_clear_error(
    initialized: Project, cli: Invoke, offset: Callable[[Path], int], args: list[str], finding: str
) -> None:
    path = initialized.db_path
    settled(path)
    write_noise(path, offset(path))
    before = state(path)
    outcome = cli(*args)
    assert (outcome.exit_code, outcome.stdout, outcome.stderr) == (1, "", f"Error: {damaged_line(path, finding)}\n")
    assert state(path) == before
    assert not (initialized.root / "out.parquet").exists()


def test_a_sound_file_is_checked_once_per_engine(initialized: Project) -> None:
    """train reads turbine by turbine; the check must cost one pass over the file, not one per turbine."""
    from datamgr.store.engine import check_intact_once

    engine = make_engine(f"sqlite:///{initialized.db_path}")
    checks: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: checks.append(a[2]) if "quick_check" in a[2] else None)
    check_intact_once(engine)
    check_intact_once(engine)
    engine.dispose()
    assert checks == ["PRAGMA quick_check"]
