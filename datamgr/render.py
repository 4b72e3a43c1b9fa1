"""The one rendering path for result frames: --format table|csv|json on stdout, or --output FILE,
and the one writer of every file a command outputs (a temporary file, then renamed).

A rich table only makes sense on a terminal; piped or under cron the default is CSV, so that
`datamgr last-n 100 | …` always gets machine-readable lines. Everything is printed from `Rows`;
pandas is imported only when a DataFrame comes in or Parquet is written from one (an Arrow table
goes to Parquet through pyarrow alone).
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeAlias

from datamgr.atomic import replace_atomically
from datamgr.errors import InputFileError, QueryError
from datamgr.rows import Rows, arrow_to_rows, displayed, frame_to_rows, rows_to_frame

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from datamgr.monitoring.status import StatusRow

    # What a command hands over to print: Rows (last-n), a DataFrame, or an Arrow table (range, export on SQLite).
    Results: TypeAlias = pd.DataFrame | pa.Table | Rows


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def default_format(stream: IO[str]) -> OutputFormat:
    return OutputFormat.table if stream.isatty() else OutputFormat.csv


def _plain(value: Any) -> Any:
    """A JSON-safe Python value: NaN becomes null, numpy scalars become Python ones."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_csv(rows: Rows, stream: IO[str]) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(rows.columns)
    writer.writerows(rows.rows)


def write_json(rows: Rows, stream: IO[str]) -> None:
    """A JSON array with one record a line: valid JSON for jq, and readable with grep."""
    lines = [
        json.dumps({c: _plain(v) for c, v in zip(rows.columns, row, strict=True)}, separators=(", ", ": "))
        for row in rows.rows
    ]
    stream.write("[\n" + ",\n".join(lines) + ("\n" if lines else "") + "]\n")


MAX_DECIMALS = 3  # a column's numbers get as many decimals as its most precise value needs, at most this


def write_table(rows: Rows, stream: IO[str], title: str | None = None, width: int | None = None) -> None:
    """A table for people: numbers right-aligned with one fixed number of decimals per column.

    On a terminal (or with `width`), a table wider than the screen is printed one record per
    block instead, as psql's expanded mode does, since a wrapped table is unreadable; elsewhere
    (`--format table` into a pipe) the table is as wide as its rows need.
    """
    from rich.console import Console
    from rich.table import Table

    columns = [_column_cells([row[i] for row in rows.rows]) for i in range(len(rows.columns))]
    table = Table(title=title, header_style="bold")
    for name, (_, numeric) in zip(rows.columns, columns, strict=True):
        table.add_column(name, justify="right" if numeric and rows.rows else "left")
    for cells in zip(*(cells for cells, _ in columns), strict=True):
        table.add_row(*cells)
    if width is None and stream.isatty():
        width = shutil.get_terminal_size().columns
    # Unlimited off a terminal: a pipe or `less -S` scrolls, but truncated numbers are useless.
    console = Console(file=stream, width=10_000)
    if width is not None and console.measure(table).maximum > width:
        stream.write(_expanded(rows.columns, columns, title, width))
        return
    console.print(table)


def _column_cells(values: list[Any]) -> tuple[list[str], bool]:
    """One column's cells as text, and whether it is numeric (so right-aligned).

    A column that holds a float gets the same number of decimals in every row, the most any
    of its values needs (capped at MAX_DECIMALS), so that `10.530` stands over `11.611`.
    """
    plain = [_plain(v) for v in values]
    present = [v for v in plain if v is not None]
    numeric = bool(present) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present)
    if not numeric or not any(isinstance(v, float) for v in present):
        return ["" if v is None else str(v) for v in plain], numeric
    decimals = max((_decimals(v) for v in present if math.isfinite(v)), default=0)
    return ["" if v is None else f"{v:.{decimals}f}" if math.isfinite(v) else str(v) for v in plain], True


def _decimals(value: float) -> int:
    """The decimals `value` needs, up to MAX_DECIMALS: 10.53 -> 2, 11.6114 -> 3, 7.0 -> 0."""
    text = f"{value:.{MAX_DECIMALS}f}".rstrip("0")
    return len(text) - text.index(".") - 1


def _expanded(names: list[str], columns: list[tuple[list[str], bool]], title: str | None, width: int) -> str:
    """psql's expanded layout: a `-[ RECORD n ]` header, then one `column | value` line per column.

    Numbers are right-aligned to the widest number, so a column's values line up from record to record.
    """
    name_width = max((len(name) for name in names), default=0)
    number_width = max((len(cell) for cells, numeric in columns if numeric for cell in cells), default=0)
    value_width = max([number_width, *(len(cell) for cells, numeric in columns if not numeric for cell in cells)])
    records = len(columns[0][0]) if columns else 0
    lines = [title] if title else []
    rule = min(width, name_width + 3 + value_width)
    for record in range(records):
        header = f"-[ RECORD {record + 1} ]"
        if len(header) < name_width + 1:
            header = header.ljust(name_width + 1, "-") + "+"
        lines.append(header.ljust(rule, "-"))
        for name, (cells, numeric) in zip(names, columns, strict=True):
            cell = cells[record].rjust(number_width) if numeric else cells[record]
            lines.append(f"{name.ljust(name_width)} | {cell}".rstrip())
    if not records:
        lines.append("(0 rows)")
    return "\n".join(lines) + "\n"


