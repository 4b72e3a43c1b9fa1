"""The HTML report: one self-contained file (images inline, no network references) with the power
curve, predicted against actual Power over time, MAE per wind-speed bin, the evaluation windows
with their alerts, and the status table. matplotlib (Agg) is imported here only, by `report`.

The report opens offline, from a mail attachment or a file share: every image is a PNG in a
`data:` URI, the style sheet is inline, fonts are the reader's own, and no link leaves the file.
It has a status table and an alerts table for the whole farm, then one section per turbine, so it
reads the same with one turbine or many. Where the actual Power has not arrived yet, it says so
instead of drawing empty plots.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from datamgr.monitoring.status import StatusRow


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
    status: list[StatusRow] = field(default_factory=list)
    overall: str = "UNKNOWN"


# Decimals of every number the tables show: kW to 2, percentages to 1, wind speed to 1.
KW_DECIMALS = 2
PERCENT_DECIMALS = 1
WIND_DECIMALS = 1
MISSING = "\u2014"  # an em dash: no value
TIME_FORMAT = "%Y-%m-%d %H:%M"  # UTC, said once in the header
FIGURE_DPI = 100
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")
ACTUAL_COLOUR = "#555555"
ALERT_COLOUR = "#d62728"


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN and NaT are not equal to themselves
    except (TypeError, ValueError):
        return False


def fixed(decimals: int) -> Callable[[Any], str]:
    """A number with exactly `decimals` decimals (the same for the whole column), or a dash."""
    return lambda value: MISSING if _missing(value) else f"{float(value):.{decimals}f}"


def percent(value: Any) -> str:
    """A share (0..1) as a percentage with PERCENT_DECIMALS decimals."""
    return MISSING if _missing(value) else f"{float(value) * 100:.{PERCENT_DECIMALS}f}"


def count(value: Any) -> str:
    return MISSING if _missing(value) else str(int(value))


def instant(value: Any) -> str:
    """An instant in UTC, to the minute (the report says once that times are UTC)."""
    if _missing(value):
        return MISSING
    if getattr(value, "tzinfo", None) is None:
        value = value.replace(tzinfo=UTC)
    return str(value.astimezone(UTC).strftime(TIME_FORMAT))


def text(value: Any) -> str:
    return MISSING if _missing(value) else str(value)


class Col(NamedTuple):
    """A table column: its heading, the row key, how a value is written, and whether it is a number."""

    title: str
    key: str
    show: Callable[[Any], str]
    numeric: bool = True


kw = fixed(KW_DECIMALS)

STATUS_COLUMNS = (
    Col("turbine", "turbine_id", text, False),
    Col("state", "state", text, False),
    Col("newest row", "newest_row", instant, False),
    Col("lag", "lag", text, False),
    Col("missing slots 24 h", "missing_slots_24h", count),
    Col("quarantined 24 h", "quarantined_24h", count),
    Col("newest prediction", "newest_prediction", instant, False),
    Col("prediction lag", "prediction_lag", text, False),
    Col("waiting for actuals", "waiting_for_actuals", count),
    Col("active model", "active_model", count),
    Col("model age", "model_age", text, False),
    Col("last MAE (kW)", "last_mae", kw),
)

WINDOW_TABLE_COLUMNS = (
    Col("turbine", "turbine_id", text, False),
    Col("model", "model_id", count),
    Col("window start", "window_start", instant, False),
    Col("window end", "window_end", instant, False),
    Col("predictions", "predictions", count),
    Col("matched", "matched", count),
    Col("coverage (%)", "coverage", percent),
    Col("MAE (kW)", "mae", kw),
    Col("RMSE (kW)", "rmse", kw),
    Col("bias (kW)", "bias", kw),
    Col("NMAE (%)", "nmae", kw),
    Col("binned curve MAE (kW)", "baseline_mae", kw),
    Col("persistence MAE (kW)", "persistence_mae", kw),
    Col("reference MAE (kW)", "reference_mae", kw),
    Col("MAE / reference", "ratio", fixed(KW_DECIMALS)),
    Col("alert", "alert", lambda value: "ALERT" if value is True else "", False),
)

BIN_TABLE_COLUMNS = (
    Col("model", "model_id", count),
    Col("wind speed (m/s)", "wind_speed_bin", lambda value: _bin_label(value), False),
    Col("matched", "matched", count),
    Col("MAE (kW)", "mae", kw),
    Col("binned curve MAE (kW)", "baseline_mae", kw),
    Col("persistence MAE (kW)", "persistence_mae", kw),
)


def _bin_label(low: Any, width: float = 1.0) -> str:
    if _missing(low):
        return MISSING
    return f"{float(low):.{WIND_DECIMALS}f}\u2013{float(low) + width:.{WIND_DECIMALS}f}"


CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Arial, sans-serif;
       margin: 1.5rem auto; max-width: 1400px; padding: 0 1rem; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2rem; margin-top: 2rem; }
h3 { margin-bottom: 0.3rem; }
p.meta { color: #555; margin-top: 0; }
p.note { background: #fff8e1; border-left: 4px solid #f0ad4e; padding: 0.4rem 0.7rem; }
p.caption { color: #555; font-size: 0.9rem; margin-top: 0.1rem; }
img { max-width: 100%; height: auto; display: block; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #ddd; padding: 0.2rem 0.45rem; white-space: nowrap; }
th { background: #f3f3f3; text-align: left; white-space: normal; vertical-align: bottom; }
div.scroll { overflow-x: auto; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.alert td { background: #fde2e2; } tr.alert td.flag { color: #b00; font-weight: bold; }
.state { font-weight: bold; padding: 0.05rem 0.4rem; border-radius: 3px; }
.state-OK { background: #d4edda; color: #155724; } .state-WARNING { background: #fff3cd; color: #856404; }
.state-CRITICAL { background: #f8d7da; color: #721c24; } .state-UNKNOWN { background: #e2e3e5; color: #383d41; }
nav a { margin-right: 0.8rem; }
summary { cursor: pointer; color: #444; margin: 0.3rem 0; }
"""


