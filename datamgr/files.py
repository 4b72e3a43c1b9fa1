"""Reading input files: checked up front, then read in bounded batches.

A file lands whole or not at all, so reading refuses what a feed that is still being written
looks like: a CSV row with fewer (or more) fields than the header, a last line cut after a
delimiter, and a file that changes while it is read.
"""

from __future__ import annotations

import csv
import os
import re
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datamgr.errors import DataValidationError, InputFileError
from datamgr.timestamps import describe_positions, out_of_range_message

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

BATCH_ROWS = 100_000
READ_BUFFER_BYTES = 1 << 20
PARQUET_MAGIC = b"PAR1"
READABLE = ".parquet, .pq or .csv"
DELIMITERS = (",", ";", "\t")
SNIFF_BYTES = 1 << 16
# A file whose last line has no newline may still be growing: after reading it, wait this long
# and check that it did not change before trusting that last line.
UNTERMINATED_SETTLE_S = 0.25
STILL_WRITTEN = "(is the file still being written?)"
_COMMA_DECIMAL = re.compile(r"\s*[+-]?\d*,\d+\s*")


@dataclass(frozen=True)
class InputFile:
    """A checked input file: its path, format, row count when the format tells it up front, and
    for CSV its delimiter and decimal separator (detected or given)."""

    path: Path
    kind: str  # "parquet" or "csv"
    rows: int | None
    delimiter: str = ","
    decimal: str = "."


def open_input(path: Path, *, delimiter: str | None = None, decimal: str | None = None) -> InputFile:
    """Check that a path is a readable, non-empty Parquet or CSV file, before any database work."""
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    if path.is_dir():
        raise InputFileError(f"{path}: is a directory, not a file; name a {READABLE} file")
    head = _head(path)
    if not head:
        raise InputFileError(f"{path}: the file is empty")
    suffix = path.suffix.lower()
    if head == PARQUET_MAGIC or suffix in (".parquet", ".pq"):
        return InputFile(path, "parquet", _parquet_rows(path))
    if suffix in (".csv", ".txt") and _looks_like_text(path):
        chosen_delimiter, chosen_decimal = sniff_csv(path, delimiter, decimal)
        return InputFile(path, "csv", None, chosen_delimiter, chosen_decimal)
    raise InputFileError(f"{path}: not a Parquet or CSV file; datamgr reads {READABLE} files")


# What a path may be instead of a regular file; open() of a named pipe would wait for a writer.
NOT_REGULAR = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _head(path: Path) -> bytes:
    """The file's first 4 bytes, once it is known to be a regular file.

    Checked before it is opened (a socket cannot be), then opened without blocking and checked
    again on the descriptor: a named pipe, socket or device is refused at once, even one put in
    the file's place between the two.
    """
    try:
        check_regular(path, os.stat(path).st_mode)
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        check_regular(path, os.fstat(descriptor).st_mode)
        return os.read(descriptor, 4)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read: {exc.strerror}") from None
    finally:
        os.close(descriptor)


def check_regular(path: Path, mode: int) -> None:
    """Refuse a named pipe, socket or device: datamgr reads files it can read to their end."""
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in NOT_REGULAR if test(mode)), "not a regular file")
    raise InputFileError(f"{path}: is {kind}, not a regular file; name a {READABLE} file")


def _looks_like_text(path: Path) -> bool:
    with path.open("rb") as handle:
        return b"\x00" not in handle.read(4096)


