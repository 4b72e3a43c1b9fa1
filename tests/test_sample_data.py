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
