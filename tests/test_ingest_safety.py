"""Ingest never loses data: every input lands correctly or is refused with one exact line, and
nothing changes in any table; every problem that is not a refusal is a WARNING line, even under
--quiet, and --strict turns them into refusals."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import Invoke, Project

WARN = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ WARNING "
INFO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ INFO "
NEEDS = (
    "use ISO 8601 with a date and at least hours:minutes, such as '2007-07-29 03:10:00' or '2007-07-29T03:10:00+02:00'"
)
RANGE = "outside the range datamgr can store (1677-09-21 to 2262-04-11)"
STILL = "(is the file still being written?)"


def stored(project: Project, columns: str = '"WindSpeed", "Power"') -> list[tuple[object, ...]]:
    """Every raw_data row as (ISO timestamp, values...), oldest first."""
    stamp = project.epoch('"Timestamps"')
    rows = project.sql(f"SELECT {stamp}, {columns} FROM raw_data ORDER BY 1")
    return [(pd.Timestamp(row[0], unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ"), *row[1:]) for row in rows]


Make = Callable[[Path], None]


def text(content: str) -> Make:
    def write(path: Path) -> None:
        path.write_text(content)

    return write


def parquet(table: pa.Table) -> Make:
    return lambda path: pq.write_table(table, path)


def parquet_in_2300(path: Path) -> None:
    seconds = [int(pd.Timestamp("2031-01-01").timestamp()), int(pd.Timestamp("2300-01-01").timestamp())]
    pq.write_table(pa.table({"Timestamps": pa.array(seconds, pa.timestamp("s")), "Power": [1.0, 2.0]}), path)


def parquet_with_null_stamp(path: Path) -> None:
    stamps = pa.array([pd.Timestamp("2031-01-01", tz="UTC"), None], pa.timestamp("us", tz="UTC"))
    pq.write_table(pa.table({"Timestamps": stamps, "Power": [1.0, 2.0]}), path)


# (id, file name, how to make it, extra ingest options, the message after "Error: {path}: ")
REFUSALS: list[tuple[str, str, Make, list[str], str]] = [
    (
        "cut-mid-timestamp",
        "feed.csv",
        text("Timestamps,WindSpeed,Power\n2030-01-01 00:10:00,8,1300\n2030-01-01"),
        [],
        f"row 2 has 1 fields, the header has 3 {STILL}",
    ),
    (
        "cut-after-a-field",
        "feed.csv",
        text("Timestamps,WindSpeed,Power\n2030-01-01 00:10:00,8,1300\n2030-01-01 00:20:00,8"),
        [],
        f"row 2 has 2 fields, the header has 3 {STILL}",
    ),
    (
        "cut-after-a-delimiter",
        "feed.csv",
        text("Timestamps,WindSpeed,Power\n2030-01-01 00:10:00,8,1300\n2030-01-01 00:20:00,8,"),
        [],
        f"row 2, the last line, ends with an empty field and no final newline {STILL}",
    ),
    (
        "short-row-mid-file",
        "ragged.csv",
        text(
            "Timestamps,WindSpeed,Power\n2030-01-01 00:10:00,8,1300\n2030-01-01 00:20:00,9\n2030-01-01 00:30:00,1,2\n"
        ),
        [],
        f"row 2 has 2 fields, the header has 3 {STILL}",
    ),
    (
        "long-row-after-blank-lines",
        "ragged.csv",
        text("Timestamps,WindSpeed,Power\n\n2030-01-01 00:10:00,8,1300\n\n2030-01-01 00:20:00,9,1,5\n"),
        [],
        f"row 2 has 4 fields, the header has 3 {STILL}",
    ),
    (
        "year-only",
        "partial.csv",
        text("Timestamps,Power\n2030-01-01 00:00,1\n2030,2\n2030-01,3\n2030-01-01,4\n2030-01-01 00:2,5\n"),
        [],
        "column Timestamps: 4 value(s) are not valid timestamps at row 2 ('2030'), row 3 ('2030-01'), "
        f"row 4 ('2030-01-01') and 1 more; {NEEDS}",
    ),
    (
        "minutes-cut",
        "partial.csv",
        text("Timestamps,Power\n2030-01-01 00:2,5\n"),
        [],
        f"column Timestamps: 1 value(s) are not valid timestamps at row 1 ('2030-01-01 00:2'); {NEEDS}",
    ),
    (
        "offset-cut",
        "partial.csv",
        text("Power,Timestamps\n5,2030-01-01T00:20:00+0\n"),
        [],
        f"column Timestamps: 1 value(s) are not valid timestamps at row 1 ('2030-01-01T00:20:00+0'); {NEEDS}",
    ),
    (
        "csv-year-9999",
        "far.csv",
        text("Timestamps,Power\n2030-01-01 00:00,1\n9999-12-31 00:00,2\n1600-01-01T00:00Z,3\n"),
        [],
        f"column Timestamps: 2 value(s) {RANGE} at row 2 ('9999-12-31 00:00'), row 3 ('1600-01-01T00:00Z'); "
        "check the year",
    ),
    (
        "parquet-seconds-in-2300",
        "far.parquet",
        parquet_in_2300,
        [],
        f"column Timestamps: 1 value(s) {RANGE} at row 2 ('2300-01-01 00:00:00'); check the year",
    ),
    (
        "parquet-null-timestamp",
        "nulls.parquet",
        parquet_with_null_stamp,
        [],
        "column Timestamps: 1 empty value(s) at row 2 (NaT); every row needs a timestamp",
    ),
    (
        "pipe-delimited",
        "pipes.csv",
        text("Timestamps|Power\n2030-01-01 00:00|1\n"),
        [],
        "the header is one single column 'Timestamps|Power' that contains '|'; if '|' separates the columns, "
        "pass --delimiter '|'",
    ),
    (
        "semicolons-read-with-comma",
        "semi.csv",
        text("Timestamps;Power\n2030-01-01 00:00;1\n"),
        ["--delimiter", ","],
        "the header is one single column 'Timestamps;Power' that contains ';'; if ';' separates the columns, "
        "pass --delimiter ';'",
    ),
    (
        "comma-decimal-with-comma-delimiter",
        "both.csv",
        text("Timestamps,Power\n2030-01-01 00:00,1\n"),
        ["--decimal", ","],
        "the delimiter is ',', so ',' cannot also be the decimal separator; pass --delimiter for the file's "
        "real delimiter, or --decimal .",
    ),
    (
        "point-in-a-comma-decimal-file",
        "mixed.csv",
        text("Timestamps;Power\n2030-01-01 00:00;1,5\n2030-01-01 00:10;2.5\n"),
        [],
        "column Power: 1 non-numeric value(s) at row 2 ('2.5'); the decimal separator is ',' (see --decimal)",
    ),
    (
        "lower-case-headers-ignored",
        "lower.csv",
        text("Timestamps,power,windspeed\n2030-01-01 00:00,1300,8\n"),
        ["--ignore-unknown-columns"],
        "no value column left for table raw_data once the unknown column(s) power, windspeed are ignored "
        "(did you mean Power, WindSpeed?); name the columns as the table does: WindSpeed, WindDirAbs, "
        "WindDirRel, Power, Pitch, GenRPM, RotorRPM, EnvirTemp, NacelTemp, GearOilTemp, GearBearTemp, "
        "GenPh1Temp, GenBearTemp",
    ),
    (
        "lower-case-headers",
        "lower.csv",
        text("Timestamps,power,windspeed\n2030-01-01 00:00,1300,8\n"),
        [],
        "unknown column(s) power, windspeed for table raw_data (did you mean Power, WindSpeed?); "
        "rename them or pass --ignore-unknown-columns",
    ),
    (
        "timestamps-only",
        "keys.csv",
        text("Timestamps\n2030-01-01 00:00\n"),
        [],
        "no value column, only turbine_id, Timestamps; table raw_data takes WindSpeed, WindDirAbs, WindDirRel, Power, "
        "Pitch, GenRPM, RotorRPM, EnvirTemp, NacelTemp, GearOilTemp, GearBearTemp, GenPh1Temp, GenBearTemp",
    ),
    (
        "unnamed-header-cell",
        "trailing.csv",
        text("Timestamps,Power,\n2030-01-01 00:00,1,\n"),
        [],
        "unknown column(s) (no name, column 3) for table raw_data; rename them or pass --ignore-unknown-columns",
    ),
    (
        "parquet-epoch-numbers",
        "epoch.parquet",
        parquet(pa.table({"Timestamps": pa.array([1_900_000_000], pa.int64()), "Power": [1.0]})),
        [],
        f"column Timestamps: 1 value(s) are not valid timestamps at row 1 (1900000000); {NEEDS}",
    ),
    (
        "duplicate-header",
        "twice.csv",
        text("Timestamps,Power,Power\n2030-01-01 00:00,1,2\n"),
        [],
        "column Power appears twice in the header; keep one",
    ),
    (
        "empty-first-line",
        "gap.csv",
        text("\nTimestamps,Power\n2030-01-01 00:00,1\n"),
        [],
        "the first line is empty; datamgr needs the header on the first line",
    ),
]


@pytest.mark.parametrize(
    ("name", "make", "options", "message"), [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS]
)
def test_refused_with_one_exact_line_and_every_table_unchanged(
    store: Project, cli: Invoke, name: str, make: Make, options: list[str], message: str
) -> None:
    path = store.root / name
    make(path)
    before = store.snapshot()
    outcome = cli("--quiet", "ingest", path, *options)
    assert (outcome.exit_code, outcome.stdout, outcome.stderr) == (1, "", f"Error: {path}: {message}\n")
    assert store.snapshot() == before


def test_a_refused_file_among_good_ones_lands_nothing(store: Project, cli: Invoke) -> None:
    good, cut = store.root / "good.csv", store.root / "cut.csv"
    good.write_text("Timestamps,Power\n2031-01-01 00:00,1\n")
    cut.write_text("Timestamps,Power\n2031-01-01 00:10,1\n2031-01-01 00:2")
    before = store.snapshot()
    outcome = cli("ingest", good, cut)
    assert (outcome.exit_code, outcome.stderr) == (1, f"Error: {cut}: row 2 has 1 fields, the header has 2 {STILL}\n")
    assert store.snapshot() == before


def test_the_issue_s_feed_keeps_the_stored_row(store: Project, cli: Invoke) -> None:
    """The report that started it: a feed cut mid-timestamp used to blank the stored 00:00 row."""
    feed = store.root / "feed.csv"
    feed.write_text("Timestamps,WindSpeed,Power\n2030-01-01 00:10:00,8,1300\n2030-01-01")
    assert cli("ingest", feed).exit_code == 1
    assert stored(store) == [("2030-01-01T00:00:00Z", 7.5, 1200.0), ("2030-01-01T00:10:00Z", 8.5, 1300.0)]


def test_a_complete_last_line_without_a_final_newline_lands(store: Project, cli: Invoke) -> None:
    feed = store.root / "feed.csv"
    feed.write_text("Timestamps,WindSpeed,Power\n2030-01-01 00:20:00,8,1300\n2030-01-01 00:30:00,9,1400")
    outcome = cli("ingest", feed)
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stderr.endswith("2 rows read, 2 inserted, 0 updated, 0 unchanged\n")
    assert stored(store)[-2:] == [("2030-01-01T00:20:00Z", 8.0, 1300.0), ("2030-01-01T00:30:00Z", 9.0, 1400.0)]


def test_a_file_that_grows_while_it_is_read_is_refused(
    store: Project, cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A last line without a newline may be cut inside its last number (1300 read as 13): it is
    trusted only if the file stays as it was while it is read and for a moment after."""
    import datamgr.files

    monkeypatch.setattr(datamgr.files, "UNTERMINATED_SETTLE_S", 2.0)
    feed = store.root / "feed.csv"
    feed.write_text("Timestamps,WindSpeed,Power\n2030-01-01 00:20:00,8,13")

    def finish_the_line() -> None:
        time.sleep(0.5)
        with feed.open("a") as handle:
            handle.write("00\n")

    writer = threading.Thread(target=finish_the_line)
    before = store.snapshot()
    writer.start()
    outcome = cli("ingest", feed)
    writer.join()
    assert (outcome.exit_code, outcome.stderr) == (
        1,
        f"Error: {feed}: the file changed while it was being read {STILL}; ingest it again once it is complete\n",
    )
    assert store.snapshot() == before
    again = cli("ingest", feed)
    assert again.exit_code == 0, again.stderr
    assert stored(store)[-1] == ("2030-01-01T00:20:00Z", 8.0, 1300.0)


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2030-01-01T02:00:00Z", "2030-01-01T02:00:00Z"),
        ("2030-01-01 02:00:00+02:00", "2030-01-01T00:00:00Z"),
        ("2030-01-01T02:00+0200", "2030-01-01T00:00:00Z"),
        ("2030-01-01T02:00:00+02", "2030-01-01T00:00:00Z"),
        ("2029-12-31T19:00:00-05", "2030-01-01T00:00:00Z"),
        ("2030-01-01 02:00 +02:00", "2030-01-01T00:00:00Z"),
        ("2030-01-01 00:00", "2030-01-01T00:00:00Z"),
    ],
)
def test_every_offset_form_lands_in_utc(store: Project, cli: Invoke, stamp: str, expected: str) -> None:
    path = store.root / "offsets.csv"
    path.write_text(f"Timestamps,Power\n{stamp},1500\n")
    outcome = cli("ingest", path)
    assert outcome.exit_code == 0, outcome.stderr
    assert (expected, 1500.0) in [(row[0], row[2]) for row in stored(store)]


