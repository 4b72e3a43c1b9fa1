"""The sample SCADA generator: deterministic and physically plausible."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from datamgr.sample_data import CUT_OUT, RATED_KW, generate, write_sample_files
from tests.conftest import SampleFiles


def test_same_seed_same_data() -> None:
    a = generate("2007-07-01", "2007-07-10")
    b = generate("2007-07-01", "2007-07-10")
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(generate("2007-07-01", "2007-07-10", seed=1))


def test_power_follows_a_power_curve() -> None:
    frame = generate()  # the whole year: winter storms reach cut-out
    running = frame[frame.Pitch < 45]
    by_bin = running.groupby(np.floor(running.WindSpeed))["Power"].median()
    assert by_bin.loc[0:2].max() <= 0  # below cut-in
    assert by_bin.loc[4:11].is_monotonic_increasing
    assert by_bin.loc[14:20].min() > 0.9 * RATED_KW  # rated
    assert frame.Power.max() <= RATED_KW
    assert frame.loc[frame.WindSpeed >= CUT_OUT, "Power"].max() <= 0  # cut-out


def test_realistic_blemishes(sample_files: SampleFiles) -> None:
    frame = sample_files.history_frame
    steps = frame.Timestamps.diff().dropna()
    assert steps.min() == pd.Timedelta("10min")
    assert steps.max() > pd.Timedelta("10min")  # whole rows lost to outages
    assert 0 < frame.Power.isna().mean() < 0.02
    assert (frame.Pitch > 80).mean() > 0.005  # feathered during downtime
    assert frame.WindSpeed.autocorr() > 0.9


def test_files_cover_the_lesson_range(tmp_path: Path) -> None:
    files = write_sample_files(tmp_path / "h.parquet", tmp_path / "i.parquet")
    history, inference = pd.read_parquet(files.history), pd.read_parquet(files.inference)
    assert history.Timestamps.min() == pd.Timestamp("2007-07-01", tz="UTC")
    assert history.Timestamps.max() == pd.Timestamp("2008-06-30 23:50", tz="UTC")
    assert inference.Timestamps.min() == pd.Timestamp("2008-07-01", tz="UTC")
    assert inference.Timestamps.max() == pd.Timestamp("2008-07-28 23:50", tz="UTC")
    assert (files.history_rows, files.inference_rows) == (len(history), len(inference))


def test_farm_turbines_share_the_wind_with_their_own_machines() -> None:
    from datamgr.sample_data import FARM, FEW_SENSORS, SENSORS, generate_farm

    farm = generate_farm(4, "2007-07-01", "2007-09-30")
    pd.testing.assert_frame_equal(farm, generate_farm(4, "2007-07-01", "2007-09-30"))
    assert list(farm.columns) == ["turbine_id", "Timestamps", *SENSORS]
    by_turbine = {tid: rows.set_index("Timestamps") for tid, rows in farm.groupby("turbine_id")}
    assert sorted(by_turbine) == ["T01", "T02", "T03", "T04"]
    for spec in FARM:
        rows = by_turbine[spec.turbine_id]
        assert rows.Power.max() <= spec.rated_kw
        assert rows.Power.max() > 0.95 * spec.rated_kw
        missing = [name for name in SENSORS if rows[name].isna().all()]
        assert missing == [name for name in SENSORS if name not in spec.sensors]
    assert by_turbine["T03"].columns[by_turbine["T03"].notna().any()].tolist() == ["turbine_id", *FEW_SENSORS]
    wind = pd.DataFrame({tid: rows.WindSpeed for tid, rows in by_turbine.items()})
    assert wind.corr().min().min() > 0.9  # one site wind, small offsets


def test_farm_export_uses_vendor_names_and_local_offsets(tmp_path: Path) -> None:
    from datamgr.sample_data import VENDOR_NAMES, generate_farm, write_farm_files

    files = write_farm_files(tmp_path / "h.parquet", tmp_path / "i.parquet", turbines=3)
    history = pd.read_parquet(files.history)
    assert {"Wind_turbine_name", "Date_time", "Ws_avg", "P_avg", "Ya_avg", "Q_avg"} <= set(history.columns)
    assert history.Date_time.iloc[0] == "2007-07-01T02:00:00+02:00"  # summer time in Europe/Paris
    winter = history[history.Date_time.str.startswith("2008-01-15T12:00")]
    assert winter.Date_time.unique().tolist() == ["2008-01-15T12:00:00+01:00"]
    original = generate_farm(3)
    back = history.rename(columns={v: k for k, v in VENDOR_NAMES.items()})
    instants = pd.to_datetime(back.Timestamps, utc=True, format="ISO8601")
    assert instants.tolist() == original.Timestamps[: len(back)].tolist()
    assert files.history_rows + files.inference_rows == len(original)
