"""One function per data command: opens the command's single transaction and returns plain results.

The CLI parses options, calls one of these and renders what comes back; nothing here prints.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from sqlalchemy import Connection, Engine, Table

from datamgr.errors import DatamgrError, DataValidationError, ModelError, QueryError, StrictRefusal, TrainingError
from datamgr.rows import Rows
from datamgr.settings import MAX_INT, Settings
from datamgr.store import arrow_reads, repository
from datamgr.store.engine import create_database, read_connection, write_transaction
from datamgr.store.migrate import check_schema_current, upgrade_to_head
from datamgr.store.repository import Staging, UpsertCounts
from datamgr.store.schema import (
    INGEST_TABLES,
    TIME_SERIES_TABLES,
    TIMESTAMP,
    TURBINE,
    quarantine,
    raw_data,
    time_series_table,
)
from datamgr.store.schema import predictions as predictions_table
from datamgr.timestamps import format_instant, parse_instant

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from datamgr.conform import ConformedBatch
    from datamgr.files import InputFile
    from datamgr.monitoring.report import ReportData
    from datamgr.monitoring.status import State
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
            before, after = upgrade_to_head(connection, default_turbine_id=settings.data_manager.default_turbine_id)
            repository.sync_turbines(connection, configured_turbines(settings))
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
            from datamgr.files import open_input  # reading files is ingest's work: `last-n` never loads it

            source = open_input(history_path)
            counts = _upsert_file(
                connection, source, raw_data, settings, ignore_unknown=False, progress=None, turbine=None
            )
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
    turbine: str | None = None,
) -> IngestReport:
    """Upsert every file into the table in one transaction: all files land, or none does.

    With strict, any warning (quarantined rows, collapsed duplicates, a file without rows,
    ignored columns) refuses the whole run. CSV delimiter and decimal separator are detected
    unless given. Rows of a file without a turbine_id column belong to `turbine`, or to the
    default turbine.
    """
    from datamgr.files import open_input

    table = _table(settings, table_name, INGEST_TABLES)
    sources = [open_input(path, delimiter=delimiter, decimal=decimal) for path in paths]
    report = IngestReport(table.name)
    with write_transaction(engine) as connection:
        check_schema_current(connection)
        repository.sync_turbines(connection, configured_turbines(settings))
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
                    turbine=turbine,
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
    turbine: str | None,
) -> UpsertCounts:
    """The counts of `_ingest_file` with the default rules (blanks keep stored values)."""
    return _ingest_file(
        connection,
        source,
        table,
        settings,
        ignore_unknown=ignore_unknown,
        replace_blanks=False,
        progress=progress,
        turbine=turbine,
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
    turbine: str | None,
) -> FileReport:
    """Read a file batch by batch, conform each batch, and upsert the rows into the table.

    Source columns are renamed by data_manager.column_map first. Rows with physically impossible
    values go to the quarantine table instead, with the reason. Every turbine met is registered.
    """
    from datamgr.conform import conform_batch
    from datamgr.files import read_batches

    options = settings.data_manager
    refused: list[Staging] = []  # the quarantine staging of the latest pass over the file
    seen = _FileNotes()
    ceilings = {t: rated * options.power_limit_ratio for t, rated in repository.rated_powers(connection).items()}

    def conformed_batches() -> Iterator[pd.DataFrame]:
        refused.clear()
        seen.reset()
        offset = 0
        for batch in read_batches(source):
            batch = with_turbine(map_columns(batch, options.column_map), turbine or options.default_turbine_id)
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
                power_ceilings=ceilings,
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
    repository.sync_turbines(connection, {}, seen.turbines)
    if refused:
        refused[0].merge()
        held = {t: UpsertCounts(rows_read=n, quarantined=n) for t, n in seen.quarantined.items()}
        counts = counts + repository.totals(held)
    return FileReport(source.path, counts, seen.ignored, tuple(seen.first_quarantined))


@dataclass
class _FileNotes:
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


def configured_turbines(settings: Settings) -> dict[str, dict[str, object]]:
    """The config's turbines section as table rows: only the metadata it gives."""
    return {turbine_id: meta.model_dump(exclude_none=True) for turbine_id, meta in settings.turbines.items()}


def map_columns(batch: pd.DataFrame, column_map: dict[str, str | None]) -> pd.DataFrame:
    """Node: vendor column names -> datamgr's (data_manager.column_map); a column mapped to null is dropped."""
    if not column_map:
        return batch
    dropped = [name for name in batch.columns if name in column_map and column_map[name] is None]
    renamed = {name: target for name in batch.columns if (target := column_map.get(name))}
    clashes = sorted(set(renamed.values()) & (set(batch.columns) - set(renamed)))
    if clashes:
        raise DataValidationError(
            f"data_manager.column_map maps a column onto {', '.join(clashes)}, which the file also has; "
            "map only one of them"
        )
    return batch.drop(columns=dropped).rename(columns=renamed)


