"""Evaluation nodes (pure: frames in, frames out): stored predictions against the actual Power that
arrived since, per turbine, model and window of time, beside the model's binned power curve and
persistence, with NannyML-style alerts against a reference window.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from datamgr.columns import MODEL_ID, PREDICTED_POWER, TIMESTAMP, TURBINE
from datamgr.pipelines import metrics

if TYPE_CHECKING:
    import pandas as pd

# One row per (turbine, model, window); also the stored metrics, in this order.
METRICS = ("predictions", "matched", "coverage", "mae", "rmse", "bias", "nmae", "baseline_mae", "persistence_mae")
WINDOW_COLUMNS = [TURBINE, MODEL_ID, "window_start", "window_end", *METRICS, "reference_mae", "alert"]
BIN_COLUMNS = [TURBINE, MODEL_ID, "wind_speed_bin", "matched", "mae", "baseline_mae", "persistence_mae"]


def window_starts(stamps: pd.Series, window: timedelta) -> pd.Series:
    """The start of the window each instant falls in: windows are aligned on the Unix epoch (UTC midnight for days)."""
    import pandas as pd

    size = int(window.total_seconds())
    seconds = stamps.dt.tz_convert("UTC").dt.as_unit("s").astype("int64")
    return pd.to_datetime(seconds // size * size, unit="s", utc=True).dt.as_unit("ns")


def _errors(frame: pd.DataFrame) -> dict[str, float]:
    """MAE, RMSE, bias of the model, and the MAE of the baseline and persistence, over rows with an actual."""
    matched = frame[frame["actual"].notna()]
    actual = matched["actual"]
    return {
        "mae": metrics.mae(actual, matched[PREDICTED_POWER]),
        "rmse": metrics.rmse(actual, matched[PREDICTED_POWER]),
        "bias": metrics.bias(actual, matched[PREDICTED_POWER]),
        "baseline_mae": metrics.mae(actual, matched["baseline_power"]),
        "persistence_mae": metrics.mae(actual, matched["previous_power"]),
    }


def evaluate_windows(
    joined: pd.DataFrame,
    window: timedelta,
    *,
    rated_power: dict[str, float],
    trained_until: dict[int, datetime],
    alert_ratio: float,
) -> pd.DataFrame:
    """Node: the metrics of every (turbine, model, window) in `joined`, with the reference and the alerts.

    `joined` has one row per prediction: turbine_id, model_id, Timestamps, predicted_power, actual
    (NaN while the actual Power has not arrived), previous_power (the turbine's previous row's
    Power: persistence), baseline_power (the model's binned power curve at that row's wind).
    A model's reference is its first whole window after its training range that has actuals (a
    window the training range reaches into is no fair reference); a later window whose MAE exceeds
    alert_ratio x the reference's is an alert.
    NMAE is MAE as a percentage of rated power, where the turbine's rated power is known.
    """
    import pandas as pd

    if joined.empty:
        return pd.DataFrame(columns=WINDOW_COLUMNS)
    frame = joined.assign(window_start=window_starts(joined[TIMESTAMP], window))
    rows = []
    for (turbine_id, model_id, start), part in frame.groupby([TURBINE, MODEL_ID, "window_start"], sort=True):
        errors = _errors(part)
        matched = int(part["actual"].notna().sum())
        rows.append(
            {
                TURBINE: str(turbine_id),
                MODEL_ID: int(model_id),
                "window_start": start,
                "window_end": start + window,
                "predictions": len(part),
                "matched": matched,
                "coverage": matched / len(part),
                **errors,
                "nmae": metrics.nmae(errors["mae"], rated_power.get(str(turbine_id))),
            }
        )
    result = pd.DataFrame(rows)
    return _flag(result, trained_until, alert_ratio)[WINDOW_COLUMNS]


def _flag(windows: pd.DataFrame, trained_until: dict[int, datetime], alert_ratio: float) -> pd.DataFrame:
    """The reference MAE of each model (its first evaluated window after training) and the alerts."""
    import pandas as pd

    references = {}
    for model_id, part in windows.groupby(MODEL_ID):
        after = part[(part["matched"] > 0) & (part["window_start"] >= pd.Timestamp(trained_until[int(model_id)]))]
        if not after.empty:
            references[int(model_id)] = (after["window_start"].iloc[0], float(after["mae"].iloc[0]))
    reference_mae = windows[MODEL_ID].map(lambda m: references.get(int(m), (None, float("nan")))[1])
    reference_start = windows[MODEL_ID].map(lambda m: references.get(int(m), (pd.NaT, None))[0])
    later = windows["window_start"] > pd.to_datetime(reference_start, utc=True)
    alert = later & (windows["mae"] > alert_ratio * reference_mae)
    return windows.assign(reference_mae=reference_mae.astype("float64"), alert=alert.fillna(False).astype(bool))


def evaluate_by_wind_speed(joined: pd.DataFrame, width: float = 1.0) -> pd.DataFrame:
    """Node: MAE per wind-speed bin (1 m/s by default), per turbine and model, beside baseline and persistence."""
    import numpy as np
    import pandas as pd

    matched = joined[joined["actual"].notna() & joined["wind_speed"].notna()]
    if matched.empty:
        return pd.DataFrame(columns=BIN_COLUMNS)
    binned = matched.assign(wind_speed_bin=np.floor(matched["wind_speed"] / width) * width)
    rows = []
    for (turbine_id, model_id, low), part in binned.groupby([TURBINE, MODEL_ID, "wind_speed_bin"], sort=True):
        errors = _errors(part)
        rows.append(
            {
                TURBINE: str(turbine_id),
                MODEL_ID: int(model_id),
                "wind_speed_bin": float(low),
                "matched": len(part),
                "mae": errors["mae"],
                "baseline_mae": errors["baseline_mae"],
                "persistence_mae": errors["persistence_mae"],
            }
        )
    return pd.DataFrame(rows, columns=BIN_COLUMNS)


def windows_in_range(windows: pd.DataFrame, start: datetime | None, end: datetime | None) -> pd.DataFrame:
    """The windows that overlap [start, end] (either bound open)."""
    import pandas as pd

    kept = pd.Series(True, index=windows.index)
    if start is not None:
        kept &= windows["window_end"] > pd.Timestamp(start)
    if end is not None:
        kept &= windows["window_start"] <= pd.Timestamp(end)
    return windows[kept].reset_index(drop=True)


def readings_in_range(readings: pd.DataFrame, start: datetime | None, end: datetime | None) -> pd.DataFrame:
    """The joined rows with start <= Timestamps <= end (either bound open)."""
    import pandas as pd

    chosen = readings
    if start is not None:
        chosen = chosen[chosen[TIMESTAMP] >= pd.Timestamp(start)]
    if end is not None:
        chosen = chosen[chosen[TIMESTAMP] <= pd.Timestamp(end)]
    return chosen.reset_index(drop=True)