def _parquet_rows(path: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputFileError(f"{path}: not a readable Parquet file ({_first_line(exc)})") from None
    _refuse_twice(path, parquet.schema_arrow.names, "in the file")
    return int(parquet.metadata.num_rows)


def _refuse_twice(path: Path, names: list[str], where: str) -> None:
    """A column named twice: which of the two is meant cannot be told, so the file is refused."""
    seen: set[str] = set()
    for name in names:
        if name in seen and name:
            raise DataValidationError(f"{path}: column {name} appears twice {where}; keep one")
        seen.add(name)


def sniff_csv(path: Path, delimiter: str | None, decimal: str | None) -> tuple[str, str]:
    """The CSV's delimiter and decimal separator: the ones given, or detected from its first lines.

    The delimiter is the one of `,` `;` tab that splits the header into the most columns (and the
    first row into as many); comma decimals (`7,5`) are recognised only when the delimiter is not a
    comma. A header that stays one single column but holds a delimiter character is refused.
    """
    with path.open("rb") as handle:
        sample = handle.read(SNIFF_BYTES).decode("utf-8-sig", errors="replace")
    lines = sample.splitlines()
    header = lines[0] if lines else ""
    if not header.strip():
        raise InputFileError(f"{path}: the first line is empty; datamgr needs the header on the first line")
    data = [line for line in lines[1:-1] if line.strip()] if len(lines) > 2 else lines[1:2]
    chosen = delimiter or _detect_delimiter(header, data[0] if data else None)
    if len(_fields(header, chosen)) == 1:
        held = [c for c in (*DELIMITERS, "|") if c in header and c != chosen]
        if held:
            shown = "tab" if held[0] == "\t" else repr(held[0])
            raise InputFileError(
                f"{path}: the header is one single column {header!r} that contains {shown}; "
                f"if {shown} separates the columns, pass --delimiter {shown}"
            )
    if decimal == "," and chosen == ",":
        raise InputFileError(
            f"{path}: the delimiter is ',', so ',' cannot also be the decimal separator; "
            "pass --delimiter for the file's real delimiter, or --decimal ."
        )
    if decimal is None:
        comma = chosen != "," and any(
            _COMMA_DECIMAL.fullmatch(field) for line in data for field in _fields(line, chosen)
        )
        decimal = "," if comma else "."
    return chosen, decimal


def _detect_delimiter(header: str, first_row: str | None) -> str:
    """The candidate splitting the header into the most columns, among those the first row agrees with."""
    best, best_score = ",", (False, 1)
    for candidate in DELIMITERS:
        width = len(_fields(header, candidate))
        agrees = first_row is None or len(_fields(first_row, candidate)) == width
        score = (agrees, width)
        if width > 1 and score > best_score:
            best, best_score = candidate, score
    return best


def _fields(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter), [])


def read_batches(source: InputFile, batch_rows: int | None = None) -> Iterator[pd.DataFrame]:
    """Yield the file as DataFrames of at most batch_rows rows, so memory does not grow with the file.

    Every frame is indexed by its rows' 0-based position among the file's data rows. At least one
    frame is yielded (empty for a file without rows), so its columns are always checked. The file
    must not change while it is read.
    """
    import pyarrow as pa

    batch_rows = batch_rows or BATCH_ROWS
    before = _fingerprint(source.path)
    tail = _unterminated_tail(source) if source.kind == "csv" else None
    try:
        batches = _parquet_batches if source.kind == "parquet" else _csv_batches
        rows = 0
        for frame in batches(source, batch_rows):
            frame.index = range(rows, rows + len(frame))
            rows += len(frame)
            yield frame
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        kind = "Parquet" if source.kind == "parquet" else "CSV"
        not_utf8 = _csv_not_utf8(source, str(exc)) if kind == "CSV" and "UTF8" in str(exc) else None
        if not_utf8 is not None:
            raise not_utf8 from None
        raise InputFileError(f"{source.path}: cannot read it as {kind}: {_first_line(exc)}") from None
    if tail is not None:
        if rows and tail.endswith_empty_field:
            raise DataValidationError(
                f"{source.path}: row {rows}, the last line, ends with an empty field and no final newline "
                f"{STILL_WRITTEN}"
            )
        time.sleep(UNTERMINATED_SETTLE_S)
    if _fingerprint(source.path) != before:
        raise InputFileError(
            f"{source.path}: the file changed while it was being read {STILL_WRITTEN}; "
            "ingest it again once it is complete"
        )