def with_turbine(batch: pd.DataFrame, turbine: str) -> pd.DataFrame:
    """Node: rows of a file without a turbine_id column belong to one turbine."""
    return batch if TURBINE in batch.columns else batch.assign(**{TURBINE: turbine})


def _turbine_ids(connection: Connection, turbine: str | None) -> list[str]:
    """The turbine asked for (which must exist), or every turbine the store knows."""
    known = repository.known_turbines(connection)
    if turbine is None:
        return known
    if turbine not in known:
        listed = ", ".join(known[:10]) + (" …" if len(known) > 10 else "") if known else "none yet"
        raise QueryError(f"unknown turbine {turbine!r}; known: {listed} (`datamgr turbines` lists them)")
    return [turbine]


def last_n(
    engine: Engine, settings: Settings, n: int, *, table_name: str | None = None, turbine: str | None = None
) -> Rows:
    """The n newest rows of one turbine, or of each turbine, oldest first (as Rows: printing needs no pandas)."""
    check_count("N", n)
    table = _table(settings, table_name)
    with read_connection(engine) as connection:
        check_schema_current(connection)
        return repository.last_n_rows(connection, table, n, _turbine_ids(connection, turbine))


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
    turbine: str | None = None,
) -> pa.Table | pd.DataFrame:
    """Rows between start and end inclusive, by turbine and then oldest first (Arrow from a SQLite file)."""
    table = _table(settings, table_name)
    start_at, end_at = resolve_range(settings, start, end)
    return _rows_between(engine, table, start_at, end_at, turbine)


def export_table(
    engine: Engine, settings: Settings, *, table_name: str | None = None, turbine: str | None = None
) -> pa.Table | pd.DataFrame:
    """Every row of a table (or of one turbine), by turbine and then oldest first (for a Parquet snapshot)."""
    return _rows_between(engine, _table(settings, table_name), None, None, turbine)


def _rows_between(
    engine: Engine, table: Table, start_at: datetime | None, end_at: datetime | None, turbine: str | None
) -> pa.Table | pd.DataFrame:
    """The checks (schema, turbine, end of the range) on a SQLAlchemy connection, released before
    the rows are read: columnar from a SQLite file (see store.arrow_reads), else through SQLAlchemy."""
    with read_connection(engine) as connection:
        check_schema_current(connection)
        chosen = None if turbine is None else _turbine_ids(connection, turbine)
        last = end_at if start_at is None else _range_end(connection, table, start_at, end_at)
    with arrow_reads.reading(engine) as source:
        return arrow_reads.between(source, table, start_at, last, chosen)


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


@dataclass(frozen=True)
class TrainedModel:
    """One turbine's model from a train run: newly fitted (result set) or up to date (result None)."""

    turbine_id: str
    model_id: int
    artifact_path: Path
    rows_in_range: int
    result: TrainingResult | None
    metrics: dict[str, Any]  # as model_runs stores them
    features: list[str]
    promoted: bool = False  # made its turbine's active model by this run
    note: str | None = None  # why it was not promoted

    @property
    def up_to_date(self) -> bool:
        return self.result is None


@dataclass(frozen=True)
class TrainReport:
    start: datetime
    end: datetime
    models: list[TrainedModel]
    skipped: dict[str, str]  # turbine -> why no model was trained for it


