"""init-db and ingest: files in, conformed batch by batch, upserted in the command's one transaction."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, Table

from datamgr.errors import QUARANTINE_HINT, DatamgrError, StrictRefusal
from datamgr.service.scope import SHOWN, configured_turbines, listed, table_named
from datamgr.settings import Settings
from datamgr.store import bulk, reads
from datamgr.store.bulk.staging import Staging
from datamgr.store.engine import check_intact, create_database, remove_leftovers, sqlite_path, write_transaction
from datamgr.store.migrate import check_schema_current, upgrade_to_head
from datamgr.store.schema import INGEST_TABLES, TURBINE, quarantine, raw_data
from datamgr.store.turbines import rated_powers, sync_turbines
from datamgr.store.upsert import UpsertCounts, totals

if TYPE_CHECKING:
    import pandas as pd

    from datamgr.conform import ConformedBatch
    from datamgr.files import InputFile

Progress = Callable[[int], None]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileReport:
    """What ingesting one file did, and what it left out: ignored columns, quarantined rows
    (row number and reason of the first few) and replaced duplicates are warnings."""

    path: Path
    counts: UpsertCounts
    ignored_columns: tuple[str, ...] = ()
    first_quarantined: tuple[tuple[int, str], ...] = ()

    def warnings(self, table: str) -> list[str]:
        """One line per problem a cron job must hear of, naming the file, the count and the first rows or columns."""
        counts, name = self.counts, f"ingest {self.path}"
        lines = []
        if counts.rows_read == 0:
            lines.append(f"{name}: the file holds 0 rows; nothing to ingest")
        if self.ignored_columns:
            lines.append(
                f"{name}: {len(self.ignored_columns)} column(s) ignored, not in table {table}: "
                + listed(list(self.ignored_columns), len(self.ignored_columns), limit=10)
            )
        if counts.quarantined:
            shown = [f"row {row} ({reason})" for row, reason in self.first_quarantined]
            lines.append(
                f"{name}: {counts.quarantined} row(s) quarantined for impossible values at "
                f"{listed(shown, counts.quarantined)}; {QUARANTINE_HINT}"
            )
        if counts.duplicates:
            shown = [f"row {label + 1}" for label in counts.first_duplicates[:SHOWN]]
            lines.append(
                f"{name}: {counts.duplicates} row(s) replaced by a later row with the same timestamp "
                f"(duplicates collapsed to the last) at {listed(shown, counts.duplicates)}"
            )
        return lines


@dataclass(frozen=True)
class InitReport:
    revision_before: str | None
    revision_after: str
    history_path: Path | None
    history: UpsertCounts | None
    raw_rows: int
    skipped_reason: str | None = None


@dataclass
class IngestReport:
    table: str
    files: list[FileReport] = field(default_factory=list)

    @property
    def total(self) -> UpsertCounts:
        total = UpsertCounts()
        for report in self.files:
            total = total + report.counts
        return total

    def warnings(self) -> list[str]:
        return [line for report in self.files for line in report.warnings(self.table)]


@dataclass(frozen=True)
class IngestOptions:
    """How a file's rows are read and merged (ingest's options; init-db takes the defaults)."""

    ignore_unknown: bool = False
    replace_blanks: bool = False
    progress: Progress | None = None
    turbine: str | None = None


def init_db(engine: Engine, settings: Settings, *, load_history: bool = True) -> InitReport:
    """Migrate to head and, when raw_data is empty, load the history file; all in one transaction.

    Safe to run again: a migrated database is left as it is, history is never loaded twice, and
    the history file is not even looked at unless it is loaded. A failure leaves no new database
    file behind (see create_database).
    """
    history_path = settings.data_manager.history_data_path

    def migrate_and_load(target: Engine) -> InitReport:
        with write_transaction(target) as connection:
            check_intact(connection)  # never migrate or load into a damaged file
            before, after = upgrade_to_head(connection, default_turbine_id=settings.data_manager.default_turbine_id)
            sync_turbines(connection, configured_turbines(settings))
            existing = reads.count_rows(connection, raw_data)
            if not load_history:
                return InitReport(before, after, None, None, existing, "--no-history")
            if existing:
                return InitReport(
                    before, after, history_path, None, existing, f"raw_data already holds {existing} rows"
                )
            from datamgr.files import open_input  # reading files is ingest's work: `last-n` never loads it

            report = ingest_file(connection, open_input(history_path), raw_data, settings, IngestOptions())
            return InitReport(before, after, history_path, report.counts, reads.count_rows(connection, raw_data))

    return create_database(engine, migrate_and_load)


def ingest_files(
    engine: Engine,
    settings: Settings,
    paths: Sequence[Path],
    *,
    table_name: str | None = None,
    ignore_unknown: bool = False,
    strict: bool = False,
    replace_blanks: bool = False,
    delimiter: str | None = None,
    decimal: str | None = None,
    progress: Progress | None = None,
    turbine: str | None = None,
) -> IngestReport:
    """Upsert every file into the table in one transaction: all files land, or none does.

    With strict, any warning (quarantined rows, collapsed duplicates, a file without rows,
    ignored columns) refuses the whole run. CSV delimiter and decimal separator are detected
    unless given. Rows of a file without a turbine_id column belong to `turbine`, or to the
    default turbine.
    """
    from datamgr.files import open_input

    table = table_named(settings, table_name, INGEST_TABLES)
    sources = [open_input(path, delimiter=delimiter, decimal=decimal) for path in paths]
    options = IngestOptions(ignore_unknown, replace_blanks, progress, turbine)
    report = IngestReport(table.name)
    database = sqlite_path(engine.url)
    if database is not None:
        remove_leftovers(database)  # what a killed init-db left beside the file
    with write_transaction(engine) as connection:
        check_intact(connection)  # writing into a damaged file spreads the damage
        check_schema_current(connection)
        sync_turbines(connection, configured_turbines(settings))
        for source in sources:
            report.files.append(ingest_file(connection, source, table, settings, options))
        warnings = report.warnings()
        if strict and warnings:
            raise StrictRefusal(warnings)
        log.debug("committing")
    return report


def ingest_file(
    connection: Connection, source: InputFile, table: Table, settings: Settings, options: IngestOptions
) -> FileReport:
    """Read a file batch by batch, conform each batch, and upsert the rows into the table.

    Source columns are renamed by data_manager.column_map first. Rows with physically impossible
    values go to the quarantine table instead, with the reason. Every turbine met is registered.
    """
    from datamgr.conform import conform_batch, map_columns, with_turbine
    from datamgr.files import read_batches

    config = settings.data_manager
    refused: list[Staging] = []  # the quarantine staging of the latest pass over the file
    seen = FileNotes()
    ceilings = {t: rated * config.power_limit_ratio for t, rated in rated_powers(connection).items()}

    def conformed_batches() -> Iterator[pd.DataFrame]:
        refused.clear()
        seen.reset()
        offset = 0
        for batch in read_batches(source):
            batch = with_turbine(map_columns(batch, config.column_map), options.turbine or config.default_turbine_id)
            conformed = conform_batch(
                batch,
                table,
                source=str(source.path),
                row_offset=offset,
                naive_zone=config.naive_timezone,
                require_offsets=config.require_offsets,
                ignore_unknown=options.ignore_unknown,
                limits=config.limits,
                decimal=source.decimal,
                power_ceilings=ceilings,
            )
            seen.add(conformed)
            if len(conformed.quarantined):
                rejected = conformed.quarantined.assign(created_at=datetime.now(UTC))
                if not refused:
                    refused.append(bulk.staging(connection, quarantine, list(rejected.columns)))
                refused[0].add(rejected)
            offset += len(batch)
            log.debug(f"staged {offset} rows of {source.path}")
            if options.progress is not None:
                options.progress(len(batch))
            yield conformed.rows

    upserted = bulk.upsert(connection, table, conformed_batches, replace_blanks=options.replace_blanks)
    counts = replace(upserted, off_grid=seen.off_grid)
    sync_turbines(connection, {}, seen.turbines)
    if refused:
        refused[0].merge()
        held = {t: UpsertCounts(rows_read=n, quarantined=n) for t, n in seen.quarantined.items()}
        counts = counts + totals(held)
    return FileReport(source.path, counts, seen.ignored, tuple(seen.first_quarantined))


@dataclass
class FileNotes:
    """What the conformed batches of one pass over a file said beyond their rows."""

    ignored: tuple[str, ...] = ()
    off_grid: int = 0
    first_quarantined: list[tuple[int, str]] = field(default_factory=list)
    turbines: set[str] = field(default_factory=set)
    quarantined: Counter[str] = field(default_factory=Counter)  # rows per turbine

    def reset(self) -> None:
        self.ignored, self.off_grid, self.first_quarantined, self.turbines = (), 0, [], set()
        self.quarantined = Counter()

    def add(self, batch: ConformedBatch) -> None:
        self.turbines.update(batch.rows[TURBINE].unique(), batch.quarantined[TURBINE].unique())
        self.quarantined.update(batch.quarantined[TURBINE].tolist())
        self.ignored = self.ignored or batch.ignored
        self.off_grid += batch.off_grid
        room = SHOWN - len(self.first_quarantined)
        if room > 0 and len(batch.quarantined):
            head = batch.quarantined.head(room)
            self.first_quarantined += list(zip(head["row_number"].tolist(), head["reason"].tolist(), strict=True))


def total_rows(paths: Sequence[Path]) -> int | None:
    """Rows across the files when every format says so up front (Parquet does), for a progress bar."""
    from datamgr.files import open_input

    total = 0
    for path in paths:
        try:
            rows = open_input(path).rows
        except DatamgrError:
            return None
        if rows is None:
            return None
        total += rows
    return total
