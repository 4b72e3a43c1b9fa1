"""The CLI end to end, in-process: exit codes, exact messages, and what lands in the database."""

from __future__ import annotations

import json
import re
from io import StringIO

import pandas as pd
import pytest

from datamgr import __version__
from datamgr.store.schema import SCHEMA_REVISION
from tests.conftest import TRAIN_END, TRAIN_START, Invoke, Project

LOG = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ INFO "


def test_version(cli: Invoke) -> None:
    outcome = cli("--version")
    assert (outcome.exit_code, outcome.stdout) == (0, f"datamgr {__version__}\n")


def test_usage_error_exits_2(cli: Invoke) -> None:
    outcome = cli("last-n", "many")
    assert outcome.exit_code == 2
    assert outcome.stderr.splitlines()[-1].startswith("Error: Invalid value for 'n':")


def test_negative_count_is_a_usage_error(cli: Invoke) -> None:
    outcome = cli("last-n", "-3")
    assert outcome.exit_code == 2
    assert outcome.stderr.splitlines()[-1] == "Error: No such option: -3"


def test_init_db_creates_folder_migrates_and_loads_history(project: Project, cli: Invoke) -> None:
    outcome = cli("init-db")
    assert outcome.exit_code == 0, outcome.stderr
    rows = len(project.files.history_frame)
    assert re.match(
        LOG + rf"init-db: schema migrated empty -> {SCHEMA_REVISION}; loaded {rows} rows from "
        rf"{re.escape(str(project.files.history))}; raw_data holds {rows} rows$",
        outcome.stderr,
    )
    assert project.rows() == rows
    assert outcome.stdout == ""


def test_init_db_twice_changes_nothing(project: Project, cli: Invoke) -> None:
    assert cli("init-db").exit_code == 0
    before = project.snapshot()
    outcome = cli("init-db")
    assert outcome.exit_code == 0
    rows = len(project.files.history_frame)
    assert outcome.stderr.endswith(
        f"init-db: schema at {SCHEMA_REVISION}; history not loaded: raw_data already holds {rows} rows; "
        f"raw_data holds {rows} rows\n"
    )
    assert project.snapshot() == before


def test_init_db_no_history(project: Project, cli: Invoke) -> None:
    outcome = cli("init-db", "--no-history")
    assert outcome.exit_code == 0
    assert "history not loaded: --no-history; raw_data holds 0 rows" in outcome.stderr
    assert project.rows() == 0


def test_init_db_with_missing_history_file_creates_nothing(project: Project, cli: Invoke, monkeypatch) -> None:
    monkeypatch.setenv("DATAMGR_DATA_MANAGER__HISTORY_DATA_PATH", "nowhere/history.parquet")
    outcome = cli("init-db")
    assert outcome.exit_code == 1
    assert outcome.stderr == "Error: nowhere/history.parquet: no such file\n"
    if project.backend == "sqlite":  # no file, not even its folder, is left behind
        assert not project.db_path.parent.exists()
    else:
        assert project.tables() == set()


def test_ingest_twice_reports_all_unchanged(initialized: Project, cli: Invoke) -> None:
    path = initialized.files.inference
    rows = len(initialized.files.inference_frame)
    first = cli("ingest", path)
    assert first.exit_code == 0, first.stderr
    assert first.stderr.endswith(
        f"ingest {path} -> raw_data: {rows} rows read, {rows} inserted, 0 updated, 0 unchanged\n"
    )
    count = initialized.rows()
    second = cli("ingest", path)
    assert second.exit_code == 0
    assert second.stderr.endswith(
        f"ingest {path} -> raw_data: {rows} rows read, 0 inserted, 0 updated, {rows} unchanged\n"
    )
    assert initialized.rows() == count == len(initialized.files.history_frame) + rows


def test_ingest_csv_with_offsets_updates_changed_rows(initialized: Project, cli: Invoke) -> None:
    csv = initialized.root / "fix.csv"
    csv.write_text(
        "Timestamps,WindSpeed,Power\n"
        "2007-07-01T02:00:00+02:00,29.5,1234.5\n"  # = 00:00 UTC, the first history row
        "2030-01-01 00:00:00,1.0,\n"
    )
    outcome = cli("ingest", csv)
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stderr.endswith(f"ingest {csv} -> raw_data: 2 rows read, 1 inserted, 1 updated, 0 unchanged\n")
    stamp = initialized.epoch('"Timestamps"')
    first = initialized.sql(f'SELECT {stamp}, "WindSpeed", "Power", "Pitch" FROM raw_data ORDER BY 1 LIMIT 1')[0]
    pitch = initialized.files.history_frame.loc[0, "Pitch"]
    assert first == (int(pd.Timestamp("2007-07-01", tz="UTC").timestamp()), 29.5, 1234.5, pitch)


