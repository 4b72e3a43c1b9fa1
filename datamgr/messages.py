"""What the commands tell the user, composed from their results: pure functions from result
objects to lines, so the wording lives in one place and the CLI only logs them.

A `Line` carries its level: WARNING lines are the ones `--quiet` still prints (and cron mails).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, NamedTuple

from datamgr.errors import QUARANTINE_HINT, DatamgrError
from datamgr.timestamps import format_instant

if TYPE_CHECKING:
    from pathlib import Path

    from datamgr.monitoring.report import ReportData
    from datamgr.sample_data import SampleFiles
    from datamgr.service.ingest import IngestReport, InitReport
    from datamgr.service.models import TrainedModel, TrainReport
    from datamgr.service.monitoring import EvaluateReport
    from datamgr.service.predict import PredictReport
    from datamgr.store.upsert import UpsertCounts


class Line(NamedTuple):
    level: int  # logging.INFO or logging.WARNING
    text: str


def info(text: str) -> Line:
    return Line(logging.INFO, text)


def warning(text: str) -> Line:
    return Line(logging.WARNING, text)


def counts(counts: UpsertCounts) -> str:
    """`4 rows read, 2 inserted, 0 updated, 0 unchanged`, and whatever else the upsert met."""
    text = (
        f"{counts.rows_read} rows read, {counts.inserted} inserted, "
        f"{counts.updated} updated, {counts.unchanged} unchanged"
    )
    if counts.duplicates:
        text += f", {counts.duplicates} duplicate timestamps collapsed to the last"
    if counts.quarantined:
        text += f", {counts.quarantined} quarantined for impossible values ({QUARANTINE_HINT})"
    if counts.blanks_kept:
        text += f", {counts.blanks_kept} stored values kept where the file was blank"
    if counts.off_grid:
        text += f", {counts.off_grid} timestamps off the 10-minute grid"
    return text


def init_db(report: InitReport) -> Line:
    """init-db's one summary line; a WARNING when the history had rows quarantined."""
    migrated = (
        f"schema at {report.revision_after}"
        if report.revision_before == report.revision_after
        else f"schema migrated {report.revision_before or 'empty'} -> {report.revision_after}"
    )
    level = logging.INFO
    if report.history is not None:
        loaded = f"loaded {report.history.inserted} rows from {report.history_path}"
        if report.history.duplicates:
            loaded += f", {report.history.duplicates} duplicate timestamps collapsed to the last"
        if report.history.quarantined:
            loaded += f", {report.history.quarantined} rows quarantined for impossible values ({QUARANTINE_HINT})"
            level = logging.WARNING
    else:
        loaded = f"history not loaded: {report.skipped_reason}"
    return Line(level, f"init-db: {migrated}; {loaded}; raw_data holds {report.raw_rows} rows")


def ingest(report: IngestReport) -> list[Line]:
    """Per file its warnings and counts (per turbine too when it held several), then the total of several files."""
    lines: list[Line] = []
    for item in report.files:
        lines += [warning(text) for text in item.warnings(report.table)]
        lines.append(info(f"ingest {item.path} -> {report.table}: {counts(item.counts)}"))
        if len(item.counts.per_turbine) > 1:
            lines += [
                info(f"ingest {item.path} -> {report.table}: {turbine_id}: {counts(turbine_counts)}")
                for turbine_id, turbine_counts in item.counts.per_turbine
            ]
    if len(report.files) > 1:
        lines.append(info(f"ingest total -> {report.table}: {counts(report.total)}"))
    return lines


def train(report: TrainReport) -> list[Line]:
    """The skipped turbines, then each model's lines."""
    lines = [warning(f"train: turbine {turbine_id} skipped: {reason}") for turbine_id, reason in report.skipped.items()]
    for item in report.models:
        lines += trained_model(item)
    return lines


