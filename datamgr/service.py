"""One function per data command: opens the command's single transaction and returns plain results.

The CLI parses options, calls one of these and renders what comes back; nothing here prints.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from sqlalchemy import Connection, Engine, Table

from datamgr.conform import ConformedBatch, conform_batch
from datamgr.errors import DatamgrError, DataValidationError, ModelError, QueryError, TrainingError
from datamgr.files import InputFile, open_input, read_batches
from datamgr.rows import Rows
from datamgr.settings import MAX_INT, Settings
from datamgr.store import repository
from datamgr.store.engine import create_database, read_connection, write_transaction
from datamgr.store.migrate import check_schema_current, upgrade_to_head
from datamgr.store.repository import Staging, UpsertCounts
from datamgr.store.schema import INGEST_TABLES, TIME_SERIES_TABLES, quarantine, raw_data, time_series_table
from datamgr.timestamps import format_instant, parse_instant

if TYPE_CHECKING:
    import pandas as pd

    from datamgr.pipelines.training import Stage, TrainingResult

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
                + _first(list(self.ignored_columns), len(self.ignored_columns), limit=10)
            )
        if counts.quarantined:
            shown = [f"row {row} ({reason})" for row, reason in self.first_quarantined]
            lines.append(
                f"{name}: {counts.quarantined} row(s) quarantined for impossible values at "
                f"{_first(shown, counts.quarantined)}; see `datamgr last-n 100 -t quarantine`"
            )
        if counts.duplicates:
            shown = [f"row {label + 1}" for label in counts.first_duplicates[:SHOWN]]
            lines.append(
                f"{name}: {counts.duplicates} row(s) replaced by a later row with the same timestamp "
                f"(duplicates collapsed to the last) at {_first(shown, counts.duplicates)}"
            )
        return lines


SHOWN = 3  # how many rows a warning names


def _first(shown: list[str], total: int, limit: int = SHOWN) -> str:
    """`a, b, c and 4 more`."""
    more = total - min(len(shown), limit)
    return ", ".join(shown[:limit]) + (f" and {more} more" if more > 0 else "")


class StrictRefusal(DataValidationError):
    """`ingest --strict` saw warnings: the transaction is rolled back and the warnings go with the error."""

    def __init__(self, warnings: list[str]) -> None:
        more = f" (and {len(warnings) - 1} more warning(s))" if len(warnings) > 1 else ""
        super().__init__(f"--strict: {warnings[0]}{more}; nothing was written")
        self.warnings = warnings


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


def _table(settings: Settings, name: str | None, allowed: tuple[str, ...] = TIME_SERIES_TABLES) -> Table:
    """The --table asked for, or data_manager.raw_data_table_name; looked up in the schema, never formatted."""
    return time_series_table(name or settings.data_manager.raw_data_table_name, allowed)


def init_db(engine: Engine, settings: Settings, *, load_history: bool = True) -> InitReport:
    """Migrate to head and, when raw_data is empty, load the history file; all in one transaction.

    Safe to run again: a migrated database is left as it is, history is never loaded twice, and
    the history file is not even looked at unless it is loaded. A failure leaves no new database
    file behind (see create_database).
    """
    history_path = settings.data_manager.history_data_path

    def migrate_and_load(target: Engine) -> InitReport:
        with write_transaction(target) as connection:
            before, after = upgrade_to_head(connection)
            existing = repository.count_rows(connection, raw_data)
            if not load_history:
                return InitReport(before, after, None, None, existing, "--no-history")
            if existing:
                return InitReport(
                    before,
                    after,
                    history_path,
                    None,
                    existing,
                    f"raw_data already holds {existing} rows",
                )
            source = open_input(history_path)
            counts = _upsert_file(connection, source, raw_data, settings, ignore_unknown=False, progress=None)
            return InitReport(before, after, history_path, counts, repository.count_rows(connection, raw_data))

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
) -> IngestReport:
    """Upsert every file into the table in one transaction: all files land, or none does.

    With strict, any warning (quarantined rows, collapsed duplicates, a file without rows,
    ignored columns) refuses the whole run. CSV delimiter and decimal separator are detected
    unless given.
    """
    table = _table(settings, table_name, INGEST_TABLES)
    sources = [open_input(path, delimiter=delimiter, decimal=decimal) for path in paths]
    report = IngestReport(table.name)
    with write_transaction(engine) as connection:
        check_schema_current(connection)
        for source in sources:
            report.files.append(
                _ingest_file(
                    connection,
                    source,
                    table,
                    settings,
                    ignore_unknown=ignore_unknown,
                    replace_blanks=replace_blanks,
                    progress=progress,
                )
            )
        warnings = report.warnings()
        if strict and warnings:
            raise StrictRefusal(warnings)
        log.debug("committing")
    return report


def _upsert_file(
    connection: Connection,
    source: InputFile,
    table: Table,
    settings: Settings,
    *,
    ignore_unknown: bool,
    progress: Progress | None,
) -> UpsertCounts:
    """The counts of `_ingest_file` with the default rules (blanks keep stored values)."""
    return _ingest_file(
        connection, source, table, settings, ignore_unknown=ignore_unknown, replace_blanks=False, progress=progress
    ).counts


def _ingest_file(
    connection: Connection,
    source: InputFile,
    table: Table,
    settings: Settings,
    *,
    ignore_unknown: bool,
    replace_blanks: bool,
    progress: Progress | None,
) -> FileReport:
    """Read a file batch by batch, conform each batch, and upsert the rows into the table.

    Rows with physically impossible values go to the quarantine table instead, with the reason.
    """
    options = settings.data_manager
    refused: list[Staging] = []  # the quarantine staging of the latest pass over the file
    seen = _FileNotes()

    def conformed_batches() -> Iterator[pd.DataFrame]:
        refused.clear()
        seen.reset()
        offset = 0
        for batch in read_batches(source):
            conformed = conform_batch(
                batch,
                table,
                source=str(source.path),
                row_offset=offset,
                naive_zone=options.naive_timezone,
                require_offsets=options.require_offsets,
                ignore_unknown=ignore_unknown,
                limits=options.limits,
                decimal=source.decimal,
            )
            seen.add(conformed)
            if len(conformed.quarantined):
                rejected = conformed.quarantined.assign(created_at=datetime.now(UTC))
                if not refused:
                    refused.append(Staging(connection, quarantine, list(rejected.columns)))
                refused[0].add(rejected)
            offset += len(batch)
            log.debug(f"staged {offset} rows of {source.path}")
            if progress is not None:
                progress(len(batch))
            yield conformed.rows

    counts = replace(
        repository.upsert(connection, table, conformed_batches, replace_blanks=replace_blanks),
        off_grid=seen.off_grid,
    )
    if refused:
        refused[0].merge()
        counts = replace(counts, rows_read=counts.rows_read + refused[0].rows, quarantined=refused[0].rows)
    return FileReport(source.path, counts, seen.ignored, tuple(seen.first_quarantined))


@dataclass
class _FileNotes:
    """What the conformed batches of one pass over a file said beyond their rows."""

    ignored: tuple[str, ...] = ()
    off_grid: int = 0
    first_quarantined: list[tuple[int, str]] = field(default_factory=list)

    def reset(self) -> None:
        self.ignored, self.off_grid, self.first_quarantined = (), 0, []

    def add(self, batch: ConformedBatch) -> None:
        self.ignored = self.ignored or batch.ignored
        self.off_grid += batch.off_grid
        room = SHOWN - len(self.first_quarantined)
        if room > 0 and len(batch.quarantined):
            head = batch.quarantined.head(room)
            self.first_quarantined += list(zip(head["row_number"].tolist(), head["reason"].tolist(), strict=True))


def last_n(engine: Engine, settings: Settings, n: int, *, table_name: str | None = None) -> Rows:
    """The n newest rows of a table, oldest first (as Rows: printing them needs no pandas)."""
    check_count("N", n)
    table = _table(settings, table_name)
    with read_connection(engine) as connection:
        check_schema_current(connection)
        return repository.last_n_rows(connection, table, n)


def check_count(name: str, n: int) -> None:
    """A count of rows must be positive and fit the database's integers: a usage error otherwise."""
    if n <= 0:
        raise QueryError(f"{name} must be a positive number of rows, got {n}")
    if n > MAX_INT:
        raise QueryError(f"{name} must be at most {MAX_INT} rows, got {n}")