def test_ingest_several_files_reports_each_and_total(initialized: Project, cli: Invoke) -> None:
    one, two = initialized.root / "one.csv", initialized.root / "two.csv"
    one.write_text("Timestamps,Power\n2031-01-01 00:00,1\n2031-01-01 00:10,2\n")
    two.write_text("Timestamps,Power\n2031-01-01 00:10,2\n2031-01-01 00:20,3\n")
    outcome = cli("ingest", one, two)
    assert outcome.exit_code == 0
    lines = outcome.stderr.splitlines()
    assert lines[-3].endswith(f"ingest {one} -> raw_data: 2 rows read, 2 inserted, 0 updated, 0 unchanged")
    assert lines[-2].endswith(f"ingest {two} -> raw_data: 2 rows read, 1 inserted, 0 updated, 1 unchanged")
    assert lines[-1].endswith("ingest total -> raw_data: 4 rows read, 3 inserted, 0 updated, 1 unchanged")


def test_ingest_duplicates_in_one_file_last_wins(initialized: Project, cli: Invoke) -> None:
    csv = initialized.root / "dups.csv"
    csv.write_text("Timestamps,Power\n2031-01-01 00:00,1\n2031-01-01 00:00,2\n2031-01-01 00:00,3\n")
    outcome = cli("ingest", csv)
    assert outcome.exit_code == 0
    assert outcome.stderr.endswith(
        "3 rows read, 1 inserted, 0 updated, 0 unchanged, 2 duplicate timestamps collapsed to the last\n"
    )
    last = cli("last-n", "1", "--format", "json")
    assert json.loads(last.stdout)[0]["Power"] == 3.0


def test_last_n_json_prints_newest_oldest_first(initialized: Project, cli: Invoke) -> None:
    outcome = cli("last-n", "5", "--format", "json")
    assert outcome.exit_code == 0
    records = json.loads(outcome.stdout)
    expected = initialized.files.history_frame.tail(5)
    assert [r["Timestamps"] for r in records] == list(expected.Timestamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert [r["Power"] for r in records] == [None if pd.isna(p) else p for p in expected.Power]
    assert list(records[0]) == ["turbine_id", "Timestamps", *initialized.files.history_frame.columns[1:]]
    assert {r["turbine_id"] for r in records} == {"T01"}


def test_range_csv_is_exactly_the_inclusive_range(initialized: Project, cli: Invoke) -> None:
    outcome = cli("range", "--start", "2007-07-29 03:10:00", "--end", "2007-07-29 04:00:00", "--format", "csv")
    assert outcome.exit_code == 0
    printed = pd.read_csv(StringIO(outcome.stdout))
    assert list(printed.Timestamps) == [f"2007-07-29T03:{m}:00Z" for m in ("10", "20", "30", "40", "50")] + [
        "2007-07-29T04:00:00Z"
    ]


def test_range_defaults_to_training_range(initialized: Project, cli: Invoke) -> None:
    outcome = cli("range", "--format", "csv")
    printed = pd.read_csv(StringIO(outcome.stdout))
    history = initialized.files.history_frame
    start_at, end_at = pd.Timestamp(TRAIN_START, tz="UTC"), pd.Timestamp(TRAIN_END, tz="UTC")
    inside = history[(history.Timestamps >= start_at) & (history.Timestamps <= end_at)]
    assert len(printed) == len(inside)
    assert printed.Timestamps.iloc[0] == TRAIN_START.replace(" ", "T") + "Z"


def test_range_with_offsets_lands_in_utc(initialized: Project, cli: Invoke) -> None:
    outcome = cli("range", "-s", "2007-07-29T05:10:00+02:00", "-e", "2007-07-29T05:20:00+02:00", "-f", "json")
    assert [r["Timestamps"] for r in json.loads(outcome.stdout)] == [
        "2007-07-29T03:10:00Z",
        "2007-07-29T03:20:00Z",
    ]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["last-n", "0"], 2, "Error: N must be a positive number of rows, got 0\n"),
        (
            ["last-n", "5", "--table", "model_runs"],
            2,
            "Error: unknown table 'model_runs'; choose one of: predictions, quarantine, raw_data\n",
        ),
        (
            ["last-n", "5", "--table", "raw_data; DROP TABLE raw_data"],
            2,
            "Error: unknown table 'raw_data; DROP TABLE raw_data'; choose one of: predictions, quarantine, raw_data\n",
        ),
        (
            ["range", "-s", "2008-01-02", "-e", "2008-01-01"],
            2,
            "Error: --start 2008-01-02T00:00:00Z is after --end 2008-01-01T00:00:00Z\n",
        ),
        (
            ["range", "-s", "yesterday"],
            2,
            "Error: --start 'yesterday' is not a valid timestamp; use ISO 8601 such as "
            "'2007-07-29 03:10:00' or '2007-07-29T03:10:00+02:00'\n",
        ),
        (
            ["range", "-s", "2008-02-30"],
            2,
            "Error: --start '2008-02-30' is not a valid timestamp; use ISO 8601 such as "
            "'2007-07-29 03:10:00' or '2007-07-29T03:10:00+02:00'\n",
        ),
        (["ingest", "missing.parquet"], 1, "Error: missing.parquet: no such file\n"),
        (
            ["ingest", "x.csv", "--table", "sqlite_master"],
            2,
            "Error: unknown table 'sqlite_master'; choose one of: predictions, raw_data\n",
        ),
        (
            ["last-n", "5", "--output", "out.xlsx"],
            2,
            "Error: --output out.xlsx: use a .parquet or .csv file name\n",
        ),
    ],
)
def test_bad_query_arguments(initialized: Project, cli: Invoke, args: list[str], code: int, message: str) -> None:
    """Usage errors exit 2, a missing input file 1; either way nothing changes."""
    before = initialized.snapshot()
    outcome = cli(*args)
    assert (outcome.exit_code, outcome.stderr, outcome.stdout) == (code, message, "")
    assert initialized.snapshot() == before


