"""Tables for people on a terminal: fixed decimals per column, aligned, and one record per block
when the table is wider than the screen. Pipes and files stay exactly as they were."""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import pty
import re
import struct
import subprocess
import termios
from pathlib import Path

import pytest

from datamgr.errors import InputFileError
from datamgr.render import OutputFormat, render, write_atomically, write_file, write_table, write_text
from datamgr.rows import Rows
from tests.conftest import Project
from tests.test_smoke import DATAMGR

ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as sys.stdout does in an interactive shell."""

    def isatty(self) -> bool:
        return True


ROWS = Rows(
    ["turbine_id", "Timestamps", "WindSpeed", "Power", "Pitch", "model_id", "note"],
    [
        ("T01", "2008-07-28T23:30:00Z", 10.53, 1500.0, None, 1, "ok"),
        ("T01", "2008-07-28T23:40:00Z", 11.6114, 1612.25, 2.5, 12, None),
    ],
    frozenset({"Timestamps"}),
)


def table_text(rows: Rows, width: int | None, stream: io.StringIO | None = None) -> str:
    out = stream if stream is not None else Terminal()
    write_table(rows, out, width=width)
    return ANSI.sub("", out.getvalue())


def test_a_table_that_fits_aligns_each_column_on_fixed_decimals() -> None:
    lines = table_text(ROWS, width=120).splitlines()
    assert "┃ turbine_id ┃ Timestamps           ┃ WindSpeed ┃   Power ┃ Pitch ┃ model_id ┃ note ┃" in lines
    body = [line for line in lines if line.startswith("│")]
    assert body == [
        "│ T01        │ 2008-07-28T23:30:00Z │    10.530 │ 1500.00 │       │        1 │ ok   │",
        "│ T01        │ 2008-07-28T23:40:00Z │    11.611 │ 1612.25 │   2.5 │       12 │      │",
    ]
    assert max(len(line) for line in lines) <= 120


def test_a_table_wider_than_the_terminal_is_one_record_per_block() -> None:
    assert table_text(ROWS, width=40) == (
        "-[ RECORD 1 ]--------------------\n"
        "turbine_id | T01\n"
        "Timestamps | 2008-07-28T23:30:00Z\n"
        "WindSpeed  |  10.530\n"
        "Power      | 1500.00\n"
        "Pitch      |\n"
        "model_id   |       1\n"
        "note       | ok\n"
        "-[ RECORD 2 ]--------------------\n"
        "turbine_id | T01\n"
        "Timestamps | 2008-07-28T23:40:00Z\n"
        "WindSpeed  |  11.611\n"
        "Power      | 1612.25\n"
        "Pitch      |     2.5\n"
        "model_id   |      12\n"
        "note       |\n"
    )


def test_the_terminal_width_comes_from_the_environment_and_a_title_heads_the_records(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "50")
    out = Terminal()
    render(ROWS, fmt=None, output=None, stream=out, title="2 rows")
    lines = out.getvalue().splitlines()
    assert lines[:3] == ["2 rows", "-[ RECORD 1 ]--------------------", "turbine_id | T01"]
    assert len(lines) == 1 + 2 * 8

    monkeypatch.setenv("COLUMNS", "200")
    out = Terminal()
    render(ROWS, fmt=None, output=None, stream=out)
    assert "-[ RECORD" not in out.getvalue()
    assert "│    11.611 │" in ANSI.sub("", out.getvalue())


def test_names_longer_than_the_record_header_put_the_bar_under_the_separator() -> None:
    rows = Rows(["GearBearingTemperature", "x"], [(61.25, "a" * 90)])
    assert table_text(rows, width=80).splitlines()[:3] == [
        "-[ RECORD 1 ]----------+" + "-" * 56,
        "GearBearingTemperature | 61.25",
        "x                      | " + "a" * 90,
    ]


def test_an_empty_wide_table_says_it_has_no_rows() -> None:
    rows = Rows([f"column_{i}" for i in range(20)], [])
    assert table_text(rows, width=80) == "(0 rows)\n"


@pytest.mark.parametrize(
    ("values", "shown"),
    [
        ([10.53, 11.6114], ["10.530", "11.611"]),  # the most decimals any value needs, capped at 3
        ([7.0, 8.0], ["7", "8"]),
        ([0.5, 12], ["0.5", "12.0"]),  # an int in a float column gets the column's decimals
        ([1, 22], ["1", "22"]),
        ([1.0001, None], ["1", ""]),  # at 3 decimals 1.0001 is 1.000: it needs none
        ([float("inf"), 2.25], ["inf", "2.25"]),
    ],
)
def test_decimals_per_column(values: list[object], shown: list[str]) -> None:
    rows = Rows(["v"], [(v,) for v in values])
    body = [line for line in table_text(rows, width=None, stream=io.StringIO()).splitlines() if line.startswith("│")]
    width = max(len(s) for s in shown)
    assert body == [f"│ {s.rjust(max(width, 1))} │" for s in shown]


def test_a_wide_table_into_a_pipe_keeps_every_column_on_one_line() -> None:
    """`--format table | less -S`: not a terminal, so the table is as wide as its rows need."""
    wide = Rows([f"column_{i}" for i in range(20)], [tuple(range(20))])
    lines = table_text(wide, width=None, stream=io.StringIO()).splitlines()
    assert len(lines) == 5 and len(lines[1]) > 200


EXPECTED_CSV = (
    "turbine_id,Timestamps,WindSpeed,Power,Pitch,model_id,note\n"
    "T01,2008-07-28T23:30:00Z,10.53,1500.0,,1,ok\n"
    "T01,2008-07-28T23:40:00Z,11.6114,1612.25,2.5,12,\n"
)
EXPECTED_JSON = (
    "[\n"
    '{"turbine_id": "T01", "Timestamps": "2008-07-28T23:30:00Z", "WindSpeed": 10.53, "Power": 1500.0, '
    '"Pitch": null, "model_id": 1, "note": "ok"},\n'
    '{"turbine_id": "T01", "Timestamps": "2008-07-28T23:40:00Z", "WindSpeed": 11.6114, "Power": 1612.25, '
    '"Pitch": 2.5, "model_id": 12, "note": null}\n'
    "]\n"
)


@pytest.mark.parametrize("stream", [Terminal, io.StringIO], ids=["terminal", "pipe"])
def test_csv_and_json_keep_every_digit_on_a_terminal_and_in_a_pipe(stream: type[io.StringIO]) -> None:
    for fmt, expected in ((OutputFormat.csv, EXPECTED_CSV), (OutputFormat.json, EXPECTED_JSON)):
        out = stream()
        assert render(ROWS, fmt=fmt, output=None, stream=out) is None
        assert out.getvalue() == expected
    out = io.StringIO()
    render(ROWS, fmt=None, output=None, stream=out)  # a pipe defaults to CSV
    assert out.getvalue() == EXPECTED_CSV
    assert json.loads(EXPECTED_JSON)[1]["WindSpeed"] == 11.6114


def test_files_keep_every_digit(tmp_path: Path) -> None:
    import pandas as pd

    write_file(ROWS, tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_bytes() == EXPECTED_CSV.encode()
    write_file(ROWS, tmp_path / "out.parquet")
    frame = pd.read_parquet(tmp_path / "out.parquet")
    assert frame["WindSpeed"].tolist() == [10.53, 11.6114]
    assert frame["Power"].tolist() == [1500.0, 1612.25]


def run_on_terminal(args: list[str], cwd: Path, columns: int) -> str:
    """The installed command with its stdout on a real pseudo-terminal of `columns` columns."""
    assert DATAMGR
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    process = subprocess.Popen(
        [DATAMGR, *args], cwd=cwd, stdout=secondary, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the command closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    assert process.wait(timeout=120) == 0, process.stderr.read() if process.stderr else ""
    return ANSI.sub("", b"".join(chunks).decode().replace("\r\n", "\n"))


def test_last_n_on_a_120_column_terminal_is_readable(initialized: Project) -> None:
    shown = run_on_terminal(["last-n", "3"], initialized.root, columns=120)
    as_csv = subprocess.run(
        [DATAMGR or "datamgr", "last-n", "3", "--format", "csv"],
        cwd=initialized.root,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    records = list(csv.DictReader(io.StringIO(as_csv)))

    lines = shown.splitlines()
    assert max(len(line) for line in lines) <= 120
    assert [line.split(" ]")[0] for line in lines if line.startswith("-[ RECORD")] == [
        "-[ RECORD 1",
        "-[ RECORD 2",
        "-[ RECORD 3",
    ]
    values = [line.split(" | ") for line in lines if " | " in line]
    assert len(values) == 3 * len(records[0])
    decimals = min(3, max(len(f"{float(r['WindSpeed']):.3f}".rstrip("0").split(".")[1]) for r in records))
    wind = [cells[1] for cells in values if cells[0].strip() == "WindSpeed"]
    assert [w.strip() for w in wind] == [f"{float(r['WindSpeed']):.{decimals}f}" for r in records]
    assert len({len(w) for w in wind}) == 1  # right-aligned: the decimal points line up


def test_every_output_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    """The one writer: a temporary file beside the target, renamed over it; a failed write leaves the old file."""
    target = tmp_path / "new" / "out.csv"
    write_file(ROWS, target)  # the folder is made
    target.chmod(0o640)
    write_file(ROWS, target)
    assert (target.read_bytes(), target.stat().st_mode & 0o777) == (EXPECTED_CSV.encode(), 0o640)

    def half_then_fail(temporary: Path) -> None:
        temporary.write_text("turbine_id,Timest")
        raise OSError(28, "No space left on device")

    with pytest.raises(InputFileError) as failed:
        write_atomically(target, half_then_fail)
    assert str(failed.value) == f"--output {target}: cannot write: No space left on device"
    assert target.read_bytes() == EXPECTED_CSV.encode()
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.csv"]
    page = tmp_path / "report.html"
    write_text(page, "<html>é</html>\n")
    assert page.read_text(encoding="utf-8") == "<html>é</html>\n"
