"""evaluate, status and the report's data: stored predictions against the actuals that arrived since,
and how fresh each turbine's feed is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from datamgr.errors import QueryError
from datamgr.service.models import model_by_id
from datamgr.service.scope import turbine_ids
from datamgr.settings import Settings
from datamgr.store import reads
from datamgr.store.engine import check_intact, read_connection, write_transaction
from datamgr.store.evaluations import predictions_with_actuals, store_evaluations, turbine_facts
from datamgr.store.migrate import check_schema_current
from datamgr.store.registry import ModelRun, list_model_runs
from datamgr.store.schema import TIMESTAMP, TURBINE
from datamgr.store.turbines import rated_powers
from datamgr.timestamps import format_instant, parse_instant

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from datamgr.monitoring.report import ReportData
    from datamgr.monitoring.status import State, StatusRow


@dataclass(frozen=True)
class EvaluateReport:
    windows: pd.DataFrame  # monitoring.evaluate.WINDOW_COLUMNS, the windows in the range asked for
    bins: pd.DataFrame | None  # MAE per wind-speed bin, with --by wind-speed
    stored: int  # metric values written (or found unchanged) in the evaluations table

    @property
    def alerts(self) -> pd.DataFrame:
        return self.windows[self.windows["alert"]]


@dataclass(frozen=True)
class Evaluation:
    """evaluate's computation, before it is stored (the report shows it too)."""

    windows: pd.DataFrame
    bins: pd.DataFrame | None
    readings: pd.DataFrame  # the joined rows in the range: predictions with actuals, baseline, persistence
    runs: list[ModelRun]


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

    evaluation = evaluate_stored(
        engine, settings, turbine=turbine, model_id=model_id, start=start, end=end, window=window,
        by_wind_speed=by_wind_speed,
    )  # fmt: skip
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
        for w in evaluation.windows.itertuples(index=False)
        for metric in METRICS
    ]
    with write_transaction(engine) as connection:
        stored = store_evaluations(connection, rows)
    return EvaluateReport(evaluation.windows, evaluation.bins, stored)


def evaluate_stored(
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
) -> Evaluation:
    """Load the predictions with their actuals, and run the evaluation nodes on them."""
    import pandas as pd

    from datamgr.monitoring.evaluate import (
        evaluate_by_wind_speed,
        evaluate_windows,
        readings_in_range,
        windows_in_range,
    )
    from datamgr.monitoring.windows import parse_duration

    size = parse_duration(window or settings.monitoring.window, "--window")
    zone = settings.data_manager.naive_timezone
    start_at = parse_instant(start, naive_zone=zone, what="--start") if start else None
    end_at = parse_instant(end, naive_zone=zone, what="--end") if end else None
    if start_at is not None and end_at is not None and start_at > end_at:
        raise QueryError(f"--start {format_instant(start_at)} is after --end {format_instant(end_at)}")
    with read_connection(engine) as connection:
        check_schema_current(connection)
        runs = [model_by_id(connection, model_id)] if model_id is not None else []
        if model_id is None:
            for turbine_id in turbine_ids(connection, turbine):
                runs += [r for r in list_model_runs(connection, turbine_id) if r.active or not active_only]
        elif turbine is not None and runs[0].turbine_id != turbine:
            raise QueryError(f"model {model_id} was trained for turbine {runs[0].turbine_id}, not {turbine}")
        joined = [with_baseline(predictions_with_actuals(connection, r.turbine_id, r.id), r) for r in runs]
        rated = rated_powers(connection)
    # The config is the source of turbine metadata: what it says counts even before the next ingest.
    rated.update({t: m.rated_power_kw for t, m in settings.turbines.items() if m.rated_power_kw is not None})
    readings = pd.concat([j for j in joined if not j.empty] or [empty_readings()], ignore_index=True)
    windows = evaluate_windows(
        readings,
        size,
        rated_power=rated,
        trained_until={r.id: r.train_end for r in runs},
        alert_ratio=settings.monitoring.mae_alert_ratio,
    )
    chosen = readings_in_range(readings, start_at, end_at)
    bins = evaluate_by_wind_speed(chosen) if by_wind_speed else None
    return Evaluation(windows_in_range(windows, start_at, end_at), bins, chosen, runs)


def with_baseline(stored_rows: pa.Table, run: ModelRun) -> pd.DataFrame:
    """A model's predictions with its turbine and id, and its binned power curve at each row's wind
    (NaN for models trained before the curve was stored)."""
    import numpy as np

    from datamgr.pipelines.training import BinnedPowerCurve

    joined = reads.to_frame(stored_rows).assign(turbine_id=run.turbine_id, model_id=run.id)
    stored = run.metrics.baseline_curve
    if stored is None or joined.empty:
        return joined.assign(baseline_power=np.nan)
    return joined.assign(baseline_power=BinnedPowerCurve.from_dict(stored).predict(joined["wind_speed"]))


def empty_readings() -> pd.DataFrame:
    import pandas as pd

    columns = [TURBINE, "model_id", TIMESTAMP, "predicted_power", "actual", "wind_speed", "previous_power"]
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    frame[TIMESTAMP] = pd.Series(dtype="datetime64[ns, UTC]")
    return frame.assign(baseline_power=pd.Series(dtype="float64"))


@dataclass(frozen=True)
class StatusReport:
    rows: list[StatusRow]
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
        check_intact(connection)  # a damaged SQLite file is an UNKNOWN: its figures cannot be trusted
        check_schema_current(connection)
        for turbine_id in turbine_ids(connection, turbine):
            facts = turbine_facts(connection, turbine_id, now - timedelta(days=1), now)
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
                        None if active is None else active.id,
                        None if active is None else active.created_at,
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
    import pandas as pd

    from datamgr.monitoring.report import ReportData, curve_points

    evaluation = evaluate_stored(
        engine, settings, turbine=turbine, model_id=None, start=start, end=end, window=None, by_wind_speed=True,
        active_only=True,
    )  # fmt: skip
    health = status(engine, settings, turbine=turbine)
    readings = evaluation.readings.rename(columns={"wind_speed": "WindSpeed", "actual": "Power"})
    curves = {
        (run.turbine_id, run.id): curve_points(run.metrics.baseline_curve)
        for run in evaluation.runs
        if run.metrics.baseline_curve is not None
    }
    zone = settings.data_manager.naive_timezone
    return ReportData(
        generated_at=datetime.now(UTC),
        start=parse_instant(start, naive_zone=zone, what="--start") if start else None,
        end=parse_instant(end, naive_zone=zone, what="--end") if end else None,
        turbines=[row.turbine_id for row in health.rows],
        readings=readings[[TURBINE, TIMESTAMP, "WindSpeed", "Power", "predicted_power", "model_id"]],
        curves=curves,
        windows=evaluation.windows,
        bins=evaluation.bins if evaluation.bins is not None else pd.DataFrame(),
        status=health.rows,
        overall=health.state.name,
    )
