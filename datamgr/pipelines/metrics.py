"""The one place a prediction's errors are measured: MAE, RMSE, bias and R² (kW), NMAE (% of rated power).

Training scores its holdout with these, promotion compares models with them, and evaluate
scores each window with them, so a figure means the same wherever datamgr shows it.
A pair with a missing value (NaN on either side) is left out, as pandas' mean leaves it out;
with no pair left, a figure is NaN. Pure numpy: arrays or Series in, floats out.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    Values: TypeAlias = np.ndarray | pd.Series


def mae(actual: Values, predicted: Values) -> float:
    """Mean absolute error (kW)."""
    import numpy as np

    return _mean(np.abs(_error(actual, predicted)))


def rmse(actual: Values, predicted: Values) -> float:
    """Root mean squared error (kW): large misses weigh more than in the MAE."""
    return math.sqrt(_mean(_error(actual, predicted) ** 2))


def bias(actual: Values, predicted: Values) -> float:
    """Mean error, predicted - actual (kW): above 0 when the model over-predicts."""
    return _mean(_error(actual, predicted))


def nmae(mae_kw: float, rated_power_kw: float | None) -> float:
    """MAE as a percentage of rated power, so turbines of different sizes compare; NaN when the rating is unknown."""
    return mae_kw / rated_power_kw * 100 if rated_power_kw else math.nan


def r2(actual: Values, predicted: Values) -> float:
    """Coefficient of determination, as scikit-learn's r2_score gives it.

    1.0 for a perfect prediction (even of a constant), 0.0 for an imperfect one of a constant,
    NaN with fewer than two pairs.
    """
    import numpy as np

    error = _error(actual, predicted)
    present = ~np.isnan(error)
    observed = _float64(actual)[present]
    if len(observed) < 2:
        return math.nan
    residual = float((error[present] ** 2).sum())
    total = float(((observed - observed.mean()) ** 2).sum())
    if residual == 0:
        return 1.0
    if total == 0:
        return 0.0
    return 1 - residual / total


def _float64(values: Values) -> np.ndarray:
    import numpy as np

    to_numpy = getattr(values, "to_numpy", None)
    if to_numpy is not None:  # a Series, whose missing values may be pd.NA
        return np.asarray(to_numpy(dtype="float64", na_value=np.nan))
    return np.asarray(values, dtype="float64")


def _error(actual: Values, predicted: Values) -> np.ndarray:
    return _float64(predicted) - _float64(actual)


def _mean(values: np.ndarray) -> float:
    """The mean of the values present, summed as pandas sums them (a missing value counts as 0 in place)."""
    import numpy as np

    present = ~np.isnan(values)
    count = int(np.count_nonzero(present))
    if count == 0:
        return math.nan
    return float(np.where(present, values, 0.0).sum() / count)
