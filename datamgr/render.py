"""The one rendering path for result frames: --format table|csv|json on stdout, or --output FILE.

A rich table only makes sense on a terminal; piped or under cron the default is CSV, so that
`datamgr last-n 100 | …` always gets machine-readable lines.
"""

from __future__ import annotations

import json
import math
import sys
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def default_format(stream: IO[str]) -> OutputFormat:
    return OutputFormat.table if stream.isatty() else OutputFormat.csv


def _as_text_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Timestamps as ISO 8601 UTC text; everything else as it is."""
    from datamgr.timestamps import format_iso_series

    text = frame.copy()
    for name in text.columns:
        if str(text[name].dtype).startswith("datetime64"):
            text[name] = format_iso_series(text[name])
    return text


def _plain(value: Any) -> Any:
    """A JSON-safe Python value: NaN and missing become null, numpy scalars become Python ones."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_csv(frame: pd.DataFrame, stream: IO[str]) -> None:
    _as_text_frame(frame).to_csv(stream, index=False, lineterminator="\n")


def write_json(frame: pd.DataFrame, stream: IO[str]) -> None:
    """A JSON array with one record a line: valid JSON for jq, and readable with grep."""
    text = _as_text_frame(frame)
    columns = list(text.columns)
    lines = [
        json.dumps({c: _plain(v) for c, v in zip(columns, row, strict=True)}, separators=(", ", ": "))
        for row in text.itertuples(index=False, name=None)
    ]
    stream.write("[\n" + ",\n".join(lines) + ("\n" if lines else "") + "]\n")


def write_table(frame: pd.DataFrame, stream: IO[str], title: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    text = _as_text_frame(frame)
    table = Table(title=title, header_style="bold")
    for name in text.columns:
        table.add_column(str(name), justify="right" if _is_number(text[name]) else "left")
    for row in text.itertuples(index=False, name=None):
        table.add_row(*(_cell(v) for v in row))
    Console(file=stream).print(table)


def _is_number(values: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(values.dtype))


def _cell(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)


def write_file(frame: pd.DataFrame, path: Path) -> None:
    """Write the frame to .parquet (types kept) or .csv (as `--format csv` prints it)."""
    from datamgr.errors import InputFileError

    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise InputFileError(f"--output {path}: use a .parquet or .csv file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".parquet":
            frame.to_parquet(path, index=False)
        else:
            with path.open("w", encoding="utf-8", newline="") as handle:
                write_csv(frame, handle)
    except OSError as exc:
        raise InputFileError(f"--output {path}: cannot write: {exc.strerror or exc}") from None


def render(
    frame: pd.DataFrame,
    *,
    fmt: OutputFormat | None,
    output: Path | None,
    stream: IO[str] | None = None,
    title: str | None = None,
) -> str | None:
    """Write the frame; returns a note for stderr when it went to a file instead of stdout."""
    if output is not None:
        write_file(frame, output)
        return f"wrote {len(frame)} rows to {output}"
    out = stream or sys.stdout
    chosen = fmt or default_format(out)
    if chosen is OutputFormat.csv:
        write_csv(frame, out)
    elif chosen is OutputFormat.json:
        write_json(frame, out)
    else:
        write_table(frame, out, title)
    return None
