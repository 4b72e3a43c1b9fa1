"""Outputs never betray: every file goes through one writer (a temporary file in the target's folder,
fsynced, renamed), never through a symbolic link, never onto the database's own files; a failure
leaves the old file untouched and no stray file. Secrets in a URL never reach a message."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from datamgr.errors import mask_url
from tests.conftest import Invoke, Project, fill_up
from tests.test_smoke import DATAMGR

OUTPUTS = [
    ["last-n", "5", "-o"],
    ["range", "--start", "2007-07-29 03:10", "--end", "2007-07-29 04:00", "-o"],
    ["export", "-o"],
    ["turbines", "-o"],
    ["models", "-o"],
]


@pytest.mark.sqlite_only
@pytest.mark.parametrize("command", OUTPUTS)
def test_an_output_through_a_symbolic_link_is_refused(initialized: Project, cli: Invoke, command: list[str]) -> None:
    """A link planted where the output goes (here: at the database itself) is refused, and nothing changes."""
    link = initialized.root / "out.csv"
    link.symlink_to(initialized.db_path)
    before, database = initialized.snapshot(), initialized.db_path.read_bytes()
    outcome = cli(*command, link)
    assert (outcome.exit_code, outcome.stderr) == (
        2,
        f"Error: --output {link}: is a symbolic link; datamgr never writes through one; name the file itself\n",
    )
    assert initialized.snapshot() == before
    assert initialized.db_path.read_bytes() == database
    assert initialized.sql("PRAGMA integrity_check") == [("ok",)]


@pytest.mark.sqlite_only
def test_an_output_onto_the_database_by_a_hard_link_is_refused(initialized: Project, cli: Invoke) -> None:
    named = initialized.root / "looks-like-output.csv"
    os.link(initialized.db_path, named)
    before = initialized.snapshot()
    outcome = cli("last-n", "3", "-o", named)
    assert (outcome.exit_code, outcome.stderr) == (
        2,
        f"Error: --output {named}: is a file of the database {initialized.db_path}; name another file\n",
    )
    assert initialized.snapshot() == before
    assert initialized.sql("PRAGMA integrity_check") == [("ok",)]


@pytest.mark.sqlite_only
def test_a_database_named_like_an_output_is_never_overwritten(
    tmp_path: Path, project: Project, cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`-o` naming the database file itself (a .csv-named SQLite file)."""
    database = tmp_path / "store.csv"
    monkeypatch.setenv("DATAMGR_DATA_MANAGER__DB_PATH", str(database))
    assert cli("init-db").exit_code == 0
    before = database.read_bytes()
    outcome = cli("export", "-o", database)
    assert (outcome.exit_code, outcome.stderr) == (
        2,
        f"Error: --output {database}: is a file of the database {database}; name another file\n",
    )
    assert database.read_bytes() == before


def test_a_full_disk_leaves_the_old_file_and_no_stray_file(initialized: Project, cli: Invoke, small_disk: Path) -> None:
    latest = small_disk / "latest.csv"
    assert cli("last-n", "3", "-o", latest).exit_code == 0
    good = latest.read_bytes()
    fill_up(small_disk)
    outcome = cli("last-n", "5000", "-o", latest)
    assert (outcome.exit_code, outcome.stderr) == (
        1,
        f"Error: --output {latest}: cannot write: No space left on device\n",
    )
    assert latest.read_bytes() == good
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "latest.csv"]


def test_the_report_goes_through_the_same_writer(initialized: Project, cli: Invoke, small_disk: Path) -> None:
    assert cli("train").exit_code == 0
    assert cli("predict").exit_code == 0
    report = small_disk / "report.html"
    report.write_text("the old report")
    fill_up(small_disk)
    outcome = cli("report", "-o", report)
    assert (outcome.exit_code, outcome.stderr) == (
        1,
        f"Error: --output {report}: cannot write: No space left on device\n",
    )
    assert report.read_text() == "the old report"
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "report.html"]
    link = initialized.root / "report.html"
    link.symlink_to(report)
    refused = cli("report", "-o", link)
    assert (refused.exit_code, refused.stderr) == (
        2,
        f"Error: --output {link}: is a symbolic link; datamgr never writes through one; name the file itself\n",
    )


def test_a_new_output_file_has_the_usual_permissions(initialized: Project, cli: Invoke) -> None:
    target = initialized.root / "new.csv"
    old_mask = os.umask(0o022)
    try:
        assert cli("last-n", "2", "-o", target).exit_code == 0
    finally:
        os.umask(old_mask)
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in initialized.root.iterdir() if p.name.startswith(".new.csv")) == []


def test_predict_backfill_writes_its_predictions_to_the_output(initialized: Project, cli: Invoke) -> None:
    assert cli("train").exit_code == 0
    target = initialized.root / "backfill.csv"
    outcome = cli("predict", "--start", "2007-07-15", "--end", "2007-07-16", "-o", target)
    assert outcome.exit_code == 0, outcome.stderr
    lines = target.read_text().splitlines()
    assert lines[0] == "turbine_id,Timestamps,predicted_power,model_id,created_at"
    assert len(lines) - 1 == initialized.rows("predictions") == 138
    assert lines[1].startswith("T01,2007-07-15T00:00:00Z,")


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql+psycopg://scada:s3cr@t@db.invalid/scada", "postgresql+psycopg://scada:***@db.invalid/scada"),
        ("postgresql+psycopg://scada@db.invalid/scada?password=s3cret", "postgresql+psycopg://scada@db.invalid/scada?password=***"),
        ("postgresql+psycopg://db.invalid/x?sslmode=require&sslpassword=s3cret", "postgresql+psycopg://db.invalid/x?sslmode=require&sslpassword=***"),
        ("postgresql+psycopg://u:a/b:c@db.invalid/x", "postgresql+psycopg://u:***@db.invalid/x"),
    ],
)  # fmt: skip
def test_no_password_reaches_a_message(url: str, masked: str, tmp_path: Path) -> None:
    assert mask_url(url) == masked
    assert DATAMGR is not None
    env = {"PATH": "/usr/bin:/bin", "DATAMGR_DB_URL": url, "DATAMGR_DATA_MANAGER__CONNECT_TIMEOUT_S": "1"}
    ran = subprocess.run(
        [DATAMGR, "--verbose", "last-n", "1"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 1
    assert "s3cr" not in ran.stderr + ran.stdout
    assert "Error: " in ran.stderr
