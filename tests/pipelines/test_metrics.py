"""The one place errors are measured: exact figures, scikit-learn's to the last bit, pandas' NaN rule."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from datamgr.pipelines import metrics


def test_figures_of_a_small_prediction() -> None:
    actual = pd.Series([100.0, 200.0, 300.0, 400.0])
    predicted = np.array([110.0, 190.0, 330.0, 400.0])
    assert metrics.mae(actual, predicted) == 12.5
    assert metrics.rmse(actual, predicted) == math.sqrt(275.0)
    assert metrics.bias(actual, predicted) == 7.5
    assert metrics.r2(actual, predicted) == 1 - 1100.0 / 50000.0
    assert metrics.nmae(12.5, 2500.0) == 0.5


@pytest.mark.parametrize("rows", [2, 7, 128, 1001, 20_000])
def test_training_figures_equal_scikit_learns_bit_for_bit(rows: int) -> None:
    rng = np.random.default_rng(rows)
    actual = pd.Series(rng.normal(800.0, 600.0, rows))
    predicted = actual.to_numpy() + rng.normal(0.0, 150.0, rows)
    assert metrics.mae(actual, predicted) == float(mean_absolute_error(actual, predicted))
    assert metrics.rmse(actual, predicted) == math.sqrt(mean_squared_error(actual, predicted))
    assert metrics.r2(actual, predicted) == float(r2_score(actual, predicted))


def test_a_pair_with_a_missing_value_is_left_out_as_pandas_leaves_it() -> None:
    rng = np.random.default_rng(7)
    actual = pd.Series(rng.normal(800.0, 600.0, 5000))
    predicted = pd.Series(actual + rng.normal(0.0, 150.0, 5000))
    predicted[rng.random(5000) < 0.2] = np.nan
    error = predicted - actual
    assert metrics.mae(actual, predicted) == float(error.abs().mean())
    assert metrics.rmse(actual, predicted) == float(np.sqrt((error**2).mean()))
    assert metrics.bias(actual, predicted) == float(error.mean())
    assert metrics.mae(pd.Series([1.0, 2.0]), pd.array([3.0, None], dtype="Float64")) == 2.0


def test_no_pair_left_and_edge_cases() -> None:
    empty = pd.Series([], dtype="float64")
    assert math.isnan(metrics.mae(empty, empty))
    assert math.isnan(metrics.rmse(empty, empty))
    assert math.isnan(metrics.bias(pd.Series([1.0]), pd.Series([np.nan])))
    assert math.isnan(metrics.r2(pd.Series([1.0]), np.array([2.0])))
    assert metrics.r2(pd.Series([-2.0, -2.0, -2.0]), np.array([-2.0, -2.0, -2.0])) == 1.0
    assert metrics.r2(pd.Series([-2.0, -2.0, -2.0]), np.array([-2.0, -2.0, -2.0 + 1e-8])) == 0.0
    assert math.isnan(metrics.nmae(12.5, None))
    assert math.isnan(metrics.nmae(12.5, 0.0))
