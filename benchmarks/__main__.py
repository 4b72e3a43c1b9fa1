"""datamgr benchmarks: every figure beside a baseline measured in the same run, on the same rows.

Run with `make bench` (or `python -m benchmarks [--rows N] [--quick]`). Nothing here asserts a
time: the shared machines are noisy, so the result is a table of medians and ratios, printed and
written to docs/benchmarks.md together with the machine, the library versions and the command.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from datamgr.sample_data import generate
from datamgr.settings import load_settings
from datamgr.store import repository
from datamgr.store.engine import make_engine, read_connection, write_transaction
from datamgr.store.migrate import upgrade_to_head
from datamgr.store.schema import SENSOR_COLUMNS, raw_data

ROOT = Path(__file__).resolve().parents[1]
DATAMGR = str(Path(sys.executable).parent / "datamgr")
SQLITE_UTILS = str(Path(sys.executable).parent / "sqlite-utils")


@dataclass
class Row:
    section: str
    what: str
    figure: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    verdict: str = ""


RESULTS: list[Row] = []


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def median_seconds(run: Callable[[], object], repeat: int, setup: Callable[[], object] | None = None) -> float:
    """Median wall time of `run` over `repeat` runs; `setup` runs before each, untimed."""
    times = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@dataclass
class ProcessFigures:
    wall: float
    peak_mib: float


def run_process(args: list[str], env: dict[str, str] | None = None) -> ProcessFigures:
    """Wall time and peak RSS of one whole process, as `/usr/bin/time` reports them.

    GNU time is the parent, not this (large) benchmark process: a child forked from a big
    parent would count the parent's pages in its own peak RSS.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        wrapped = ["/usr/bin/time", "-o", report.name, "-f", "%e %M", *args] if Path("/usr/bin/time").exists() else args
        start = time.perf_counter()
        result = subprocess.run(wrapped, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False)
        wall = time.perf_counter() - start
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {result.stderr.decode()}")
        fields = report.read().split()
    peak = float(fields[-1]) / 1024 if len(fields) >= 2 else float("nan")
    return ProcessFigures(wall, peak)


def paired_processes(a: list[str], b: list[str], runs: int, env: dict[str, str]) -> tuple[float, float, float]:
    """A and B in turn, A B A B …: medians of each and the median of the pairwise ratios A/B."""
    run_process(a, env), run_process(b, env)  # warm-up
    walls_a, walls_b = [], []
    for _ in range(runs):
        walls_a.append(run_process(a, env).wall)
        walls_b.append(run_process(b, env).wall)
    ratios = [x / y for x, y in zip(walls_a, walls_b, strict=True)]
    return statistics.median(walls_a), statistics.median(walls_b), statistics.median(ratios)


def synthetic(rows: int, start: str = "1990-01-01") -> pd.DataFrame:
    """SCADA-shaped rows at 10-minute steps with random sensor values: the shape matters here, not the physics."""
    rng = np.random.default_rng(1)
    stamps = pd.date_range(start, periods=rows, freq="10min", tz="UTC")
    values = {c: rng.uniform(0, 20, rows).round(3) for c in SENSOR_COLUMNS}
    return pd.DataFrame({"turbine_id": "T01", "Timestamps": stamps, **values})


def realistic(rows: int) -> pd.DataFrame:
    """The sample generator's year, repeated with shifted timestamps up to `rows` rows."""
    year = generate()
    copies = -(-rows // len(year))
    parts = []
    for i in range(copies):
        part = year.copy()
        part["Timestamps"] = part["Timestamps"] + pd.DateOffset(years=i)
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True).drop_duplicates("Timestamps").iloc[:rows]
    frame.insert(0, "turbine_id", "T01")
    return frame.reset_index(drop=True)


def migrated(path: Path) -> str:
    """A fresh datamgr database at path; returns its URL."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    engine = make_engine(url, create=True)
    with write_transaction(engine) as connection:
        upgrade_to_head(connection)
    engine.dispose()
    return url


def raw_sqlite(path: Path) -> sqlite3.Connection:
    """The plain driver, with the pragmas datamgr uses, for the baselines."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    return connection


