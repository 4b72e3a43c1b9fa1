"""Feature engineering shared by training and inference, so the two can never drift apart."""

from __future__ import annotations

from typing import TYPE_CHECKING

from datamgr.columns import SENSOR_COLUMNS, TARGET, TIMESTAMP

if TYPE_CHECKING:
    import pandas as pd

# Every sensor but the target; absolute wind direction carries the site, not the turbine, so it stays out.
FEATURES = [name for name in SENSOR_COLUMNS if name not in (TARGET, "WindDirAbs")]


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
