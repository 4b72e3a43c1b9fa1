"""Reading input files: checked up front, then read in bounded batches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from datamgr.errors import InputFileError

if TYPE_CHECKING:
    import pandas as pd

BATCH_ROWS = 100_000
READ_BUFFER_BYTES = 1 << 20
PARQUET_MAGIC = b"PAR1"
READABLE = ".parquet, .pq or .csv"


@dataclass(frozen=True)
class InputFile:
    """A checked input file: its path, format and row count when the format tells it up front."""

    path: Path
    kind: str  # "parquet" or "csv"
    rows: int | None


def open_input(path: Path) -> InputFile:
    """Check that a path is a readable, non-empty Parquet or CSV file, before any database work."""
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    if path.is_dir():
        raise InputFileError(f"{path}: is a directory, not a file; name a {READABLE} file")
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read: {exc.strerror}") from None
    if not head:
        raise InputFileError(f"{path}: the file is empty")
    suffix = path.suffix.lower()
    if head == PARQUET_MAGIC or suffix in (".parquet", ".pq"):
        return InputFile(path, "parquet", _parquet_rows(path))
    if suffix in (".csv", ".txt") and _looks_like_text(path):
        return InputFile(path, "csv", None)
    raise InputFileError(f"{path}: not a Parquet or CSV file; datamgr reads {READABLE} files")


def _looks_like_text(path: Path) -> bool:
    with path.open("rb") as handle:
        return b"\x00" not in handle.read(4096)


def _parquet_rows(path: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except (pa.ArrowException, OSError) as exc:
        raise InputFileError(f"{path}: not a readable Parquet file ({_first_line(exc)})") from None


def read_batches(source: InputFile, batch_rows: int | None = None) -> Iterator[pd.DataFrame]:
    """Yield the file as DataFrames of at most batch_rows rows, so memory does not grow with the file."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    batch_rows = batch_rows or BATCH_ROWS
    try:
        if source.kind == "parquet":
            # Streamed with a bounded read buffer: pre-buffering would read ahead row group after
            # row group, and peak memory would grow with the file.
            parquet = pq.ParquetFile(source.path, pre_buffer=False, buffer_size=READ_BUFFER_BYTES)
            for batch in parquet.iter_batches(batch_size=batch_rows):
                yield batch.to_pandas()
        else:
            with pd.read_csv(source.path, chunksize=batch_rows, dtype=str) as reader:
                yield from reader
    except (pa.ArrowException, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        kind = "Parquet" if source.kind == "parquet" else "CSV"
        raise InputFileError(f"{source.path}: cannot read it as {kind}: {_first_line(exc)}") from None
    except pd.errors.EmptyDataError:
        raise InputFileError(f"{source.path}: the file has no header and no rows") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