def train(
    engine: Engine,
    settings: Settings,
    start: str | None = None,
    end: str | None = None,
    *,
    turbine: str | None = None,
    force: bool = False,
    stage: Stage | None = None,
) -> TrainReport:
    """Fit one model per turbine (or for the one asked for) on the range, evaluate each on its
    time-ordered holdout, save the artifacts and register them.

    A turbine whose newest model was trained on the same range, the same data (digest), estimator
    and parameters is up to date: nothing is trained for it (a nightly cron retrain of unchanged
    data stores nothing), unless force is set. A turbine without enough rows in the range is
    skipped (and reported) unless it was asked for by name. The fits run outside any transaction;
    only the registration is a (short) write.
    """
    from datamgr.model_store import resolve_artifact
    from datamgr.pipelines.features import load_training_data_from_db

    say = stage or (lambda _name: None)
    options = settings.training_pipeline
    start_at, wanted_end = resolve_range(settings, start, end)
    with read_connection(engine) as connection:
        check_schema_current(connection)
        chosen = _turbine_ids(connection, turbine)
        end_at = _range_end(connection, raw_data, start_at, wanted_end)
    if not chosen:
        raise TrainingError(
            f"no rows between {format_instant(start_at)} and {format_instant(end_at)}; "
            "ingest data for that range or change --start/--end"
        )
    fitted: list[tuple[str, int, TrainingResult]] = []
    current: list[TrainedModel] = []
    skipped: dict[str, str] = {}
    for turbine_id in chosen:
        say(f"{turbine_id}: loading the training range")
        with read_connection(engine) as connection:
            newest = repository.get_model_run(connection, None, turbine_id)
        with arrow_reads.reading(engine) as source:
            data = load_training_data_from_db(source, start_at, end_at, turbine_id)
        try:
            if data.empty:
                raise TrainingError(
                    f"no rows of turbine {turbine_id} between {format_instant(start_at)} and "
                    f"{format_instant(end_at)}; ingest data for that range or change --start/--end"
                )
            if newest is not None and not force and _up_to_date(newest, data, settings, start_at, end_at):
                artifact = resolve_artifact(newest["artifact_path"], options.models_dir)
                current.append(
                    TrainedModel(
                        turbine_id, newest["id"], artifact, len(data), None, newest["metrics"], newest["features"]
                    )
                )
                continue
            fitted.append((turbine_id, len(data), _fit(data, settings, turbine_id, stage)))
        except TrainingError as exc:
            if turbine is not None or len(chosen) == 1:
                raise
            skipped[turbine_id] = str(exc)
    if not fitted and not current:
        raise TrainingError(
            f"no turbine has enough rows between {format_instant(start_at)} and {format_instant(end_at)} "
            "to train on; ingest data for that range or change --start/--end"
        )
    say("saving the models")
    models = current + _register(engine, settings, fitted, start_at, end_at)
    return TrainReport(start_at, end_at, sorted(models, key=lambda m: m.turbine_id), skipped)


def _up_to_date(
    newest: dict[str, Any], data: pd.DataFrame, settings: Settings, start_at: datetime, end_at: datetime
) -> bool:
    """Whether the turbine's newest model saw exactly this range, data, estimator and parameters
    (and its features are still datamgr's), with its artifact in place."""
    from datamgr.model_store import resolve_artifact
    from datamgr.pipelines.features import FEATURES
    from datamgr.pipelines.training import data_digest

    options = settings.training_pipeline
    same = {
        "train_start": start_at,
        "train_end": end_at,
        "data_digest": data_digest(data),
        "estimator": options.estimator,
        "params": options.params,
    }
    return (
        all(newest[key] == value for key, value in same.items())
        and set(newest["features"]) <= set(FEATURES)
        and resolve_artifact(newest["artifact_path"], options.models_dir).is_file()
    )


def _fit(data: pd.DataFrame, settings: Settings, turbine_id: str, stage: Stage | None) -> TrainingResult:
    from datamgr.pipelines.training import run_training

    prefixed = None if stage is None else (lambda name: stage(f"{turbine_id}: {name}"))
    return run_training(data, settings.training_pipeline, stage=prefixed)


def _register(
    engine: Engine,
    settings: Settings,
    fitted: list[tuple[str, int, TrainingResult]],
    start_at: datetime,
    end_at: datetime,
) -> list[TrainedModel]:
    """Save each artifact (atomically), then register them all in one short write transaction.

    If the registration fails, the artifacts are removed: a file no model_runs row names would
    only take space.
    """
    from datamgr.model_store import save_model, stored_artifact_path

    models_dir = settings.training_pipeline.models_dir
    saved: list[tuple[str, int, TrainingResult, datetime, Path, str]] = []
    verdicts = {turbine_id: _promotion(engine, settings, turbine_id, result) for turbine_id, _rows, result in fitted}
    try:
        for turbine_id, rows, result in fitted:
            created_at = datetime.now(UTC)
            artifact = models_dir / f"model_{turbine_id}_{created_at:%Y%m%dT%H%M%S}_{uuid4().hex[:8]}.skops"
            saved.append((turbine_id, rows, result, created_at, artifact, save_model(result.model, artifact)))
        models = []
        with write_transaction(engine) as connection:
            for turbine_id, rows, result, created_at, artifact, sha256 in saved:
                promote, note = verdicts[turbine_id]
                model_id = repository.insert_model_run(
                    connection,
                    {
                        TURBINE: turbine_id,
                        "created_at": created_at,
                        "estimator": result.estimator,
                        "params": result.params,
                        "features": result.features,
                        "train_start": start_at,
                        "train_end": end_at,
                        "row_count": rows,
                        "data_digest": result.data_digest,
                        "metrics": stored_metrics(result),
                        "artifact_path": stored_artifact_path(artifact, models_dir),
                        "artifact_sha256": sha256,
                        "active": False,
                        "note": note,
                    },
                )
                if promote:
                    repository.set_active(connection, model_id, turbine_id)
                models.append(
                    TrainedModel(
                        turbine_id,
                        model_id,
                        artifact,
                        rows,
                        result,
                        stored_metrics(result),
                        result.features,
                        promote,
                        note,
                    )
                )
        return models
    except BaseException:
        for *_, artifact, _sha in saved:
            artifact.unlink(missing_ok=True)
        raise