def test_parquet_written_with_timestamps_as_its_index(store: Project, cli: Invoke) -> None:
    path = store.root / "indexed.parquet"
    frame = pd.DataFrame(
        {"Timestamps": pd.date_range("2031-01-01", periods=3, freq="10min", tz="UTC"), "Power": [1.0, 2.0, 3.0]}
    )
    frame.set_index("Timestamps").to_parquet(path)
    outcome = cli("ingest", path)
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stderr.endswith("3 rows read, 3 inserted, 0 updated, 0 unchanged\n")
    assert [(row[0], row[2]) for row in stored(store)][-3:] == [
        ("2031-01-01T00:00:00Z", 1.0),
        ("2031-01-01T00:10:00Z", 2.0),
        ("2031-01-01T00:20:00Z", 3.0),
    ]


def test_off_grid_timestamps_are_counted_not_refused(store: Project, cli: Invoke) -> None:
    path = store.root / "odd_times.csv"
    path.write_text("Timestamps,Power\n2031-01-01 00:00,1\n2031-01-01 00:07,2\n2031-01-01 00:10:30,3\n")
    outcome = cli("ingest", path)
    assert outcome.exit_code == 0
    assert outcome.stderr.endswith(
        "3 rows read, 3 inserted, 0 updated, 0 unchanged, 2 timestamps off the 10-minute grid\n"
    )
    assert "WARNING" not in outcome.stderr


