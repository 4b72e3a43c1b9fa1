"""predict: each turbine's newest rows (cron) or a time range (backfill), predicted with its active
model and stored with the model's id."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine

from datamgr.errors import CommittedError, ModelError, QueryError, describe
from datamgr.service.models import load_model_of, model_by_id
from datamgr.service.scope import SHOWN, check_count, check_model_id, range_end, resolve_range, turbine_ids
from datamgr.settings import Settings
from datamgr.store import bulk, reads
from datamgr.store.engine import read_connection, write_transaction
from datamgr.store.migrate import check_schema_current
from datamgr.store.registry import ModelRun, active_model_run
from datamgr.store.schema import predictions, raw_data
from datamgr.store.upsert import UpsertCounts
from datamgr.timestamps import format_instant

if TYPE_CHECKING:
    import pandas as pd

RANGE_BATCH_ROWS = 50_000


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


def get_last_n_points_from_db(connection: Connection, batch_size: int, turbine: str) -> pd.DataFrame:
    """Node: one turbine's newest batch_size raw rows (inference_pipeline.batch_size), oldest first."""
    return reads.to_frame(reads.last_n(connection, raw_data, batch_size, [turbine]))


def load_batches_from_db(
    connection: Connection, start: datetime, end: datetime, turbine: str, batch_rows: int
) -> Iterator[pd.DataFrame]:
    """Node: one turbine's raw rows in [start, end], oldest first, batch_rows at a time (a backfill's input)."""
    for page in reads.batches_between(connection, raw_data, start, end, turbine, batch_rows):
        yield reads.to_frame(page)


def save_predictions_to_db(connection: Connection, frame: pd.DataFrame) -> UpsertCounts:
    """Node: upsert on (model_id, turbine_id, Timestamps): predicting the same rows again updates, never duplicates."""
    return bulk.upsert_frames(connection, predictions, [frame])


def predict(
    engine: Engine,
    settings: Settings,
    *,
    batch_size: int | None = None,
    model_id: int | None = None,
    turbine: str | None = None,
    start: str | None = None,
    end: str | None = None,
    keep_backfill: bool = False,
) -> PredictReport:
    """Predict each turbine's newest rows (or every row of a range) with its active model, and store
    the predictions with their lineage.

    Batch form (cron): turbines without a model are named and skipped; a turbine whose newest
    batch its model has already predicted, row for row, is skipped, its model not even loaded; one
    write transaction. Range form (backfill): every row in [start, end], read and written batch
    by batch, so memory does not grow with the range (unless keep_backfill: the predictions are
    returned too, for --output); one transaction per turbine, and a failure says which turbines
    were stored; predicting again changes nothing.
    """
    size = batch_size if batch_size is not None else settings.inference_pipeline.batch_size
    check_count("--batch-size", size)
    wanted = model_id if model_id is not None else settings.inference_pipeline.model_id
    if wanted is not None:
        check_model_id(wanted, "--model-id ")
    span = resolve_range(settings, start, end) if start is not None or end is not None else None
    up_to_date: dict[str, datetime] = {}
    with read_connection(engine) as connection:
        check_schema_current(connection)
        plan, without_model = models_to_use(connection, wanted, turbine)
        if span is not None:
            span = (span[0], range_end(connection, raw_data, span[0], span[1]))
        else:
            for turbine_id, run in list(plan.items()):
                waiting = reads.unpredicted_among_newest(connection, raw_data, predictions, turbine_id, run.id, size)
                newest = reads.newest_timestamp(connection, raw_data, turbine_id)
                if waiting == 0 and newest is not None:
                    up_to_date[turbine_id] = newest
                    del plan[turbine_id]
    if span is None:
        return predict_newest(engine, settings, plan, size, without_model, up_to_date)
    return predict_range(engine, settings, plan, (span[0], span[1]), without_model, keep=keep_backfill)


