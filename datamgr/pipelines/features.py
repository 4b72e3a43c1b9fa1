"""Feature engineering shared by training and inference, so the two can never drift apart."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from datamgr.store import repository
from datamgr.store.schema import SENSOR_COLUMNS, TIMESTAMP, raw_data

if TYPE_CHECKING:
    import pandas as pd

TARGET = "Power"
# Every sensor but the target; absolute wind direction carries the site, not the turbine, so it stays out.
FEATURES = [name for name in SENSOR_COLUMNS if name not in (TARGET, "WindDirAbs")]


def load_training_data_from_db(connection: Connection, start: datetime, end: datetime) -> pd.DataFrame:
    """Node: raw rows of the training range (training_pipeline.start_timestamp/end_timestamp), inclusive."""
    return repository.between(connection, raw_data, start, end)


def get_last_n_points_from_db(connection: Connection, batch_size: int) -> pd.DataFrame:
    """Node: the newest batch_size raw rows (inference_pipeline.batch_size), oldest first."""
    return repository.last_n(connection, raw_data, batch_size)


def build_features(data: pd.DataFrame) -> pd.DataFrame:
    """Node: the model's input matrix, in a fixed column order. Gaps stay NaN (the model handles them)."""
    return data.reindex(columns=FEATURES).astype("float64")


def rows_with_target(data: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Node: the rows that can teach the model (Power present), sorted by time, and how many were left out."""
    usable = data[data[TARGET].notna()].sort_values(TIMESTAMP, kind="stable").reset_index(drop=True)
    return usable, len(data) - len(usable)
