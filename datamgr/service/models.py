"""train and the model registry: fit per turbine, register with lineage, promote, list, activate, retire."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from sqlalchemy import Connection, Engine

from datamgr.errors import ModelError, NotFoundError, TrainingError
from datamgr.service.scope import check_model_id, range_end, resolve_range, turbine_ids
from datamgr.settings import Settings
from datamgr.store import reads
from datamgr.store.engine import read_connection, write_transaction
from datamgr.store.migrate import check_schema_current
from datamgr.store.registry import (
    ModelMetrics,
    ModelRun,
    active_model_run,
    get_model_run,
    insert_model_run,
    list_model_runs,
    newest_model_run,
    retire,
    set_active,
)
from datamgr.store.schema import TURBINE, raw_data
from datamgr.timestamps import format_instant

if TYPE_CHECKING:
    import pandas as pd

    from datamgr.pipelines.training import Stage, TrainingResult


@dataclass(frozen=True)
class TrainedModel:
    """One turbine's model from a train run: newly fitted (result set) or up to date (result None)."""

    turbine_id: str
    model_id: int
    artifact_path: Path
    rows_in_range: int
    result: TrainingResult | None
    metrics: ModelMetrics
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


def load_training_data_from_db(engine: Engine, start: datetime, end: datetime, turbine: str) -> pd.DataFrame:
    """Node: one turbine's raw rows of the training range (training_pipeline.start/end_timestamp), inclusive."""
    return reads.to_frame(reads.rows_between(engine, raw_data, start, end, [turbine]))


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

    say = stage or (lambda _name: None)
    start_at, wanted_end = resolve_range(settings, start, end)
    with read_connection(engine) as connection:
        check_schema_current(connection)
        chosen = turbine_ids(connection, turbine)
        end_at = range_end(connection, raw_data, start_at, wanted_end)
    span = f"between {format_instant(start_at)} and {format_instant(end_at)}"
    if not chosen:
        raise TrainingError(f"no rows {span}; ingest data for that range or change --start/--end")
    fitted: list[tuple[str, int, TrainingResult]] = []
    current: list[TrainedModel] = []
    skipped: dict[str, str] = {}
    for turbine_id in chosen:
        say(f"{turbine_id}: loading the training range")
        with read_connection(engine) as connection:
            newest = newest_model_run(connection, turbine_id)
        data = load_training_data_from_db(engine, start_at, end_at, turbine_id)
        try:
            if data.empty:
                raise TrainingError(
                    f"no rows of turbine {turbine_id} {span}; ingest data for that range or change --start/--end"
                )
            if newest is not None and not force and up_to_date(newest, data, settings, start_at, end_at):
                artifact = resolve_artifact(newest.artifact_path, settings.training_pipeline.models_dir)
                current.append(
                    TrainedModel(turbine_id, newest.id, artifact, len(data), None, newest.metrics, newest.features)
                )
                continue
            fitted.append((turbine_id, len(data), fit(data, settings, turbine_id, stage)))
        except TrainingError as exc:
            if turbine is not None or len(chosen) == 1:
                raise
            skipped[turbine_id] = str(exc)
    if not fitted and not current:
        raise TrainingError(
            f"no turbine has enough rows {span} to train on; ingest data for that range or change --start/--end"
        )
    say("saving the models")
    models = current + register(engine, settings, fitted, start_at, end_at)
    return TrainReport(start_at, end_at, sorted(models, key=lambda m: m.turbine_id), skipped)


def up_to_date(newest: ModelRun, data: pd.DataFrame, settings: Settings, start_at: datetime, end_at: datetime) -> bool:
    """Whether the turbine's newest model saw exactly this range, data, estimator and parameters
    (and its features are still datamgr's), with its artifact in place."""
    from datamgr.model_store import resolve_artifact
    from datamgr.pipelines.features import FEATURES
    from datamgr.pipelines.training import data_digest

    options = settings.training_pipeline
    return (
        (newest.train_start, newest.train_end) == (start_at, end_at)
        and newest.data_digest == data_digest(data)
        and (newest.estimator, newest.params) == (options.estimator, options.params)
        and set(newest.features) <= set(FEATURES)
        and resolve_artifact(newest.artifact_path, options.models_dir).is_file()
    )


def fit(data: pd.DataFrame, settings: Settings, turbine_id: str, stage: Stage | None) -> TrainingResult:
    from datamgr.pipelines.training import run_training

    prefixed = None if stage is None else (lambda name: stage(f"{turbine_id}: {name}"))
    return run_training(data, settings.training_pipeline, stage=prefixed)