def ratio_row(
    section: str, what: str, ours: float, base: float, base_name: str, target: float | None, unit: str = "s"
) -> None:
    """`base / ours`: how many times faster datamgr is than the baseline (>1 is faster)."""
    speedup = base / ours
    met = "" if target is None else ("met" if speedup >= target else f"missed ({speedup / target:.2f} of target)")
    scale = 1000 if unit == "ms" else 1
    RESULTS.append(
        Row(
            section,
            what,
            f"{ours * scale:.3f} {unit}",
            f"{base_name} {base * scale:.3f} {unit}",
            f"{speedup:.2f}x",
            "" if target is None else f">= {target:g}x",
            met,
        )
    )


# --------------------------------------------------------------------------------------------- ingest


def bench_ingest(folder: Path, rows: int, repeat: int) -> None:
    say(f"ingest: writing {rows} rows to Parquet")
    frame = synthetic(rows)
    parquet = folder / "ingest.parquet"
    frame.to_parquet(parquet, index=False, row_group_size=100_000)
    db = folder / "ingest.db"
    columns = list(frame.columns)

    def datamgr_ingest() -> None:
        from datamgr import service

        settings = load_settings(Path("/dev/null"), db_url=f"sqlite:///{db}")
        engine = make_engine(settings.database_url)
        service.ingest_files(engine, settings, [parquet])
        engine.dispose()

    def to_sql() -> None:
        data = pd.read_parquet(parquet)
        data["Timestamps"] = data["Timestamps"].dt.as_unit("s").astype("int64")
        connection = raw_sqlite(db)
        data.to_sql("raw_data", connection, if_exists="append", index=False)
        connection.close()

    def executemany() -> None:
        data = pd.read_parquet(parquet)
        stamps = data["Timestamps"].dt.as_unit("s").astype("int64").tolist()
        values = (data[c].tolist() for c in columns[2:])
        rows_ = zip(data["turbine_id"].tolist(), stamps, *values, strict=True)  # streamed, as datamgr does
        connection = raw_sqlite(db)
        placeholders = ", ".join("?" * len(columns))
        connection.execute("BEGIN")
        connection.executemany(f"INSERT INTO raw_data ({', '.join(columns)}) VALUES ({placeholders})", rows_)
        connection.execute("COMMIT")
        connection.close()

    def adbc() -> None:
        import adbc_driver_sqlite.dbapi as adbc_sqlite

        table = pq.read_table(parquet)
        seconds = pc.cast(pc.cast(table["Timestamps"], pa.timestamp("s", tz="UTC")), pa.int64())
        table = table.set_column(table.schema.get_field_index("Timestamps"), "Timestamps", seconds)
        with adbc_sqlite.connect(str(db)) as connection, connection.cursor() as cursor:
            cursor.adbc_ingest("raw_data", table, mode="append")
            connection.commit()

    setup = lambda: migrated(db)  # noqa: E731
    say("ingest: datamgr, first time")
    ours = median_seconds(datamgr_ingest, repeat, setup)
    say("ingest: datamgr, the same rows again")
    migrated(db)
    datamgr_ingest()
    again = median_seconds(datamgr_ingest, repeat)
    say("ingest: baselines")
    base_to_sql = median_seconds(to_sql, repeat, setup)
    base_many = median_seconds(executemany, repeat, setup)
    base_adbc = median_seconds(adbc, repeat, setup)
    what = f"ingest {rows:,} rows Parquet -> SQLite (upsert)"
    ratio_row("ingest", what, ours, base_to_sql, "pandas to_sql", 2.0)
    ratio_row("ingest", what, ours, base_many, "sqlite3 executemany", 1.0)
    ratio_row("ingest", what, ours, base_adbc, "ADBC adbc_ingest", None)
    ratio_row("ingest", f"re-ingest the same {rows:,} rows (all unchanged)", again, ours, "first ingest", 1.0)


# ----------------------------------------------------------------------------------------------- read