def render_html(data: ReportData) -> str:
    """The report as one HTML document: every image inline as a PNG data URI, nothing fetched."""
    turbines = _turbines(data)
    alerts = _alert_rows(data.windows)
    first = instant(data.start) if data.start else "the first"
    range_text = f"{first} to {instant(data.end) if data.end else 'the newest'}"
    head = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>datamgr report, {html.escape(instant(data.generated_at))} UTC</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>datamgr report</h1>",
        f'<p class="meta">Generated {html.escape(instant(data.generated_at))} UTC; predictions from '
        f"{html.escape(range_text)} (all times UTC). {len(turbines)} turbine(s); overall state "
        f"{_state(data.overall)}; {len(alerts)} flagged window(s).</p>",
    ]
    if len(turbines) > 1:
        links = " ".join(
            f'<a href="#turbine-{i}">{html.escape(turbine)}</a>' for i, turbine in enumerate(turbines, start=1)
        )
        head.append(f"<nav>Turbines: {links}</nav>")
    body = [
        *_status_section(data),
        *_alerts_section(alerts),
        *(
            line
            for i, turbine in enumerate(turbines, start=1)
            for line in _turbine_section(data, turbine, f"turbine-{i}")
        ),
    ]
    return "\n".join([*head, *body, "</body></html>", ""])


def _turbines(data: ReportData) -> list[str]:
    """The turbines asked for, then any other turbine the frames mention, so that nothing is dropped."""
    seen = list(dict.fromkeys(str(t) for t in data.turbines))
    others: set[str] = set()
    for frame in (data.readings, data.windows, data.bins):
        if len(frame) and "turbine_id" in frame.columns:
            others.update(str(t) for t in frame["turbine_id"].unique())
    others.update(row.turbine_id for row in data.status)
    return seen + sorted(others - set(seen))


def _state(name: Any) -> str:
    name = str(name)
    known = name if name in ("OK", "WARNING", "CRITICAL", "UNKNOWN") else "UNKNOWN"
    return f'<span class="state state-{known}">{html.escape(name)}</span>'


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [] if frame is None or frame.empty else frame.to_dict("records")