@pytest.mark.parametrize(
    ("content", "options", "expected"),
    [
        ("Timestamps;WindSpeed;Power\n2031-01-01 00:00;7,5;1200,25\n", [], (7.5, 1200.25)),
        ("Timestamps;WindSpeed;Power\n2031-01-01 00:00;7.5;1200\n", [], (7.5, 1200.0)),
        ("Timestamps\tWindSpeed\tPower\n2031-01-01 00:00\t7,5\t1200\n", [], (7.5, 1200.0)),
        ("Timestamps\tWindSpeed\tPower\n2031-01-01 00:00\t7.5\t1200\n", ["--delimiter", "tab"], (7.5, 1200.0)),
        ('"Timestamps","WindSpeed","Power"\n"2031-01-01 00:00","7.5","1200"\n', [], (7.5, 1200.0)),
        ("Timestamps|WindSpeed|Power\n2031-01-01 00:00|7,5|1200\n", ["--delimiter", "|", "--decimal", ","],
         (7.5, 1200.0)),
        ("Timestamps;WindSpeed;Power\n2031-01-01 00:00;7;1200\n2031-01-01 00:10;;\n", ["--decimal", ","],
         (7.0, 1200.0)),
        ("\ufeffTimestamps,WindSpeed,Power\r\n2031-01-01 00:00,7.5,1200\r\n", [], (7.5, 1200.0)),
    ],
    ids=["semicolon-comma-decimals", "semicolon-points", "tab-comma-decimals", "tab-option", "quoted",
         "pipe-options", "decimal-option", "bom-crlf"],
)  # fmt: skip
def test_delimiters_and_decimals(
    store: Project, cli: Invoke, content: str, options: list[str], expected: tuple[float, float]
) -> None:
    path = store.root / "europe.csv"
    path.write_text(content)
    outcome = cli("ingest", path, *options)
    assert outcome.exit_code == 0, outcome.stderr
    assert ("2031-01-01T00:00:00Z", *expected) in stored(store)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--delimiter", "ab"],
         "Invalid value for '--delimiter': 'ab' is not one character; use , ; tab or another single character"),
        (["--decimal", "x"], "Invalid value for '--decimal': 'x': the decimal separator is . or ,"),
        (["--delimiter", ",", "--decimal", ","],
         "Invalid value for --decimal: --decimal , needs a --delimiter other than ,"),
    ],
)  # fmt: skip
def test_bad_delimiter_options_are_usage_errors(store: Project, cli: Invoke, options: list[str], message: str) -> None:
    path = store.root / "fine.csv"
    path.write_text("Timestamps,Power\n2031-01-01 00:00,1\n")
    before = store.snapshot()
    outcome = cli("ingest", path, *options)
    assert (outcome.exit_code, outcome.stderr.splitlines()[-1]) == (2, f"Error: {message}")
    assert store.snapshot() == before


