"""The HTML report, rendered from small frames: its structure, its numbers, its images, and that it
renders in a real browser. Pure: no database; ReportData is what the service fills."""

from __future__ import annotations

import base64
import math
import shutil
import struct
import subprocess
import sys
import zlib
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from datamgr.monitoring.evaluate import BIN_COLUMNS, WINDOW_COLUMNS, evaluate_windows
from datamgr.monitoring.report import ReportData, render_html
from datamgr.monitoring.status import StatusRow, TurbineFacts, judge
from tests.report_sample import screenshot

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
START = datetime(2008, 7, 1, tzinfo=UTC)
AS_OF = datetime(2008, 7, 3, 0, 30, tzinfo=UTC)


class Page(HTMLParser):
    """What a reader sees: the images, the tables (row class and cell texts), headings, links, text."""

    def __init__(self, document: str) -> None:
        super().__init__(convert_charrefs=True)
        self.images: list[dict[str, str]] = []
        self.tables: list[list[tuple[str, list[str]]]] = []
        self.headings: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []
        self._row: tuple[str, list[str]] | None = None
        self._cell: list[str] | None = None
        self._heading: list[str] | None = None
        self.feed(document)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "img":
            self.images.append(values)
        elif tag == "a":
            self.links.append(values.get("href", ""))
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = (values.get("class", ""), [])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag in ("h2", "h3"):
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row[1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None
        elif tag in ("h2", "h3") and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        for part in (self._cell, self._heading):
            if part is not None:
                part.append(data)

    def table(self, first_heading: str) -> list[tuple[str, list[str]]]:
        """The body rows of every table whose first column heading is `first_heading`, in order."""
        return [row for table in self.tables if table and table[0][1][0] == first_heading for row in table[1:]]

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


def stamp(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def readings(turbine: str, model_id: int, actual: bool = True) -> pd.DataFrame:
    times = pd.date_range("2008-07-01 00:00", periods=6, freq="10min", tz="UTC")
    return pd.DataFrame(
        {
            "turbine_id": turbine,
            "Timestamps": times,
            "WindSpeed": [4.2, 6.8, 9.1, 11.5, 13.0, 7.7],
            "Power": [110.0, 420.0, 980.0, 1650.0, 2000.0, 560.0] if actual else [math.nan] * 6,
            "predicted_power": [130.0, 400.0, 1010.0, 1600.0, 1990.0, 600.0],
            "model_id": model_id,
        }
    )


def curve() -> pd.DataFrame:
    return pd.DataFrame({"wind_speed": [3.5, 6.5, 9.5, 12.5], "baseline_power": [40.0, 350.0, 1050.0, 1950.0]})


def windows(turbine: str, model_id: int) -> pd.DataFrame:
    """Two days: the reference, then a flagged one (MAE more than 1.5 x the reference's)."""
    rows = [
        (stamp("2008-07-01"), 144, 140, 140 / 144, 12.3456, 20.5, -1.25, 0.61728, 30.0, 18.126, False),
        (stamp("2008-07-02"), 144, 144, 1.0, 25.5, 31.0, 4.0, 1.275, 29.0, 17.0, True),
    ]
    return pd.DataFrame(
        [
            {
                "turbine_id": turbine,
                "model_id": model_id,
                "window_start": start,
                "window_end": start + pd.Timedelta(days=1),
                "predictions": predictions,
                "matched": matched,
                "coverage": coverage,
                "mae": mae,
                "rmse": rmse,
                "bias": bias,
                "nmae": nmae,
                "baseline_mae": baseline,
                "persistence_mae": persistence,
                "reference_mae": 12.3456,
                "alert": alert,
            }
            for start, predictions, matched, coverage, mae, rmse, bias, nmae, baseline, persistence, alert in rows
        ],
        columns=WINDOW_COLUMNS,
    )


def bins(turbine: str, model_id: int) -> pd.DataFrame:
    return pd.DataFrame(
        [(turbine, model_id, 4.0, 12, 15.25, 40.5, 22.0), (turbine, model_id, 9.0, 30, 31.126, 120.75, 60.5)],
        columns=BIN_COLUMNS,
    )


def status_row(turbine: str, lag: timedelta) -> StatusRow:
    facts = TurbineFacts(turbine, AS_OF - lag, 140, 1, AS_OF - lag, 36, 1, START, 25.5)
    return judge(facts, AS_OF, warn_after=timedelta(minutes=30), error_after=timedelta(hours=2))


def farm(turbines: list[str]) -> ReportData:
    return ReportData(
        generated_at=AS_OF,
        start=START,
        end=AS_OF,
        turbines=turbines,
        readings=pd.concat([readings(t, i) for i, t in enumerate(turbines, start=1)], ignore_index=True),
        curves={(t, i): curve() for i, t in enumerate(turbines, start=1)},
        windows=pd.concat([windows(t, i) for i, t in enumerate(turbines, start=1)], ignore_index=True),
        bins=pd.concat([bins(t, i) for i, t in enumerate(turbines, start=1)], ignore_index=True),
        status=[status_row(t, timedelta(minutes=[0, 40, 150][i % 3])) for i, t in enumerate(turbines)],
        overall="WARNING",
    )


def png_size(source: str) -> tuple[int, int]:
    """Decode a data URI's PNG: signature, IHDR, and the image data inflates; returns width, height."""
    prefix = "data:image/png;base64,"
    assert source.startswith(prefix), source[:40]
    data = base64.b64decode(source[len(prefix) :], validate=True)
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        if kind == b"IDAT":
            chunks.append(data[offset + 8 : offset + 8 + length])
        offset += 12 + length
    assert kind == b"IEND"
    assert len(zlib.decompress(b"".join(chunks))) > width * height  # one filter byte a row, then the pixels
    return width, height


def assert_offline(document: str, page: Page) -> None:
    assert "http://" not in document and "https://" not in document
    assert "@import" not in document and "url(" not in document
    assert all(link.startswith("#") for link in page.links), page.links
    assert all(image["src"].startswith("data:image/png;base64,") for image in page.images)


WINDOW_ROW_1 = ["T01", "1", "2008-07-01 00:00", "2008-07-02 00:00", "144", "140", "97.2", "12.35", "20.50"]
WINDOW_ROW_1 += ["-1.25", "0.62", "30.00", "18.13", "12.35", "1.00", ""]
WINDOW_ROW_2 = ["T01", "1", "2008-07-02 00:00", "2008-07-03 00:00", "144", "144", "100.0", "25.50", "31.00"]
WINDOW_ROW_2 += ["4.00", "1.27", "29.00", "17.00", "12.35", "2.07", "ALERT"]


def test_one_turbine_has_every_section_its_images_and_the_exact_numbers() -> None:
    document = render_html(farm(["T01"]))
    page = Page(document)

    assert page.headings == [
        "Status",
        "Alerts",
        "Turbine T01",
        "Power curve",
        "Predicted and actual Power over time",
        "MAE per wind-speed bin",
        "Evaluation windows",
    ]
    assert [image["alt"] for image in page.images] == [
        "T01: power curve",
        "T01: predicted and actual Power over time",
        "T01: MAE per wind-speed bin",
        "T01: MAE per evaluation window",
    ]
    for image in page.images:
        width, height = png_size(image["src"])
        assert (width, height) == (int(image["width"]), int(image["height"]))
        assert 600 <= width <= 1600 and 250 <= height <= 1200
    assert_offline(document, page)

    status = page.table("turbine")[0]
    assert status == (
        "",
        ["T01", "OK", "2008-07-03 00:30", "0s", "4", "1", "2008-07-03 00:30", "0s", "36", "1", "2d30m", "25.50"],
    )
    # The windows table, and the alerts table with the one flagged window, marked.
    assert page.table("turbine")[1:] == [("alert", WINDOW_ROW_2), ("", WINDOW_ROW_1), ("alert", WINDOW_ROW_2)]
    assert page.table("model") == [
        ("", ["1", "4.0\u20135.0", "12", "15.25", "40.50", "22.00"]),
        ("", ["1", "9.0\u201310.0", "30", "31.13", "120.75", "60.50"]),
    ]
    assert "6 prediction(s) by model(s) 1; 6 with their actual Power so far (100.0 %)." in page.all_text
    assert "1 flagged window(s)" in page.all_text
    assert "<nav>" not in document  # one turbine: no list of turbines to jump to


def test_three_turbines_get_a_section_each_and_one_status_and_alerts_table() -> None:
    document = render_html(farm(["T01", "T02", "T03"]))
    page = Page(document)

    assert [h for h in page.headings if h.startswith("Turbine")] == ["Turbine T01", "Turbine T02", "Turbine T03"]
    assert page.links == ["#turbine-1", "#turbine-2", "#turbine-3"]
    assert 'id="turbine-2"' in document
    assert len(page.images) == 12
    for image in page.images:
        png_size(image["src"])
    assert_offline(document, page)
    status = page.table("turbine")[:3]
    assert [(row[1][0], row[1][1], row[1][3]) for row in status] == [
        ("T01", "OK", "0s"),
        ("T02", "WARNING", "40m"),
        ("T03", "CRITICAL", "2h30m"),
    ]
    alerts = page.table("turbine")[3:6]
    assert [(css, cells[0], cells[1], cells[-1]) for css, cells in alerts] == [
        ("alert", "T01", "1", "ALERT"),
        ("alert", "T02", "2", "ALERT"),
        ("alert", "T03", "3", "ALERT"),
    ]
    assert "3 flagged window(s)" in page.all_text


def test_predictions_without_actuals_say_so_instead_of_drawing_empty_plots() -> None:
    waiting = readings("T01", 1, actual=False)
    joined = waiting.rename(columns={"Power": "actual", "WindSpeed": "wind_speed"}).assign(
        previous_power=math.nan, baseline_power=500.0
    )
    evaluated = evaluate_windows(
        joined, timedelta(days=1), rated_power={"T01": 2000.0}, trained_until={1: START}, alert_ratio=1.5
    )
    data = ReportData(
        generated_at=AS_OF,
        start=START,
        end=None,
        turbines=["T01"],
        readings=waiting,
        curves={("T01", 1): curve()},
        windows=evaluated,
        bins=pd.DataFrame(columns=BIN_COLUMNS),
        status=[status_row("T01", timedelta(minutes=10))],
        overall="OK",
    )
    document = render_html(data)
    page = Page(document)

    assert [image["alt"] for image in page.images] == [
        "T01: power curve",
        "T01: predicted and actual Power over time",
    ]
    for image in page.images:
        png_size(image["src"])
    text = page.all_text
    assert "6 prediction(s) by model(s) 1; 0 with their actual Power so far (0.0 %)." in text
    assert "No actual Power has arrived yet for these predictions" in text
    assert "No wind-speed bins: no prediction in this range has its actual Power yet." in text
    assert "No window has an actual Power yet: the errors are still unknown." in text
    assert "predictions from 2008-07-01 00:00 to the newest" in text
    dash = "\u2014"
    assert page.table("turbine")[1] == (
        "",
        ["T01", "1", "2008-07-01 00:00", "2008-07-02 00:00", "6", "0", "0.0", *[dash] * 8, ""],
    )
    assert "No evaluation window is flagged." in text
    assert_offline(document, page)


def test_an_empty_report_is_still_a_page_with_its_reasons() -> None:
    data = ReportData(
        generated_at=AS_OF,
        start=None,
        end=None,
        turbines=["T01"],
        readings=pd.DataFrame(
            columns=["turbine_id", "Timestamps", "WindSpeed", "Power", "predicted_power", "model_id"]
        ),
        curves={},
        windows=pd.DataFrame(columns=WINDOW_COLUMNS),
        bins=pd.DataFrame(columns=BIN_COLUMNS),
    )
    document = render_html(data)
    page = Page(document)

    assert page.images == []
    assert page.tables == []
    text = page.all_text
    for note in (
        "No status rows: no turbine has reported yet.",
        "No evaluation window is flagged.",
        "No predictions in this range for this turbine.",
        "Nothing to draw: no predictions and no binned power curve.",
        "No wind-speed bins: no prediction in this range has its actual Power yet.",
        "No evaluation windows for this turbine in this range.",
    ):
        assert note in text
    assert 'class="state state-UNKNOWN">UNKNOWN<' in document
    assert document.startswith("<!DOCTYPE html>") and document.endswith("</html>\n")


def test_turbine_names_are_escaped() -> None:
    data = farm(["<b>T&1</b>"])
    document = render_html(data)
    page = Page(document)

    assert "<b>T&1</b>" not in document
    assert "Turbine &lt;b&gt;T&amp;1&lt;/b&gt;" in document
    assert "Turbine <b>T&1</b>" in page.headings


def test_matplotlib_is_imported_by_rendering_only_and_never_through_pyplot() -> None:
    code = (
        "import sys\n"
        "import datamgr.monitoring.report\n"
        "print('at import', 'matplotlib' in sys.modules)\n"
        "from tests.test_report import farm\n"
        "datamgr.monitoring.report.render_html(farm(['T01']))\n"
        "print('after render', 'matplotlib' in sys.modules, 'matplotlib.pyplot' in sys.modules)\n"
    )
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["at import False", "after render True False"]


CHROMIUM = shutil.which("chromium")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (`make chromium` installs Debian's package)")
def test_the_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    from PIL import Image

    page, png = tmp_path / "report.html", tmp_path / "report.png"
    page.write_text(render_html(farm(["T01", "T02"])), encoding="utf-8")
    assert CHROMIUM is not None
    screenshot(CHROMIUM, page, png, tmp_path / "profile")

    with Image.open(png) as image:
        assert image.size == (1280, 2000)
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 50  # text, tables and plots, not a blank page
    assert max(n for n, _ in colours) < 0.95 * 1280 * 2000