def resolve_range(settings: Settings, start: str | None, end: str | None) -> tuple[datetime, datetime | None]:
    """The inclusive range asked for; None as the end means "up to the newest row".

    Neither given: training_pipeline's range. Only --start: up to the newest row. Only --end:
    from training_pipeline.start_timestamp. Start after end is a usage error.
    """
    zone = settings.data_manager.naive_timezone
    training = settings.training_pipeline
    start_at = parse_instant(start or training.start_timestamp, naive_zone=zone, what="--start")
    if start is not None and end is None:
        return start_at, None
    end_at = parse_instant(end or training.end_timestamp, naive_zone=zone, what="--end")
    if start_at > end_at:
        first = "--start" if start else "training_pipeline.start_timestamp"
        last = "--end" if end else "training_pipeline.end_timestamp"
        raise QueryError(f"{first} {format_instant(start_at)} is after {last} {format_instant(end_at)}")
    return start_at, end_at


def _range_end(connection: Connection, table: Table, start_at: datetime, end_at: datetime | None) -> datetime:
    """The end of a range: as given, or the newest row of the table (the start when it is empty)."""
    if end_at is not None:
        return end_at
    return repository.latest_timestamp(connection, table) or start_at


def time_range(
    engine: Engine,
    settings: Settings,
    start: str | None,
    end: str | None,
    *,
    table_name: str | None = None,
) -> pd.DataFrame:
    """Rows between start and end inclusive, oldest first."""
    table = _table(settings, table_name)
    start_at, end_at = resolve_range(settings, start, end)
    with read_connection(engine) as connection:
        check_schema_current(connection)
        return repository.between(connection, table, start_at, _range_end(connection, table, start_at, end_at))