def models_to_use(
    connection: Connection, model_id: int | None, turbine: str | None
) -> tuple[dict[str, ModelRun], list[str]]:
    """turbine -> the model to predict it with, and the turbines that have no model."""
    if model_id is not None:
        run = model_by_id(connection, model_id)
        if turbine is not None and turbine != run.turbine_id:
            raise QueryError(f"model {model_id} was trained for turbine {run.turbine_id}, not {turbine}")
        return {run.turbine_id: run}, []
    plan: dict[str, ModelRun] = {}
    without: list[str] = []
    for turbine_id in turbine_ids(connection, turbine):
        active = active_model_run(connection, turbine_id)
        if active is None:
            without.append(turbine_id)
        else:
            plan[turbine_id] = active
    if not plan:
        named = f" for {', '.join(without)}" if without else ""
        raise ModelError(f"no active model yet{named}; run `datamgr train` first (or `datamgr models activate ID`)")
    return plan, without


def predicted(run: ModelRun, data: pd.DataFrame, model: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The inference pipeline: one turbine's rows -> its predictions in the table's shape, and the rows
    without any feature."""
    from datamgr.pipelines.features import rows_with_features
    from datamgr.pipelines.inference import get_data_timestamps, prediction_frame
    from datamgr.pipelines.inference import predict as predict_node

    usable, blank = rows_with_features(data, run.features)
    frame = prediction_frame(
        predict_node(model, usable, run.features),
        get_data_timestamps(usable),
        model_id=run.id,
        turbine_id=run.turbine_id,
        created_at=datetime.now(UTC),
    )
    return frame, blank


def turbine_prediction(run: ModelRun, counts: UpsertCounts, blank: list[pd.DataFrame]) -> TurbinePrediction:
    from datamgr.pipelines.inference import get_data_timestamps

    first = [format_instant(stamp) for part in blank for stamp in get_data_timestamps(part)][:SHOWN]
    return TurbinePrediction(run.turbine_id, run.id, counts, sum(len(part) for part in blank), tuple(first))


def predict_newest(
    engine: Engine,
    settings: Settings,
    plan: dict[str, ModelRun],
    size: int,
    without_model: list[str],
    up_to_date: dict[str, datetime],
) -> PredictReport:
    """Cron's form: read each turbine's newest rows, predict, and write everything in one transaction."""
    import pandas as pd

    made: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
    for turbine_id, run in plan.items():
        with read_connection(engine) as connection:
            data = get_last_n_points_from_db(connection, size, turbine_id)
        made[turbine_id] = predicted(run, data, load_model_of(settings, run))
    done = []
    with write_transaction(engine) as connection:
        for turbine_id, (frame, blank) in made.items():
            done.append(turbine_prediction(plan[turbine_id], save_predictions_to_db(connection, frame), [blank]))
    frames = [frame for frame, _ in made.values()]
    shown = pd.concat(frames, ignore_index=True) if frames else no_predictions()
    return PredictReport(shown, done, without_model, up_to_date)


def predict_range(
    engine: Engine,
    settings: Settings,
    plan: dict[str, ModelRun],
    span: tuple[datetime, datetime],
    without_model: list[str],
    *,
    keep: bool = False,
) -> PredictReport:
    """A backfill: each turbine's rows in the range, batch by batch, in one write transaction per turbine.

    A failure part-way names the turbines whose predictions were already committed."""
    import pandas as pd

    done: list[TurbinePrediction] = []
    kept: list[pd.DataFrame] = []
    for turbine_id, run in plan.items():
        try:
            model = load_model_of(settings, run)
            counts, blank = UpsertCounts(), []
            with write_transaction(engine) as connection:
                for data in load_batches_from_db(connection, span[0], span[1], turbine_id, RANGE_BATCH_ROWS):
                    frame, missing = predicted(run, data, model)
                    counts = counts + save_predictions_to_db(connection, frame)
                    blank.append(missing)
                    if keep:
                        kept.append(frame)
        except Exception as exc:
            if not done:
                raise
            stored = ", ".join(f"{item.turbine_id} (model {item.model_id})" for item in done)
            raise CommittedError(
                f"predict {turbine_id}: {describe(exc, engine.url)}; the predictions of {stored} were stored and "
                f"committed; {turbine_id} and the turbines after it were not: fix the cause and run the same "
                "command again (stored predictions are left as they are)"
            ) from exc
        done.append(turbine_prediction(run, counts, blank))
    shown = pd.concat(kept, ignore_index=True) if kept else no_predictions()
    return PredictReport(shown, done, without_model, {})


def no_predictions() -> pd.DataFrame:
    import pandas as pd

    from datamgr.pipelines.inference import PREDICTION_COLUMNS

    return pd.DataFrame(columns=PREDICTION_COLUMNS)