def quarantined(path: Path) -> None:
    path.write_text(
        "Timestamps,WindSpeed,Power\n2031-01-01 00:00,5,300\n2031-01-01 00:10,-3,300\n"
        "2031-01-01 00:20,7,9000\n2031-01-01 00:30,-1,1\n2031-01-01 00:40,-2,1\n"
    )


def duplicated(path: Path) -> None:
    path.write_text(
        "Timestamps,Power\n2031-01-01 00:00,1\n2031-01-01 00:00,2\n2031-01-01 00:10,3\n2031-01-01 00:00,4\n"
    )


def headers_only(path: Path) -> None:
    path.write_text("Timestamps,Power\n")


def extra_columns(path: Path) -> None:
    path.write_text("Timestamps,Power,Colour,Smell\n2031-01-01 00:00,1,red,odd\n")


def unnamed_columns(path: Path) -> None:
    path.write_text("Timestamps,Power,,\n2031-01-01 00:00,1,,\n")


def empty_parquet(path: Path) -> None:
    pq.write_table(
        pa.table({"Timestamps": pa.array([], pa.timestamp("s", tz="UTC")), "Power": pa.array([], pa.float64())}), path
    )


# (id, file name, how to make it, options, the WARNING line after "ingest {path}: ", the INFO counts)
WARNINGS: list[tuple[str, str, Make, list[str], str, str]] = [
    (
        "quarantined",
        "odd.csv",
        quarantined,
        [],
        "4 row(s) quarantined for impossible values at row 2 (WindSpeed=-3.0 below 0.0), row 3 (Power=9000.0 "
        "above 2600.0), row 4 (WindSpeed=-1.0 below 0.0) and 1 more; see `datamgr last-n 100 -t quarantine`",
        "5 rows read, 1 inserted, 0 updated, 0 unchanged, 4 quarantined for impossible values "
        "(see `datamgr last-n 100 -t quarantine`)",
    ),
    (
        "duplicates",
        "dups.csv",
        duplicated,
        [],
        "2 row(s) replaced by a later row with the same timestamp (duplicates collapsed to the last) at row 1, row 2",
        "4 rows read, 2 inserted, 0 updated, 0 unchanged, 2 duplicate timestamps collapsed to the last",
    ),
    (
        "no-rows-csv",
        "header.csv",
        headers_only,
        [],
        "the file holds 0 rows; nothing to ingest",
        "0 rows read, 0 inserted, 0 updated, 0 unchanged",
    ),
    (
        "no-rows-parquet",
        "empty.parquet",
        empty_parquet,
        [],
        "the file holds 0 rows; nothing to ingest",
        "0 rows read, 0 inserted, 0 updated, 0 unchanged",
    ),
    (
        "ignored-columns",
        "extra.csv",
        extra_columns,
        ["--ignore-unknown-columns"],
        "2 column(s) ignored, not in table raw_data: Colour, Smell",
        "1 rows read, 1 inserted, 0 updated, 0 unchanged",
    ),
    (
        "unnamed-columns-ignored",
        "trailing.csv",
        unnamed_columns,
        ["--ignore-unknown-columns"],
        "2 column(s) ignored, not in table raw_data: (no name, column 3), (no name, column 4)",
        "1 rows read, 1 inserted, 0 updated, 0 unchanged",
    ),
]