def _fingerprint(path: Path) -> tuple[int, int]:
    status = os.stat(path)
    check_regular(path, status.st_mode)
    return status.st_size, status.st_mtime_ns


@dataclass(frozen=True)
class _Tail:
    endswith_empty_field: bool


def _unterminated_tail(source: InputFile) -> _Tail | None:
    """None when the CSV ends with a newline (or is one header line); else what its last line looks like."""
    with source.path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - SNIFF_BYTES))
        end = handle.read()
    if end.endswith((b"\n", b"\r")) or (size <= SNIFF_BYTES and b"\n" not in end):
        return None
    last = end.rsplit(b"\n", 1)[-1].decode("utf-8", errors="replace")
    fields = _fields(last, source.delimiter)
    return _Tail(endswith_empty_field=len(fields) > 1 and fields[-1] == "")


def _parquet_batches(source: InputFile, batch_rows: int) -> Iterator[pd.DataFrame]:
    """Record batches streamed with a bounded read buffer (pre-buffering would read ahead row group
    after row group, and peak memory would grow with the file). Timestamps are checked against what
    the store holds on the Arrow column, before pandas sees them; the pandas index a file was
    written with (`df.set_index("Timestamps").to_parquet()`) comes back as an ordinary column."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(source.path, pre_buffer=False, buffer_size=READ_BUFFER_BYTES)
    offset = 0
    produced = False
    for batch in parquet.iter_batches(batch_size=batch_rows):
        _check_timestamp_range(batch, source.path, offset)
        batch = _as_text(batch, source.path, offset)
        offset += batch.num_rows
        produced = True
        yield batch.to_pandas(ignore_metadata=True)
    if not produced:
        yield parquet.schema_arrow.empty_table().to_pandas(ignore_metadata=True)


def _check_timestamp_range(batch: pa.RecordBatch, path: Path, offset: int) -> None:
    """Refuse timestamps outside pandas' nanosecond range while they are still Arrow values."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if not pa.types.is_timestamp(column.type):
            continue
        per_ns = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[column.type.unit]
        low, high = -((2**63 - 1) // per_ns), (2**63 - 1) // per_ns
        ticks = pc.cast(column, pa.int64())
        outside = pc.fill_null(pc.or_(pc.less(ticks, low), pc.greater(ticks, high)), False)
        count = pc.sum(outside).as_py() or 0
        if count:
            positions = pc.indices_nonzero(outside).to_pylist()[:3]
            shown = [str(value) for value in column.take(pa.array(positions)).to_pylist()]
            rows = describe_positions(positions, shown, count, offset)
            raise DataValidationError(out_of_range_message(f"{path}: column {name}", count, rows))


def _as_text(batch: pa.RecordBatch, path: Path, offset: int) -> pa.RecordBatch:
    """Text and binary columns as valid UTF-8 text, checked while they are Arrow values: a value that
    is not UTF-8 refuses the file with its rows (pandas would fail on it with no row named)."""
    import pyarrow as pa

    columns = list(batch.columns)
    cast = False
    for position, (name, column) in enumerate(zip(batch.schema.names, columns, strict=True)):
        binary = pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)
        kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
        if not (binary or pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            continue
        try:
            if binary:
                text = pa.large_string() if pa.types.is_large_binary(column.type) else pa.string()
                columns[position], cast = column.cast(text), True
            else:
                column.validate(full=True)
        except pa.ArrowInvalid:
            values = column.dictionary_decode() if pa.types.is_dictionary(column.type) else column
            found = _not_utf8(path, name, values.cast(pa.large_binary()).to_pylist(), offset)
            raise found or DataValidationError(
                f"{path}: column {name}: not UTF-8 text; save the file as UTF-8"
            ) from None
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names) if cast else batch