OUTPUT_SUFFIXES = (".parquet", ".csv")


def check_output(path: Path | None, database: Path | None = None) -> None:
    """Refuse an --output that cannot be written before the command does any work (or stores anything)."""
    if path is None:
        return
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise QueryError(f"--output {path}: use a .parquet or .csv file name")
    refuse_unsafe_target(path, database)
    if path.is_dir():
        raise QueryError(f"--output {path}: is a directory; name a .parquet or .csv file")
    folder = next(parent for parent in path.absolute().parents if parent.exists())
    if not folder.is_dir():
        raise QueryError(f"--output {path}: {folder} is a file, not a folder")
    writable = path if path.exists() else folder
    if not os.access(writable, os.W_OK):
        raise InputFileError(f"--output {path}: cannot write to {writable}: permission denied")


DATABASE_SUFFIXES = ("", "-wal", "-shm", "-journal")  # a SQLite database and the files beside it


def refuse_unsafe_target(path: Path, database: Path | None = None) -> None:
    """An output never goes through a symbolic link (a link planted in a shared folder would aim it at
    any file cron may write) and never onto a file of the open SQLite database."""
    if path.is_symlink():
        raise QueryError(f"--output {path}: is a symbolic link; datamgr never writes through one; name the file itself")
    if database is None:
        return
    target = os.path.realpath(path)
    for suffix in DATABASE_SUFFIXES:
        own = Path(f"{database}{suffix}")
        same = target == os.path.realpath(own) or (path.exists() and own.exists() and os.path.samefile(path, own))
        if same:
            raise QueryError(f"--output {path}: is a file of the database {database}; name another file")


def write_file(data: Results, path: Path) -> None:
    """Write to .parquet (types kept; an Arrow table straight, without pandas) or .csv (as `--format csv` prints it)."""
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise QueryError(f"--output {path}: use a .parquet or .csv file name")

    def write(target: Path) -> None:
        if suffix == ".parquet" and _is_arrow(data):
            import pyarrow.parquet as pq

            pq.write_table(data, target)
        elif suffix == ".parquet":
            (rows_to_frame(displayed(data)) if isinstance(data, Rows) else data).to_parquet(target, index=False)
        else:
            with target.open("w", encoding="utf-8", newline="") as handle:
                write_csv(_rows(data), handle)

    write_atomically(path, write)


def write_text(path: Path, text: str) -> None:
    """Write a whole text file (the HTML report) through the same safe writer as every output."""
    write_atomically(path, lambda target: target.write_text(text, encoding="utf-8"))


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Every output file goes through atomic.replace_atomically: a reader, a full disk or a crash never
    leaves half a file under its name, and a failure leaves the old file and no stray file.

    The folders are made first. A symbolic link is refused; a device or a pipe, which cannot be
    renamed over, is written in place.
    """
    refuse_unsafe_target(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and not path.is_file():
            write(path)
            return
        replace_atomically(path, write)
    except OSError as exc:
        raise InputFileError(f"--output {path}: cannot write: {exc.strerror or exc}") from None


def _is_arrow(data: object) -> bool:
    """Whether data is an Arrow table, without importing pyarrow when nothing has."""
    pa = sys.modules.get("pyarrow")
    return pa is not None and isinstance(data, pa.Table)


def _rows(data: Results) -> Rows:
    if isinstance(data, Rows):
        return displayed(data)
    return arrow_to_rows(data) if _is_arrow(data) else frame_to_rows(data)


def render(
    data: Results,
    *,
    fmt: OutputFormat | None,
    output: Path | None,
    stream: IO[str] | None = None,
    title: str | None = None,
) -> str | None:
    """Print the results, or write them to a file; returns a note for stderr in that case."""
    if output is not None:
        write_file(data, output)
        return f"wrote {len(data)} rows to {output}"
    out = stream or sys.stdout
    chosen = fmt or default_format(out)
    rows = _rows(data)
    if chosen is OutputFormat.csv:
        write_csv(rows, out)
    elif chosen is OutputFormat.json:
        write_json(rows, out)
    else:
        write_table(rows, out, title)
    return None


def status_rows(rows: list[StatusRow]) -> Rows:
    """`datamgr status` as a table: one row per turbine, timestamps as printed, lag in seconds left to nagios."""
    shown = [row.shown() for row in rows]
    names = list(shown[0]) if shown else ["turbine_id", "state"]
    stamps = frozenset({"newest_row", "newest_prediction"} & set(names))
    return Rows(names, [tuple(row[n] for n in names) for row in shown], stamps)
