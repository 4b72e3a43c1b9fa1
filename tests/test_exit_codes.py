"""Exit codes mean what the README says: 2 for a usage error found before any work, 1 for a failure
(saying what was committed, if anything), 141 and silence when the reader of stdout goes away."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from datamgr import errors
from tests.conftest import Invoke, Project, fill_up
from tests.test_smoke import DATAMGR

TIMESTAMP_HINT = "use ISO 8601 such as '2007-07-29 03:10:00' or '2007-07-29T03:10:00+02:00'"
USAGE = [
    (["last-n", "0"], "Error: N must be a positive number of rows, got 0\n"),
    (
        ["last-n", "99999999999999999999"],
        "Error: N must be at most 9223372036854775807 rows, got 99999999999999999999\n",
    ),
    (
        ["last-n", "-3"],
        "Usage: datamgr last-n [OPTIONS] {n}\nTry 'datamgr last-n -h' for help.\n\nError: No such option: -3\n",
    ),
    (["predict", "-n", "0"], "Error: --batch-size must be a positive number of rows, got 0\n"),
    (
        ["predict", "--batch-size", "99999999999999999999"],
        "Error: --batch-size must be at most 9223372036854775807 rows, got 99999999999999999999\n",
    ),
    (
        ["predict", "--model-id", "99999999999999999999"],
        "Error: --model-id 99999999999999999999 is not a model id; `datamgr models` lists the trained ones\n",
    ),
    (["range", "-s", "garbage"], f"Error: --start 'garbage' is not a valid timestamp; {TIMESTAMP_HINT}\n"),
    (["range", "-e", "2008-13-01"], f"Error: --end '2008-13-01' is not a valid timestamp; {TIMESTAMP_HINT}\n"),
    (
        ["range", "-s", "2008-01-02", "-e", "2008-01-01"],
        "Error: --start 2008-01-02T00:00:00Z is after --end 2008-01-01T00:00:00Z\n",
    ),
    (
        ["range", "-e", "2007-01-01"],
        "Error: training_pipeline.start_timestamp 2007-07-15T00:00:00Z is after --end 2007-01-01T00:00:00Z\n",
    ),
    (["train", "-s", "soon"], f"Error: --start 'soon' is not a valid timestamp; {TIMESTAMP_HINT}\n"),
    (
        ["train", "-s", "2008-01-02", "-e", "2008-01-01"],
        "Error: --start 2008-01-02T00:00:00Z is after --end 2008-01-01T00:00:00Z\n",
    ),
    (
        ["last-n", "5", "-t", "bogus"],
        "Error: unknown table 'bogus'; choose one of: predictions, quarantine, raw_data\n",
    ),
    (
        ["range", "-t", "model_runs"],
        "Error: unknown table 'model_runs'; choose one of: predictions, quarantine, raw_data\n",
    ),
    (
        ["export", "-t", "alembic_version", "-o", "x.csv"],
        "Error: unknown table 'alembic_version'; choose one of: predictions, quarantine, raw_data\n",
    ),
    (
        ["ingest", "-t", "quarantine", "feed.csv"],
        "Error: unknown table 'quarantine'; choose one of: predictions, raw_data\n",
    ),
    (["last-n", "5", "-o", "x.txt"], "Error: --output x.txt: use a .parquet or .csv file name\n"),
    (["range", "-o", "x.xlsx"], "Error: --output x.xlsx: use a .parquet or .csv file name\n"),
    (["predict", "-n", "40", "-o", "x.txt"], "Error: --output x.txt: use a .parquet or .csv file name\n"),
    (["models", "-o", "models.json"], "Error: --output models.json: use a .parquet or .csv file name\n"),
    (["export", "-o", "snapshot"], "Error: --output snapshot: use a .parquet or .csv file name\n"),
    (
        ["predict", "-o", "folder.csv"],
        "Error: --output folder.csv: is a directory; name a .parquet or .csv file\n",
    ),
    (
        ["sample-data", "--seed", "-1"],
        "Usage: datamgr sample-data [OPTIONS]\nTry 'datamgr sample-data -h' for help.\n\n"
        "Error: Invalid value for '--seed': Input should be greater than or equal to 0\n",
    ),
]


def outside_the_database(project: Project) -> list[Path]:
    """Every file of the project but the SQLite files (whose -wal and -shm come and go)."""
    return sorted(p for p in project.root.rglob("*") if p.parent != project.db_path.parent)


@pytest.mark.parametrize(("args", "message"), USAGE, ids=[" ".join(args) for args, _ in USAGE])
def test_usage_errors_exit_2_and_change_nothing(
    initialized: Project, cli: Invoke, args: list[str], message: str
) -> None:
    if args[0] == "predict":
        assert cli("train").exit_code == 0  # a model, so that predict would otherwise store predictions
    (initialized.root / "feed.csv").write_text("Timestamps,Power\n2031-01-01 00:00,1\n")
    (initialized.root / "folder.csv").mkdir()
    files = outside_the_database(initialized)
    before = initialized.snapshot()
    outcome = cli(*args)
    assert (outcome.exit_code, outcome.stdout, outcome.stderr) == (2, "", message)
    assert initialized.snapshot() == before
    assert outside_the_database(initialized) == files  # no output file, no model artifact, no sample data


@pytest.mark.sqlite_only
@pytest.mark.parametrize(("args", "message"), USAGE, ids=[" ".join(args) for args, _ in USAGE])
def test_usage_errors_come_before_any_work(project: Project, cli: Invoke, args: list[str], message: str) -> None:
    """Without a database at all, the usage error still wins over "run init-db first": nothing was tried."""
    (project.root / "folder.csv").mkdir()
    outcome = cli(*args)
    assert (outcome.exit_code, outcome.stderr) == (2, message)
    assert not project.db_path.parent.exists()


def test_range_with_only_start_runs_to_the_newest_row(initialized: Project, cli: Invoke) -> None:
    outcome = cli("range", "--start", "2007-09-30 22:00", "-f", "csv")
    assert outcome.exit_code == 0, outcome.stderr
    stamps = [line.split(",")[1] for line in outcome.stdout.splitlines()[1:]]
    assert (stamps[0], stamps[-1], len(stamps)) == ("2007-09-30T22:00:00Z", "2007-09-30T23:50:00Z", 12)
    later = cli("range", "--start", "2031-01-01", "-f", "csv")
    assert (later.exit_code, later.stdout.count("\n")) == (0, 1)  # after the newest row: the header only


def test_global_options_after_the_command(initialized: Project, cli: Invoke, tmp_path: Path) -> None:
    quiet = cli("ingest", "--quiet", initialized.files.inference)
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "")
    config = tmp_path / "elsewhere.yml"
    config.write_text("inference_pipeline:\n  batch_size: 3\n")
    other = tmp_path / "other.db"
    created = cli("init-db", "--no-history", "--db-url", f"sqlite:///{other}", "-q")
    assert (created.exit_code, created.stderr) == (0, "")
    empty = cli("last-n", "5", "-f", "json", "--db-url", f"sqlite:///{other}")
    assert (empty.exit_code, empty.stdout) == (0, "[\n]\n")
    assert cli("train", "--log-format", "json").exit_code == 0
    predicted = cli("predict", "-f", "csv", "--config", str(config), "--log-format=json")
    assert (predicted.exit_code, len(predicted.stdout.splitlines())) == (0, 4)
    assert predicted.stderr.startswith('{"time": ')
    literal = cli("ingest", "--", "--quiet")  # after --, a file name, even one that looks like an option
    assert (literal.exit_code, literal.stderr) == (1, "Error: --quiet: no such file\n")


@pytest.mark.sqlite_only
def test_a_failure_after_the_commit_says_what_was_stored(initialized: Project, cli: Invoke, small_disk: Path) -> None:
    assert cli("train").exit_code == 0
    fill_up(small_disk)
    full = small_disk / "full.csv"  # a real full disk: No space left on device
    outcome = cli("predict", "-n", "40", "-o", full)
    assert (outcome.exit_code, outcome.stdout) == (1, "")
    assert outcome.stderr == (
        f"Error: --output {full}: cannot write: No space left on device; the predictions were stored all the "
        "same (T01: model 1 -> 40 rows read, 40 inserted, 0 updated, 0 unchanged); "
        "`datamgr last-n 40 -t predictions` prints them\n"
    )
    assert initialized.rows("predictions") == 40


def piped_to_head(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    """`datamgr ARGS | head -1` through a real pipe; datamgr's own exit status goes to stderr last."""
    assert DATAMGR is not None
    script = '"$@" | head -1; echo "status ${PIPESTATUS[0]}" >&2'
    return subprocess.run(
        ["bash", "-c", script, "bash", DATAMGR, *args],
        cwd=project.root,
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("command", [["last-n", "5000", "-f", "csv"], ["predict", "-n", "5000", "-f", "csv"]])
def test_a_closed_pipe_ends_quietly_with_141(initialized: Project, cli: Invoke, command: list[str]) -> None:
    """Like `cat big | head -1`: 141 (128 + SIGPIPE), nothing on stderr; what was committed stays."""
    assert cli("train").exit_code == 0
    result = piped_to_head(initialized, "--quiet", *command)
    assert (result.stdout, result.stderr) == ("turbine_id,Timestamps," + result.stdout.split(",", 2)[2], "status 141\n")
    assert result.stdout.count("\n") == 1
    if command[0] == "predict":
        assert initialized.rows("predictions") == 5000


def test_every_failure_has_one_description_and_one_exit_code() -> None:
    """errors.describe is the one line of any exception, with the URL's password masked; exit_code its status."""
    url = "postgresql+psycopg://scada:s3cret@db.example.invalid/scada"
    locked = sqlite3.OperationalError("database is locked")
    assert errors.describe(locked, url) == (
        "database postgresql+psycopg://scada:***@db.example.invalid/scada: database is locked; another writer "
        "held the lock longer than data_manager.lock_timeout_s; run again later, or raise the setting"
    )
    assert errors.describe(sqlite3.OperationalError("unable to open database file\nmore"), "sqlite:///x/a.db") == (
        "database sqlite:///x/a.db: unable to open database file; check that its folder exists and is writable"
    )
    assert errors.describe(ValueError("bad\n  value")) == (
        "unexpected ValueError: bad value (run with --verbose for the traceback)"
    )
    assert errors.describe(ValueError("bad"), verbose=True) == "unexpected ValueError: bad"
    assert errors.describe(errors.QueryError("--start x:\n  not a timestamp")) == "--start x: not a timestamp"
    assert errors.describe(KeyboardInterrupt()) == (
        "interrupted; the transaction was rolled back and nothing was written"
    )
    assert [errors.exit_code(e) for e in (errors.QueryError("q"), errors.NotFoundError("n"), KeyboardInterrupt())] == [
        2,
        1,
        130,
    ]
    assert errors.exit_code(ValueError()) == 1
    assert (errors.mask_url(url), errors.mask_url("not a url"), errors.mask_url(None)) == (
        "postgresql+psycopg://scada:***@db.example.invalid/scada",
        "the database",
        "the database",
    )
    refusal = errors.StrictRefusal(["first", "second"])
    assert (str(refusal), refusal.warnings, refusal.exit_code) == (
        "--strict: first (and 1 more warning(s)); nothing was written",
        ["first", "second"],
        1,
    )


def test_status_fails_through_the_common_error_path_with_nagios_codes(cli: Invoke, tmp_path: Path) -> None:
    """status' errors take the same path as every command's (JSON under --log-format json), but exit 3."""
    url = f"sqlite:///{tmp_path / 'none.db'}"
    message = f"database file {tmp_path / 'none.db'} does not exist; run `datamgr init-db` first"
    outcome = cli("--db-url", url, "--log-format", "json", "status", "-f", "nagios")
    assert (outcome.exit_code, outcome.stdout) == (3, f"DATAMGR UNKNOWN - {message}\n")
    record = json.loads(outcome.stderr)
    assert (record["level"], record["message"]) == ("ERROR", message)
    plain = cli("--db-url", url, "status", "-f", "json")
    assert (plain.exit_code, plain.stdout, plain.stderr) == (3, "", f"Error: {message}\n")