def _promotion(engine: Engine, settings: Settings, turbine_id: str, result: TrainingResult) -> tuple[bool, str | None]:
    """Whether a new model becomes its turbine's active one, and if not, why.

    It must beat its own binned power curve on its holdout; and when the turbine has an active
    model, its holdout MAE must be no worse than the active model's on the same rows by more
    than training_pipeline.promote_tolerance.
    """
    from datamgr.pipelines.training import holdout_mae

    mae, curve = result.metrics["model"]["mae"], result.metrics["baseline"]["mae"]
    if not mae < curve:
        return False, f"holdout MAE {mae:.1f} kW does not beat its binned power curve's {curve:.1f} kW"
    with read_connection(engine) as connection:
        active = repository.active_model_run(connection, turbine_id)
    if active is None or result.holdout is None:
        return True, None
    try:
        theirs = holdout_mae(_load(settings, active), active["features"], result.holdout)
    except ModelError:
        return True, None  # the active model's artifact is gone or changed: it cannot serve anyway
    tolerance = settings.training_pipeline.promote_tolerance
    if mae > theirs * (1 + tolerance):
        return False, (
            f"holdout MAE {mae:.1f} kW is worse than active model {active['id']}'s {theirs:.1f} kW on the same "
            f"rows by more than training_pipeline.promote_tolerance ({tolerance:.0%})"
        )
    return True, None


def stored_metrics(result: TrainingResult) -> dict[str, Any]:
    """model_runs.metrics: the holdout metrics and how many rows went where."""
    return {
        **result.metrics,
        "rows_fit": result.rows_fit,
        "rows_holdout": result.rows_holdout,
        "rows_without_target": result.rows_without_target,
    }


@dataclass(frozen=True)
class TurbinePrediction:
    """What predict did for one turbine: its model, the upsert counts, and the rows it could not predict."""

    turbine_id: str
    model_id: int
    counts: UpsertCounts
    without_features: int = 0  # rows with no value for any of the model's features: not predicted
    first_without_features: tuple[str, ...] = ()


@dataclass(frozen=True)
class PredictReport:
    predictions: pd.DataFrame
    turbines: list[TurbinePrediction]
    without_model: list[str]  # turbines skipped: no model trained for them yet
    up_to_date: dict[str, datetime]  # turbines skipped: their newest row is already predicted

    @property
    def counts(self) -> UpsertCounts:
        total = UpsertCounts()
        for item in self.turbines:
            total = total + item.counts
        return total


RANGE_BATCH_ROWS = 50_000