def bench_range(folder: Path, rows: int, repeat: int) -> None:
    read_rows = min(300_000, rows)
    db = folder / "read.db"
    url = migrated(db)
    engine = make_engine(url)
    with write_transaction(engine) as connection:
        repository.upsert(connection, raw_data, lambda: [synthetic(rows)])
    start = datetime(1990, 1, 1, tzinfo=UTC)
    end = datetime.fromtimestamp(start.timestamp() + (read_rows - 1) * 600, tz=UTC)
    sql = "SELECT * FROM raw_data WHERE turbine_id = 'T01' AND Timestamps BETWEEN ? AND ? ORDER BY Timestamps"
    params = (int(start.timestamp()), int(end.timestamp()))

    def ours() -> None:
        with read_connection(engine) as connection:
            frame = repository.between(connection, raw_data, start, end, ["T01"])
        assert len(frame) == read_rows

    def read_sql_query() -> None:
        connection = sqlite3.connect(db)
        frame = pd.read_sql_query(sql, connection, params=params)
        frame["Timestamps"] = pd.to_datetime(frame["Timestamps"], unit="s", utc=True)
        connection.close()
        assert len(frame) == read_rows

    def adbc() -> None:
        import adbc_driver_sqlite.dbapi as adbc_sqlite

        with adbc_sqlite.connect(str(db)) as connection, connection.cursor() as cursor:
            cursor.execute(sql, params)
            frame = cursor.fetch_arrow_table().to_pandas()
        frame["Timestamps"] = pd.to_datetime(frame["Timestamps"], unit="s", utc=True)
        assert len(frame) == read_rows

    say(f"range: reading {read_rows} of {rows} rows")
    figure = median_seconds(ours, repeat)
    what = f"range read of {read_rows:,} rows into a DataFrame"
    ratio_row("range", what, figure, median_seconds(read_sql_query, repeat), "pandas read_sql_query", 1.5)
    ratio_row("range", what, figure, median_seconds(adbc, repeat), "ADBC fetch_arrow_table", None)
    engine.dispose()


# ----------------------------------------------------------------------------------------------- last-n


def fill_plain(db: Path, rows: int) -> None:
    """Fill a migrated database fast, in chunks (only the setup of the latency figures)."""
    connection = raw_sqlite(db)
    columns = ["turbine_id", "Timestamps", *SENSOR_COLUMNS]
    placeholders = ", ".join("?" * len(columns))
    chunk = 1_000_000
    connection.execute("BEGIN")
    for first in range(0, rows, chunk):
        part = synthetic(
            min(chunk, rows - first), start=str(pd.Timestamp("1800-01-01") + pd.Timedelta(minutes=10 * first))
        )
        stamps = part["Timestamps"].dt.as_unit("s").astype("int64").tolist()
        connection.executemany(
            f"INSERT INTO raw_data ({', '.join(columns)}) VALUES ({placeholders})",
            zip(part["turbine_id"].tolist(), stamps, *(part[c].tolist() for c in columns[2:]), strict=True),
        )
    connection.execute("COMMIT")
    connection.close()


def bench_last_n(folder: Path, sizes: list[int]) -> Path:
    figures = {}
    for size in sizes:
        db = folder / f"last_{size}.db"
        say(f"last-n: filling {size:,} rows")
        engine = make_engine(migrated(db))
        fill_plain(db, size)

        def ours(engine=engine) -> None:  # type: ignore[no-untyped-def]
            with read_connection(engine) as connection:
                assert len(repository.last_n(connection, raw_data, 32, ["T01"])) == 32

        figures[size] = median_seconds(ours, 200)
        engine.dispose()
    smallest = min(sizes)
    for size in sizes:
        RESULTS.append(
            Row(
                "last-n",
                f"last-n 32 in process, {size:,} rows",
                f"{figures[size] * 1000:.3f} ms",
                f"{smallest:,} rows {figures[smallest] * 1000:.3f} ms",
                f"{figures[size] / figures[smallest]:.2f}x",
                "<= 1.5x" if size != smallest else "",
                "" if size == smallest else ("met" if figures[size] <= 1.5 * figures[smallest] else "missed"),
            )
        )
    return folder / f"last_{max(sizes)}.db"


