"""Inputs datamgr must refuse: turbine ids outside the config's rule from any source, columns named
twice, text that is not UTF-8, inputs that are not regular files, and local times that a DST change
skips or repeats. Each is one exact `Error:` line, exit 1 (data) or 2 (usage), and every table of
both backends unchanged."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import Invoke, Project
from tests.test_smoke import DATAMGR

RULE = "a turbine id is 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
Make = Callable[[Path], object]


def csv_bytes(content: bytes) -> Make:
    return lambda path: path.write_bytes(content)


def turbines_csv(*turbines: str) -> Make:
    """A CSV whose rows belong to the turbines given, one row each, 10 minutes apart."""
    rows = "".join(f'"{t}",2031-01-01 00:{10 * i:02d},{i}\n' for i, t in enumerate(turbines))
    return lambda path: path.write_text("turbine_id,Timestamps,Power\n" + rows, encoding="utf-8")


def parquet(columns: dict[str, pa.Array], names: list[str] | None = None) -> Make:
    table = pa.Table.from_arrays(list(columns.values()), names=names or list(columns))
    return lambda path: pq.write_table(table, path)


def stamps(count: int) -> pa.Array:
    return pa.array([f"2031-01-01 00:{10 * i:02d}" for i in range(count)])


def invalid_utf8_strings() -> pa.Array:
    """A Parquet string column holding bytes that are not UTF-8 (pyarrow builds none itself)."""
    offsets = pa.py_buffer(bytes([0, 0, 0, 0, 3, 0, 0, 0, 7, 0, 0, 0]))
    return pa.Array.from_buffers(pa.string(), 2, [None, offsets, pa.py_buffer(b"T01\xffT02")])


REFUSED = [
    (
        "escape-sequence",
        "esc.csv",
        turbines_csv("T01", "T\x1b[31m02"),
        f"column turbine_id: 1 invalid turbine id(s) at row 2 ('T\\x1b[31m02'); {RULE}",
    ),
    (
        "zero-width-space",
        "zwsp.csv",
        turbines_csv("T01\u200b", "T01\u200b", "T01"),
        f"column turbine_id: 2 invalid turbine id(s) at row 1 ('T01\\u200b'), row 2 ('T01\\u200b'); {RULE}",
    ),
    (
        "sql-metacharacters",
        "sql.csv",
        turbines_csv("T01", "T01'; DROP TABLE raw_data; --"),
        f'column turbine_id: 1 invalid turbine id(s) at row 2 ("T01\'; DROP TABLE raw_data; --"); {RULE}',
    ),
    (
        "surrounding-spaces",
        "spaces.csv",
        turbines_csv(" T01 ", "T01"),
        f"column turbine_id: 1 invalid turbine id(s) at row 1 (' T01 '); {RULE}",
    ),
    (
        "trailing-newline",
        "newline.csv",
        turbines_csv("T01\n"),
        f"column turbine_id: 1 invalid turbine id(s) at row 1 ('T01\\n'); {RULE}",
    ),
    (
        "nul-byte",
        "nul.parquet",
        parquet({"turbine_id": pa.array(["T01", "T\x0001"]), "Timestamps": stamps(2), "Power": pa.array([1.0, 2.0])}),
        f"column turbine_id: 1 invalid turbine id(s) at row 2 ('T\\x0001'); {RULE}",
    ),
    (
        "integers",
        "numbers.parquet",
        parquet({"turbine_id": pa.array([1, 2]), "Timestamps": stamps(2), "Power": pa.array([1.0, 2.0])}),
        "column turbine_id: 2 value(s) that are not text at row 1 (1), row 2 (2); write them as text, such as 'T01'",
    ),
    (
        "csv-not-utf8",
        "latin.csv",
        csv_bytes(b"turbine_id,Timestamps,Power\nT01,2031-01-01 00:00,1\n\xff\xfeT1,2031-01-01 00:10,2\n"),
        "column turbine_id: 1 value(s) are not UTF-8 text at row 2 (b'\\xff\\xfeT1'); save the file as UTF-8",
    ),
    (
        "parquet-binary-not-utf8",
        "binary.parquet",
        parquet(
            {"turbine_id": pa.array([b"T01", b"\xffT1"], pa.binary()), "Timestamps": stamps(2), "Power": [1.0, 2.0]}
        ),
        "column turbine_id: 1 value(s) are not UTF-8 text at row 2 (b'\\xffT1'); save the file as UTF-8",
    ),
    (
        "parquet-string-not-utf8",
        "strings.parquet",
        parquet({"turbine_id": invalid_utf8_strings(), "Timestamps": stamps(2), "Power": pa.array([1.0, 2.0])}),
        "column turbine_id: 1 value(s) are not UTF-8 text at row 2 (b'\\xffT02'); save the file as UTF-8",
    ),
    (
        "parquet-column-twice",
        "twice.parquet",
        parquet({"a": stamps(1), "b": pa.array([1.0]), "c": pa.array([2.0])}, names=["Timestamps", "Power", "Power"]),
        "column Power appears twice in the file; keep one",
    ),
]


@pytest.mark.parametrize(("name", "make", "message"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_a_bad_input_is_one_line_exit_1_and_every_table_unchanged(
    store: Project, cli: Invoke, name: str, make: Make, message: str
) -> None:
    path = store.root / name
    make(path)
    before = store.snapshot()
    outcome = cli("--quiet", "ingest", path)
    assert (outcome.exit_code, outcome.stdout, outcome.stderr) == (1, "", f"Error: {path}: {message}\n")
    assert store.snapshot() == before


def test_turbine_ids_that_follow_the_rule_land_as_written(store: Project, cli: Invoke) -> None:
    path = store.root / "good.csv"
    turbines_csv("T01", "wtg-07.b_2", "9", "A" * 64)(path)
    outcome = cli("--quiet", "ingest", path)
    assert (outcome.exit_code, outcome.stderr) == (0, "")
    stored = store.sql("SELECT DISTINCT turbine_id FROM raw_data ORDER BY turbine_id")
    assert [row[0] for row in stored] == ["9", "A" * 64, "T01", "wtg-07.b_2"]


def test_a_mapped_turbine_column_follows_the_rule_too(
    store: Project, cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATAMGR_DATA_MANAGER__COLUMN_MAP", '{"asset": "turbine_id"}')
    path = store.root / "vendor.csv"
    path.write_text("asset,Timestamps,Power\nT01,2031-01-01 00:00,1\nT01 ,2031-01-01 00:10,2\n")
    before = store.snapshot()
    outcome = cli("--quiet", "ingest", path)
    assert (outcome.exit_code, outcome.stderr) == (
        1,
        f"Error: {path}: column turbine_id: 1 invalid turbine id(s) at row 2 ('T01 '); {RULE}\n",
    )
    assert store.snapshot() == before


@pytest.mark.parametrize("turbine", [" T01 ", "T01'--", "T\x1b[0m1", "T01\u200b", "-T01", "T" * 65])
def test_a_bad_turbine_option_is_a_usage_error(store: Project, cli: Invoke, turbine: str) -> None:
    path = store.root / "one.csv"
    path.write_text("Timestamps,Power\n2031-01-01 00:00,1\n")
    before = store.snapshot()
    outcome = cli("--quiet", "ingest", "--turbine", turbine, path)
    assert (outcome.exit_code, outcome.stderr) == (2, f"Error: --turbine {turbine!r} is not a turbine id; {RULE}\n")
    assert store.snapshot() == before


def installed(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed command from another folder, bounded: a wait for ever is a failure, not a hang."""
    assert DATAMGR is not None
    return subprocess.run([DATAMGR, *args], cwd=cwd, env=os.environ, capture_output=True, text=True, timeout=60)