@pytest.mark.parametrize(
    ("name", "make", "options", "warning", "counts"), [c[1:] for c in WARNINGS], ids=[c[0] for c in WARNINGS]
)
def test_problems_are_warnings_under_quiet_and_refusals_under_strict(
    store: Project, cli: Invoke, name: str, make: Make, options: list[str], warning: str, counts: str
) -> None:
    import re

    path = store.root / name
    make(path)
    before = store.snapshot()
    strict = cli("--quiet", "ingest", "--strict", path, *options)
    assert strict.exit_code == 1
    assert re.fullmatch(
        f"{WARN}{re.escape(f'ingest {path}: {warning}')}\n"
        + re.escape(f"Error: --strict: ingest {path}: {warning}; nothing was written\n"),
        strict.stderr,
    ), strict.stderr
    assert store.snapshot() == before

    loud = cli("ingest", path, *options)
    assert loud.exit_code == 0
    assert re.fullmatch(
        f"{WARN}{re.escape(f'ingest {path}: {warning}')}\n{INFO}{re.escape(f'ingest {path} -> raw_data: {counts}')}\n",
        loud.stderr,
    ), loud.stderr

    quiet = cli("--quiet", "ingest", path, *options)  # the same warning again, and nothing else
    assert quiet.exit_code == 0
    assert re.fullmatch(f"{WARN}{re.escape(f'ingest {path}: {warning}')}\n", quiet.stderr), quiet.stderr


