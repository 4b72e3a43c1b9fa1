"""Training: a time-ordered holdout, the model beside a binned power-curve baseline, and the metrics.

Nodes are pure (frames and settings in, results out); `run_training` wires them. Registering
the model (artifact + model_runs row) is the caller's single write transaction.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Any

from datamgr.columns import TARGET, TIMESTAMP, WIND_SPEED
from datamgr.errors import ConfigError, TrainingError
from datamgr.pipelines import metrics
from datamgr.pipelines.features import FEATURES, build_features, features_with_values, rows_with_target

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from datamgr.settings import TrainingPipelineSettings

# The estimators a config may name, and where they live: a name is looked up, never imported blindly.
ESTIMATORS = {
    "HistGradientBoostingRegressor": "sklearn.ensemble",
    "RandomForestRegressor": "sklearn.ensemble",
    "ExtraTreesRegressor": "sklearn.ensemble",
    "GradientBoostingRegressor": "sklearn.ensemble",
    "Ridge": "sklearn.linear_model",
    "LinearRegression": "sklearn.linear_model",
}
NATIVE_NAN = {"HistGradientBoostingRegressor"}
BIN_WIDTH = 0.5  # m/s, the baseline's wind-speed bins

Stage = Callable[[str], None]


@dataclass(frozen=True)
class TrainingResult:
    model: Any
    estimator: str
    params: dict[str, Any]
    features: list[str]
    metrics: dict[str, Any]
    rows_fit: int
    rows_holdout: int
    rows_without_target: int
    data_digest: str
    features_left_out: list[str] = field(default_factory=list)
    # The rows the model was evaluated on: promotion compares the active model on the same rows.
    holdout: pd.DataFrame | None = field(default=None, repr=False)


def make_estimator(name: str, params: dict[str, Any]) -> Any:
    """Node: the configured scikit-learn regressor; with an imputer in front unless it takes NaN itself."""
    if name not in ESTIMATORS:
        raise ConfigError(
            f"training_pipeline.estimator {name!r} is not supported; choose one of: {', '.join(sorted(ESTIMATORS))}"
        )
    from sklearn.utils._param_validation import InvalidParameterError

    estimator = getattr(import_module(ESTIMATORS[name]), name)()
    try:
        estimator.set_params(**params)
        # scikit-learn checks values only when fitting; check them now, before any data is loaded.
        validate = getattr(estimator, "_validate_params", None)
        if validate is not None:
            validate()
    except InvalidParameterError as exc:
        raise invalid_parameter(name, params, exc) from None
    except ValueError as exc:
        raise ConfigError(f"training_pipeline.params for {name}: {exc}") from None
    if name in NATIVE_NAN:
        return estimator
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    return make_pipeline(SimpleImputer(strategy="median"), estimator)


_SKLEARN_RULE = re.compile(r"The '(?P<key>\w+)' parameter of \w+ must be (?P<rule>.+)\. Got .+ instead\.$", re.S)


def invalid_parameter(name: str, params: dict[str, Any], exc: Exception) -> ConfigError:
    """scikit-learn's InvalidParameterError as one line naming the setting and the key."""
    match = _SKLEARN_RULE.match(str(exc).strip())
    if match is None or match["key"] not in params:
        return ConfigError(f"training_pipeline.params for {name}: {exc}; fix it in the config file or {PARAMS_ENV}")
    key = match["key"]
    return ConfigError(
        f"training_pipeline.params: {key} = {params[key]!r} is invalid for {name}: it must be {match['rule']}; "
        f"fix it in the config file or {PARAMS_ENV}"
    )


PARAMS_ENV = "DATAMGR_TRAINING_PIPELINE__PARAMS"