def bench_last_n_process(db: Path, runs: int) -> None:
    env = {**os.environ, "DATAMGR_DB_URL": f"sqlite:///{db}"}
    ours = [DATAMGR, "last-n", "32", "--format", "csv"]
    query = "select * from raw_data where turbine_id = 'T01' order by Timestamps desc limit 32"
    theirs = [SQLITE_UTILS, "query", str(db), query, "--csv"]
    say("last-n: whole process against sqlite-utils")
    a, b, ratio = paired_processes(ours, theirs, runs, env)
    RESULTS.append(
        Row(
            "last-n",
            "`datamgr last-n 32` whole process (largest table)",
            f"{a:.3f} s",
            f"`sqlite-utils query` {b:.3f} s",
            f"{ratio:.2f}x the time",
            "<= 1.0x",
            "met" if ratio <= 1.0 else f"missed by {ratio - 1:.0%}",
        )
    )


LAYOUTS = {
    "rowid table, text key": "PRIMARY KEY (turbine_id, Timestamps))",
    "WITHOUT ROWID, text key (chosen)": "PRIMARY KEY (turbine_id, Timestamps)) WITHOUT ROWID",
    "WITHOUT ROWID, integer key": "PRIMARY KEY (turbine_id, Timestamps)) WITHOUT ROWID",
}