def export_table(engine: Engine, settings: Settings, *, table_name: str | None = None) -> pd.DataFrame:
    """Every row of a table, oldest first (for a Parquet snapshot)."""
    table = _table(settings, table_name)
    with read_connection(engine) as connection:
        check_schema_current(connection)
        return repository.between(connection, table, None, None)


def total_rows(paths: Sequence[Path]) -> int | None:
    """Rows across the files when every format says so up front (Parquet does), for a progress bar."""
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


@dataclass(frozen=True)
class TrainReport:
    model_id: int
    artifact_path: Path
    rows_in_range: int
    result: TrainingResult | None  # None when the newest model was up to date and nothing was trained
    start: datetime
    end: datetime
    metrics: dict[str, Any]

    @property
    def up_to_date(self) -> bool:
        return self.result is None


def train(
    engine: Engine,
    settings: Settings,
    start: str | None = None,
    end: str | None = None,
    *,
    force: bool = False,
    stage: Stage | None = None,
) -> TrainReport:
    """Fit on the range, evaluate on its time-ordered holdout, save the artifact and register it.

    When the newest model was trained on the same range, the same data (digest), estimator,
    parameters and features, it is up to date: nothing is trained (a nightly cron retrain of
    unchanged data stores nothing), unless force is set. The fit runs outside any transaction;
    only the registration is a (short) write.
    """
    from datamgr.model_store import resolve_artifact, save_model, stored_artifact_path
    from datamgr.pipelines.features import load_training_data_from_db
    from datamgr.pipelines.training import data_digest, run_training

    say = stage or (lambda _name: None)
    options = settings.training_pipeline
    start_at, wanted_end = resolve_range(settings, start, end)
    say("loading the training range")
    with read_connection(engine) as connection:
        check_schema_current(connection)
        end_at = _range_end(connection, raw_data, start_at, wanted_end)
        data = load_training_data_from_db(connection, start_at, end_at)
        newest = repository.get_model_run(connection, None)
    if data.empty:
        raise TrainingError(
            f"no rows between {format_instant(start_at)} and {format_instant(end_at)}; "
            "ingest data for that range or change --start/--end"
        )
    if newest is not None and not force:
        artifact = resolve_artifact(newest["artifact_path"], options.models_dir)
        same = {
            "train_start": start_at,
            "train_end": end_at,
            "data_digest": data_digest(data),
            "estimator": options.estimator,
            "params": options.params,
            "features": _features(),
        }
        if all(newest[key] == value for key, value in same.items()) and artifact.is_file():
            return TrainReport(newest["id"], artifact, len(data), None, start_at, end_at, newest["metrics"])
    result = run_training(data, options, stage=stage)

    say("saving the model")
    created_at = datetime.now(UTC)
    artifact = options.models_dir / f"model_{created_at:%Y%m%dT%H%M%S}_{uuid4().hex[:8]}.skops"
    sha256 = save_model(result.model, artifact)
    try:
        model_id = _register_model(
            engine,
            result,
            created_at,
            start_at,
            end_at,
            len(data),
            sha256,
            stored_artifact_path(artifact, options.models_dir),
        )
    except BaseException:
        artifact.unlink(missing_ok=True)  # an artifact no model_runs row names would only take space
        raise
    return TrainReport(model_id, artifact, len(data), result, start_at, end_at, result.metrics)


def _features() -> list[str]:
    from datamgr.pipelines.features import FEATURES

    return list(FEATURES)


