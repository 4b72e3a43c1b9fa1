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
SENSORS = (
    "WindSpeed", "WindDirAbs", "WindDirRel", "Power", "Pitch", "GenRPM", "RotorRPM",
    "EnvirTemp", "NacelTemp", "GearOilTemp", "GearBearTemp", "GenPh1Temp", "GenBearTemp",
)  # fmt: skip
# What an older or smaller turbine often reports: no drive-train speeds or temperatures.
FEW_SENSORS = ("WindSpeed", "WindDirAbs", "WindDirRel", "Power", "Pitch", "EnvirTemp")


@dataclass(frozen=True)
class SampleFiles:
    history: Path
    inference: Path
    history_rows: int
    inference_rows: int


@dataclass(frozen=True)
class TurbineSpec:
    """One sample turbine: its metadata, where it stands in the shared wind, and which sensors it reports."""

    turbine_id: str
    name: str
    rated_kw: float = RATED_KW
    hub_height_m: float = 80.0
    rotor_diameter_m: float = 90.0
    wind_factor: float = 1.0  # local speed-up of the site wind
    lag_steps: int = 0  # 10-minute steps the gusts take to reach it
    sensors: tuple[str, ...] = SENSORS


# The lesson's turbine; the farm's first turbine is the same machine.
LESSON_TURBINE = TurbineSpec("T01", "Lesson turbine")
FARM = (
    TurbineSpec("T01", "North 1", 2000.0, 80.0, 90.0, 1.00, 0),
    TurbineSpec("T02", "North 2", 3000.0, 100.0, 112.0, 1.04, 1),
    TurbineSpec("T03", "South 1", 850.0, 55.0, 52.0, 0.93, 2, FEW_SENSORS),
    TurbineSpec("T04", "South 2", 2300.0, 85.0, 93.0, 0.97, 1),
)


def power_curve(wind: np.ndarray, rated_kw: float = RATED_KW) -> np.ndarray:
    """Steady-state electrical power (kW) of a turbine at a hub-height wind speed (m/s)."""
    import numpy as np

    partial = np.clip((wind**3 - CUT_IN**3) / (RATED_WIND**3 - CUT_IN**3), 0.0, 1.0)
    # Soften the knee at rated, as a real pitch-regulated curve does.
    shaped = rated_kw * (partial - 0.08 * partial**2 * (1 - partial))
    return np.where((wind < CUT_IN) | (wind >= CUT_OUT), 0.0, np.minimum(shaped, rated_kw))


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


def _stamps(start: str, end: str) -> pd.DatetimeIndex:
    import pandas as pd

    return pd.date_range(start, end, freq="10min", tz="UTC")


