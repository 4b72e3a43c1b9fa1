"""A realistic ReportData for the report's screenshot, made without a database.

The sample farm's SCADA (datamgr.sample_data.generate_farm) stands in for the actuals; the
"predictions" are made up: the actual Power plus noise, with one turbine's model degrading in its
last days so that the alerts show. The binned power curve is the sample's own power curve at
the 1 m/s bin centres; the evaluation windows and bins come from datamgr's own evaluate nodes, and the status
rows from its `judge`. The last hours have no actuals yet, as in production.

Regenerate docs/report.png (needs chromium):

    .venv/bin/python -m tests.report_sample docs/report.png
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from datamgr.monitoring.evaluate import evaluate_by_wind_speed, evaluate_windows
from datamgr.monitoring.report import ReportData, render_html
from datamgr.monitoring.status import TurbineFacts, judge

START = datetime(2008, 1, 7, tzinfo=UTC)
END = datetime(2008, 1, 20, 23, 50, tzinfo=UTC)
WAITING = timedelta(hours=6)  # the newest predictions whose actuals have not arrived


def sample_report_data(turbines: int = 3) -> ReportData:
    import numpy as np
    import pandas as pd

    from datamgr.sample_data import FARM, generate_farm, power_curve

    farm = generate_farm(turbines, start=str(START.replace(tzinfo=None)), end=str(END.replace(tzinfo=None)))
    rng = np.random.default_rng(12)
    readings, curves, joined = [], {}, []
    for index, spec in enumerate(FARM[:turbines]):
        rows = farm[farm["turbine_id"] == spec.turbine_id].dropna(subset=["WindSpeed", "Power"]).copy()
        rows = rows.sort_values("Timestamps", ignore_index=True)
        model_id = index + 1
        noise = rng.normal(0, 0.03 * spec.rated_kw, len(rows))
        if index == turbines - 1:  # a model that degrades in its last four days
            late = (rows["Timestamps"] >= pd.Timestamp(END - timedelta(days=4))).to_numpy()
            noise[late] *= 3.0
        rows["predicted_power"] = np.clip(rows["Power"] + noise, 0, spec.rated_kw)
        centres = np.arange(0.5, 26.0)
        curve = power_curve(centres, spec.rated_kw)
        curves[(spec.turbine_id, model_id)] = pd.DataFrame({"wind_speed": centres, "baseline_power": curve})
        baseline = np.interp(rows["WindSpeed"], centres, curve)
        actual = rows["Power"].where(rows["Timestamps"] <= pd.Timestamp(END - WAITING))
        readings.append(
            pd.DataFrame(
                {
                    "turbine_id": spec.turbine_id,
                    "Timestamps": rows["Timestamps"],
                    "WindSpeed": rows["WindSpeed"],
                    "Power": actual,
                    "predicted_power": rows["predicted_power"],
                    "model_id": model_id,
                }
            )
        )
        joined.append(
            pd.DataFrame(
                {
                    "turbine_id": spec.turbine_id,
                    "model_id": model_id,
                    "Timestamps": rows["Timestamps"],
                    "predicted_power": rows["predicted_power"],
                    "actual": actual,
                    "previous_power": rows["Power"].shift(1),
                    "baseline_power": baseline,
                    "wind_speed": rows["WindSpeed"],
                }
            )
        )
    both = pd.concat(joined, ignore_index=True)
    windows = evaluate_windows(
        both,
        timedelta(days=1),
        rated_power={spec.turbine_id: spec.rated_kw for spec in FARM},
        trained_until={i + 1: START for i in range(turbines)},
        alert_ratio=1.5,
    )
    as_of = END + timedelta(minutes=40)
    status = [
        judge(
            TurbineFacts(
                turbine_id=spec.turbine_id,
                newest_row=END - timedelta(hours=3 * i),
                slots_present_24h=144 - 2 * i,
                quarantined_24h=i,
                newest_prediction=END - timedelta(hours=3 * i),
                waiting_for_actuals=36,
                active_model=i + 1,
                model_created_at=START,
                last_mae=float(windows[windows["turbine_id"] == spec.turbine_id]["mae"].dropna().iloc[-1]),
            ),
            as_of,
            warn_after=timedelta(minutes=30),
            error_after=timedelta(hours=2),
        )
        for i, spec in enumerate(FARM[:turbines])
    ]
    worst = max(("OK", "WARNING", "CRITICAL").index(row.state) for row in status)
    return ReportData(
        generated_at=as_of,
        start=START,
        end=END,
        turbines=[spec.turbine_id for spec in FARM[:turbines]],
        readings=pd.concat(readings, ignore_index=True),
        curves=curves,
        windows=windows,
        bins=evaluate_by_wind_speed(both),
        status=status,
        overall=("OK", "WARNING", "CRITICAL")[worst],
    )


CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def screenshot(chromium: str, page: Path, png: Path, profile: Path, size: str = "1280,2000") -> None:
    """Render `page` in headless Chromium, offline flags only, into `png`."""
    subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size={size}",
         page.as_uri()],
        check=True,
        capture_output=True,
        timeout=120,
    )  # fmt: skip


def main(target: str) -> None:
    """Render the sample report, screenshot it, and shrink it to a 256-colour PNG for docs/."""
    import shutil

    from PIL import Image

    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium is not installed: run `make chromium`")
    with tempfile.TemporaryDirectory() as folder:
        page, raw = Path(folder, "report.html"), Path(folder, "report.png")
        page.write_text(render_html(sample_report_data()), encoding="utf-8")
        screenshot(chromium, page, raw, Path(folder, "profile"))
        Image.open(raw).convert("RGB").quantize(256).save(target, optimize=True)
    print(f"wrote {target} ({Path(target).stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/report.png")
