"""Watching the model run: evaluate against the actuals (checked against a direct computation from the
tables), alerts and --check, status with the Nagios exit codes, and promotion instead of newest-wins."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from datamgr.monitoring.evaluate import METRICS
from datamgr.pipelines.training import BinnedPowerCurve
from datamgr.store.engine import make_engine, write_transaction
from datamgr.store.migrate import upgrade_to_head
from tests.conftest import Invoke, Project

BACKFILL = ("--start", "2007-09-16 00:00", "--end", "2007-10-14 23:50")


def predicted(project: Project, cli: Invoke) -> Project:
    """The lesson turbine trained on July to mid-September, then every row after predicted (a backfill)."""
    assert cli("ingest", project.files.inference).exit_code == 0
    assert cli("train").exit_code == 0
    outcome = cli("predict", *BACKFILL)
    assert outcome.exit_code == 0, outcome.stderr
    return project


def direct_windows(project: Project, days: int) -> pd.DataFrame:
    """The evaluation computed straight from the tables, with pandas, for comparison."""
    epoch = project.epoch
    raw = pd.DataFrame(
        project.sql(f'SELECT {epoch(chr(34) + "Timestamps" + chr(34))}, "Power", "WindSpeed" FROM raw_data ORDER BY 1'),
        columns=["t", "actual", "wind"],
    )
    raw["previous"] = raw["actual"].shift(1)
    made = pd.DataFrame(
        project.sql(f"SELECT {epoch(chr(34) + 'Timestamps' + chr(34))}, predicted_power FROM predictions"),
        columns=["t", "predicted"],
    )
    metrics = project.sql("SELECT metrics FROM model_runs WHERE id = 1")[0][0]
    curve = BinnedPowerCurve.from_dict((json.loads(metrics) if isinstance(metrics, str) else metrics)["baseline_curve"])
    joined = made.merge(raw, on="t", how="left")
    joined["baseline"] = curve.predict(joined["wind"])
    joined["window"] = joined["t"] // (days * 86400) * (days * 86400)
    rows = []
    for start, part in joined.groupby("window"):
        have = part[part["actual"].notna()]
        error = have["predicted"] - have["actual"]
        rows.append(
            {
                "window_start": pd.Timestamp(start, unit="s", tz="UTC"),
                "predictions": len(part),
                "matched": len(have),
                "mae": error.abs().mean(),
                "rmse": float(np.sqrt((error**2).mean())),
                "bias": error.mean(),
                "baseline_mae": (have["baseline"] - have["actual"]).abs().mean(),
                "persistence_mae": (have["previous"] - have["actual"]).abs().mean(),
            }
        )
    return pd.DataFrame(rows)


def test_evaluate_equals_a_direct_computation_and_runs_again_unchanged(initialized: Project, cli: Invoke) -> None:
    project = predicted(initialized, cli)
    outcome = cli("evaluate", "--window", "7d", "-f", "json")
    assert outcome.exit_code == 0, outcome.stderr
    shown = pd.DataFrame(json.loads(outcome.stdout))
    expected = direct_windows(project, 7)
    assert list(shown.window_start) == list(expected.window_start.dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert list(shown.predictions) == list(expected.predictions)
    assert list(shown.matched) == list(expected.matched)
    for metric in ("mae", "rmse", "bias", "baseline_mae", "persistence_mae"):
        np.testing.assert_allclose(shown[metric], expected[metric], rtol=1e-9, err_msg=metric)
    np.testing.assert_allclose(shown.coverage, expected.matched / expected.predictions)
    assert shown.nmae.isna().all()  # no rated power configured for T01
    assert (shown.mae < shown.baseline_mae).all() and (shown.mae < shown.persistence_mae).all()
    assert shown.turbine_id.unique().tolist() == ["T01"] and shown.model_id.unique().tolist() == [1]
    reference = expected[expected.window_start >= pd.Timestamp("2007-09-15", tz="UTC")].iloc[0]
    assert (shown.reference_mae == reference.mae).all()
    alerts = (expected.window_start > reference.window_start) & (expected.mae > 1.5 * reference.mae)
    assert list(shown.alert) == list(alerts)
    assert f"evaluate: {len(shown)} window(s), {alerts.sum()} alert(s); {len(shown) * 9} values stored\n" in (
        outcome.stderr
    )

    stored = project.snapshot()
    assert project.rows("evaluations") == len(shown) * len(METRICS)
    assert cli("evaluate", "--window", "7d").exit_code == 0
    assert project.snapshot() == stored  # idempotent: created_at too is left as it was
    rated = project.root / "rated.yml"
    rated.write_text(f"turbines:\n  T01: {{rated_power_kw: 2000}}\ndata_manager:\n  db_path: {project.db_path}\n")
    with_rating = pd.DataFrame(json.loads(cli("--config", rated, "evaluate", "-w", "7d", "-f", "json").stdout))
    np.testing.assert_allclose(with_rating.nmae, expected.mae / 2000 * 100)


def test_a_worse_window_is_flagged_and_check_exits_1(initialized: Project, cli: Invoke) -> None:
    project = predicted(initialized, cli)
    # The turbine derates in October: its actual Power is halved, the model does not know.
    project.sql(
        f'UPDATE raw_data SET "Power" = "Power" / 2 WHERE {project.epoch(chr(34) + "Timestamps" + chr(34))} >= '
        f"{int(pd.Timestamp('2007-10-04', tz='UTC').timestamp())}"
    )
    shown = pd.DataFrame(json.loads(cli("evaluate", "-w", "7d", "-f", "json").stdout))
    reference = shown.reference_mae.iloc[0]
    # The first whole window after training (which ended 2007-09-15) is the reference.
    assert shown.window_start.iloc[1] == "2007-09-20T00:00:00Z" and reference == shown.mae.iloc[1]
    assert list(shown.alert) == [False, False, *(shown.mae.iloc[2:] > 1.5 * reference)]
    assert shown.alert.iloc[-1]
    before = project.snapshot()
    checked = cli("--quiet", "evaluate", "-w", "7d", "--check", "--start", "2007-10-04")
    assert checked.exit_code == 1
    flagged = shown[shown.alert]
    first = flagged.iloc[0]
    assert checked.stderr.endswith(
        f" WARNING evaluate: {len(flagged)} window(s) flagged: MAE above 1.5x the reference, first T01 model 1 "
        f"from {first.window_start} (MAE {first.mae:.1f} kW, reference {reference:.1f} kW)\n"
    ), checked.stderr
    assert checked.stderr.count("\n") == 1 and checked.stdout == ""  # --quiet: the WARNING alone
    assert project.snapshot() == before  # the same windows again: nothing new to store
    quiet = cli("evaluate", "-w", "7d", "--check", "--end", "2007-09-20")
    assert quiet.exit_code == 0


def test_evaluate_by_wind_speed_bins(initialized: Project, cli: Invoke) -> None:
    predicted(initialized, cli)
    bins = pd.DataFrame(json.loads(cli("evaluate", "--by", "wind-speed", "-f", "json").stdout))
    assert list(bins.columns) == [
        "turbine_id", "model_id", "wind_speed_bin", "matched", "mae", "baseline_mae", "persistence_mae",
    ]  # fmt: skip
    assert bins.wind_speed_bin.tolist() == sorted(bins.wind_speed_bin.tolist())
    assert bins.wind_speed_bin.diff().dropna().ge(1.0).all()
    bad = cli("evaluate", "--by", "month")
    assert (bad.exit_code, bad.stderr) == (2, "Error: --by 'month': the only breakdown is wind-speed\n")


@pytest.mark.parametrize(
    ("as_of", "code", "state"),
    [
        ("2007-10-15 00:00", 0, "OK"),  # 10 minutes after the newest row
        ("2007-10-15 00:50", 1, "WARNING"),  # past warn-after (30m)
        ("2007-10-15 03:00", 2, "CRITICAL"),  # past error-after (2h)
    ],
)
def test_status_follows_the_nagios_convention(
    initialized: Project, cli: Invoke, as_of: str, code: int, state: str
) -> None:
    predicted(initialized, cli)
    outcome = cli("status", "--as-of", as_of, "--format", "nagios")
    assert outcome.exit_code == code, outcome.stderr
    lag = int((pd.Timestamp(as_of, tz="UTC") - pd.Timestamp("2007-10-14 23:50", tz="UTC")).total_seconds())
    missing = 144 - 143 if as_of.endswith("00:00") else None
    line = outcome.stdout.strip()
    assert line.startswith(f"DATAMGR {state} - ")
    assert f"| T01_lag={lag}s;1800;7200;0 T01_missing=" in line
    if missing is not None:
        assert line.endswith(f"T01_missing={missing};;;0;144")
    table = json.loads(cli("status", "--as-of", as_of, "-f", "json").stdout)[0]
    assert (table["turbine_id"], table["state"], table["active_model"]) == ("T01", state, 1)
    assert table["newest_row"] == "2007-10-14T23:50:00Z"


def test_status_critical_for_a_turbine_that_never_reported_and_unknown_for_no_database(
    initialized: Project, cli: Invoke, tmp_path: Path
) -> None:
    config = tmp_path / "two.yml"
    config.write_text(f"turbines:\n  T09: {{name: new}}\ndata_manager:\n  db_path: {initialized.db_path}\n")
    assert cli("--config", config, "ingest", initialized.files.inference).exit_code == 0  # registers T09
    outcome = cli("--config", config, "status", "--as-of", "2007-10-15 00:00", "-f", "nagios")
    assert outcome.exit_code == 2
    assert outcome.stdout.startswith("DATAMGR CRITICAL - T09 CRITICAL (lag never reported) | T01_lag=600s;")
    broken = tmp_path / "broken.db"
    broken.write_text("this is not a database\n" * 100)
    unreadable = cli("--db-url", f"sqlite:///{broken}", "status", "-f", "nagios")
    assert unreadable.exit_code == 3
    assert unreadable.stdout.startswith(f"DATAMGR UNKNOWN - database file {broken} is damaged (SQLite: file is not")
    assert unreadable.stderr.startswith(f"Error: database file {broken} is damaged (SQLite: file is not a database)")
    missing = cli("--db-url", f"sqlite:///{tmp_path / 'none.db'}", "status")
    assert missing.exit_code == 3
    assert (
        missing.stderr == f"Error: database file {tmp_path / 'none.db'} does not exist; run `datamgr init-db` first\n"
    )
    wrong = cli("status", "--warn-after", "soon")
    assert (wrong.exit_code, wrong.stderr) == (
        3,
        "Error: --warn-after 'soon' is not a duration; use a positive number and a unit, such as 30m, 2h or 7d\n",
    )


def test_a_worse_retrain_is_registered_but_not_promoted(
    initialized: Project, cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = predicted(initialized, cli)
    # A deliberately bad retrain: one boosting iteration cannot beat the binned power curve.
    monkeypatch.setenv("DATAMGR_TRAINING_PIPELINE__PARAMS", '{"max_iter": 1}')
    outcome = cli("train")
    assert outcome.exit_code == 0, outcome.stderr
    assert "WARNING train: T01: model 2 registered but not promoted: holdout MAE " in outcome.stderr
    assert "does not beat its binned power curve's" in outcome.stderr
    listed = json.loads(cli("models", "-f", "json").stdout)
    assert [(m["id"], m["active"]) for m in listed] == [(1, True), (2, False)]
    assert listed[1]["note"].startswith("holdout MAE ")

    late = project.root / "late.csv"
    late.write_text("Timestamps,WindSpeed,Pitch,RotorRPM,GenRPM\n2007-10-15 00:00,9,1,14,1400\n")
    assert cli("ingest", late).exit_code == 0
    assert "predict: T01: model 1 -> predictions" in cli("predict").stderr  # the active model, not the newest

    activated = cli("models", "activate", "2")
    assert activated.stderr.endswith("models: model 2 is now the active model of turbine T01\n")
    assert "predict: T01: model 2 -> predictions: 32 rows read, 32 inserted" in cli("predict").stderr
    retired = cli("--quiet", "models", "retire", "2")
    assert retired.stderr.endswith(
        "WARNING models: model 2 retired; turbine T01 has no active model until one is trained or activated\n"
    )
    before = project.snapshot()
    none = cli("predict")
    assert (none.exit_code, none.stderr) == (
        1,
        "Error: no active model yet for T01; run `datamgr train` first (or `datamgr models activate ID`)\n",
    )
    assert project.snapshot() == before
    unknown = cli("models", "activate", "99")
    assert (unknown.exit_code, unknown.stderr) == (
        1,
        "Error: no model with id 99; `datamgr models` lists the trained ones\n",
    )


def test_a_retrain_on_a_deliberately_bad_range_is_not_promoted(initialized: Project, cli: Invoke) -> None:
    assert cli("train").exit_code == 0
    before = json.loads(cli("models", "-f", "json").stdout)
    bad = cli("train", "--start", "2007-08-20 00:00", "--end", "2007-08-22 00:00")  # two days of weather
    assert bad.exit_code == 0, bad.stderr
    assert "WARNING train: T01: model 2 registered but not promoted: holdout MAE " in bad.stderr
    listed = json.loads(cli("models", "-f", "json").stdout)
    assert [(m["id"], m["active"]) for m in listed] == [(1, True), (2, False)]
    assert listed[0] == before[0]
    assert listed[1]["note"] in bad.stderr


def test_a_retrain_no_worse_than_the_active_model_is_promoted(
    initialized: Project, cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("train").exit_code == 0
    forced = cli("train", "--force")  # the same data and parameters: the same MAE, within the tolerance
    assert "train: T01: model 2 saved to " in forced.stderr and "not promoted" not in forced.stderr
    listed = json.loads(cli("models", "-f", "json").stdout)
    assert [(m["id"], m["active"]) for m in listed] == [(1, False), (2, True)]


def test_migration_makes_each_turbines_newest_model_active(database_url: str) -> None:
    engine = make_engine(database_url, create=True)
    with write_transaction(engine) as connection:
        upgrade_to_head(connection, target="0004_turbines")
        at = "1" if connection.dialect.name == "sqlite" else "now()"
        for model, turbine in ((1, "T01"), (2, "T02"), (3, "T01")):
            connection.execute(
                text(
                    "INSERT INTO model_runs (id, turbine_id, created_at, estimator, params, features, train_start, "
                    f"train_end, row_count, data_digest, metrics, artifact_path, artifact_sha256) VALUES (:id, :t, "
                    f"{at}, 'Ridge', '{{}}', '[]', {at}, {at}, 1, 'd', '{{}}', 'p', 's')"
                ),
                {"id": model, "t": turbine},
            )
    with write_transaction(engine) as connection:
        upgrade_to_head(connection)
        rows = connection.execute(text("SELECT id, active FROM model_runs ORDER BY id")).all()
    assert [(i, bool(a)) for i, a in rows] == [(1, False), (2, True), (3, True)]
    engine.dispose()


def test_report_writes_one_offline_html_file(initialized: Project, cli: Invoke) -> None:
    project = predicted(initialized, cli)
    target = project.root / "out" / "report.html"
    outcome = cli("report", "--output", target, "--start", "2007-09-16")
    assert outcome.exit_code == 0, outcome.stderr
    rows = project.rows("predictions")
    assert outcome.stderr.endswith(f"report: {rows} predictions of 1 turbine(s) written to {target}\n")
    html = target.read_text()
    assert html.count("data:image/png;base64,") >= 4
    assert "http://" not in html and "https://" not in html
    assert "T01" in html and not list(target.parent.glob(".*.tmp"))
    before = project.snapshot()
    wrong = cli("report", "--output", project.root / "report.txt")
    assert (wrong.exit_code, wrong.stderr) == (
        2,
        f"Error: --output {project.root / 'report.txt'}: the report is HTML; name a .html file\n",
    )
    assert project.snapshot() == before
