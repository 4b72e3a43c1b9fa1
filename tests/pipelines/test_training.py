"""Training nodes as pure functions, and the train command end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from datamgr.errors import ConfigError, TrainingError
from datamgr.model_store import sha256_of
from datamgr.pipelines.features import FEATURES, build_features, rows_with_target
from datamgr.pipelines.training import (
    BinnedPowerCurve,
    data_digest,
    make_estimator,
    run_training,
    time_holdout_split,
)
from datamgr.settings import TrainingPipelineSettings
from tests.conftest import Invoke, Project


def small(n: int = 10) -> pd.DataFrame:
    stamps = pd.date_range("2008-01-01", periods=n, freq="10min", tz="UTC")
    return pd.DataFrame({"Timestamps": stamps, "WindSpeed": np.linspace(3, 12, n), "Power": np.linspace(0, 1800, n)})


def test_build_features_has_fixed_columns_and_keeps_gaps() -> None:
    features = build_features(small(3).assign(Pitch=[1.0, np.nan, 2.0]))
    assert list(features.columns) == FEATURES
    assert "Power" not in features.columns
    assert features.Pitch.isna().tolist() == [False, True, False]
    assert features.GenRPM.isna().all()  # a column the rows lack is a gap, not an error


def test_rows_without_target_are_left_out_and_counted() -> None:
    data = small(5)
    data.loc[[1, 3], "Power"] = np.nan
    usable, left_out = rows_with_target(data.iloc[::-1])
    assert (len(usable), left_out) == (3, 2)
    assert usable.Timestamps.is_monotonic_increasing


def test_holdout_is_the_last_part_and_never_overlaps() -> None:
    fit, holdout = time_holdout_split(small(10).sample(frac=1, random_state=1), 0.2)
    assert (len(fit), len(holdout)) == (8, 2)
    assert fit.Timestamps.max() < holdout.Timestamps.min()
    assert list(holdout.Timestamps) == list(small(10).Timestamps[-2:])


def test_binned_power_curve_means_per_half_metre_and_nearest_bin() -> None:
    curve = BinnedPowerCurve().fit(pd.Series([5.1, 5.4, 7.2, np.nan]), pd.Series([100.0, 200.0, 500.0, 9.0]))
    assert curve.predict(pd.Series([5.2, 7.3, 30.0, 1.0])).tolist() == [150.0, 500.0, 500.0, 150.0]


def test_data_digest_follows_the_values() -> None:
    data = small()
    changed = data.copy()
    changed.loc[3, "Power"] += 0.001
    assert data_digest(data) == data_digest(data.copy())
    assert data_digest(data) != data_digest(changed)


def test_unknown_estimator_and_bad_params_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"^training_pipeline.estimator 'Magic' is not supported; choose one of: "):
        make_estimator("Magic", {})
    with pytest.raises(ConfigError, match=r"^training_pipeline.params for Ridge: Invalid parameter 'depth'"):
        make_estimator("Ridge", {"depth": 3})


def test_too_few_rows_is_a_training_error() -> None:
    with pytest.raises(TrainingError) as caught:
        run_training(small(10), TrainingPipelineSettings())
    assert str(caught.value) == (
        "the training range holds 10 rows with a Power value (0 without), fewer than "
        "training_pipeline.min_rows=200; widen --start/--end or ingest more data"
    )


def test_model_beats_the_binned_baseline(project: Project) -> None:
    history = project.files.history_frame
    result = run_training(history, TrainingPipelineSettings(params={"max_iter": 60, "random_state": 0}))
    assert result.metrics["model"]["mae"] < result.metrics["baseline"]["mae"]
    assert result.rows_fit + result.rows_holdout + result.rows_without_target == len(history)
    assert result.metrics["fit_end"] < result.metrics["holdout_start"]


def test_train_command_registers_the_model(initialized: Project, cli: Invoke) -> None:
    outcome = cli("train", "--format", "json")
    assert outcome.exit_code == 0, outcome.stderr
    (metrics,) = json.loads(outcome.stdout)
    assert (metrics["turbine_id"], metrics["model_id"], metrics["features"]) == ("T01", 1, len(FEATURES))
    assert metrics["mae_kw"] < metrics["baseline_mae_kw"]
    assert metrics["rmse_kw"] < metrics["baseline_rmse_kw"]
    assert metrics["r2"] > metrics["baseline_r2"]
    epoch = initialized.epoch
    row = initialized.sql(
        f"SELECT id, estimator, {epoch('train_start')}, {epoch('train_end')}, row_count, features, artifact_path, "
        "artifact_sha256 FROM model_runs"
    )[0]
    model_id, estimator, start, end, row_count, features, artifact, sha = row
    assert (model_id, estimator) == (1, "HistGradientBoostingRegressor")
    assert (start, end) == (
        int(pd.Timestamp("2007-07-15", tz="UTC").timestamp()),
        int(pd.Timestamp("2007-09-15", tz="UTC").timestamp()),
    )
    history = initialized.files.history_frame
    start_at, end_at = pd.Timestamp("2007-07-15", tz="UTC"), pd.Timestamp("2007-09-15", tz="UTC")
    in_range = history[(history.Timestamps >= start_at) & (history.Timestamps <= end_at)]
    assert row_count == len(in_range)
    assert (json.loads(features) if isinstance(features, str) else features) == FEATURES
    assert artifact.endswith(".skops") and "/" not in artifact  # stored relative to models_dir
    assert sha256_of(initialized.root / "models" / artifact) == sha
    assert f"train: T01: model 1 saved to {initialized.root / 'models' / artifact}" in outcome.stderr


def test_train_on_an_empty_range(initialized: Project, cli: Invoke) -> None:
    outcome = cli("train", "--start", "2030-01-01", "--end", "2030-02-01")
    assert outcome.exit_code == 1
    assert outcome.stderr == (
        "Error: no rows of turbine T01 between 2030-01-01T00:00:00Z and 2030-02-01T00:00:00Z; "
        "ingest data for that range or change --start/--end\n"
    )
    assert initialized.rows("model_runs") == 0


def test_train_with_too_few_rows(initialized: Project, cli: Invoke) -> None:
    outcome = cli("train", "--start", "2007-08-01 00:00", "--end", "2007-08-01 01:00")
    assert outcome.exit_code == 1
    assert outcome.stderr.startswith("Error: the training range holds 7 rows with a Power value")
    assert initialized.rows("model_runs") == 0