def test_strict_with_several_warnings_names_the_first_and_counts_the_rest(store: Project, cli: Invoke) -> None:
    odd, dups = store.root / "odd.csv", store.root / "dups.csv"
    quarantined(odd)
    duplicated(dups)
    before = store.snapshot()
    outcome = cli("ingest", "--strict", odd, dups)
    assert outcome.exit_code == 1
    lines = outcome.stderr.splitlines()
    assert len(lines) == 3
    assert lines[0].endswith(f"WARNING ingest {odd}: 4 row(s) quarantined for impossible values at row 2 "
                             "(WindSpeed=-3.0 below 0.0), row 3 (Power=9000.0 above 2600.0), row 4 (WindSpeed=-1.0 "
                             "below 0.0) and 1 more; see `datamgr last-n 100 -t quarantine`")  # fmt: skip
    assert lines[1].endswith(f"WARNING ingest {dups}: 2 row(s) replaced by a later row with the same timestamp "
                             "(duplicates collapsed to the last) at row 1, row 2")  # fmt: skip
    assert lines[2].startswith(f"Error: --strict: ingest {odd}: 4 row(s) quarantined")
    assert lines[2].endswith("(and 1 more warning(s)); nothing was written")
    assert store.snapshot() == before


def test_strict_without_warnings_ingests(store: Project, cli: Invoke) -> None:
    path = store.root / "clean.csv"
    path.write_text("Timestamps,Power\n2031-01-01 00:00,1\n")
    outcome = cli("--quiet", "ingest", "--strict", path)
    assert (outcome.exit_code, outcome.stderr) == (0, "")
    assert store.rows() == 3


def test_duplicates_across_batches_are_named_by_their_rows(
    store: Project, cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches that overlap in time go through the staging merge; the replaced rows are still named."""
    import datamgr.files

    monkeypatch.setattr(datamgr.files, "BATCH_ROWS", 2)
    path = store.root / "late_dups.csv"
    path.write_text(
        "Timestamps,Power\n2031-01-01 00:00,1\n2031-01-01 00:10,2\n2031-01-01 00:20,3\n"
        "2031-01-01 00:00,4\n2031-01-01 00:30,5\n2031-01-01 00:10,6\n"
    )
    outcome = cli("ingest", path)
    assert outcome.exit_code == 0
    assert outcome.stderr.splitlines()[-2].endswith(
        f"WARNING ingest {path}: 2 row(s) replaced by a later row with the same timestamp "
        "(duplicates collapsed to the last) at row 1, row 2"
    )
    assert [(row[0], row[2]) for row in stored(store)][-4:] == [
        ("2031-01-01T00:00:00Z", 4.0),
        ("2031-01-01T00:10:00Z", 6.0),
        ("2031-01-01T00:20:00Z", 3.0),
        ("2031-01-01T00:30:00Z", 5.0),
    ]
