"""Every broken input file: one `Error:` line naming the problem, exit 1, and an unchanged database:
every table of it, as its catalog lists them (Project.snapshot)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from datamgr.store.schema import metadata
from tests.conftest import Invoke, Project


def text(content: str) -> Callable[[Path, Project], None]:
    def write(path: Path, _project: Project) -> None:
        path.write_text(content)

    return write


def truncated_parquet(path: Path, project: Project) -> None:
    path.write_bytes(project.files.inference.read_bytes()[:3000])


def parquet_with_bad_power(path: Path, _project: Project) -> None:
    pd.DataFrame({"Timestamps": ["2031-01-01 00:00", "2031-01-01 00:10"], "Power": ["1.5", "lots"]}).to_parquet(path)


def parquet_with_fraction_seconds(path: Path, _project: Project) -> None:
    stamps = pd.to_datetime(["2031-01-01 00:00:00.5"]).tz_localize("UTC")
    pd.DataFrame({"Timestamps": stamps, "Power": [1.0]}).to_parquet(path)


CASES = [
    ("missing.csv", None, "{path}: no such file"),
    (
        "folder.csv",
        lambda p, _: p.mkdir(),
        "{path}: is a directory, not a file; name a .parquet, .pq or .csv file",
    ),
    ("empty.csv", text(""), "{path}: the file is empty"),
    ("empty.parquet", text(""), "{path}: the file is empty"),
    (
        "notes.docx",
        text("hello"),
        "{path}: not a Parquet or CSV file; datamgr reads .parquet, .pq or .csv files",
    ),
    (
        "truncated.parquet",
        truncated_parquet,
        "{path}: not a readable Parquet file (Parquet magic bytes not found in footer. Either the file is "
        "corrupted or this is not a parquet file.)",
    ),
    (
        "no_stamps.csv",
        text("WindSpeed,Power\n1,2\n"),
        "{path}: no Timestamps column; table raw_data needs it",
    ),
    (
        "unknown.csv",
        text("Timestamps,Power,Colour,Smell\n2031-01-01,1,red,odd\n"),
        "{path}: unknown column(s) Colour, Smell for table raw_data; rename them or pass --ignore-unknown-columns",
    ),
    (
        "words.csv",
        text("Timestamps,Power\n2031-01-01 00:00,1\n2031-01-01 00:10,abc\n2031-01-01 00:20,x1\n"),
        "{path}: column Power: 2 non-numeric value(s) at row 2 ('abc'), row 3 ('x1')",
    ),
    (
        "words.parquet",
        parquet_with_bad_power,
        "{path}: column Power: 1 non-numeric value(s) at row 2 ('lots')",
    ),
    (
        "inf.csv",
        text("Timestamps,WindSpeed\n2031-01-01 00:00,-inf\n2031-01-01 00:10,inf\n"),
        "{path}: column WindSpeed: 2 infinite value(s) at row 1 ('-inf'), row 2 ('inf')",
    ),
    (
        "stamps.csv",
        text("Timestamps,Power\n2031-01-01 00:00,1\nsoon,2\n2031-02-30 00:00,3\n"),
        "{path}: column Timestamps: 2 value(s) are not valid timestamps at row 2 ('soon'), row 3 ('2031-02-30 "
        "00:00'); use ISO 8601 with a date and at least hours:minutes, such as '2007-07-29 03:10:00' or "
        "'2007-07-29T03:10:00+02:00'",
    ),
    (
        "blank_stamp.csv",
        text("Timestamps,Power\n2031-01-01 00:00,1\n,2\n"),
        "{path}: column Timestamps: 1 empty value(s) at row 2 (''); every row needs a timestamp",
    ),
    (
        "fraction.parquet",
        parquet_with_fraction_seconds,
        "{path}: column Timestamps: sub-second timestamps at row 1 (Timestamp('2031-01-01 00:00:00.500000+0000', "
        "tz='UTC')); datamgr stores whole seconds",
    ),
]


def test_the_snapshot_holds_every_table_and_sees_a_change_in_any(initialized: Project, cli: Invoke) -> None:
    """What the tests below compare: every table of the schema and the migration's version, each
    by its rows; a change to any one of them, or a new table, shows."""
    before = initialized.snapshot()
    assert set(before) == {*metadata.tables, "alembic_version"}
    assert cli("ingest", initialized.files.inference).exit_code == 0
    after = initialized.snapshot()
    assert {table for table in before if after[table] != before[table]} == {"raw_data"}
    initialized.sql("UPDATE alembic_version SET version_num = version_num")  # a write that changes no value
    assert initialized.snapshot() == after
    initialized.sql("CREATE TABLE leftover (x INTEGER)")
    assert set(initialized.snapshot()) == {*after, "leftover"}


@pytest.mark.parametrize(("name", "make", "message"), CASES, ids=[case[0] for case in CASES])
def test_bad_file_is_refused_and_changes_nothing(
    initialized: Project,
    cli: Invoke,
    name: str,
    make: Callable[[Path, Project], None] | None,
    message: str,
) -> None:
    path = initialized.root / name
    if make is not None:
        make(path, initialized)
    before = initialized.snapshot()
    outcome = cli("ingest", path)
    assert outcome.stderr == "Error: " + message.format(path=path) + "\n"
    assert (outcome.exit_code, outcome.stdout) == (1, "")
    assert initialized.snapshot() == before


def test_one_bad_file_among_good_ones_lands_nothing(initialized: Project, cli: Invoke) -> None:
    good, bad = initialized.root / "good.csv", initialized.root / "bad.csv"
    good.write_text("Timestamps,Power\n2031-01-01 00:00,1\n")
    bad.write_text("Timestamps,Power\n2031-01-01 00:10,broken\n")
    before = initialized.snapshot()
    outcome = cli("ingest", good, bad)
    assert outcome.exit_code == 1
    assert outcome.stderr == f"Error: {bad}: column Power: 1 non-numeric value(s) at row 1 ('broken')\n"
    assert initialized.snapshot() == before


def test_bad_row_in_a_later_batch_is_reported_with_its_file_row(
    initialized: Project, cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datamgr.files

    monkeypatch.setattr(datamgr.files, "BATCH_ROWS", 2)
    path = initialized.root / "late.csv"
    path.write_text(
        "Timestamps,Power\n2031-01-01 00:00,1\n2031-01-01 00:10,2\n2031-01-01 00:20,3\n"
        "2031-01-01 00:30,?\n2031-01-01 00:40,?\n"
    )
    before = initialized.snapshot()
    outcome = cli("ingest", path)
    assert outcome.stderr == f"Error: {path}: column Power: 1 non-numeric value(s) at row 4 ('?')\n"
    assert initialized.snapshot() == before


def test_unknown_columns_can_be_ignored_explicitly(initialized: Project, cli: Invoke) -> None:
    path = initialized.root / "extra.csv"
    path.write_text("Timestamps,Power,Colour\n2031-01-01 00:00,1,red\n")
    outcome = cli("ingest", path, "--ignore-unknown-columns")
    assert outcome.exit_code == 0
    assert outcome.stderr.endswith("1 rows read, 1 inserted, 0 updated, 0 unchanged\n")


@pytest.mark.sqlite_only
def test_not_a_database_file(project: Project, cli: Invoke) -> None:
    project.db_path.parent.mkdir(parents=True)
    project.db_path.write_text("this is not SQLite " * 100)
    outcome = cli("last-n", "1")
    assert outcome.exit_code == 1
    recovered = project.db_path.with_name("scada-recovered.db")
    assert outcome.stderr == (
        f"Error: database file {project.db_path} is damaged (SQLite: file is not a database); restore it from a "
        f"backup, or copy out what is still readable with `sqlite3 {project.db_path} .recover | sqlite3 {recovered}`\n"
    )
    assert project.db_path.read_text() == "this is not SQLite " * 100


def test_impossible_values_go_to_quarantine_with_reason(initialized: Project, cli: Invoke) -> None:
    path = initialized.root / "odd.csv"
    path.write_text(
        "Timestamps,WindSpeed,Power,EnvirTemp\n"
        "2031-01-01 00:00,5,300,10\n"
        "2031-01-01 00:10,-3,300,10\n"
        "2031-01-01 00:20,7,9000,95\n"
        "2031-01-01 00:30,8,500,11\n"
    )
    outcome = cli("ingest", path)
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stderr.endswith(
        "4 rows read, 2 inserted, 0 updated, 0 unchanged, "
        "2 quarantined for impossible values (see `datamgr last-n 100 -t quarantine`)\n"
    )
    held = pd.read_csv(__import__("io").StringIO(cli("last-n", "10", "-t", "quarantine", "-f", "csv").stdout))
    assert list(held.row_number) == [2, 3]
    assert list(held.reason) == [
        "WindSpeed=-3.0 below 0.0",
        "Power=9000.0 above 2600.0; EnvirTemp=95.0 above 60.0",
    ]
    assert set(held.source) == {str(path)}
    assert list(held.Timestamps) == ["2031-01-01T00:10:00Z", "2031-01-01T00:20:00Z"]
    assert cli("last-n", "2", "-f", "csv").stdout.splitlines()[1].startswith("T01,2031-01-01T00:00:00Z,5.0,")

    again = cli("ingest", path)  # re-ingesting neither duplicates the quarantine nor lets the rows in
    assert again.stderr.endswith(
        "4 rows read, 0 inserted, 0 updated, 2 unchanged, 2 quarantined for impossible "
        "values (see `datamgr last-n 100 -t quarantine`)\n"
    )
    assert initialized.rows("quarantine") == 2


def test_limits_are_configurable(initialized: Project, cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAMGR_DATA_MANAGER__LIMITS", '{"Power": [0, 100]}')
    path = initialized.root / "strict.csv"
    path.write_text("Timestamps,WindSpeed,Power\n2031-01-01 00:00,-3,50\n2031-01-01 00:10,5,150\n")
    outcome = cli("ingest", path)
    assert outcome.stderr.endswith(
        "2 rows read, 1 inserted, 0 updated, 0 unchanged, 1 quarantined for impossible "
        "values (see `datamgr last-n 100 -t quarantine`)\n"
    )


def test_required_offsets(initialized: Project, cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAMGR_DATA_MANAGER__REQUIRE_OFFSETS", "true")
    path = initialized.root / "mixed.csv"
    path.write_text("Timestamps,Power\n2031-01-01T00:00:00Z,1\n2031-01-01 00:10,2\n2031-01-01T00:20:00+01:00,3\n")
    before = initialized.snapshot()
    outcome = cli("ingest", path)
    assert (outcome.exit_code, outcome.stderr) == (
        1,
        f"Error: {path}: column Timestamps: 1 value(s) without a UTC offset at row 2 ('2031-01-01 00:10'); "
        "data_manager.require_offsets is true\n",
    )
    assert initialized.snapshot() == before


@pytest.mark.sqlite_only
def test_database_folder_that_cannot_be_created(project: Project, cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = project.root / "blocker"
    blocker.write_text("a file where a folder should be")
    monkeypatch.setenv("DATAMGR_DATA_MANAGER__DB_PATH", str(blocker / "scada.db"))
    outcome = cli("init-db")
    assert (outcome.exit_code, outcome.stderr) == (
        1,
        f"Error: cannot create the folder of {blocker / 'scada.db'}: File exists\n",
    )
    assert blocker.read_text() == "a file where a folder should be"


def test_database_from_a_newer_datamgr(initialized: Project, cli: Invoke) -> None:
    initialized.sql("UPDATE alembic_version SET version_num = '0042_future'")
    before = initialized.snapshot()
    for args in (["init-db"], ["ingest", str(initialized.files.inference)], ["last-n", "1"]):
        outcome = cli(*args)
        assert (outcome.exit_code, outcome.stderr) == (
            1,
            "Error: the database schema is at 0042_future, which this datamgr (0005_monitoring) does not know: "
            "it was migrated by a newer datamgr; upgrade datamgr\n",
        )
    assert initialized.snapshot() == before


def test_json_log_format_for_errors_and_reports(initialized: Project, cli: Invoke) -> None:
    import json

    ok = cli("--log-format", "json", "ingest", initialized.files.inference)
    record = json.loads(ok.stderr.splitlines()[-1])
    assert record["level"] == "INFO"
    assert record["message"].startswith(f"ingest {initialized.files.inference} -> raw_data: ")
    bad = cli("--log-format", "json", "last-n", "0")
    assert bad.exit_code == 2
    assert json.loads(bad.stderr)["message"] == "N must be a positive number of rows, got 0"


@pytest.mark.sqlite_only
def test_database_file_that_cannot_be_written(initialized: Project, cli: Invoke) -> None:
    """Root ignores permission bits, so the file is made immutable instead (chattr +i)."""
    import shutil
    import subprocess

    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed, and root can write any file whatever its mode")
    csv = initialized.root / "new.csv"
    csv.write_text("Timestamps,Power\n2031-01-01 00:00,1\n")
    before = initialized.snapshot()
    files = [str(p) for p in initialized.db_path.parent.iterdir()]
    locked = subprocess.run(["chattr", "+i", *files], capture_output=True, text=True)
    try:
        if locked.returncode != 0:
            pytest.skip(f"this file system does not support chattr +i: {locked.stderr.strip()}")
        outcome = cli("ingest", csv)
    finally:
        subprocess.run(["chattr", "-i", *files], capture_output=True)
    assert outcome.exit_code == 1
    assert outcome.stderr == (
        f"Error: database sqlite:///{initialized.db_path}: attempt to write a readonly database; "
        "check the file's permissions\n"
    )
    assert initialized.snapshot() == before


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("nonsense", "Error: database URL 'nonsense' is not a valid SQLAlchemy URL\n"),
        (
            "postgresql+psycopg://scada:hunter2@127.0.0.1:1/scada",
            "Error: database postgresql+psycopg://scada:***@127.0.0.1:1/scada: connection failed: connection to server "
            'at "127.0.0.1", port 1 failed: Connection refused\n',
        ),
    ],
)
def test_bad_database_urls(
    cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    outcome = cli("--db-url", url, "last-n", "1")
    assert (outcome.exit_code, outcome.stderr) == (1, message)
    assert "hunter2" not in outcome.stderr