def time_holdout_split(data: pd.DataFrame, fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Node: the earliest rows to fit, the last `fraction` (in time) to evaluate; never shuffled."""
    ordered = data.sort_values(TIMESTAMP, kind="stable").reset_index(drop=True)
    holdout_rows = max(1, math.ceil(len(ordered) * fraction))
    return ordered.iloc[:-holdout_rows], ordered.iloc[-holdout_rows:]


class BinnedPowerCurve:
    """The baseline: mean power per 0.5 m/s wind-speed bin; bins never seen take the nearest seen bin."""

    def __init__(self, width: float = BIN_WIDTH) -> None:
        self.width = width
        self.bins: np.ndarray | None = None
        self.means: np.ndarray | None = None

    def fit(self, wind: pd.Series, power: pd.Series) -> BinnedPowerCurve:
        import numpy as np
        import pandas as pd

        frame = pd.DataFrame({"bin": np.floor(wind / self.width), "power": power})
        known = frame.dropna()
        grouped = known.groupby("bin")["power"].mean()
        self.bins, self.means = grouped.index.to_numpy(), grouped.to_numpy()
        # For rows without wind; a range without any wind value predicts the mean power throughout.
        self.fallback = float((known if len(known) else frame)["power"].mean())
        return self

    def to_dict(self) -> dict[str, Any]:
        """The fitted curve as JSON-able values, stored in model_runs.metrics so evaluate can use it later."""
        assert self.bins is not None and self.means is not None, "fit first"
        return {
            "width": self.width,
            "bins": self.bins.tolist(),
            "means": self.means.tolist(),
            "fallback": self.fallback,
        }

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> BinnedPowerCurve:
        import numpy as np

        curve = cls(float(stored["width"]))
        curve.bins = np.asarray(stored["bins"], dtype="float64")
        curve.means = np.asarray(stored["means"], dtype="float64")
        curve.fallback = float(stored["fallback"])
        return curve

    def predict(self, wind: pd.Series) -> np.ndarray:
        import numpy as np

        assert self.bins is not None and self.means is not None, "fit first"
        bins = np.floor(wind.to_numpy(dtype="float64") / self.width)
        if not len(self.bins):
            return np.full(len(bins), self.fallback)
        nearest = np.abs(bins[:, None] - self.bins[None, :]).argmin(axis=1)
        return np.where(np.isnan(bins), self.fallback, self.means[nearest])


def regression_metrics(actual: pd.Series, predicted: np.ndarray) -> dict[str, float]:
    """Node: MAE, RMSE (kW) and R² of a prediction, as a model run stores them."""
    return {
        "mae": metrics.mae(actual, predicted),
        "rmse": metrics.rmse(actual, predicted),
        "r2": metrics.r2(actual, predicted),
    }


def holdout_mae(model: Any, features: list[str], holdout: pd.DataFrame) -> float:
    """Node: a (registered) model's MAE on another model's holdout rows, built with its own features."""
    return metrics.mae(holdout[TARGET], model.predict(build_features(holdout, features)))


def data_digest(data: pd.DataFrame) -> str:
    """Node: sha256 of the training rows' values, so a model leads back to exactly the data it saw."""
    import pandas as pd

    hashed = pd.util.hash_pandas_object(data.reset_index(drop=True), index=False)
    return hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()


def run_training(
    data: pd.DataFrame, settings: TrainingPipelineSettings, *, stage: Stage | None = None
) -> TrainingResult:
    """Pipeline: rows with a target -> holdout split -> fit model and baseline -> evaluate both.

    The model learns from the features that have values in the fit rows; those entirely blank
    there are left out and named, and the result's features are exactly the ones it was fit on.
    """
    from sklearn.utils._param_validation import InvalidParameterError

    say = stage or (lambda _name: None)
    usable, without_target = rows_with_target(data)
    if len(usable) < settings.min_rows:
        raise TrainingError(
            f"the training range holds {len(usable)} rows with a {TARGET} value "
            f"({without_target} without), fewer than training_pipeline.min_rows={settings.min_rows}; "
            "widen --start/--end or ingest more data"
        )
    fit_rows, holdout_rows = time_holdout_split(usable, settings.holdout_fraction)
    features, left_out = features_with_values(fit_rows)
    if not features:
        raise TrainingError(
            f"none of the features ({', '.join(FEATURES)}) has a value in the {len(fit_rows)} rows fitted; "
            "ingest sensor data for the range or change --start/--end"
        )

    say("fitting the model")
    model = make_estimator(settings.estimator, settings.params)
    try:
        model.fit(build_features(fit_rows, features), fit_rows[TARGET])
    except InvalidParameterError as exc:
        raise invalid_parameter(settings.estimator, settings.params, exc) from None
    baseline = BinnedPowerCurve().fit(fit_rows[WIND_SPEED], fit_rows[TARGET])

    say("evaluating on the holdout")
    actual = holdout_rows[TARGET]
    metrics = {
        "model": regression_metrics(actual, model.predict(build_features(holdout_rows, features))),
        "baseline": regression_metrics(actual, baseline.predict(holdout_rows[WIND_SPEED])),
        "fit_start": fit_rows[TIMESTAMP].min().isoformat(),
        "fit_end": fit_rows[TIMESTAMP].max().isoformat(),
        "holdout_start": holdout_rows[TIMESTAMP].min().isoformat(),
        "holdout_end": holdout_rows[TIMESTAMP].max().isoformat(),
        "features_left_out": left_out,
        "baseline_curve": baseline.to_dict(),
    }
    return TrainingResult(
        model=model,
        estimator=settings.estimator,
        params=dict(settings.params),
        features=features,
        metrics=metrics,
        rows_fit=len(fit_rows),
        rows_holdout=len(holdout_rows),
        rows_without_target=without_target,
        data_digest=data_digest(data),
        features_left_out=left_out,
        holdout=holdout_rows,
    )
