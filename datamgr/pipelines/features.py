"""Feature engineering shared by training and inference, so the two can never drift apart."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from datamgr.store import arrow_reads, repository
from datamgr.store.schema import SENSOR_COLUMNS, TIMESTAMP, raw_data

if TYPE_CHECKING:
    import pandas as pd

    from datamgr.store.arrow_reads import Snapshot

TARGET = "Power"
# Every sensor but the target; absolute wind direction carries the site, not the turbine, so it stays out.
FEATURES = [name for name in SENSOR_COLUMNS if name not in (TARGET, "WindDirAbs")]


def load_training_data_from_db(
    source: Connection | Snapshot, start: datetime, end: datetime, turbine: str
) -> pd.DataFrame:
    """Node: one turbine's raw rows of the training range (training_pipeline.start/end_timestamp), inclusive.

    The source is the service's: a columnar snapshot of a SQLite file (Arrow, turned into the same
    DataFrame), or a SQLAlchemy connection.
    """
    return arrow_reads.to_frame(arrow_reads.between(source, raw_data, start, end, [turbine]))


def get_last_n_points_from_db(connection: Connection, batch_size: int, turbine: str) -> pd.DataFrame:
    """Node: one turbine's newest batch_size raw rows (inference_pipeline.batch_size), oldest first."""
    return repository.last_n(connection, raw_data, batch_size, [turbine])


def load_batches_from_db(
    connection: Connection, start: datetime, end: datetime, turbine: str, batch_rows: int
) -> Iterator[pd.DataFrame]:
    """Node: one turbine's raw rows in [start, end], oldest first, batch_rows at a time (a backfill's input)."""
    return repository.batches_between(connection, raw_data, start, end, turbine, batch_rows)


def build_features(data: pd.DataFrame, features: list[str] = FEATURES) -> pd.DataFrame:
    """Node: the model's input matrix, exactly `features` in their order (a model's own list, as
    recorded in model_runs.features). Gaps stay NaN (the model handles them)."""
    return data.reindex(columns=features).astype("float64")


def features_with_values(data: pd.DataFrame, features: list[str] = FEATURES) -> tuple[list[str], list[str]]:
    """Node: the features that have at least one value in `data`, and those that are entirely blank
    (a model cannot learn from a column it never saw, and some estimators fail on one)."""
    present = [name for name in features if name in data.columns and data[name].notna().any()]
    return present, [name for name in features if name not in present]


def rows_with_features(data: pd.DataFrame, features: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Node: the rows with at least one of `features`, and the rows with none (nothing to predict from)."""
    has_any = data.reindex(columns=features).notna().any(axis=1)
    return data[has_any].reset_index(drop=True), data[~has_any].reset_index(drop=True)


def rows_with_target(data: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Node: the rows that can teach the model (Power present), sorted by time, and how many were left out."""
    usable = data[data[TARGET].notna()].sort_values(TIMESTAMP, kind="stable").reset_index(drop=True)
    return usable, len(data) - len(usable)