def make_fifo(path: Path) -> None:
    os.mkfifo(path)


def make_socket(path: Path) -> None:
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(path))
    listening.close()


@pytest.mark.parametrize(
    ("name", "make", "kind"),
    [
        ("feed.csv", make_fifo, "a named pipe (FIFO)"),
        ("feed.parquet", make_socket, "a socket"),
        ("/dev/null", None, "a character device"),
    ],
    ids=["fifo", "socket", "device"],
)
def test_a_pipe_socket_or_device_is_refused_at_once(
    store: Project, tmp_path: Path, name: str, make: Make | None, kind: str
) -> None:
    path = store.root / name
    if make is not None:
        make(path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    before = store.snapshot()
    outcome = installed("ingest", str(path), cwd=elsewhere)
    assert (outcome.returncode, outcome.stdout, outcome.stderr) == (
        1,
        "",
        f"Error: {path}: is {kind}, not a regular file; name a .parquet, .pq or .csv file\n",
    )
    assert store.snapshot() == before


# Europe/Paris skips 2008-03-30 02:00-03:00 and shows 2007-10-28 02:00-03:00 twice.
GAP, FOLD = "2008-03-30 02:30", "2007-10-28 02:30"
SKIPPED = (
    "does not exist in Europe/Paris (the clocks skip it when they change); give a time that exists there, "
    "or one with a UTC offset"
)
REPEATED = (
    "is ambiguous in Europe/Paris (the clocks show it twice, at +02:00 and +01:00); add the UTC offset you mean, "
    "such as '2007-10-28T02:30:00+02:00'"
)
# status keeps its monitoring exit code: 3, UNKNOWN, for any error.
TIME_OPTIONS = [
    (["range", "--start", GAP, "--end", "2008-04-01"], "--start", GAP, SKIPPED, 2),
    (["range", "--start", "2007-10-01", "--end", FOLD], "--end", FOLD, REPEATED, 2),
    (["range", "--start", FOLD], "--start", FOLD, REPEATED, 2),
    (["train", "--start", "2007-07-01", "--end", GAP], "--end", GAP, SKIPPED, 2),
    (["predict", "--start", FOLD, "--end", "2007-11-01"], "--start", FOLD, REPEATED, 2),
    (["evaluate", "--start", GAP], "--start", GAP, SKIPPED, 2),
    (["report", "--end", FOLD, "-o", "report.html"], "--end", FOLD, REPEATED, 2),
    (["status", "--as-of", GAP], "--as-of", GAP, SKIPPED, 3),
]


@pytest.mark.parametrize(
    ("args", "option", "value", "problem", "code"), TIME_OPTIONS, ids=[f"{c[0][0]}{c[1]}" for c in TIME_OPTIONS]
)
def test_a_local_time_that_a_dst_change_skips_or_repeats_is_refused(
    store: Project,
    cli: Invoke,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    option: str,
    value: str,
    problem: str,
    code: int,
) -> None:
    monkeypatch.setenv("DATAMGR_DATA_MANAGER__NAIVE_TIMEZONE", "Europe/Paris")
    before = store.snapshot()
    outcome = cli(*args)
    assert (outcome.exit_code, outcome.stdout, outcome.stderr) == (code, "", f"Error: {option} '{value}' {problem}\n")
    assert store.snapshot() == before
    assert not (store.root / "report.html").exists()


def test_local_times_on_either_side_of_a_dst_change_are_taken(
    store: Project, cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The times around the gap and the fold name one instant each, and an offset settles the fold."""
    monkeypatch.setenv("DATAMGR_DATA_MANAGER__NAIVE_TIMEZONE", "Europe/Paris")
    for start in ("2008-03-30 01:59:59", "2008-03-30 03:00", "2007-10-28T02:30:00+01:00", "2007-10-28 03:00"):
        outcome = cli("range", "--start", start, "--format", "csv")
        assert outcome.exit_code == 0, outcome.stderr
        assert outcome.stdout.count("\n") == 3  # the header and the two stored rows of 2030
