"""`range`, `export` and their output through the columnar path (ADBC on a SQLite file) are what
the SQLAlchemy path gives: the same Parquet files, the same printed text, on both backends; the
Parquet path imports no pandas; writers run beside it and the file stays sound."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from datamgr.render import OutputFormat, render
from datamgr.service.models import load_training_data_from_db
from datamgr.store import reads
from datamgr.store import snapshot as arrow_reads
from datamgr.store.engine import make_engine, read_connection
from datamgr.store.schema import raw_data
from datamgr.timestamps import parse_instant
from tests.conftest import HISTORY_END, HISTORY_START, Invoke, Project
from tests.test_concurrency import finish, launch

PAGE = 1_000  # rows per page here, so that the blank run below spans three pages
BLANK_ROWS = 2_500
FIRST, LAST = "2007-07-03 00:00:00", "2007-08-20 23:50:00"


@pytest.fixture
def blanks(initialized: Project, cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A turbine T05 whose GenRPM is blank for its first 2,500 rows and Pitch blank throughout;
    reads go in pages of 1,000 rows."""
    frame = initialized.files.history_frame.assign(turbine_id="T05")
    frame.loc[: BLANK_ROWS - 1, "GenRPM"] = np.nan
    frame["Pitch"] = np.nan
    path = initialized.root / "t05.parquet"
    frame.to_parquet(path, index=False)
    outcome = cli("--quiet", "ingest", path)
    assert (outcome.exit_code, outcome.stderr) == (0, "")
    monkeypatch.setattr(arrow_reads, "PAGE_ROWS", PAGE)
    return initialized


def sqlalchemy_rows(project: Project, start: str | None, end: str | None, turbines: list[str] | None) -> pd.DataFrame:
    """What range and export read without the columnar path: reads.between on a SQLAlchemy connection."""
    at = [None if value is None else parse_instant(value) for value in (start, end)]
    engine = make_engine(project.url)
    try:
        with read_connection(engine) as connection:
            return reads.to_frame(reads.between(connection, raw_data, at[0], at[1], turbines))
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("args", "start", "end", "turbines"),
    [
        (["range", "--turbine", "T05", "--start", FIRST, "--end", LAST], FIRST, LAST, ["T05"]),
        (["range", "--start", FIRST, "--end", LAST], FIRST, LAST, None),
        (["export", "--turbine", "T05"], None, None, ["T05"]),
        (["export"], None, None, None),
    ],
)
def test_parquet_output_is_todays(
    blanks: Project, cli: Invoke, args: list[str], start: str | None, end: str | None, turbines: list[str] | None
) -> None:
    """The file holds what `DataFrame.to_parquet` of the SQLAlchemy rows held: same schema, same values."""
    target, today = blanks.root / "out.parquet", blanks.root / "today.parquet"
    outcome = cli("--quiet", *args, "--output", target)
    assert (outcome.exit_code, outcome.stderr, outcome.stdout) == (0, "", "")
    expected = sqlalchemy_rows(blanks, start, end, turbines)
    expected.to_parquet(today, index=False)
    written = pq.read_table(target)
    assert written.schema.equals(pq.read_table(today).schema)
    assert written.equals(pq.read_table(today))
    t05 = written.filter(pc.equal(written["turbine_id"], "T05"))
    assert t05.num_rows == len(expected[expected.turbine_id == "T05"]) > BLANK_ROWS
    assert t05["Pitch"].null_count == t05.num_rows
    if start is None:  # blank for more than two pages, then values
        assert t05["GenRPM"][:BLANK_ROWS].null_count == BLANK_ROWS > 2 * PAGE
        assert t05["GenRPM"][BLANK_ROWS:].null_count < t05.num_rows - BLANK_ROWS
    pd.testing.assert_frame_equal(pd.read_parquet(target), expected)


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_printed_output_is_todays(blanks: Project, cli: Invoke, fmt: OutputFormat) -> None:
    """csv, json and table print exactly what the SQLAlchemy rows printed."""
    outcome = cli("range", "--turbine", "T05", "--start", "2007-07-18 10:00", "--end", "2007-07-18 12:00", "-f", fmt)
    assert outcome.exit_code == 0
    expected = io.StringIO()
    render(
        sqlalchemy_rows(blanks, "2007-07-18 10:00", "2007-07-18 12:00", ["T05"]),
        fmt=fmt,
        output=None,
        stream=expected,
        title="rows in range",
    )
    assert outcome.stdout == expected.getvalue()
    assert len(outcome.stdout.splitlines()) > 13