def register(
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
    saved: list[tuple[ModelRun, Path, TrainingResult]] = []
    verdicts = {turbine_id: promotion(engine, settings, turbine_id, result) for turbine_id, _rows, result in fitted}
    try:
        for turbine_id, rows, result in fitted:
            created_at = datetime.now(UTC)
            artifact = models_dir / f"model_{turbine_id}_{created_at:%Y%m%dT%H%M%S}_{uuid4().hex[:8]}.skops"
            sha256 = save_model(result.model, artifact)
            run = ModelRun(
                id=0,  # the database gives it
                turbine_id=turbine_id,
                created_at=created_at,
                estimator=result.estimator,
                params=result.params,
                features=result.features,
                train_start=start_at,
                train_end=end_at,
                row_count=rows,
                data_digest=result.data_digest,
                metrics=stored_metrics(result),
                artifact_path=stored_artifact_path(artifact, models_dir),
                artifact_sha256=sha256,
                note=verdicts[turbine_id][1],
            )
            saved.append((run, artifact, result))
        models = []
        with write_transaction(engine) as connection:
            for run, artifact, result in saved:
                promote, note = verdicts[run.turbine_id]
                model_id = insert_model_run(connection, run)
                if promote:
                    set_active(connection, model_id, run.turbine_id)
                models.append(
                    TrainedModel(
                        run.turbine_id,
                        model_id,
                        artifact,
                        run.row_count,
                        result,
                        run.metrics,
                        run.features,
                        promote,
                        note,
                    )
                )
        return models
    except BaseException:
        for _run, artifact, _result in saved:
            artifact.unlink(missing_ok=True)
        raise


def promotion(engine: Engine, settings: Settings, turbine_id: str, result: TrainingResult) -> tuple[bool, str | None]:
    """Measure what promotion_verdict decides on: the new model's holdout MAE, its curve's, and the
    active model's MAE on the same rows (built with its own features)."""
    from datamgr.pipelines.promotion import promotion_verdict
    from datamgr.pipelines.training import holdout_mae

    mae, curve = result.metrics["model"]["mae"], result.metrics["baseline"]["mae"]
    with read_connection(engine) as connection:
        active = active_model_run(connection, turbine_id)
    measured = None
    if active is not None and result.holdout is not None and mae < curve:
        with suppress(ModelError):  # the active model's artifact is gone or changed: it cannot serve anyway
            measured = (active.id, holdout_mae(load_model_of(settings, active), active.features, result.holdout))
    return promotion_verdict(mae, curve, measured, settings.training_pipeline.promote_tolerance)


def stored_metrics(result: TrainingResult) -> ModelMetrics:
    """model_runs.metrics: the holdout metrics and how many rows went where."""
    return ModelMetrics.from_json(
        {
            **result.metrics,
            "rows_fit": result.rows_fit,
            "rows_holdout": result.rows_holdout,
            "rows_without_target": result.rows_without_target,
        }
    )


def load_model_of(settings: Settings, run: ModelRun) -> Any:
    """A registered model's estimator, hash-checked (model_store)."""
    from datamgr.model_store import load_model, resolve_artifact

    artifact = resolve_artifact(run.artifact_path, settings.training_pipeline.models_dir)
    return load_model(artifact, run.artifact_sha256, model_id=run.id)


MODEL_LIST_COLUMNS = [
    "id", TURBINE, "active", "created_at", "estimator", "train_start", "train_end", "row_count", "features",
    "mae", "baseline_mae", "r2", "data_digest", "artifact_path", "note",
]  # fmt: skip


def list_models(engine: Engine, *, turbine: str | None = None) -> pd.DataFrame:
    """Every registered model (of one turbine), oldest first, with its holdout and baseline MAE side by side."""
    import pandas as pd

    with read_connection(engine) as connection:
        check_schema_current(connection)
        if turbine is not None:
            turbine_ids(connection, turbine)
        runs = list_model_runs(connection, turbine)
    rows = [
        {
            "id": run.id,
            TURBINE: run.turbine_id,
            "active": run.active,
            "created_at": run.created_at,
            "estimator": run.estimator,
            "train_start": run.train_start,
            "train_end": run.train_end,
            "row_count": run.row_count,
            "features": len(run.features),
            "mae": run.metrics.model.mae,
            "baseline_mae": run.metrics.baseline.mae,
            "r2": run.metrics.model.r2,
            "data_digest": run.data_digest[:12],
            "artifact_path": run.artifact_path,
            "note": run.note,
        }
        for run in runs
    ]
    frame = pd.DataFrame(rows, columns=MODEL_LIST_COLUMNS)
    for name in ("created_at", "train_start", "train_end"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame


def find_model(engine: Engine, model_id: int) -> ModelRun:
    """A registered model by id; NotFoundError when there is none."""
    with read_connection(engine) as connection:
        check_schema_current(connection)
        return model_by_id(connection, model_id)


def model_by_id(connection: Connection, model_id: int) -> ModelRun:
    check_model_id(model_id)
    run = get_model_run(connection, model_id)
    if run is None:
        raise NotFoundError(f"no model with id {model_id}; `datamgr models` lists the trained ones")
    return run


def activate_model(engine: Engine, model_id: int) -> ModelRun:
    """By hand: make a model its turbine's active one (the one predict uses)."""
    with write_transaction(engine) as connection:
        check_schema_current(connection)
        run = model_by_id(connection, model_id)
        set_active(connection, model_id, run.turbine_id, note="activated by hand")
        return run


def retire_model(engine: Engine, model_id: int) -> ModelRun:
    """By hand: stop a model being used; its turbine is left without an active model until one is activated."""
    with write_transaction(engine) as connection:
        check_schema_current(connection)
        run = model_by_id(connection, model_id)
        retire(connection, model_id, note="retired by hand")
        return run


def metrics_frame(report: TrainReport) -> pd.DataFrame:
    """One row per model of a train run: its holdout metrics beside its binned power curve's."""
    import pandas as pd

    rows = [
        {
            TURBINE: item.turbine_id,
            "model_id": item.model_id,
            "rows_fit": item.metrics.rows_fit,
            "rows_holdout": item.metrics.rows_holdout,
            "features": len(item.features),
            "mae_kw": item.metrics.model.mae,
            "baseline_mae_kw": item.metrics.baseline.mae,
            "rmse_kw": item.metrics.model.rmse,
            "baseline_rmse_kw": item.metrics.baseline.rmse,
            "r2": item.metrics.model.r2,
            "baseline_r2": item.metrics.baseline.r2,
        }
        for item in report.models
    ]
    return pd.DataFrame(rows)
