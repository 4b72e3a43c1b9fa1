"""Inference: the newest rows -> their timestamps -> features -> predictions in the predictions
table's shape (the service saves them: save_predictions_to_db)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from datamgr.columns import TIMESTAMP, TURBINE
from datamgr.pipelines.features import FEATURES, build_features

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def get_data_timestamps(data: pd.DataFrame) -> pd.Series:
    """Node: the timestamps of the rows predicted on, so each prediction lands on its own row's time."""
    return data[TIMESTAMP].reset_index(drop=True)


# Up to this many rows a prediction runs on one thread: for cron's batch of 32, starting and
# joining the OpenMP threads for each of a gradient-boosting model's trees cost more than the
# trees themselves (1.5x the whole process on a busy 2-core machine; see docs/benchmarks.md).
SMALL_BATCH_ROWS = 10_000


def predict(model: Any, data: pd.DataFrame, features: list[str] = FEATURES) -> np.ndarray:
    """Node: the model's predicted power (kW) for each row, built with exactly the features it was trained on."""
    import numpy as np

    if data.empty:
        return np.empty(0)
    if len(data) > SMALL_BATCH_ROWS:
        result: np.ndarray = model.predict(build_features(data, features))
        return result
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        small: np.ndarray = model.predict(build_features(data, features))
    return small


PREDICTION_COLUMNS = [TURBINE, TIMESTAMP, "predicted_power", "model_id", "created_at"]


def prediction_frame(
    predicted: np.ndarray, timestamps: pd.Series, *, model_id: int, turbine_id: str, created_at: datetime
) -> pd.DataFrame:
    """Node: predictions in the predictions table's shape, one row per input timestamp."""
    import pandas as pd

    return pd.DataFrame(
        {
            TURBINE: pd.Series([turbine_id] * len(timestamps), dtype=object),
            TIMESTAMP: timestamps.reset_index(drop=True),
            "predicted_power": pd.Series(predicted, dtype="float64"),
            "model_id": pd.Series([model_id] * len(timestamps), dtype="Int64"),
            "created_at": pd.Series([pd.Timestamp(created_at)] * len(timestamps), dtype="datetime64[ns, UTC]"),
        }
    )