# Runs a CLI command in this interpreter and reports on stderr whether pandas was ever imported.
WITHOUT_PANDAS = """
import sys
from datamgr.cli import main
sys.argv = ["datamgr", *sys.argv[1:]]
try:
    main()
finally:
    print("pandas imported:", "pandas" in sys.modules, file=sys.stderr)
"""


@pytest.mark.sqlite_only
@pytest.mark.parametrize("command", [["range", "--start", FIRST, "--end", LAST], ["export", "--turbine", "T01"]])
def test_parquet_output_imports_no_pandas(initialized: Project, command: list[str]) -> None:
    target = initialized.root / "no-pandas.parquet"
    ran = subprocess.run(
        [sys.executable, "-c", WITHOUT_PANDAS, "--quiet", *command, "--output", str(target)],
        cwd=initialized.root,
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ,
    )
    assert (ran.returncode, ran.stderr) == (0, "pandas imported: False\n")
    assert pq.read_metadata(target).num_rows > 0


@pytest.mark.sqlite_only
def test_writers_beside_columnar_reads_leave_a_sound_file(initialized: Project, cli: Invoke) -> None:
    """Range processes read while ingest processes write; then, in one process, a range and an
    ingest follow each other. Every command succeeds, every read is the exact range, and the
    file passes integrity_check."""
    history = len(initialized.files.history_frame)
    farm = initialized.files.inference_frame.assign(turbine_id="T07")
    farm_file = initialized.root / "t07.parquet"
    farm.to_parquet(farm_file, index=False)
    outputs = [initialized.root / f"range_{i}.parquet" for i in range(4)]
    ranges = [launch(initialized, "range", "-s", HISTORY_START, "-e", HISTORY_END, "-o", str(o)) for o in outputs]
    writers = [
        launch(initialized, "ingest", str(initialized.files.inference)),
        launch(initialized, "ingest", str(farm_file)),
    ]
    results = finish(ranges + writers)
    assert [code for code, _ in results] == [0] * 6, results
    assert [pq.read_metadata(o).num_rows for o in outputs] == [history] * 4

    again = initialized.root / "again.parquet"
    assert cli("--quiet", "range", "-s", HISTORY_START, "-e", HISTORY_END, "-o", again).exit_code == 0
    more = initialized.files.inference_frame.assign(turbine_id="T08")
    more.to_parquet(initialized.root / "t08.parquet", index=False)
    assert cli("--quiet", "ingest", initialized.root / "t08.parquet").exit_code == 0
    assert pq.read_metadata(again).num_rows == history
    inference = len(initialized.files.inference_frame)
    assert initialized.rows() == history + 3 * inference
    assert initialized.sql("PRAGMA integrity_check") == [("ok",)]


def test_training_data_is_todays_frame(blanks: Project) -> None:
    """The training load through Arrow gives the frame the SQLAlchemy path gave, dtypes included."""
    start, end = datetime.fromisoformat(f"{FIRST}+00:00"), datetime.fromisoformat(f"{LAST}+00:00")
    engine = make_engine(blanks.url)
    try:
        with arrow_reads.reading(engine) as source:
            assert isinstance(source, arrow_reads.Snapshot) == (blanks.backend == "sqlite")
        loaded = load_training_data_from_db(engine, start, end, "T05")
    finally:
        engine.dispose()
    pd.testing.assert_frame_equal(loaded, sqlalchemy_rows(blanks, FIRST, LAST, ["T05"]))
    blank = BLANK_ROWS - 2 * 144  # the range starts two days in
    assert loaded["GenRPM"].iloc[:blank].isna().all()
    assert loaded["GenRPM"].iloc[blank:].notna().any()
