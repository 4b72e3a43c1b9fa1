"""The HTML report: one self-contained file (images inline, no network references) with the power
curve, predicted against actual Power over time, MAE per wind-speed bin, the evaluation windows
with their alerts, and the status table. matplotlib (Agg) is imported here only, by `report`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, read by the service; rendering it touches no database.

    - readings: one row per stored prediction in the range, with its actual: turbine_id,
      Timestamps, WindSpeed, Power (NaN while the actual has not arrived), predicted_power, model_id.
    - curves: (turbine_id, model_id) -> the model's binned power curve: wind_speed, baseline_power.
    - windows: evaluate's windows (monitoring.evaluate.WINDOW_COLUMNS), alerts included.
    - bins: evaluate's wind-speed bins (monitoring.evaluate.BIN_COLUMNS).
    - status: monitoring.status.judge rows, and the overall state's name.
    """

    generated_at: datetime
    start: datetime | None
    end: datetime | None
    turbines: list[str]
    readings: pd.DataFrame
    curves: dict[tuple[str, int], pd.DataFrame]
    windows: pd.DataFrame
    bins: pd.DataFrame
    status: list[dict[str, Any]] = field(default_factory=list)
    overall: str = "UNKNOWN"


def render_html(data: ReportData) -> str:
    """The report as one HTML document."""
    raise NotImplementedError("the HTML report is being built")
