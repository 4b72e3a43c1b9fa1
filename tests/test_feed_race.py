"""The cron race for real: a feeder appends to a CSV while `datamgr ingest` reads it, and parallel
ingests whose reported counts must add up to what the tables hold."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tests.conftest import Project
from tests.test_concurrency import finish, launch
from tests.test_smoke import DATAMGR

FEED_ROWS = 1500
START = pd.Timestamp("2032-01-01", tz="UTC")

# Appends row after row, each in two writes cut at a random byte (as a block-buffered writer
# leaves them) a few milliseconds apart, so that a reader often finds the last line cut anywhere;
# and pauses between bursts, so that a reader also finds the file at rest.
WRITER = """
import datetime, os, random, sys, time
path, rows = sys.argv[1], int(sys.argv[2])
random.seed(9)
start = datetime.datetime(2032, 1, 1)
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
for i in range(rows):
    stamp = start + datetime.timedelta(minutes=10 * i)
    line = f"{stamp:%Y-%m-%d %H:%M:%S},{(i % 20) + 0.123:.3f},{1000 + i}\\n"
    cut = random.randint(1, len(line) - 1)
    os.write(fd, line[:cut].encode())
    time.sleep(random.random() * 0.003)
    os.write(fd, line[cut:].encode())
    time.sleep(random.random() * 0.003)
    if i % 150 == 149:  # a pause between bursts, at the end of a line
        time.sleep(0.6)
os.close(fd)
"""

STILL = r"\(is the file still being written\?\)"


def expected_feed(rows: int) -> list[tuple[int, float, float]]:
    """What the writer writes, as (epoch seconds, WindSpeed, Power)."""
    first = int(START.timestamp())
    return [(first + 600 * i, round((i % 20) + 0.123, 3), float(1000 + i)) for i in range(rows)]


def landed(project: Project) -> list[tuple[int, float, float]]:
    stamp = project.epoch('"Timestamps"')
    return [
        (int(s), w, p)
        for s, w, p in project.sql(
            f'SELECT {stamp}, "WindSpeed", "Power" FROM raw_data WHERE {stamp} >= :first ORDER BY 1',
            first=int(START.timestamp()),
        )
    ]


def ingest(project: Project, path: Path) -> subprocess.CompletedProcess[str]:
    assert DATAMGR
    return subprocess.run(
        [DATAMGR, "--quiet", "ingest", str(path)],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ,
    )


def test_ingest_while_the_feeder_writes_lands_a_prefix_of_whole_rows_or_refuses(initialized: Project) -> None:
    feed = initialized.root / "feed.csv"
    feed.write_text("Timestamps,WindSpeed,Power\n")
    expected = expected_feed(FEED_ROWS)
    refusal = re.compile(
        rf"Error: {re.escape(str(feed))}: (row \d+ has [12] fields, the header has 3 {STILL}"
        rf"|row \d+, the last line, ends with an empty field and no final newline {STILL}"
        rf"|the file changed while it was being read {STILL}; ingest it again once it is complete)\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(feed), str(FEED_ROWS)])
    outcomes: list[str] = []
    try:
        time.sleep(0.2)
        while writer.poll() is None:
            before = initialized.snapshot()
            result = ingest(initialized, feed)
            now = landed(initialized)
            if result.returncode == 0:
                assert result.stderr == ""
                assert now == expected[: len(now)], "a row landed that the feeder had not finished"
                outcomes.append(f"landed {len(now)}")
            else:
                assert result.returncode == 1
                assert refusal.fullmatch(result.stderr), result.stderr
                assert initialized.snapshot() == before
                outcomes.append("refused")
    finally:
        assert writer.wait(timeout=120) == 0
    assert len(outcomes) >= 2, f"the feeder finished before ingest could race it: {outcomes}"
    final = ingest(initialized, feed)
    assert (final.returncode, final.stderr) == (0, "")
    assert landed(initialized) == expected


def counts_of(stderr: str, path: Path) -> dict[str, int]:
    """The numbers of an ingest's INFO line for one file."""
    line = next(line for line in stderr.splitlines() if f" INFO ingest {path} -> raw_data: " in line)
    found = {name: int(n) for n, name in re.findall(r"(\d+) (rows read|inserted|updated|unchanged|quarantined)", line)}
    return {name: found.get(name, 0) for name in ("rows read", "inserted", "updated", "unchanged", "quarantined")}