def _not_utf8(path: Path, name: str, raw: Iterable[bytes | None], offset: int) -> DataValidationError | None:
    """The error naming the rows of a column whose bytes are not UTF-8 text (None if there are none)."""
    bad: list[int] = []
    shown: list[bytes] = []
    for row, value in enumerate(raw):
        if value is not None and not _is_utf8(value):
            bad.append(row)
            if len(shown) < 3:
                shown.append(value)
    if not bad:
        return None
    return DataValidationError(
        f"{path}: column {name}: {len(bad)} value(s) are not UTF-8 text at "
        f"{describe_positions(bad[:3], shown, len(bad), offset)}; save the file as UTF-8"
    )


def _csv_not_utf8(source: InputFile, arrow_message: str) -> DataValidationError | None:
    """Arrow names only the column (by number) of a CSV value that is not UTF-8: the file is read
    again to name the rows. None when they cannot be told (the caller then says what Arrow said)."""
    names = _header(source)
    number = re.search(r"column #(\d+)", arrow_message)
    chosen = [int(number[1])] if number and int(number[1]) < len(names) else range(len(names))
    for column in chosen:
        try:
            with source.path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
                records = (record for record in csv.reader(handle, delimiter=source.delimiter) if record)
                next(records, None)
                raw = (_raw_field(record, column) for record in records)
                found = _not_utf8(source.path, names[column], raw, 0)
        except csv.Error:
            return None
        if found is not None:
            return found
    return None


def _raw_field(record: list[str], column: int) -> bytes | None:
    """A CSV field as the bytes the file holds (read with surrogateescape)."""
    return record[column].encode("utf-8", "surrogateescape") if column < len(record) else None


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _csv_batches(source: InputFile, batch_rows: int) -> Iterator[pd.DataFrame]:
    """Arrow's streaming CSV reader, every column as text, regrouped into frames of batch_rows rows.

    A row whose field count is not the header's refuses the file.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = _header(source)
    if not _has_rows(source.path):
        yield pa.table({name: pa.array([], pa.string()) for name in names}).to_pandas()
        return
    ragged: list[Any] = []

    def refuse_later(row: Any) -> str:
        ragged.append(row)
        return "skip"

    reader = pacsv.open_csv(
        source.path,
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=READ_BUFFER_BYTES),
        parse_options=pacsv.ParseOptions(delimiter=source.delimiter, invalid_row_handler=refuse_later),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    pending: list[pa.RecordBatch] = []
    held = rows = 0
    for batch in reader:
        if ragged:
            _refuse_ragged(source, len(names), ragged[0].actual_columns, rows + held + batch.num_rows + 1)
        pending.append(batch)
        held += batch.num_rows
        while held >= batch_rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, batch_rows).to_pandas()
            rest = table.slice(batch_rows)
            pending, held, rows = rest.to_batches(), rest.num_rows, rows + batch_rows
    if ragged:
        _refuse_ragged(source, len(names), ragged[0].actual_columns, rows + held + 1)
    if held or not rows:
        yield pa.Table.from_batches(pending, schema=reader.schema).to_pandas()


def _has_rows(path: Path) -> bool:
    """Whether anything follows the header line (Arrow cannot skip a header that has no newline)."""
    with path.open("rb") as handle:
        handle.readline()
        return bool(handle.read(1))


def _header(source: InputFile) -> list[str]:
    with source.path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        names = [name.strip() for name in next(csv.reader(handle, delimiter=source.delimiter), [])]
    _refuse_twice(source.path, names, "in the header")
    return names


def _refuse_ragged(source: InputFile, width: int, fields: int, fallback_row: int) -> None:
    """Name the first row whose field count is not the header's.

    Arrow does not say where the row was, so the file is read again to find it; a cut last line
    that has been completed since is the row after those read.
    """
    row, fields = _first_ragged_row(source, width) or (fallback_row, fields)
    raise DataValidationError(f"{source.path}: row {row} has {fields} fields, the header has {width} {STILL_WRITTEN}")


def _first_ragged_row(source: InputFile, width: int) -> tuple[int, int] | None:
    with source.path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        records = (record for record in csv.reader(handle, delimiter=source.delimiter) if record)
        next(records, None)
        for row, record in enumerate(records, start=1):
            if len(record) != width:
                return row, len(record)
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