def predict(
    engine: Engine,
    settings: Settings,
    *,
    batch_size: int | None = None,
    model_id: int | None = None,
    turbine: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> PredictReport:
    """Predict each turbine's newest rows (or every row of a range) with its newest model, and store
    the predictions with their lineage.

    Batch form (cron): turbines without a model are named and skipped; a turbine whose newest
    batch its model has already predicted, row for row, is skipped, its model not even loaded. Range form (backfill):
    every row in [start, end], read and written batch by batch, so memory does not grow with the
    range; one transaction per turbine; predicting again changes nothing.
    """
    size = batch_size if batch_size is not None else settings.inference_pipeline.batch_size
    check_count("--batch-size", size)
    wanted = model_id if model_id is not None else settings.inference_pipeline.model_id
    if wanted is not None and not 0 < wanted <= MAX_INT:
        raise QueryError(f"--model-id {wanted} is not a model id; `datamgr models` lists the trained ones")
    span = resolve_range(settings, start, end) if start is not None or end is not None else None
    up_to_date: dict[str, datetime] = {}
    with read_connection(engine) as connection:
        check_schema_current(connection)
        plan, without_model = _models_to_use(connection, wanted, turbine)
        if span is not None:
            span = (span[0], _range_end(connection, raw_data, span[0], span[1]))
        else:
            for turbine_id, run in list(plan.items()):
                waiting = repository.unpredicted_among_newest(
                    connection, raw_data, predictions_table, turbine_id, run["id"], size
                )
                newest = repository.newest_timestamp(connection, raw_data, turbine_id)
                if waiting == 0 and newest is not None:
                    up_to_date[turbine_id] = newest
                    del plan[turbine_id]
    if span is None:
        return _predict_newest(engine, settings, plan, size, without_model, up_to_date)
    return _predict_range(engine, settings, plan, (span[0], span[1]), without_model)


def _models_to_use(
    connection: Connection, model_id: int | None, turbine: str | None
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """turbine -> the model_runs row to predict it with, and the turbines that have no model."""
    if model_id is not None:
        run = repository.get_model_run(connection, model_id)
        if run is None:
            raise ModelError(f"no model with id {model_id}; `datamgr models` lists the trained ones")
        if turbine is not None and turbine != run[TURBINE]:
            raise QueryError(f"model {model_id} was trained for turbine {run[TURBINE]}, not {turbine}")
        return {run[TURBINE]: run}, []
    plan: dict[str, dict[str, Any]] = {}
    without: list[str] = []
    for turbine_id in _turbine_ids(connection, turbine):
        run = repository.active_model_run(connection, turbine_id)
        if run is None:
            without.append(turbine_id)
        else:
            plan[turbine_id] = run
    if not plan:
        named = f" for {', '.join(without)}" if without else ""
        raise ModelError(f"no active model yet{named}; run `datamgr train` first (or `datamgr models activate ID`)")
    return plan, without


def _load(settings: Settings, run: dict[str, Any]) -> Any:
    from datamgr.model_store import load_model, resolve_artifact

    artifact = resolve_artifact(run["artifact_path"], settings.training_pipeline.models_dir)
    return load_model(artifact, run["artifact_sha256"], model_id=run["id"])


def _predicted(run: dict[str, Any], data: pd.DataFrame, model: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One turbine's rows -> its predictions in the table's shape, and the rows without any feature."""
    from datamgr.pipelines.features import rows_with_features
    from datamgr.pipelines.inference import get_data_timestamps, prediction_frame
    from datamgr.pipelines.inference import predict as predict_node

    usable, blank = rows_with_features(data, run["features"])
    frame = prediction_frame(
        predict_node(model, usable, run["features"]),
        get_data_timestamps(usable),
        model_id=run["id"],
        turbine_id=run[TURBINE],
        created_at=datetime.now(UTC),
    )
    return frame, blank


def _turbine_prediction(run: dict[str, Any], counts: UpsertCounts, blank: list[pd.DataFrame]) -> TurbinePrediction:
    from datamgr.pipelines.inference import get_data_timestamps

    first = [format_instant(stamp) for part in blank for stamp in get_data_timestamps(part)][:SHOWN]
    return TurbinePrediction(run[TURBINE], run["id"], counts, sum(len(part) for part in blank), tuple(first))


def _predict_newest(
    engine: Engine,
    settings: Settings,
    plan: dict[str, dict[str, Any]],
    size: int,
    without_model: list[str],
    up_to_date: dict[str, datetime],
) -> PredictReport:
    """Cron's form: read each turbine's newest rows, predict, and write everything in one transaction."""
    import pandas as pd

    from datamgr.pipelines.features import get_last_n_points_from_db
    from datamgr.pipelines.inference import save_predictions_to_db

    predicted: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
    for turbine_id, run in plan.items():
        with read_connection(engine) as connection:
            data = get_last_n_points_from_db(connection, size, turbine_id)
        predicted[turbine_id] = _predicted(run, data, _load(settings, run))
    done = []
    with write_transaction(engine) as connection:
        for turbine_id, (frame, blank) in predicted.items():
            done.append(_turbine_prediction(plan[turbine_id], save_predictions_to_db(connection, frame), [blank]))
    frames = [frame for frame, _ in predicted.values()]
    shown = pd.concat(frames, ignore_index=True) if frames else _no_predictions()
    return PredictReport(shown, done, without_model, up_to_date)


def _predict_range(
    engine: Engine,
    settings: Settings,
    plan: dict[str, dict[str, Any]],
    span: tuple[datetime, datetime],
    without_model: list[str],
) -> PredictReport:
    """A backfill: each turbine's rows in the range, batch by batch, in one write transaction per turbine."""
    from datamgr.pipelines.features import load_batches_from_db
    from datamgr.pipelines.inference import save_predictions_to_db

    done = []
    for turbine_id, run in plan.items():
        model = _load(settings, run)
        counts, blank = UpsertCounts(), []
        with write_transaction(engine) as connection:
            for data in load_batches_from_db(connection, span[0], span[1], turbine_id, RANGE_BATCH_ROWS):
                frame, missing = _predicted(run, data, model)
                counts = counts + save_predictions_to_db(connection, frame)
                blank.append(missing)
        done.append(_turbine_prediction(run, counts, blank))
    return PredictReport(_no_predictions(), done, without_model, {})


def _no_predictions() -> pd.DataFrame:
    import pandas as pd

    from datamgr.pipelines.inference import PREDICTION_COLUMNS

    return pd.DataFrame(columns=PREDICTION_COLUMNS)


def list_models(engine: Engine, *, turbine: str | None = None) -> pd.DataFrame:
    """Every registered model (of one turbine), oldest first, with its holdout and baseline MAE side by side."""
    import pandas as pd

    with read_connection(engine) as connection:
        check_schema_current(connection)
        if turbine is not None:
            _turbine_ids(connection, turbine)
        runs = repository.list_model_runs(connection, turbine)
    rows = [
        {
            "id": run["id"],
            TURBINE: run[TURBINE],
            "active": bool(run["active"]),
            "created_at": run["created_at"],
            "estimator": run["estimator"],
            "train_start": run["train_start"],
            "train_end": run["train_end"],
            "row_count": run["row_count"],
            "features": len(run["features"]),
            "mae": run["metrics"]["model"]["mae"],
            "baseline_mae": run["metrics"]["baseline"]["mae"],
            "r2": run["metrics"]["model"]["r2"],
            "data_digest": run["data_digest"][:12],
            "artifact_path": run["artifact_path"],
            "note": run["note"],
        }
        for run in runs
    ]
    frame = pd.DataFrame(rows, columns=MODEL_LIST_COLUMNS)
    for name in ("created_at", "train_start", "train_end"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame


def activate_model(engine: Engine, model_id: int) -> dict[str, Any]:
    """By hand: make a model its turbine's active one (the one predict uses); returns its row."""
    with write_transaction(engine) as connection:
        check_schema_current(connection)
        run = _model(connection, model_id)
        repository.set_active(connection, model_id, run[TURBINE], note="activated by hand")
        return run


def retire_model(engine: Engine, model_id: int) -> dict[str, Any]:
    """By hand: stop a model being used; its turbine is left without an active model until one is activated."""
    with write_transaction(engine) as connection:
        check_schema_current(connection)
        run = _model(connection, model_id)
        repository.retire(connection, model_id, note="retired by hand")
        return run


def _model(connection: Connection, model_id: int) -> dict[str, Any]:
    if not 0 < model_id <= MAX_INT:
        raise QueryError(f"{model_id} is not a model id; `datamgr models` lists the trained ones")
    run = repository.get_model_run(connection, model_id)
    if run is None:
        raise QueryError(f"no model with id {model_id}; `datamgr models` lists the trained ones")
    return run


def list_turbines(engine: Engine) -> pd.DataFrame:
    """Every turbine: its metadata, stored rows, first and last timestamp, and quarantined rows."""
    import pandas as pd

    with read_connection(engine) as connection:
        check_schema_current(connection)
        rows = repository.turbine_summary(connection, raw_data, quarantine)
    frame = pd.DataFrame(rows, columns=TURBINE_LIST_COLUMNS)
    for name in ("first", "last"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame


TURBINE_LIST_COLUMNS = [
    TURBINE, "name", "rated_power_kw", "hub_height_m", "rotor_diameter_m", "rows", "first", "last", "quarantined",
]  # fmt: skip


MODEL_LIST_COLUMNS = [
    "id", TURBINE, "active", "created_at", "estimator", "train_start", "train_end", "row_count", "features",
    "mae", "baseline_mae", "r2", "data_digest", "artifact_path", "note",
]  # fmt: skip


def metrics_frame(report: TrainReport) -> pd.DataFrame:
    """One row per model of a train run: its holdout metrics beside its binned power curve's."""
    import pandas as pd

    rows = []
    for item in report.models:
        model, baseline = item.metrics["model"], item.metrics["baseline"]
        rows.append(
            {
                TURBINE: item.turbine_id,
                "model_id": item.model_id,
                "rows_fit": item.metrics.get("rows_fit"),
                "rows_holdout": item.metrics.get("rows_holdout"),
                "features": len(item.features),
                "mae_kw": model["mae"],
                "baseline_mae_kw": baseline["mae"],
                "rmse_kw": model["rmse"],
                "baseline_rmse_kw": baseline["rmse"],
                "r2": model["r2"],
                "baseline_r2": baseline["r2"],
            }
        )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class EvaluateReport:
    windows: pd.DataFrame  # monitoring.evaluate.WINDOW_COLUMNS, the windows in the range asked for
    bins: pd.DataFrame | None  # MAE per wind-speed bin, with --by wind-speed
    stored: int  # metric values written (or found unchanged) in the evaluations table

    @property
    def alerts(self) -> pd.DataFrame:
        return self.windows[self.windows["alert"]]


def evaluate(
    engine: Engine,
    settings: Settings,
    *,
    turbine: str | None = None,
    model_id: int | None = None,
    start: str | None = None,
    end: str | None = None,
    window: str | None = None,
    by_wind_speed: bool = False,
) -> EvaluateReport:
    """Join stored predictions with the actual Power that has arrived, per turbine, model and window;
    compare with the model's binned power curve and persistence; flag windows against the reference;
    store the results (idempotently) in the evaluations table.
    """
    import pandas as pd

    from datamgr.monitoring.evaluate import METRICS

    evaluation = _evaluation(
        engine,
        settings,
        turbine=turbine,
        model_id=model_id,
        start=start,
        end=end,
        window=window,
        by_wind_speed=by_wind_speed,
    )
    windows = evaluation.windows
    now = datetime.now(UTC)
    rows = [
        {
            TURBINE: w.turbine_id,
            "model_id": int(w.model_id),
            "window_start": w.window_start.to_pydatetime(),
            "metric": metric,
            "window_end": w.window_end.to_pydatetime(),
            "value": None if pd.isna(getattr(w, metric)) else float(getattr(w, metric)),
            "alert": bool(w.alert),
            "created_at": now,
        }
        for w in windows.itertuples(index=False)
        for metric in METRICS
    ]
    with write_transaction(engine) as connection:
        stored = repository.store_evaluations(connection, rows)
    return EvaluateReport(windows, evaluation.bins, stored)


@dataclass(frozen=True)
class _Evaluation:
    windows: pd.DataFrame
    bins: pd.DataFrame | None
    readings: pd.DataFrame  # the joined rows in the range: predictions with actuals, baseline, persistence
    runs: list[dict[str, Any]]


def _evaluation(
    engine: Engine,
    settings: Settings,
    *,
    turbine: str | None,
    model_id: int | None,
    start: str | None,
    end: str | None,
    window: str | None,
    by_wind_speed: bool,
    active_only: bool = False,
) -> _Evaluation:
    """evaluate's computation, without storing it (the report shows it too)."""
    import pandas as pd

    from datamgr.monitoring.evaluate import evaluate_by_wind_speed, evaluate_windows
    from datamgr.monitoring.windows import parse_duration

    size = parse_duration(window or settings.monitoring.window, "--window")
    zone = settings.data_manager.naive_timezone
    start_at = parse_instant(start, naive_zone=zone, what="--start") if start else None
    end_at = parse_instant(end, naive_zone=zone, what="--end") if end else None
    if start_at is not None and end_at is not None and start_at > end_at:
        raise QueryError(f"--start {format_instant(start_at)} is after --end {format_instant(end_at)}")
    with read_connection(engine) as connection:
        check_schema_current(connection)
        runs = [_model(connection, model_id)] if model_id is not None else []
        if model_id is None:
            for turbine_id in _turbine_ids(connection, turbine):
                runs += [
                    r for r in repository.list_model_runs(connection, turbine_id) if r["active"] or not active_only
                ]
        elif turbine is not None and runs[0][TURBINE] != turbine:
            raise QueryError(f"model {model_id} was trained for turbine {runs[0][TURBINE]}, not {turbine}")
        joined = [_with_baseline(repository.predictions_with_actuals(connection, r[TURBINE], r["id"]), r) for r in runs]
        rated = repository.rated_powers(connection)
    # The config is the source of turbine metadata: what it says counts even before the next ingest.
    rated.update({t: m.rated_power_kw for t, m in settings.turbines.items() if m.rated_power_kw is not None})
    readings = pd.concat([j for j in joined if not j.empty] or [_empty_readings()], ignore_index=True)
    windows = evaluate_windows(
        readings,
        size,
        rated_power=rated,
        trained_until={r["id"]: r["train_end"] for r in runs},
        alert_ratio=settings.monitoring.mae_alert_ratio,
    )
    in_range = pd.Series(True, index=windows.index)
    if start_at is not None:
        in_range &= windows["window_end"] > pd.Timestamp(start_at)
    if end_at is not None:
        in_range &= windows["window_start"] <= pd.Timestamp(end_at)
    windows = windows[in_range].reset_index(drop=True)
    chosen = readings
    if start_at is not None:
        chosen = chosen[chosen[TIMESTAMP] >= pd.Timestamp(start_at)]
    if end_at is not None:
        chosen = chosen[chosen[TIMESTAMP] <= pd.Timestamp(end_at)]
    bins = evaluate_by_wind_speed(chosen) if by_wind_speed else None
    return _Evaluation(windows, bins, chosen.reset_index(drop=True), runs)


def _with_baseline(joined: pd.DataFrame, run: dict[str, Any]) -> pd.DataFrame:
    """Add the model's binned power curve at each row's wind (NaN for models trained before it was stored)."""
    import numpy as np

    from datamgr.pipelines.training import BinnedPowerCurve

    stored = run["metrics"].get("baseline_curve")
    if stored is None or joined.empty:
        return joined.assign(baseline_power=np.nan)
    return joined.assign(baseline_power=BinnedPowerCurve.from_dict(stored).predict(joined["wind_speed"]))


def _empty_readings() -> pd.DataFrame:
    import pandas as pd

    columns = [TURBINE, "model_id", TIMESTAMP, "predicted_power", "actual", "wind_speed", "previous_power"]
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    frame[TIMESTAMP] = pd.Series(dtype="datetime64[ns, UTC]")
    return frame.assign(baseline_power=pd.Series(dtype="float64"))


@dataclass(frozen=True)
class StatusReport:
    rows: list[dict[str, Any]]
    state: State
    as_of: datetime
    warn_after: timedelta
    error_after: timedelta


def status(
    engine: Engine,
    settings: Settings,
    *,
    turbine: str | None = None,
    as_of: str | None = None,
    warn_after: str | None = None,
    error_after: str | None = None,
) -> StatusReport:
    """Per turbine: how fresh its data and predictions are, its active model and last evaluated MAE;
    and the overall state (the Nagios convention), judged against warn_after and error_after."""
    from datamgr.monitoring.status import SLOTS_PER_DAY, TurbineFacts, judge, overall
    from datamgr.monitoring.windows import parse_duration

    options = settings.monitoring
    warn = parse_duration(warn_after or options.warn_after, "--warn-after")
    error = parse_duration(error_after or options.error_after, "--error-after")
    if error < warn:
        raise QueryError(f"--error-after ({error}) is shorter than --warn-after ({warn})")
    now = parse_instant(as_of, naive_zone=settings.data_manager.naive_timezone, what="--as-of") if as_of else None
    now = now or datetime.now(UTC)
    rows = []
    with read_connection(engine) as connection:
        check_schema_current(connection)
        for turbine_id in _turbine_ids(connection, turbine):
            facts = repository.turbine_facts(connection, turbine_id, now - timedelta(days=1), now)
            active = facts.active
            rows.append(
                judge(
                    TurbineFacts(
                        turbine_id,
                        facts.newest_row,
                        min(facts.slots_present, SLOTS_PER_DAY),
                        facts.quarantined,
                        facts.newest_prediction,
                        facts.waiting_for_actuals,
                        None if active is None else active["id"],
                        None if active is None else active["created_at"],
                        facts.last_mae,
                    ),
                    now,
                    warn,
                    error,
                )
            )
    return StatusReport(rows, overall(rows), now, warn, error)


def report_data(
    engine: Engine,
    settings: Settings,
    *,
    turbine: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> ReportData:
    """Everything the HTML report shows, for the active model of each turbine (or of one)."""
    import numpy as np
    import pandas as pd

    from datamgr.monitoring.report import ReportData

    evaluation = _evaluation(
        engine,
        settings,
        turbine=turbine,
        model_id=None,
        start=start,
        end=end,
        window=None,
        by_wind_speed=True,
        active_only=True,
    )
    health = status(engine, settings, turbine=turbine)
    readings = evaluation.readings.rename(columns={"wind_speed": "WindSpeed", "actual": "Power"})
    curves = {}
    for run in evaluation.runs:
        stored = run["metrics"].get("baseline_curve")
        if stored is not None:
            centres = (np.asarray(stored["bins"], dtype="float64") + 0.5) * float(stored["width"])
            curves[(str(run[TURBINE]), int(run["id"]))] = pd.DataFrame(
                {"wind_speed": centres, "baseline_power": np.asarray(stored["means"], dtype="float64")}
            )
    zone = settings.data_manager.naive_timezone
    return ReportData(
        generated_at=datetime.now(UTC),
        start=parse_instant(start, naive_zone=zone, what="--start") if start else None,
        end=parse_instant(end, naive_zone=zone, what="--end") if end else None,
        turbines=[row[TURBINE] for row in health.rows],
        readings=readings[[TURBINE, TIMESTAMP, "WindSpeed", "Power", "predicted_power", "model_id"]],
        curves=curves,
        windows=evaluation.windows,
        bins=evaluation.bins if evaluation.bins is not None else pd.DataFrame(),
        status=health.rows,
        overall=health.state.name,
    )
