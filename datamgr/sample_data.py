"""A deterministic generator of realistic 10-minute SCADA for one 2 MW turbine.

It stands in for real turbine history so that a fresh clone can run every stage end to end:
Weibull-distributed, autocorrelated wind with diurnal and seasonal cycles; power that follows a
real power-curve shape (cut-in, rated, cut-out) with noise; pitch rising above rated; rotor and
generator speed tied to wind and power; temperatures that follow ambient and load; and the
blemishes of real data: downtime, curtailment, missing values and missing rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

RATED_KW = 2000.0
CUT_IN, RATED_WIND, CUT_OUT = 3.5, 12.5, 25.0
GEARBOX_RATIO = 100.0
HISTORY_START = "2007-07-01 00:00:00"
HISTORY_END = "2008-06-30 23:50:00"
INFERENCE_END = "2008-07-28 23:50:00"  # four weeks after the history
SEED = 20070701


@dataclass(frozen=True)
class SampleFiles:
    history: Path
    inference: Path
    history_rows: int
    inference_rows: int


def power_curve(wind: np.ndarray) -> np.ndarray:
    """Steady-state electrical power (kW) of the turbine at a hub-height wind speed (m/s)."""
    import numpy as np

    partial = np.clip((wind**3 - CUT_IN**3) / (RATED_WIND**3 - CUT_IN**3), 0.0, 1.0)
    # Soften the knee at rated, as a real pitch-regulated curve does.
    shaped = RATED_KW * (partial - 0.08 * partial**2 * (1 - partial))
    return np.where((wind < CUT_IN) | (wind >= CUT_OUT), 0.0, np.minimum(shaped, RATED_KW))


def _ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    """A unit-variance AR(1) series: the slow memory of weather from one 10 minutes to the next."""
    from scipy.signal import lfilter

    shocks = rng.standard_normal(n) * (1 - phi**2) ** 0.5
    series: np.ndarray = lfilter([1.0], [1.0, -phi], shocks)
    return series


def _lagged(values: np.ndarray, alpha: float) -> np.ndarray:
    """First-order thermal lag: each step moves a fraction alpha toward the input."""
    from scipy.signal import lfilter

    lagged: np.ndarray = lfilter([alpha], [1.0, -(1 - alpha)], values, zi=[values[0] * (1 - alpha)])[0]
    return lagged


def _events(rng: np.random.Generator, n: int, count: int, min_len: int, max_len: int) -> np.ndarray:
    """A mask of `count` random stretches of rows (outages, curtailments)."""
    import numpy as np

    mask = np.zeros(n, dtype=bool)
    for start, length in zip(rng.integers(0, n - max_len, count), rng.integers(min_len, max_len, count), strict=True):
        mask[start : start + length] = True
    return mask


def generate(start: str = HISTORY_START, end: str = INFERENCE_END, seed: int = SEED) -> pd.DataFrame:
    """The SCADA table for [start, end] at 10-minute steps, deterministic for a given seed."""
    import numpy as np
    import pandas as pd
    from scipy.special import ndtr

    rng = np.random.default_rng(seed)
    stamps = pd.date_range(start, end, freq="10min", tz="UTC")
    n = len(stamps)
    day = (stamps.day_of_year.to_numpy() - 1) / 365.25
    hour = stamps.hour.to_numpy() + stamps.minute.to_numpy() / 60

    # Wind: a Gaussian AR(1) mapped through the normal CDF into a Weibull (k=2.1) whose scale
    # is higher in winter and in the afternoon.
    weather = 0.85 * _ar1(rng, n, 0.995) + 0.53 * _ar1(rng, n, 0.95)
    uniform = np.clip(ndtr(weather / np.std(weather)), 1e-9, 1 - 1e-9)
    scale = 8.2 * (1 + 0.18 * np.cos(2 * np.pi * (day - 0.04))) * (1 + 0.08 * np.sin(2 * np.pi * (hour - 9) / 24))
    wind = scale * (-np.log(1 - uniform)) ** (1 / 2.1)
    wind = np.maximum(wind + rng.normal(0, 0.15, n), 0.0)

    direction = (230 + np.cumsum(rng.normal(0, 2.0, n)) + 40 * np.sin(2 * np.pi * day)) % 360
    misalignment = 6 * _ar1(rng, n, 0.9)

    # Power: the curve, a little yaw loss, noise that grows with output, a parasitic draw at idle.
    available = power_curve(wind) * np.cos(np.radians(misalignment)) ** 2
    noise = rng.normal(0, 1, n) * (15 + 0.03 * available)
    power = np.clip(available + noise, 0, RATED_KW)
    idle = wind < CUT_IN
    power[idle] = rng.uniform(-8, 0, int(idle.sum()))

    down = _events(rng, n, count=10, min_len=36, max_len=432)  # 6 hours to 3 days
    curtailed = _events(rng, n, count=14, min_len=12, max_len=144) & ~down
    power[curtailed] = np.minimum(power[curtailed], 1000 + rng.normal(0, 10, int(curtailed.sum())))

    stopped = down | (wind >= CUT_OUT)
    power[stopped] = rng.uniform(-5, 0, int(stopped.sum()))
    load = np.clip(power / RATED_KW, 0, 1)

    # Pitch: near fine pitch below rated, rising to shed power above it or when curtailed; feathered when stopped.
    excess = np.clip(wind - RATED_WIND, 0, None)
    pitch = 0.5 + 1.3 * excess**0.85 + rng.normal(0, 0.3, n)
    pitch[curtailed] += 4 + 1.2 * np.clip(wind[curtailed] - 9, 0, None)
    pitch[idle] = 2 + rng.normal(0, 0.5, int(idle.sum()))
    pitch[stopped] = 88 + rng.normal(0, 0.5, int(stopped.sum()))

    # Speed: variable-speed between 9 and 16.8 rpm, tied to wind below rated and to power above it.
    rotor = np.clip(9 + 7.8 * np.clip((wind - CUT_IN) / (RATED_WIND - 2 - CUT_IN), 0, 1), 9, 16.8)
    rotor = rotor * (0.97 + 0.03 * load) + rng.normal(0, 0.08, n)
    rotor[idle] = np.clip(wind[idle] * 1.5 + rng.normal(0, 0.5, int(idle.sum())), 0, 8)
    rotor[stopped] = np.abs(rng.normal(0, 0.2, int(stopped.sum())))
    generator = np.maximum(rotor * GEARBOX_RATIO + rng.normal(0, 3, n), 0.0)

    # Temperatures: ambient with seasons and days; components follow ambient plus lagged load.
    ambient = (
        10 - 8 * np.cos(2 * np.pi * (day - 0.05)) - 4 * np.cos(2 * np.pi * (hour - 3) / 24) + 1.5 * _ar1(rng, n, 0.99)
    )
    heat = _lagged(load, 0.05)
    nacelle = ambient + 7 + 10 * heat + rng.normal(0, 0.4, n)
    gear_oil = ambient + 22 + 28 * _lagged(load, 0.03) + rng.normal(0, 0.5, n)
    gear_bearing = gear_oil + 4 + 6 * heat + rng.normal(0, 0.6, n)
    gen_phase = ambient + 25 + 65 * _lagged(load, 0.08) + rng.normal(0, 0.8, n)
    gen_bearing = ambient + 18 + 22 * _lagged(load, 0.04) + rng.normal(0, 0.5, n)

    frame = pd.DataFrame(
        {
            "Timestamps": stamps,
            "WindSpeed": wind,
            "WindDirAbs": direction,
            "WindDirRel": misalignment,
            "Power": power,
            "Pitch": pitch,
            "GenRPM": generator,
            "RotorRPM": rotor,
            "EnvirTemp": ambient,
            "NacelTemp": nacelle,
            "GearOilTemp": gear_oil,
            "GearBearTemp": gear_bearing,
            "GenPh1Temp": gen_phase,
            "GenBearTemp": gen_bearing,
        }
    )
    sensors = frame.columns[1:]
    frame[sensors] = frame[sensors].round(3)

    # Real SCADA has holes: single sensor dropouts, and whole rows lost to communication outages.
    for name in sensors:
        frame.loc[rng.random(n) < 0.004, name] = np.nan
    lost = _events(rng, n, count=25, min_len=1, max_len=18)
    return frame.loc[~lost].reset_index(drop=True)


def write_sample_files(history_path: Path, inference_path: Path, seed: int = SEED) -> SampleFiles:
    """Write the history (2007-07-01 to 2008-06-30) and the four weeks after it as Parquet."""
    import pandas as pd

    frame = generate(seed=seed)
    cut = pd.Timestamp(HISTORY_END, tz="UTC")
    history = frame[frame["Timestamps"] <= cut]
    inference = frame[frame["Timestamps"] > cut]
    for part, path in ((history, history_path), (inference, inference_path)):
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        part.to_parquet(temporary, index=False, row_group_size=50_000)
        temporary.replace(path)
    return SampleFiles(history_path, inference_path, len(history), len(inference))