def _table(
    columns: Iterable[Col], rows: list[dict[str, Any]], *, mark: Callable[[dict[str, Any]], str] | None = None
) -> str:
    """An HTML table; numbers right-aligned with the column's fixed decimals, a row's class from `mark`."""
    columns = list(columns)
    headings = "".join(f"<th>{html.escape(c.title)}</th>" for c in columns)
    out = ['<div class="scroll"><table>', f"<thead><tr>{headings}</tr></thead>"]
    out.append("<tbody>")
    for row in rows:
        cells = []
        for col in columns:
            value = row.get(col.key)
            if col.key == "state":
                cells.append(f"<td>{_state(value)}</td>")
                continue
            css = "num" if col.numeric else ("flag" if col.key == "alert" else "")
            attr = f' class="{css}"' if css else ""
            cells.append(f"<td{attr}>{html.escape(col.show(value))}</td>")
        css_class = mark(row) if mark else ""
        attr = f' class="{css_class}"' if css_class else ""
        out.append(f"<tr{attr}>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def _is_alert(row: dict[str, Any]) -> bool:
    return bool(row.get("alert")) and not _missing(row.get("alert"))


def _alert_class(row: dict[str, Any]) -> str:
    return "alert" if _is_alert(row) else ""


def _window_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Window records with the ratio of MAE to the reference, and `alert` as a plain bool."""
    rows = _records(frame)
    for row in rows:
        mae, reference = row.get("mae"), row.get("reference_mae")
        row["ratio"] = math.nan
        if mae is not None and reference is not None and not _missing(mae) and not _missing(reference):
            row["ratio"] = float(mae) / float(reference) if float(reference) > 0 else math.nan
        row["alert"] = _is_alert(row)
    return rows


def _alert_rows(windows: pd.DataFrame) -> list[dict[str, Any]]:
    return [row for row in _window_rows(windows) if row["alert"]]


def _status_section(data: ReportData) -> list[str]:
    out = ["<h2>Status</h2>"]
    if not data.status:
        return [*out, '<p class="note">No status rows: no turbine has reported yet.</p>']
    out.append(
        '<p class="caption">Freshness of each turbine\'s data and predictions, as <code>datamgr status</code> '
        "reports it (OK, WARNING past warn-after, CRITICAL past error-after or never reported).</p>"
    )
    out.append(_table(STATUS_COLUMNS, [row.shown() for row in data.status]))
    return out


def _alerts_section(alerts: list[dict[str, Any]]) -> list[str]:
    out = ["<h2>Alerts</h2>"]
    if not alerts:
        return [*out, "<p>No evaluation window is flagged.</p>"]
    out.append(
        f'<p class="caption">{len(alerts)} window(s) whose MAE exceeds their model\'s reference window '
        "(its first evaluated window after training) by more than <code>monitoring.mae_alert_ratio</code>.</p>"
    )
    out.append(_table(WINDOW_TABLE_COLUMNS, alerts, mark=_alert_class))
    return out


def _of(frame: pd.DataFrame, turbine: str) -> pd.DataFrame:
    if frame is None or frame.empty or "turbine_id" not in frame.columns:
        return frame.iloc[0:0] if frame is not None else frame
    return frame[frame["turbine_id"].astype(str) == turbine]


def _turbine_section(data: ReportData, turbine: str, anchor: str) -> list[str]:
    """One turbine: its power curve, its Power over time, MAE per wind-speed bin, and its evaluation windows."""
    readings = _of(data.readings, turbine)
    windows = _of(data.windows, turbine)
    bins = _of(data.bins, turbine)
    curves = {model: frame for (t, model), frame in data.curves.items() if str(t) == turbine and len(frame)}
    out = [f'<h2 id="{anchor}">Turbine {html.escape(turbine)}</h2>']
    total = len(readings)
    matched = int(readings["Power"].notna().sum()) if total else 0
    models = sorted({int(m) for m in readings["model_id"].unique()}) if total else []
    if total == 0:
        out.append('<p class="note">No predictions in this range for this turbine.</p>')
    else:
        model_text = ", ".join(str(m) for m in models)
        out.append(
            f'<p class="meta">{total} prediction(s) by model(s) {html.escape(model_text)}; {matched} with their '
            f"actual Power so far ({percent(matched / total)} %).</p>"
        )
        if matched == 0:
            out.append(
                '<p class="note">No actual Power has arrived yet for these predictions: the plots show the '
                "predictions alone, and errors can be computed once the actuals are ingested.</p>"
            )

    out.append("<h3>Power curve</h3>")
    if total or curves:
        out.append(_image(_power_curve(readings, curves, turbine), f"{turbine}: power curve"))
        out.append(
            '<p class="caption">Power against wind speed: actual 10-minute rows (grey), the model\'s predictions '
            "(colours) and its binned power curve, the baseline it must beat (line).</p>"
        )
    else:
        out.append('<p class="note">Nothing to draw: no predictions and no binned power curve.</p>')

    if total:
        out.append("<h3>Predicted and actual Power over time</h3>")
        out.append(_image(_over_time(readings, turbine), f"{turbine}: predicted and actual Power over time"))

    out.append("<h3>MAE per wind-speed bin</h3>")
    bin_rows = _records(bins)
    if not bin_rows:
        out.append('<p class="note">No wind-speed bins: no prediction in this range has its actual Power yet.</p>')
    else:
        out.append(_image(_mae_per_bin(bins, turbine), f"{turbine}: MAE per wind-speed bin"))
        out.append(
            '<p class="caption">Mean absolute error per 1 m/s bin: the model beside its binned power curve '
            "and persistence (the previous row's actual Power) on the same rows.</p>"
        )
        out.append(f"<details><summary>The {len(bin_rows)} bins as a table</summary>")
        out.append(_table(BIN_TABLE_COLUMNS, bin_rows))
        out.append("</details>")

    out.append("<h3>Evaluation windows</h3>")
    window_rows = _window_rows(windows)
    if not window_rows:
        out.append('<p class="note">No evaluation windows for this turbine in this range.</p>')
        return out
    if windows["mae"].notna().any():
        out.append(_image(_windows_plot(windows, turbine), f"{turbine}: MAE per evaluation window"))
        out.append(
            '<p class="caption">MAE per window (markers) beside the binned curve and persistence; the dotted '
            "line is the model's reference window, and a red cross marks a flagged window.</p>"
        )
    else:
        out.append('<p class="note">No window has an actual Power yet: the errors are still unknown.</p>')
    out.append(_table(WINDOW_TABLE_COLUMNS, window_rows, mark=_alert_class))
    return out


# --- figures: matplotlib's object API on the Agg canvas. pyplot is never imported, so there is no
# global figure registry to leak into and no interactive backend to pick; a figure is freed when
# its last reference goes, right after it is encoded.


def _figure(height: float, rows: int = 1) -> tuple[Figure, list[Axes]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, height * rows), dpi=FIGURE_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = [figure.add_subplot(rows, 1, i + 1) for i in range(rows)]
    for ax in axes:
        ax.grid(True, color="#e5e5e5", linewidth=0.6)
        ax.set_axisbelow(True)
    return figure, axes


def _image(figure: Figure, alt: str) -> str:
    """The figure as an <img> whose source is the PNG itself, base64 in a data URI."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI)
    figure.clear()
    width, height = (round(v) for v in figure.get_size_inches() * FIGURE_DPI)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" width="{width}" height="{height}" src="data:image/png;base64,{encoded}">'


def _times(values: pd.Series) -> Any:
    """UTC instants as naive datetime64 for matplotlib (the axis says UTC)."""
    import pandas as pd

    return pd.to_datetime(values, utc=True).dt.tz_localize(None).to_numpy()


def _time_axis(ax: Axes) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.set_xlabel("time (UTC)")


def _colour(models: list[int], model: int) -> str:
    return COLOURS[models.index(model) % len(COLOURS)]


def _actuals(readings: pd.DataFrame) -> pd.DataFrame:
    """One row per instant with its actual Power (several models may have predicted the same row)."""
    return readings[readings["Power"].notna()].drop_duplicates("Timestamps").sort_values("Timestamps")


def _power_curve(readings: pd.DataFrame, curves: dict[int, pd.DataFrame], turbine: str) -> Figure:
    figure, (ax,) = _figure(3.8)
    models = sorted({*(int(m) for m in readings["model_id"].unique()), *curves})
    for model, part in readings.groupby("model_id", sort=True):
        ax.scatter(
            part["WindSpeed"],
            part["predicted_power"],
            s=4,
            alpha=0.4,
            color=_colour(models, int(model)),
            label=f"model {int(model)} predicted",
        )
    actual = _actuals(readings)
    if len(actual):
        ax.scatter(actual["WindSpeed"], actual["Power"], s=3, color=ACTUAL_COLOUR, alpha=0.4, label="actual")
    for model, curve in sorted(curves.items()):
        ordered = curve.sort_values("wind_speed")
        ax.plot(
            ordered["wind_speed"],
            ordered["baseline_power"],
            color=_colour(models, model),
            linewidth=2,
            drawstyle="steps-mid",
            label=f"model {model} binned curve",
        )
    ax.set_xlabel("wind speed (m/s)")
    ax.set_ylabel("Power (kW)")
    ax.set_title(f"Turbine {turbine}: power curve")
    ax.legend(loc="upper left", markerscale=3, fontsize="small")
    return figure


def _gaps_broken(times: pd.Series, values: pd.Series) -> tuple[Any, Any]:
    """A NaN after each gap longer than 15 minutes, so that a line does not bridge missing rows."""
    import numpy as np
    import pandas as pd

    stamps = pd.to_datetime(times, utc=True).reset_index(drop=True)
    numbers = pd.Series(values, dtype="float64").reset_index(drop=True)
    gaps = np.flatnonzero((stamps.diff() > pd.Timedelta(minutes=15)).to_numpy())
    if len(gaps):
        stamps = pd.Series(np.insert(stamps.to_numpy(), gaps, stamps.iloc[gaps - 1].to_numpy()))
        stamps = pd.to_datetime(stamps, utc=True)
        numbers = pd.Series(np.insert(numbers.to_numpy(), gaps, np.nan))
    return _times(stamps), numbers.to_numpy()


def _over_time(readings: pd.DataFrame, turbine: str) -> Figure:
    figure, (ax,) = _figure(3.6)
    models = sorted(int(m) for m in readings["model_id"].unique())
    actual = _actuals(readings)
    if len(actual):
        ax.plot(*_gaps_broken(actual["Timestamps"], actual["Power"]), color="black", linewidth=1.0, label="actual")
    for model, part in readings.sort_values("Timestamps").groupby("model_id", sort=True):
        ax.plot(
            *_gaps_broken(part["Timestamps"], part["predicted_power"]),
            color=_colour(models, int(model)),
            linewidth=1.0,
            alpha=0.85,
            label=f"model {int(model)} predicted",
        )
    _time_axis(ax)
    ax.set_ylabel("Power (kW)")
    ax.set_title(f"Turbine {turbine}: predicted and actual Power" + ("" if len(actual) else " (no actuals yet)"))
    ax.legend(loc="upper left", fontsize="small")
    return figure


def _mae_per_bin(bins: pd.DataFrame, turbine: str) -> Figure:
    models = sorted(int(m) for m in bins["model_id"].unique())
    figure, axes = _figure(3.2, rows=len(models))
    width = 0.27
    for ax, model in zip(axes, models, strict=True):
        part = bins[bins["model_id"].astype(int) == model].sort_values("wind_speed_bin")
        centre = part["wind_speed_bin"].astype(float) + 0.5
        ax.bar(centre - width, part["mae"], width, color=_colour(models, model), label=f"model {model}")
        ax.bar(centre, part["baseline_mae"], width, color="#9e9e9e", label="binned curve")
        ax.bar(centre + width, part["persistence_mae"], width, color="#d9b38c", label="persistence")
        ax.set_ylabel("MAE (kW)")
        ax.set_title(f"Turbine {turbine}, model {model}: MAE per wind-speed bin")
        ax.legend(loc="upper left", fontsize="small")
    axes[-1].set_xlabel("wind speed (m/s)")
    return figure


def _windows_plot(windows: pd.DataFrame, turbine: str) -> Figure:
    figure, (ax,) = _figure(3.4)
    models = sorted(int(m) for m in windows["model_id"].unique())
    flagged_any = False
    for model in models:
        part = windows[windows["model_id"].astype(int) == model].sort_values("window_start")
        starts = _times(part["window_start"])
        colour = _colour(models, model)
        mae = part["mae"].astype("float64")
        ax.plot(starts, mae, marker="o", color=colour, label=f"model {model} MAE")
        ax.plot(starts, part["baseline_mae"].astype("float64"), linestyle="--", color=colour, alpha=0.5)
        ax.plot(starts, part["persistence_mae"].astype("float64"), linestyle=":", marker=".", color="#b07d48")
        reference = part["reference_mae"].astype("float64").dropna()
        if len(reference):
            ax.axhline(float(reference.iloc[0]), color=colour, linewidth=0.8, linestyle=(0, (1, 3)))
        flagged = part["alert"].fillna(False).astype(bool).to_numpy()
        if flagged.any():
            label = None if flagged_any else "alert"
            ax.scatter(starts[flagged], mae[flagged], marker="X", s=140, color=ALERT_COLOUR, zorder=5, label=label)
            flagged_any = True
    ax.plot([], [], linestyle="--", color="grey", label="binned curve MAE")
    ax.plot([], [], linestyle=":", marker=".", color="#b07d48", label="persistence MAE")
    _time_axis(ax)
    ax.set_ylabel("MAE (kW)")
    ax.set_title(f"Turbine {turbine}: MAE per evaluation window")
    ax.legend(loc="upper left", fontsize="small")
    return figure


def curve_points(stored: dict[str, Any]) -> pd.DataFrame:
    """A binned power curve as model_runs.metrics keeps it, as points at each bin's centre."""
    import numpy as np
    import pandas as pd

    centres = (np.asarray(stored["bins"], dtype="float64") + 0.5) * float(stored["width"])
    return pd.DataFrame({"wind_speed": centres, "baseline_power": np.asarray(stored["means"], dtype="float64")})
