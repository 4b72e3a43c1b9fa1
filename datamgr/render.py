"""The one rendering path for result frames: --format table|csv|json on stdout, or --output FILE.

A rich table only makes sense on a terminal; piped or under cron the default is CSV, so that
`datamgr last-n 100 | …` always gets machine-readable lines. Everything is printed from `Rows`;
pandas is imported only when a DataFrame comes in or Parquet goes out.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from datamgr.errors import InputFileError, QueryError
from datamgr.rows import Rows, frame_to_rows, rows_to_frame

if TYPE_CHECKING:
    import pandas as pd


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


def write_table(rows: Rows, stream: IO[str], title: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, header_style="bold")
    for i, name in enumerate(rows.columns):
        numeric = all(isinstance(row[i], int | float) for row in rows.rows if row[i] is not None)
        table.add_column(name, justify="right" if numeric and rows.rows else "left")
    for row in rows.rows:
        table.add_row(*(_cell(v) for v in row))
    # As wide as the rows need: a terminal wraps or `less -S` scrolls, but truncated numbers are useless.
    Console(file=stream, width=10_000).print(table)


def _cell(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)


OUTPUT_SUFFIXES = (".parquet", ".csv")


def check_output(path: Path | None) -> None:
    """Refuse an --output that cannot be written before the command does any work (or stores anything)."""
    if path is None:
        return
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise QueryError(f"--output {path}: use a .parquet or .csv file name")
    if path.is_dir():
        raise QueryError(f"--output {path}: is a directory; name a .parquet or .csv file")
    folder = next(parent for parent in path.absolute().parents if parent.exists())
    if not folder.is_dir():
        raise QueryError(f"--output {path}: {folder} is a file, not a folder")
    writable = path if path.exists() else folder
    if not os.access(writable, os.W_OK):
        raise InputFileError(f"--output {path}: cannot write to {writable}: permission denied")


def write_file(data: pd.DataFrame | Rows, path: Path) -> None:
    """Write to .parquet (types kept) or .csv (as `--format csv` prints it)."""
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise QueryError(f"--output {path}: use a .parquet or .csv file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".parquet":
            (rows_to_frame(data) if isinstance(data, Rows) else data).to_parquet(path, index=False)
        else:
            with path.open("w", encoding="utf-8", newline="") as handle:
                write_csv(_rows(data), handle)
    except OSError as exc:
        raise InputFileError(f"--output {path}: cannot write: {exc.strerror or exc}") from None


def _rows(data: pd.DataFrame | Rows) -> Rows:
    return data if isinstance(data, Rows) else frame_to_rows(data)


def render(
    data: pd.DataFrame | Rows,
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
