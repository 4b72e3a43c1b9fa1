"""Training and prediction with gaps: a feature with no value in the range is left out and named,
the model records (and predict builds) exactly the features it was fit on, a row without any of
them is not predicted, and a bad estimator parameter is named by its key."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from datamgr.errors import TrainingError
from datamgr.model_store import load_model
from datamgr.pipelines.features import FEATURES, features_with_values, rows_with_features
from datamgr.pipelines.training import run_training
from datamgr.settings import TrainingPipelineSettings
from tests.conftest import Invoke, Project

LEFT_OUT = ["Pitch", "GenRPM"]
USED = [name for name in FEATURES if name not in LEFT_OUT]


def frame(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    wind = rng.uniform(3, 15, n)
    data = {name: rng.uniform(0, 10, n) for name in FEATURES}
    data.update(WindSpeed=wind, Power=np.clip((wind - 3) * 180, 0, 2000))
    return pd.DataFrame({"Timestamps": pd.date_range("2008-01-01", periods=n, freq="10min", tz="UTC"), **data})


def test_feature_nodes_split_what_has_values() -> None:
    data = frame(5).assign(Pitch=np.nan, GenRPM=np.nan)
    assert features_with_values(data) == (USED, LEFT_OUT)
    data.loc[[1, 3], USED] = np.nan
    usable, blank = rows_with_features(data, USED)
    assert (len(usable), len(blank)) == (3, 2)
    assert list(blank.Timestamps) == list(data.Timestamps.iloc[[1, 3]])


@pytest.mark.parametrize(
    ("estimator", "params"),
    [("HistGradientBoostingRegressor", {"max_iter": 20}), ("RandomForestRegressor", {"n_estimators": 5})],
)
def test_training_leaves_blank_features_out_and_records_the_rest(estimator: str, params: dict[str, int]) -> None:
    settings = TrainingPipelineSettings(estimator=estimator, params={**params, "random_state": 0})
    result = run_training(frame().assign(Pitch=np.nan, GenRPM=np.nan), settings)
    assert (result.features, result.features_left_out, result.metrics["features_left_out"]) == (
        USED,
        LEFT_OUT,
        LEFT_OUT,
    )
    assert list(result.model.feature_names_in_) == USED
    assert result.metrics["model"]["r2"] > 0.9


def test_training_without_any_feature_value_says_so() -> None:
    data = frame().assign(**{name: np.nan for name in FEATURES})
    with pytest.raises(TrainingError) as caught:
        run_training(data, TrainingPipelineSettings())
    assert str(caught.value) == (
        f"none of the features ({', '.join(FEATURES)}) has a value in the 320 rows fitted; "
        "ingest sensor data for the range or change --start/--end"
    )


def test_train_and_predict_on_a_range_where_features_are_blank(initialized: Project, cli: Invoke) -> None:
    initialized.sql('UPDATE raw_data SET "Pitch" = NULL, "GenRPM" = NULL')
    outcome = cli("train")
    assert outcome.exit_code == 0, outcome.stderr
    warning = re.search(
        r"WARNING train: T01: model 1: 2 feature\(s\) left out, without any value in the (\d+) rows fitted: "
        r"Pitch, GenRPM; the model uses the others\n",
        outcome.stderr,
    )
    assert warning is not None, outcome.stderr
    assert "train: T01: model 1 saved to " in outcome.stderr and f"; {warning[1]} rows fit, " in outcome.stderr
    features, artifact, digest = initialized.sql("SELECT features, artifact_path, artifact_sha256 FROM model_runs")[0]
    assert (json.loads(features) if isinstance(features, str) else features) == USED
    model = load_model(initialized.root / "models" / artifact, digest, model_id=1)  # stored relative to models_dir
    assert list(model.feature_names_in_) == USED

    predicted = cli("predict", "-n", "8", "-f", "json")
    assert predicted.exit_code == 0, predicted.stderr
    assert predicted.stderr.endswith(
        "predict: T01: model 1 -> predictions: 8 rows read, 8 inserted, 0 updated, 0 unchanged\n"
    )
    assert all(row["predicted_power"] is not None for row in json.loads(predicted.stdout))


def test_rows_without_any_feature_value_are_not_predicted(initialized: Project, cli: Invoke) -> None:
    assert cli("train").exit_code == 0
    late = initialized.root / "late.csv"
    late.write_text("Timestamps,Power\n2007-10-01 00:00,100\n2007-10-01 00:10,\n")
    assert cli("ingest", late).exit_code == 0
    outcome = cli("predict", "-n", "5", "-f", "csv")
    assert outcome.exit_code == 0, outcome.stderr
    lines = outcome.stderr.splitlines()
    assert lines[-2].endswith(
        "WARNING predict: T01: 2 row(s) without a value for any of model 1's features not predicted: "
        "2007-10-01T00:00:00Z, 2007-10-01T00:10:00Z"
    )
    assert lines[-1].endswith("predict: T01: model 1 -> predictions: 3 rows read, 3 inserted, 0 updated, 0 unchanged")
    newest = ["2007-09-30T23:30:00Z", "2007-09-30T23:40:00Z", "2007-09-30T23:50:00Z"]
    stamp = initialized.epoch('"Timestamps"')
    assert [row[0] for row in initialized.sql(f"SELECT {stamp} FROM predictions ORDER BY 1")] == [
        int(pd.Timestamp(t).timestamp()) for t in newest
    ]
    assert [line.split(",")[1] for line in outcome.stdout.splitlines()[1:]] == newest


@pytest.mark.parametrize(
    ("estimator", "params", "message"),
    [
        (
            "HistGradientBoostingRegressor",
            '{"max_iter": -5}',
            "training_pipeline.params: max_iter = -5 is invalid for HistGradientBoostingRegressor: it must be an "
            "int in the range [1, inf); fix it in the config file or DATAMGR_TRAINING_PIPELINE__PARAMS",
        ),
        (
            "HistGradientBoostingRegressor",
            '{"learning_rate": "fast"}',
            "training_pipeline.params: learning_rate = 'fast' is invalid for HistGradientBoostingRegressor: it must "
            "be a float in the range (0.0, inf); fix it in the config file or DATAMGR_TRAINING_PIPELINE__PARAMS",
        ),
        (
            "Ridge",
            '{"alpha": -1}',
            "training_pipeline.params: alpha = -1 is invalid for Ridge: it must be a float in the range [0.0, inf) "
            "or an array-like; fix it in the config file or DATAMGR_TRAINING_PIPELINE__PARAMS",
        ),
    ],
    ids=["max_iter", "learning_rate", "ridge-alpha"],
)
def test_an_invalid_estimator_parameter_names_its_key(
    initialized: Project, cli: Invoke, monkeypatch: pytest.MonkeyPatch, estimator: str, params: str, message: str
) -> None:
    monkeypatch.setenv("DATAMGR_TRAINING_PIPELINE__ESTIMATOR", estimator)
    monkeypatch.setenv("DATAMGR_TRAINING_PIPELINE__PARAMS", params)
    before = initialized.snapshot()
    outcome = cli("train")
    assert (outcome.exit_code, outcome.stdout, outcome.stderr) == (1, "", f"Error: {message}\n")
    assert initialized.snapshot() == before
    assert not (initialized.root / "models").exists()


def test_train_where_no_feature_has_a_value_changes_nothing(initialized: Project, cli: Invoke) -> None:
    initialized.sql("UPDATE raw_data SET " + ", ".join(f'"{name}" = NULL' for name in FEATURES))
    before = initialized.snapshot()
    outcome = cli("train")
    assert outcome.exit_code == 1
    assert re.fullmatch(
        rf"Error: none of the features \({', '.join(FEATURES)}\) has a value in the \d+ rows fitted; "
        r"ingest sensor data for the range or change --start/--end\n",
        outcome.stderr,
    ), outcome.stderr
    assert initialized.snapshot() == before
