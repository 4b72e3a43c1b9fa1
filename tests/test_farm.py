"""A wind farm: a vendor's long-format export with many turbines, vendor column names, DST offsets
and extra columns; per-turbine metadata, limits, models and predictions; turbines with only some
sensors. The installed command runs as a subprocess from another directory, as cron runs it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datamgr.pipelines.training import BinnedPowerCurve
from datamgr.sample_data import FARM, FEW_SENSORS, VENDOR_NAMES, generate_farm, to_vendor_export
from tests.conftest import Invoke, Project
from tests.test_smoke import DATAMGR

FARM_CONFIG = """\
data_manager:
  db_path: data/farm.db
  history_data_path: history.parquet
  column_map: {column_map}
turbines:
  T01: {{name: "North 1", rated_power_kw: 2000, hub_height_m: 80, rotor_diameter_m: 90}}
  T02: {{name: "North 2", rated_power_kw: 3000}}
  T03: {{name: "South 1", rated_power_kw: 850}}
  T04: {{rated_power_kw: 2300}}
training_pipeline:
  start_timestamp: '{train_start}'
  end_timestamp: '{train_end}'
  params: {{max_iter: 60, random_state: 0}}
  models_dir: models
"""
# Every vendor column mapped, except the two extra ones the export carries (Ya_avg, Q_avg).
COLUMN_MAP = json.dumps({vendor: ours for ours, vendor in VENDOR_NAMES.items()})


def farm_project(folder: Path, train_start: str = "2007-07-01", train_end: str = "2008-06-30 23:50") -> Path:
    """A project folder with the farm's config (relative paths, resolved against it) and no database yet."""
    (folder / "config").mkdir(parents=True)
    config = folder / "config" / "farm.yml"
    config.write_text(FARM_CONFIG.format(column_map=COLUMN_MAP, train_start=train_start, train_end=train_end))
    return config