def _register_model(
    engine: Engine,
    result: TrainingResult,
    created_at: datetime,
    start_at: datetime,
    end_at: datetime,
    row_count: int,
    sha256: str,
    artifact_path: str,
) -> int:
    """One short write transaction: the model_runs row of a saved artifact."""
    with write_transaction(engine) as connection:
        return repository.insert_model_run(
            connection,
            {
                "created_at": created_at,
                "estimator": result.estimator,
                "params": result.params,
                "features": result.features,
                "train_start": start_at,
                "train_end": end_at,
                "row_count": row_count,
                "data_digest": result.data_digest,
                "metrics": {
                    **result.metrics,
                    "rows_fit": result.rows_fit,
                    "rows_holdout": result.rows_holdout,
                    "rows_without_target": result.rows_without_target,
                },
                "artifact_path": artifact_path,
                "artifact_sha256": sha256,
            },
        )


@dataclass(frozen=True)
class PredictReport:
    model_id: int
    predictions: pd.DataFrame
    counts: UpsertCounts
    # The newest rows with no value for any of the model's features: not predicted.
    without_features: int = 0
    first_without_features: tuple[str, ...] = ()


def predict(
    engine: Engine,
    settings: Settings,
    *,
    batch_size: int | None = None,
    model_id: int | None = None,
) -> PredictReport:
    """Predict on the newest rows with a registered model and store the predictions with their lineage."""
    from datamgr.model_store import load_model, resolve_artifact
    from datamgr.pipelines.features import get_last_n_points_from_db, rows_with_features
    from datamgr.pipelines.inference import (
        get_data_timestamps,
        prediction_frame,
        save_predictions_to_db,
    )
    from datamgr.pipelines.inference import predict as predict_node

    size = batch_size if batch_size is not None else settings.inference_pipeline.batch_size
    check_count("--batch-size", size)
    wanted = model_id if model_id is not None else settings.inference_pipeline.model_id
    if wanted is not None and not 0 < wanted <= MAX_INT:
        raise QueryError(f"--model-id {wanted} is not a model id; `datamgr models` lists the trained ones")
    with read_connection(engine) as connection:
        check_schema_current(connection)
        run = repository.get_model_run(connection, wanted)
        if run is None:
            if wanted is None:
                raise ModelError("no trained model yet; run `datamgr train` first")
            raise ModelError(f"no model with id {wanted}; `datamgr models` lists the trained ones")
        data = get_last_n_points_from_db(connection, size)
    artifact = resolve_artifact(run["artifact_path"], settings.training_pipeline.models_dir)
    model = load_model(artifact, run["artifact_sha256"], model_id=run["id"])
    usable, blank = rows_with_features(data, run["features"])
    frame = prediction_frame(
        predict_node(model, usable, run["features"]),
        get_data_timestamps(usable),
        model_id=run["id"],
        created_at=datetime.now(UTC),
    )
    with write_transaction(engine) as connection:
        counts = save_predictions_to_db(connection, frame)
    first = tuple(format_instant(stamp) for stamp in get_data_timestamps(blank).head(SHOWN))
    return PredictReport(run["id"], frame, counts, len(blank), first)


def list_models(engine: Engine) -> pd.DataFrame:
    """Every registered model, oldest first, with its holdout and baseline MAE side by side."""
    import pandas as pd

    with read_connection(engine) as connection:
        check_schema_current(connection)
        runs = repository.list_model_runs(connection)
    rows = [
        {
            "id": run["id"],
            "created_at": run["created_at"],
            "estimator": run["estimator"],
            "train_start": run["train_start"],
            "train_end": run["train_end"],
            "row_count": run["row_count"],
            "mae": run["metrics"]["model"]["mae"],
            "baseline_mae": run["metrics"]["baseline"]["mae"],
            "r2": run["metrics"]["model"]["r2"],
            "data_digest": run["data_digest"][:12],
            "artifact_path": run["artifact_path"],
        }
        for run in runs
    ]
    frame = pd.DataFrame(rows, columns=MODEL_LIST_COLUMNS)
    for name in ("created_at", "train_start", "train_end"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame


MODEL_LIST_COLUMNS = [
    "id", "created_at", "estimator", "train_start", "train_end", "row_count",
    "mae", "baseline_mae", "r2", "data_digest", "artifact_path",
]  # fmt: skip


def metrics_frame(metrics: dict[str, Any]) -> pd.DataFrame:
    """Holdout metrics of the model beside the baseline's, one row per metric."""
    import pandas as pd

    return pd.DataFrame(
        {
            "metric": ["mae_kw", "rmse_kw", "r2"],
            "model": [metrics["model"][k] for k in ("mae", "rmse", "r2")],
            "baseline": [metrics["baseline"][k] for k in ("mae", "rmse", "r2")],
        }
    )