def test_commands_before_init_db_say_what_to_do(project: Project, cli: Invoke) -> None:
    outcome = cli("last-n", "5")
    assert outcome.exit_code == 1
    if project.backend == "sqlite":
        assert outcome.stderr == f"Error: database file {project.db_path} does not exist; run `datamgr init-db` first\n"
        assert not project.db_path.exists()
    else:
        assert outcome.stderr == "Error: the database has no datamgr schema; run `datamgr init-db` first\n"
        assert project.tables() == set()


def test_output_files_round_trip(initialized: Project, cli: Invoke) -> None:
    parquet, csv = initialized.root / "out" / "last.parquet", initialized.root / "last.csv"
    assert cli("last-n", "10", "--output", parquet).exit_code == 0
    assert cli("last-n", "10", "-o", csv).exit_code == 0
    frame = pd.read_parquet(parquet)
    assert len(frame) == 10
    assert str(frame.Timestamps.dtype) == "datetime64[ns, UTC]"
    expected = initialized.files.history_frame.tail(10).reset_index(drop=True)
    expected.insert(0, "turbine_id", "T01")
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)
    assert pd.read_csv(csv).Timestamps.iloc[-1] == "2007-09-30T23:50:00Z"


def test_export_writes_whole_table(initialized: Project, cli: Invoke) -> None:
    target = initialized.root / "snapshot.parquet"
    outcome = cli("export", "--output", target)
    assert outcome.exit_code == 0
    assert outcome.stderr.endswith(f"wrote {initialized.rows()} rows to {target}\n")
    assert len(pd.read_parquet(target)) == initialized.rows()


def test_quiet_prints_no_info(initialized: Project, cli: Invoke) -> None:
    outcome = cli("--quiet", "ingest", initialized.files.inference)
    assert (outcome.exit_code, outcome.stderr, outcome.stdout) == (0, "", "")


@pytest.mark.sqlite_only
def test_db_url_option_beats_environment(initialized: Project, cli: Invoke) -> None:
    other = initialized.root / "other.db"
    outcome = cli("--db-url", f"sqlite:///{other}", "init-db", "--no-history")
    assert outcome.exit_code == 0
    assert other.exists()
    assert cli("--db-url", f"sqlite:///{other}", "last-n", "1", "-f", "json").stdout == "[\n]\n"


def test_verbose_shows_traceback_on_error(project: Project, cli: Invoke) -> None:
    outcome = cli("--verbose", "last-n", "5")
    assert outcome.exit_code == 1
    assert "Traceback (most recent call last)" in outcome.stderr
    assert outcome.stderr.endswith("run `datamgr init-db` first\n")