def datamgr(config: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed command, from another directory, with the config file alone (no DATAMGR_* variable:
    see isolated_environment)."""
    assert DATAMGR is not None
    return subprocess.run(
        [DATAMGR, "--config", str(config), *args], cwd=cwd, env=os.environ, capture_output=True, text=True, timeout=600
    )


def export_csv(path: Path, start: str, end: str, turbines: int = 4) -> pd.DataFrame:
    """A vendor's long-format CSV of the sample farm; returns the farm in datamgr's names (UTC)."""
    farm = generate_farm(turbines, start, end)
    to_vendor_export(farm).to_csv(path, index=False)
    return farm


@pytest.mark.sqlite_only
def test_a_vendor_export_loads_with_exact_counts_per_turbine(tmp_path: Path) -> None:
    config = farm_project(tmp_path / "farm")
    # Across the spring DST change in Europe/Paris: local times jump from +01:00 to +02:00.
    farm = export_csv(tmp_path / "export.csv", "2008-03-28", "2008-04-02 23:50")
    text = (tmp_path / "export.csv").read_text()
    assert "2008-03-30T01:50:00+01:00" in text and "2008-03-30T03:00:00+02:00" in text

    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    assert datamgr(config, "init-db", "--no-history", cwd=elsewhere).returncode == 0
    outcome = datamgr(config, "ingest", "--ignore-unknown-columns", str(tmp_path / "export.csv"), cwd=elsewhere)
    assert outcome.returncode == 0, outcome.stderr
    expected = farm.groupby("turbine_id").size().to_dict()
    assert outcome.stderr.count("WARNING") == 1
    assert "2 column(s) ignored, not in table raw_data: Ya_avg, Q_avg" in outcome.stderr
    for turbine, rows in expected.items():
        assert f"{turbine}: {rows} rows read, {rows} inserted, 0 updated, 0 unchanged" in outcome.stderr

    listed = json.loads(datamgr(config, "turbines", "-f", "json", cwd=elsewhere).stdout)
    assert [(t["turbine_id"], t["rows"]) for t in listed] == sorted(expected.items())
    assert [t["rated_power_kw"] for t in listed] == [2000.0, 3000.0, 850.0, 2300.0]
    assert listed[0]["name"] == "North 1" and listed[3]["name"] is None
    assert {t["first"] for t in listed} == {"2008-03-28T00:00:00Z"}

    newest = json.loads(datamgr(config, "last-n", "5", "--turbine", "T02", "-f", "json", cwd=elsewhere).stdout)
    t02 = farm[farm.turbine_id == "T02"].tail(5)
    assert [r["Timestamps"] for r in newest] == list(t02.Timestamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert [r["WindSpeed"] for r in newest] == list(t02.WindSpeed)
    assert {r["turbine_id"] for r in newest} == {"T02"}
    # T03 reports six sensors: the others stay empty for it.
    t03 = json.loads(datamgr(config, "last-n", "1", "--turbine", "T03", "-f", "json", cwd=elsewhere).stdout)[0]
    assert [name for name, value in t03.items() if value is not None] == ["turbine_id", "Timestamps", *FEW_SENSORS]

    again = datamgr(
        config, "--quiet", "ingest", "--ignore-unknown-columns", str(tmp_path / "export.csv"), cwd=elsewhere
    )
    assert again.returncode == 0
    assert "WARNING" in again.stderr and "unchanged" not in again.stderr  # quiet: only the warning


def test_power_is_quarantined_against_each_turbines_rated_power(project: Project, cli: Invoke) -> None:
    project.root.joinpath("cfg.yml").write_text(
        "turbines:\n  T02: {rated_power_kw: 3000}\n  T03: {rated_power_kw: 850}\n"
        f"data_manager:\n  db_path: {project.db_path}\n"
    )
    assert cli("--config", project.root / "cfg.yml", "init-db", "--no-history").exit_code == 0
    feed = project.root / "feed.csv"
    feed.write_text(
        "turbine_id,Timestamps,Power\n"
        "T02,2031-01-01 00:00,2900\n"  # fine for 3 MW (limit 3900 kW)
        "T03,2031-01-01 00:00,1200\n"  # above 1.3 x 850 = 1105 kW
        "T09,2031-01-01 00:00,2500\n"  # no rated power: the configured limit (2600 kW) applies
    )
    outcome = cli("--config", project.root / "cfg.yml", "ingest", feed)
    assert outcome.exit_code == 0, outcome.stderr
    assert "1 row(s) quarantined for impossible values at row 2 (Power=1200.0 above 1105.0)" in outcome.stderr
    assert project.sql("SELECT turbine_id, reason FROM quarantine") == [("T03", "Power=1200.0 above 1105.0")]
    assert sorted(project.sql("SELECT turbine_id FROM raw_data")) == [("T02",), ("T09",)]
    assert sorted(project.sql("SELECT turbine_id, rated_power_kw FROM turbines")) == [
        ("T02", 3000.0),
        ("T03", 850.0),
        ("T09", None),
    ]


def test_every_read_takes_a_turbine_and_an_unknown_one_is_not_found(initialized: Project, cli: Invoke) -> None:
    late = initialized.root / "t02.csv"
    late.write_text("Timestamps,WindSpeed,Power\n2007-10-01 00:00,7,500\n2007-10-01 00:10,8,600\n")
    assert cli("ingest", "--turbine", "T02", late).exit_code == 0
    rows = cli("last-n", "1", "-f", "csv").stdout.splitlines()
    assert [line.split(",")[:2] for line in rows[1:]] == [
        ["T01", "2007-09-30T23:50:00Z"],
        ["T02", "2007-10-01T00:10:00Z"],
    ]
    ranged = cli("range", "--start", "2007-09-30 23:50", "--turbine", "T02", "-f", "csv").stdout.splitlines()
    assert [line.split(",")[:2] for line in ranged[1:]] == [
        ["T02", "2007-10-01T00:00:00Z"],
        ["T02", "2007-10-01T00:10:00Z"],
    ]
    before = initialized.snapshot()
    for args in (("last-n", "5"), ("range",), ("export", "-o", initialized.root / "x.csv"), ("train",), ("predict",)):
        outcome = cli(*args, "--turbine", "T99")
        assert (outcome.exit_code, outcome.stderr) == (
            1,
            "Error: unknown turbine 'T99'; known: T01, T02 (`datamgr turbines` lists them)\n",
        ), args
    assert initialized.snapshot() == before


def test_turbines_without_a_model_are_named_even_under_quiet(initialized: Project, cli: Invoke) -> None:
    late = initialized.root / "t02.csv"
    late.write_text("Timestamps,WindSpeed,Power\n2007-10-01 00:00,7,500\n")
    assert cli("ingest", "--turbine", "T02", late).exit_code == 0
    assert cli("train", "--turbine", "T01").exit_code == 0
    outcome = cli("--quiet", "predict", "-f", "csv")
    assert outcome.exit_code == 0
    assert outcome.stderr.endswith(
        "WARNING predict: 1 turbine(s) without an active model skipped: T02; "
        "run `datamgr train` (or `datamgr models activate ID`)\n"
    )
    assert initialized.sql("SELECT DISTINCT turbine_id FROM predictions") == [("T01",)]
    # T01 is up to date now: only the warning is left.
    assert cli("--quiet", "predict").stderr.endswith(
        "skipped: T02; run `datamgr train` (or `datamgr models activate ID`)\n"
    )


@pytest.mark.slow
@pytest.mark.sqlite_only
def test_a_farm_trains_a_model_per_turbine_and_each_beats_its_power_curve(tmp_path: Path) -> None:
    """A year of training, a year of backfilled predictions: one model per turbine, each better than
    its binned power curve on the predicted year; the six-sensor turbine trains on what it has."""
    config = farm_project(tmp_path / "farm", "2007-07-01 00:00", "2008-06-30 23:50")
    farm = generate_farm(4, "2007-07-01", "2009-06-30 23:50")
    export = to_vendor_export(farm).drop(columns=["Ya_avg", "Q_avg"])  # init-db takes no --ignore-unknown-columns
    export.to_parquet(tmp_path / "farm" / "history.parquet", index=False)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    loaded = datamgr(config, "--quiet", "init-db", cwd=elsewhere)
    assert (loaded.returncode, loaded.stderr) == (0, "")

    trained = datamgr(config, "train", "-f", "json", cwd=elsewhere)
    assert trained.returncode == 0, trained.stderr
    models = {m["turbine_id"]: m for m in json.loads(trained.stdout)}
    assert sorted(models) == ["T01", "T02", "T03", "T04"]
    assert "T03: model 3: 7 feature(s) left out" in trained.stderr
    listed = json.loads(datamgr(config, "models", "-f", "json", cwd=elsewhere).stdout)
    assert {m["turbine_id"]: m["features"] for m in listed} == {"T01": 11, "T02": 11, "T03": 4, "T04": 11}

    backfill = datamgr(config, "predict", "--start", "2008-07-01", "--end", "2009-06-30 23:50", cwd=elsewhere)
    assert backfill.returncode == 0, backfill.stderr
    assert backfill.stdout == ""
    listed_predictions = datamgr(
        config, "range", "-t", "predictions", "--start", "2008-07-01", "--end", "2009-06-30 23:50", "-f", "json",
        cwd=elsewhere,
    )  # fmt: skip
    stored = pd.DataFrame(json.loads(listed_predictions.stdout))
    stored["Timestamps"] = pd.to_datetime(stored.Timestamps, utc=True)
    later = farm[farm.Timestamps >= pd.Timestamp("2008-07-01", tz="UTC")]
    for spec in FARM:
        actual = later[later.turbine_id == spec.turbine_id]
        mine = stored[stored.turbine_id == spec.turbine_id]
        assert len(mine) == len(actual.dropna(subset=["WindSpeed", "Pitch", "EnvirTemp"], how="all"))
        assert f"{spec.turbine_id}: model {models[spec.turbine_id]['model_id']} -> predictions: {len(mine)} rows" in (
            backfill.stderr
        )
        joined = mine.merge(actual, on=["turbine_id", "Timestamps"]).dropna(subset=["Power"])
        year = farm[(farm.turbine_id == spec.turbine_id) & (farm.Timestamps < pd.Timestamp("2008-07-01", tz="UTC"))]
        curve = BinnedPowerCurve().fit(year.WindSpeed, year.Power)
        model_mae = np.mean(np.abs(joined.predicted_power - joined.Power))
        curve_mae = np.mean(np.abs(curve.predict(joined.WindSpeed) - joined.Power))
        assert model_mae < curve_mae, (spec.turbine_id, model_mae, curve_mae)

    again = datamgr(config, "train", cwd=elsewhere)  # nothing changed: every turbine is up to date
    assert again.stderr.count("is up to date") == 4
