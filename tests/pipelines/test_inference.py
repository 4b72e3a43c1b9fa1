"""Inference: train -> predict round trip, lineage, idempotence and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from datamgr.pipelines.inference import get_data_timestamps, prediction_frame
from tests.conftest import Invoke, Project


def trained(project: Project, cli: Invoke) -> Project:
    assert cli("ingest", project.files.inference).exit_code == 0
    outcome = cli("train")
    assert outcome.exit_code == 0, outcome.stderr
    return project


def test_timestamps_node_and_prediction_frame_are_pure() -> None:
    data = pd.DataFrame(
        {"Timestamps": pd.date_range("2008-01-01", periods=3, freq="10min", tz="UTC")},
        index=[7, 8, 9],
    )
    stamps = get_data_timestamps(data)
    now = pd.Timestamp.now(tz="UTC")
    frame = prediction_frame(np.array([1.0, 2.0, 3.0]), stamps, model_id=4, turbine_id="T07", created_at=now)
    assert list(frame.columns) == ["turbine_id", "Timestamps", "predicted_power", "model_id", "created_at"]
    assert list(frame.Timestamps) == list(data.Timestamps)
    assert frame.model_id.tolist() == [4, 4, 4]
    assert frame.turbine_id.tolist() == ["T07", "T07", "T07"]


def test_predict_round_trip_stores_input_timestamps_and_lineage(initialized: Project, cli: Invoke) -> None:
    project = trained(initialized, cli)
    outcome = cli("predict", "--batch-size", "32", "--format", "json")
    assert outcome.exit_code == 0, outcome.stderr
    printed = json.loads(outcome.stdout)
    newest = project.files.inference_frame.tail(32)
    expected = list(newest.Timestamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert [row["Timestamps"] for row in printed] == expected
    assert {row["model_id"] for row in printed} == {1}
    stamp = project.epoch('p."Timestamps"')
    stored = project.sql(
        f"SELECT {stamp}, p.model_id, m.data_digest FROM predictions p JOIN model_runs m ON m.id = p.model_id "
        "ORDER BY 1"
    )
    assert [s[0] for s in stored] == [int(t.timestamp()) for t in newest.Timestamps]
    assert all(len(s[2]) == 64 for s in stored)
    # predictions are close to the truth where the turbine reported power
    actual = newest.Power.to_numpy()
    predicted = np.array([row["predicted_power"] for row in printed])
    known = ~np.isnan(actual)
    assert np.mean(np.abs(actual[known] - predicted[known])) < 150


def logged(stderr: str) -> list[str]:
    """The messages of the log lines, without their time and level (all INFO)."""
    return [line.split(" INFO ", 1)[1] for line in stderr.splitlines()]


def test_predict_twice_changes_nothing_and_never_duplicates(initialized: Project, cli: Invoke) -> None:
    project = trained(initialized, cli)
    first = cli("predict")
    assert first.exit_code == 0
    assert logged(first.stderr) == [
        "predict: T01: model 1 -> predictions: 32 rows read, 32 inserted, 0 updated, 0 unchanged"
    ]
    stored = project.snapshot()
    second = cli("predict")  # nothing new arrived: the turbine is skipped, its model is not even loaded
    assert second.exit_code == 0
    assert logged(second.stderr) == ["predict: T01: no new rows since the last prediction (2007-10-14T23:50:00Z)"]
    assert second.stdout == "turbine_id,Timestamps,predicted_power,model_id,created_at\n"
    assert project.snapshot() == stored
    # A backfill over the same rows recomputes them and finds nothing to change.
    third = cli("predict", "--start", "2007-10-14 18:40", "--end", "2007-10-14 23:50")
    assert third.exit_code == 0
    assert logged(third.stderr) == [
        "predict: T01: model 1 -> predictions: 32 rows read, 0 inserted, 0 updated, 32 unchanged"
    ]
    assert project.snapshot() == stored  # created_at still says when it was first predicted
    assert project.rows("predictions") == 32


def test_new_rows_get_predicted_and_old_ones_stay(initialized: Project, cli: Invoke) -> None:
    project = trained(initialized, cli)
    assert cli("predict", "-n", "10").exit_code == 0
    late = project.root / "late.csv"
    late.write_text("Timestamps,WindSpeed,Pitch,RotorRPM,GenRPM\n2007-10-15 00:00,9,1,14,1400\n")
    assert cli("ingest", late).exit_code == 0
    again = cli("predict", "-n", "10")
    assert again.stderr.endswith("10 rows read, 1 inserted, 0 updated, 9 unchanged\n")
    assert project.rows("predictions") == 11


def test_batch_size_larger_than_the_table(project: Project, cli: Invoke, tmp_path: Path) -> None:
    assert cli("init-db").exit_code == 0
    assert cli("train").exit_code == 0
    rows = project.rows()
    outcome = cli("predict", "--batch-size", str(rows + 1000), "-f", "csv")
    assert outcome.exit_code == 0
    assert len(outcome.stdout.splitlines()) == rows + 1
    assert project.rows("predictions") == rows


def test_predict_without_a_model(initialized: Project, cli: Invoke) -> None:
    outcome = cli("predict")
    assert (outcome.exit_code, outcome.stderr) == (
        1,
        "Error: no active model yet for T01; run `datamgr train` first (or `datamgr models activate ID`)\n",
    )
    assert initialized.rows("predictions") == 0


def test_predict_with_a_missing_model_id(initialized: Project, cli: Invoke) -> None:
    trained(initialized, cli)
    outcome = cli("predict", "--model-id", "7")
    assert (outcome.exit_code, outcome.stderr) == (
        1,
        "Error: no model with id 7; `datamgr models` lists the trained ones\n",
    )
    assert initialized.rows("predictions") == 0


def test_predict_with_an_older_model_id(initialized: Project, cli: Invoke) -> None:
    trained(initialized, cli)
    assert cli("train", "--start", "2007-08-01").exit_code == 0
    outcome = cli("predict", "--model-id", "1", "-n", "5", "-f", "json")
    assert {row["model_id"] for row in json.loads(outcome.stdout)} == {1}
    listed = cli("models", "-f", "json")
    assert [m["id"] for m in json.loads(listed.stdout)] == [1, 2]
    assert [m["train_start"] for m in json.loads(listed.stdout)] == [
        "2007-07-15T00:00:00Z",
        "2007-08-01T00:00:00Z",
    ]


def test_tampered_artifact_is_refused(initialized: Project, cli: Invoke) -> None:
    trained(initialized, cli)
    artifact = initialized.root / "models" / initialized.sql("SELECT artifact_path FROM model_runs")[0][0]
    artifact.write_bytes(artifact.read_bytes() + b"\x00")
    outcome = cli("predict")
    assert outcome.exit_code == 1
    assert outcome.stderr.startswith(f"Error: model 1: artifact {artifact} changed on disk (sha256 ")
    assert outcome.stderr.endswith("was recorded); refusing to load it; retrain with `datamgr train`\n")
    assert initialized.rows("predictions") == 0


def test_missing_artifact_is_refused(initialized: Project, cli: Invoke) -> None:
    trained(initialized, cli)
    artifact = initialized.root / "models" / initialized.sql("SELECT artifact_path FROM model_runs")[0][0]
    artifact.unlink()
    outcome = cli("predict")
    assert outcome.stderr == f"Error: model 1: artifact {artifact} is missing; retrain with `datamgr train`\n"


def test_models_lists_metrics_beside_the_baseline(initialized: Project, cli: Invoke) -> None:
    trained(initialized, cli)
    listed = json.loads(cli("models", "--format", "json").stdout)
    assert len(listed) == 1
    assert listed[0]["mae"] < listed[0]["baseline_mae"]
    assert listed[0]["estimator"] == "HistGradientBoostingRegressor"