def _site_wind(rng: np.random.Generator, stamps: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """The site's hub-height wind speed and direction: what every turbine of a farm shares."""
    import numpy as np
    from scipy.special import ndtr

    n = len(stamps)
    day = (stamps.day_of_year.to_numpy() - 1) / 365.25
    hour = stamps.hour.to_numpy() + stamps.minute.to_numpy() / 60
    # A Gaussian AR(1) mapped through the normal CDF into a Weibull (k=2.1) whose scale
    # is higher in winter and in the afternoon.
    weather = 0.85 * _ar1(rng, n, 0.995) + 0.53 * _ar1(rng, n, 0.95)
    uniform = np.clip(ndtr(weather / np.std(weather)), 1e-9, 1 - 1e-9)
    scale = 8.2 * (1 + 0.18 * np.cos(2 * np.pi * (day - 0.04))) * (1 + 0.08 * np.sin(2 * np.pi * (hour - 9) / 24))
    wind = scale * (-np.log(1 - uniform)) ** (1 / 2.1)
    wind = np.maximum(wind + rng.normal(0, 0.15, n), 0.0)
    direction = (230 + np.cumsum(rng.normal(0, 2.0, n)) + 40 * np.sin(2 * np.pi * day)) % 360
    return wind, direction


def _turbine(
    rng: np.random.Generator, stamps: pd.DatetimeIndex, wind: np.ndarray, direction: np.ndarray, spec: TurbineSpec
) -> pd.DataFrame:
    """One turbine's SCADA in the given wind: power, pitch, speeds, temperatures and real data's holes."""
    import numpy as np
    import pandas as pd

    n = len(stamps)
    rated = spec.rated_kw
    day = (stamps.day_of_year.to_numpy() - 1) / 365.25
    hour = stamps.hour.to_numpy() + stamps.minute.to_numpy() / 60
    misalignment = 6 * _ar1(rng, n, 0.9)

    # Power: the curve, a little yaw loss, noise that grows with output, a parasitic draw at idle.
    available = power_curve(wind, rated) * np.cos(np.radians(misalignment)) ** 2
    noise = rng.normal(0, 1, n) * (15 + 0.03 * available)
    power = np.clip(available + noise, 0, rated)
    idle = wind < CUT_IN
    power[idle] = rng.uniform(-8, 0, int(idle.sum()))

    down = _events(rng, n, count=10, min_len=36, max_len=432)  # 6 hours to 3 days
    curtailed = _events(rng, n, count=14, min_len=12, max_len=144) & ~down
    power[curtailed] = np.minimum(power[curtailed], rated / 2 + rng.normal(0, 10, int(curtailed.sum())))

    stopped = down | (wind >= CUT_OUT)
    power[stopped] = rng.uniform(-5, 0, int(stopped.sum()))
    load = np.clip(power / rated, 0, 1)

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
    return frame.loc[~lost, ["Timestamps", *spec.sensors]].reset_index(drop=True)


def generate(start: str = HISTORY_START, end: str = INFERENCE_END, seed: int = SEED) -> pd.DataFrame:
    """The lesson turbine's SCADA table for [start, end] at 10-minute steps, deterministic for a given seed."""
    import numpy as np

    rng = np.random.default_rng(seed)
    stamps = _stamps(start, end)
    wind, direction = _site_wind(rng, stamps)
    return _turbine(rng, stamps, wind, direction, LESSON_TURBINE)


def generate_farm(
    turbines: int = 3, start: str = HISTORY_START, end: str = INFERENCE_END, seed: int = SEED
) -> pd.DataFrame:
    """A small farm in long format (turbine_id, Timestamps, sensors): the turbines of FARM, in one wind.

    Each turbine sees the site wind scaled by its own factor, a few steps late, with its own
    turbulence; its response and holes come from its own random stream. Sensors a turbine does
    not report are absent from its rows (NaN in the long table).
    """
    import numpy as np
    import pandas as pd

    if not 1 <= turbines <= len(FARM):
        raise ValueError(f"the sample farm has 1 to {len(FARM)} turbines, not {turbines}")
    rng = np.random.default_rng(seed)
    stamps = _stamps(start, end)
    wind, direction = _site_wind(rng, stamps)
    frames = []
    for index, spec in enumerate(FARM[:turbines]):
        own = np.random.default_rng([seed, index])
        local = np.roll(wind, spec.lag_steps) * spec.wind_factor + own.normal(0, 0.3, len(wind))
        frame = _turbine(own, stamps, np.maximum(local, 0.0), (direction + own.normal(0, 3, len(wind))) % 360, spec)
        frames.append(frame.assign(turbine_id=spec.turbine_id))
    farm = pd.concat(frames, ignore_index=True)
    return farm[["turbine_id", "Timestamps", *SENSORS]].sort_values(["Timestamps", "turbine_id"], ignore_index=True)


# A farm export as a vendor writes it (in the style of ENGIE's La Haute Borne open data):
# vendor column names, local time with its DST offset, and columns datamgr does not keep.
VENDOR_NAMES = {
    "turbine_id": "Wind_turbine_name",
    "Timestamps": "Date_time",
    "WindSpeed": "Ws_avg",
    "WindDirAbs": "Wa_avg",
    "WindDirRel": "Va_avg",
    "Power": "P_avg",
    "Pitch": "Ba_avg",
    "GenRPM": "Ds_avg",
    "RotorRPM": "Rs_avg",
    "EnvirTemp": "Ot_avg",
    "NacelTemp": "Yt_avg",
    "GearOilTemp": "Gost_avg",
    "GearBearTemp": "Gb1t_avg",
    "GenPh1Temp": "Gst_avg",
    "GenBearTemp": "Db1t_avg",
}
VENDOR_ZONE = "Europe/Paris"


def to_vendor_export(farm: pd.DataFrame) -> pd.DataFrame:
    """The farm table as a vendor exports it: renamed columns, local ISO timestamps with offsets, extra columns."""
    local = farm["Timestamps"].dt.tz_convert(VENDOR_ZONE)
    text = local.dt.strftime("%Y-%m-%dT%H:%M:%S%z").str.replace(r"(\d\d)(\d\d)$", r"\1:\2", regex=True)
    export = farm.assign(Timestamps=text).rename(columns=VENDOR_NAMES)
    # Columns a real export carries and datamgr does not keep: nacelle angle and reactive power.
    export["Ya_avg"] = farm["WindDirAbs"].round(1)
    export["Q_avg"] = (farm["Power"] * 0.05).round(2)
    return export


def write_sample_files(history_path: Path, inference_path: Path, seed: int = SEED) -> SampleFiles:
    """Write the history (2007-07-01 to 2008-06-30) and the four weeks after it as Parquet."""
    return _write_split(generate(seed=seed), history_path, inference_path)


def write_farm_files(history_path: Path, inference_path: Path, turbines: int = 3, seed: int = SEED) -> SampleFiles:
    """Write the sample farm, as a vendor export, over the same year and four weeks as the lesson's files."""
    return _write_split(generate_farm(turbines, seed=seed), history_path, inference_path, vendor=True)


def _write_split(frame: pd.DataFrame, history_path: Path, inference_path: Path, *, vendor: bool = False) -> SampleFiles:
    """Split at the history's end and write both parts as Parquet, each atomically."""
    import pandas as pd

    cut = pd.Timestamp(HISTORY_END, tz="UTC")
    history = frame[frame["Timestamps"] <= cut]
    inference = frame[frame["Timestamps"] > cut]
    for part, path in ((history, history_path), (inference, inference_path)):
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        (to_vendor_export(part) if vendor else part).to_parquet(temporary, index=False, row_group_size=50_000)
        temporary.replace(path)
    return SampleFiles(history_path, inference_path, len(history), len(inference))