def trained_model(item: TrainedModel) -> list[Line]:
    """One turbine's train result: up to date, or saved with its holdout MAE (and why it was not promoted)."""
    name = f"train: {item.turbine_id}: model {item.model_id}"
    result = item.result
    if result is None:
        return [
            info(
                f"{name} is up to date (same range, data digest, estimator and parameters); "
                "nothing trained; pass --force to train again"
            )
        ]
    lines = []
    if result.features_left_out:
        lines.append(
            warning(
                f"{name}: {len(result.features_left_out)} feature(s) left out, without any value in the "
                f"{result.rows_fit} rows fitted: {', '.join(result.features_left_out)}; the model uses the others"
            )
        )
    if not item.promoted:
        lines.append(warning(f"{name} registered but not promoted: {item.note}; the active model stays in use"))
    mae, baseline = result.metrics["model"]["mae"], result.metrics["baseline"]["mae"]
    lines.append(
        info(
            f"{name} saved to {item.artifact_path}; {result.rows_fit} rows fit, {result.rows_holdout} held out, "
            f"{result.rows_without_target} without Power left out; "
            f"holdout MAE {mae:.1f} kW vs baseline {baseline:.1f} kW"
        )
    )
    return lines


def predict(report: PredictReport) -> list[Line]:
    """The turbines skipped (no model, or nothing new), then each turbine's rows left out and counts."""
    lines = []
    if report.without_model:
        lines.append(
            warning(
                f"predict: {len(report.without_model)} turbine(s) without an active model skipped: "
                f"{', '.join(report.without_model)}; run `datamgr train` (or `datamgr models activate ID`)"
            )
        )
    lines += [
        info(f"predict: {turbine_id}: no new rows since the last prediction ({format_instant(newest)})")
        for turbine_id, newest in report.up_to_date.items()
    ]
    for item in report.turbines:
        if item.without_features:
            more = item.without_features - len(item.first_without_features)
            lines.append(
                warning(
                    f"predict: {item.turbine_id}: {item.without_features} row(s) without a value for any of model "
                    f"{item.model_id}'s features not predicted: {', '.join(item.first_without_features)}"
                    + (f" and {more} more" if more > 0 else "")
                )
            )
        lines.append(info(f"predict: {item.turbine_id}: model {item.model_id} -> predictions: {counts(item.counts)}"))
    return lines


def predictions_not_printed(exc: Exception, report: PredictReport) -> str:
    """Printing the predictions failed after they were committed: say so, what was stored and how to see it."""
    reason = str(exc) if isinstance(exc, DatamgrError) else f"printing failed: {type(exc).__name__}: {exc}"
    stored = "; ".join(f"{t.turbine_id}: model {t.model_id} -> {counts(t.counts)}" for t in report.turbines)
    return (
        f"{reason}; the predictions were stored all the same ({stored}); "
        f"`datamgr last-n {len(report.predictions)} -t predictions` prints them"
    )


def evaluate(report: EvaluateReport, alert_ratio: float) -> list[Line]:
    """The windows evaluated and values stored; a WARNING naming the first flagged window, if any."""
    alerts = report.alerts
    lines = [info(f"evaluate: {len(report.windows)} window(s), {len(alerts)} alert(s); {report.stored} values stored")]
    if len(alerts):
        first = alerts.iloc[0]
        lines.append(
            warning(
                f"evaluate: {len(alerts)} window(s) flagged: MAE above {alert_ratio}x "
                f"the reference, first {first.turbine_id} model {first.model_id} from "
                f"{format_instant(first.window_start.to_pydatetime())} (MAE {first.mae:.1f} kW, reference "
                f"{first.reference_mae:.1f} kW)"
            )
        )
    return lines


def sample_data(files: SampleFiles) -> str:
    return (
        f"sample-data: {files.history_rows} rows to {files.history}, {files.inference_rows} rows to {files.inference}"
    )


def model_activated(model_id: int, turbine_id: str) -> str:
    return f"models: model {model_id} is now the active model of turbine {turbine_id}"


def model_retired(model_id: int, turbine_id: str) -> str:
    """A WARNING: the turbine is left without a model, so predict skips it."""
    return (
        f"models: model {model_id} retired; turbine {turbine_id} has no active model until one is trained or activated"
    )


def report_written(data: ReportData, output: Path) -> str:
    return f"report: {len(data.readings)} predictions of {len(data.turbines)} turbine(s) written to {output}"