def test_parallel_ingests_report_counts_that_add_up(initialized: Project) -> None:
    """Overlapping files at once, some with blanks where others have values and some with impossible
    rows: every key is inserted by exactly one of them, the quarantine holds what they reported, and
    whatever order they ran in, no blank erased a value."""
    history_rows = initialized.rows()
    rng = np.random.default_rng(11)
    total = 6000
    truth = pd.DataFrame(
        {
            "Timestamps": pd.date_range(START, periods=total, freq="10min", tz="UTC"),
            "WindSpeed": rng.uniform(1, 20, total).round(3),
            "Power": rng.uniform(0, 2000, total).round(1),
        }
    )
    blank = (truth.index >= 2000) & (truth.index < 5000) & (truth.index % 3 == 0)
    impossible = (truth.index >= 5000) & (truth.index % 50 == 7)
    parts = {
        "a.csv": truth.iloc[0:3000],
        "b.parquet": truth.assign(Power=truth.Power.mask(blank)).iloc[2000:5000],
        "c.csv": truth.assign(WindSpeed=truth.WindSpeed.mask(impossible, -5.0)).iloc[4000:6000],
        "d.parquet": truth.iloc[1000:2500],
    }
    paths = []
    for name, part in parts.items():
        path = initialized.root / name
        if name.endswith(".csv"):
            part.assign(Timestamps=part.Timestamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(path, index=False)
        else:
            part.to_parquet(path, index=False)
        paths.append(path)

    results = finish([launch(initialized, "ingest", str(path)) for path in paths])
    assert [code for code, _ in results] == [0] * len(paths), results
    counts = [counts_of(err, path) for (_, err), path in zip(results, paths, strict=True)]
    assert [c["rows read"] for c in counts] == [len(part) for part in parts.values()]
    for c in counts:
        assert c["inserted"] + c["updated"] + c["unchanged"] + c["quarantined"] == c["rows read"]
    assert sum(c["inserted"] for c in counts) == initialized.rows() - history_rows == total - impossible.sum()
    assert sum(c["quarantined"] for c in counts) == initialized.rows("quarantine") == impossible.sum()

    # Blanks (b.parquet) never erased what a.csv or c.csv carried, in whatever order they ran;
    # where only b.parquet spoke (3000 to 3999), its blanks stay blank.
    only_b = blank & (truth.index >= 3000) & (truth.index < 4000)
    kept = truth[~impossible].assign(Power=truth.Power.mask(only_b))
    expected = [
        (int(t.timestamp()), w, None if np.isnan(p) else p)
        for t, w, p in zip(kept.Timestamps, kept.WindSpeed, kept.Power, strict=True)
    ]
    assert landed(initialized) == expected
    if initialized.backend == "sqlite":
        assert initialized.sql("PRAGMA integrity_check") == [("ok",)]


def test_writer_script_writes_what_the_test_expects(tmp_path: Path) -> None:
    """The feeder of the race test, alone: its file is the expected rows exactly."""
    feed = tmp_path / "feed.csv"
    feed.write_text("Timestamps,WindSpeed,Power\n")
    subprocess.run([sys.executable, "-c", WRITER, str(feed), "30"], check=True, env=os.environ)
    frame = pd.read_csv(feed)
    assert [
        (int(pd.Timestamp(t, tz="UTC").timestamp()), w, p)
        for t, w, p in zip(frame.Timestamps, frame.WindSpeed, frame.Power.astype(float), strict=True)
    ] == expected_feed(30)