def _layout_table(db: Path, name: str, turbines: int, rows_each: int) -> tuple[float, float, float, str]:
    """Fill one layout the way a farm feed arrives (time-ordered, every turbine interleaved);
    returns fill seconds, MiB, one turbine's last-n 32 latency and the query plan."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    columns = ", ".join(f'"{c}" REAL' for c in SENSOR_COLUMNS)
    values = np.random.default_rng(2).uniform(0, 20, (rows_each, len(SENSOR_COLUMNS))).round(3).tolist()
    start = int(pd.Timestamp("2007-01-01", tz="UTC").timestamp())
    key_type = "INTEGER" if "integer" in name else "TEXT"
    ids: list[object] = list(range(turbines)) if "integer" in name else [f"T{t:03d}" for t in range(turbines)]
    connection = raw_sqlite(db)
    connection.execute(
        f"CREATE TABLE raw_data (turbine_id {key_type} NOT NULL, Timestamps INTEGER NOT NULL, {columns}, "
        + LAYOUTS[name]
    )
    placeholders = ", ".join("?" * (len(SENSOR_COLUMNS) + 2))
    began = time.perf_counter()
    connection.execute("BEGIN")
    for day in range(0, rows_each, 144):
        steps = range(day, min(day + 144, rows_each))
        connection.executemany(
            f"INSERT INTO raw_data VALUES ({placeholders})",
            ((ids[t], start + 600 * i, *values[i]) for i in steps for t in range(turbines)),
        )
    connection.execute("COMMIT")
    fill = time.perf_counter() - began
    query, one = "SELECT * FROM raw_data WHERE turbine_id = ? ORDER BY Timestamps DESC LIMIT 32", (ids[turbines // 2],)
    latency = median_seconds(lambda: connection.execute(query, one).fetchall(), 200)
    plan = connection.execute("EXPLAIN QUERY PLAN " + query, one).fetchall()[0][3]
    connection.close()
    size = sum(Path(f"{db}{s}").stat().st_size for s in ("", "-wal") if Path(f"{db}{s}").exists())
    return fill, size / 2**20, latency, plan


def bench_layout(folder: Path, turbines: int, rows_each: int) -> None:
    """The SQLite layouts for a turbine-keyed raw_data at farm scale, and the chosen one against a 10k-row table."""
    chosen = "WITHOUT ROWID, text key (chosen)"
    _, _, small, _ = _layout_table(folder / "layout_small.db", chosen, 1, 10_000)
    for name in LAYOUTS:
        say(f"layout: {name}, {turbines} turbines x {rows_each:,} rows")
        fill, mib, latency, plan = _layout_table(folder / "layout.db", name, turbines, rows_each)
        RESULTS.append(
            Row(
                "layout",
                f"{name}: {turbines} turbines x {rows_each:,} rows; fill {fill:.1f} s "
                f"({turbines * rows_each / fill / 1000:.0f}k rows/s), {mib:.0f} MiB; {plan}",
                f"last-n 32 of one turbine {latency * 1000:.3f} ms",
                f"10k-row table {small * 1000:.3f} ms",
                f"{latency / small:.2f}x the time",
                "<= 1.5x" if name == chosen else "",
                ("met" if latency <= 1.5 * small else "missed") if name == chosen else "",
            )
        )


# ------------------------------------------------------------------------------------ predict and train


def sample_project(folder: Path, history: pd.DataFrame) -> dict[str, str]:
    """A datamgr working directory with the given history loaded; returns the environment to run in it."""
    history_path = folder / "history.parquet"
    history.to_parquet(history_path, index=False)
    env = {
        **os.environ,
        "DATAMGR_DB_URL": f"sqlite:///{folder / 'app.db'}",
        "DATAMGR_DATA_MANAGER__HISTORY_DATA_PATH": str(history_path),
        "DATAMGR_TRAINING_PIPELINE__MODELS_DIR": str(folder / "models"),
        "DATAMGR_CONFIG": "/dev/null",
    }
    run_process([DATAMGR, "init-db"], env)
    return env


def bench_predict_and_train(folder: Path, train_rows: int, runs: int) -> None:
    lesson = folder / "lesson"
    lesson.mkdir()
    say("train: the lesson's range on the sample history")
    env = sample_project(lesson, generate(end="2008-06-30 23:50:00"))
    # --force: the same range and data would otherwise be "up to date" after the first run
    trained = [run_process([DATAMGR, "train", "--force"], env) for _ in range(runs)]
    RESULTS.append(
        Row(
            "train",
            "`datamgr train`, lesson range (about 30k rows)",
            f"{statistics.median(t.wall for t in trained):.2f} s",
            f"peak RSS {max(t.peak_mib for t in trained):.0f} MiB",
            target="seconds",
        )
    )

    say("predict: whole process and its imports")
    predict = [DATAMGR, "--quiet", "predict", "--batch-size", "32"]
    imports = [
        sys.executable,
        "-c",
        "import datamgr.cli, datamgr.service, datamgr.pipelines.inference, datamgr.model_store, "
        "skops.io, sklearn.ensemble, pandas, sqlalchemy",
    ]
    whole, only_imports, ratio = paired_processes(predict, imports, runs, env)
    RESULTS.append(
        Row(
            "predict",
            "`datamgr predict --batch-size 32` whole process",
            f"{whole:.3f} s",
            f"its imports alone {only_imports:.3f} s",
            f"imports are {1 / ratio:.0%}",
            "mostly imports",
            "met" if 1 / ratio >= 0.5 else "missed",
        )
    )

    big = folder / "big"
    big.mkdir()
    say(f"train: {train_rows:,} rows")
    env = sample_project(big, realistic(train_rows))
    stamps = pq.read_table(big / "history.parquet", columns=["Timestamps"])["Timestamps"]
    start, end = pc.min(stamps).as_py().isoformat(), pc.max(stamps).as_py().isoformat()
    figures = run_process([DATAMGR, "train", "--start", start, "--end", end], env)
    RESULTS.append(
        Row(
            "train",
            f"`datamgr train` on {train_rows:,} rows",
            f"{figures.wall:.2f} s",
            f"peak RSS {figures.peak_mib:.0f} MiB",
        )
    )


# -------------------------------------------------------------------------------------------- memory


def bench_memory(folder: Path, small: int, large: int) -> None:
    peaks = {}
    for rows in (small, large):
        say(f"memory: ingest of {rows:,} rows")
        parquet = folder / f"mem_{rows}.parquet"
        writer = None
        for first in range(0, rows, 500_000):
            part = synthetic(
                min(500_000, rows - first), start=str(pd.Timestamp("1800-01-01") + pd.Timedelta(minutes=10 * first))
            )
            table = pa.Table.from_pandas(part, preserve_index=False)
            writer = writer or pq.ParquetWriter(parquet, table.schema)
            writer.write_table(table, row_group_size=100_000)
        assert writer is not None
        writer.close()
        db = folder / f"mem_{rows}.db"
        env = {**os.environ, "DATAMGR_DB_URL": migrated(db), "DATAMGR_CONFIG": "/dev/null"}
        peaks[rows] = run_process([DATAMGR, "ingest", str(parquet)], env)
    growth = peaks[large].peak_mib / peaks[small].peak_mib
    RESULTS.append(
        Row(
            "memory",
            f"peak RSS, ingest of {large:,} rows (row groups of 100k)",
            f"{peaks[large].peak_mib:.0f} MiB in {peaks[large].wall:.1f} s",
            f"{small:,} rows: {peaks[small].peak_mib:.0f} MiB",
            f"{growth:.2f}x",
            "<= 1.25x (flat)",
            "met" if growth <= 1.25 else "missed",
        )
    )


# ---------------------------------------------------------------------------------------------- report


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), {memory:.0f} GiB"


def versions() -> str:
    names = ["sqlalchemy", "pandas", "pyarrow", "numpy", "scikit-learn", "skops", "adbc-driver-sqlite", "sqlite-utils"]
    found = [f"{name} {version(name)}" for name in names]
    return f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, " + ", ".join(found)


def table() -> str:
    head = "| section | what | datamgr | baseline | ratio | target | verdict |\n|---|---|---|---|---|---|---|\n"
    return head + "\n".join(
        f"| {r.section} | {r.what} | {r.figure} | {r.baseline} | {r.ratio} | {r.target} | {r.verdict} |"
        for r in RESULTS
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows for ingest, range and train")
    parser.add_argument("--largest", type=int, default=10_000_000, help="largest table for the last-n latency")
    parser.add_argument("--memory-rows", type=int, default=5_000_000, help="rows of the large-file memory test")
    parser.add_argument("--repeat", type=int, default=3, help="runs per in-process figure (median)")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument(
        "--only",
        choices=["ingest", "range", "last-n", "layout", "train", "memory"],
        help="run one section, print, write nothing",
    )
    args = parser.parse_args()
    command = "make bench" if len(sys.argv) == 1 else "python -m benchmarks " + " ".join(sys.argv[1:])
    folder = Path(tempfile.mkdtemp(prefix="datamgr-bench-"))
    started = time.perf_counter()
    sections: dict[str, Callable[[], object]] = {
        "ingest": lambda: bench_ingest(folder, args.rows, args.repeat),
        "range": lambda: bench_range(folder, args.rows, args.repeat),
        "last-n": lambda: bench_last_n_process(bench_last_n(folder, [10_000, args.rows, args.largest]), 5),
        "layout": lambda: bench_layout(folder, 100, 52_560),
        "train": lambda: bench_predict_and_train(folder, args.rows, 3),
        "memory": lambda: bench_memory(folder, args.rows, args.memory_rows),
    }
    try:
        for name, section in sections.items():
            if args.only in (None, name):
                section()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    header = (
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `{command}` in {time.perf_counter() - started:.0f} s.\n\n"
        f"- Machine: {machine()}\n- Libraries: {versions()}\n\n"
    )
    print(header + table())
    if args.only is None:
        write_results(args.output, header + table())
        say(f"wrote the results into {args.output}")


START, END = "<!-- results:start (written by make bench) -->", "<!-- results:end -->"


def write_results(path: Path, results: str) -> None:
    """Replace the results between the markers of the document, keeping its prose."""
    text = path.read_text() if path.exists() else f"# datamgr benchmarks\n\n{START}\n{END}\n"
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{before}{START}\n{results}\n{END}{after}")


if __name__ == "__main__":
    main()
