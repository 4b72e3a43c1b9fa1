"""datamgr benchmarks: whole processes beside fair baselines, on the same input file, in the same run.

Run with `make bench` (or `python -m benchmarks [--quick] [--only SECTION] [--also farm-train]`).
Every contender is a whole process under `/usr/bin/time` (wall time and peak RSS), started in turn
A B A B … so that the noise of a shared machine falls on all of them alike. Each ratio is "x as
fast as the baseline" (the median of the pairwise ratios, higher is better). Nothing here asserts a time:
the result is a table, printed and written to docs/benchmarks.md with the machine, the library
versions, the date and the command.

Fair means each baseline in its best honest configuration: `to_sql` in one transaction with
datamgr's pragmas, sqlite-utils from its own clean virtual environment (no pandas for it to
load), every contender reading the same file into the same freshly migrated database.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from datamgr.sample_data import generate, generate_farm
from datamgr.store import reads, registry
from datamgr.store.engine import make_engine, read_connection, write_transaction
from datamgr.store.migrate import upgrade_to_head
from datamgr.store.schema import SENSOR_COLUMNS, raw_data
from datamgr.store.turbines import known_turbines

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DATAMGR = str(BIN / "datamgr")
PYTHON = sys.executable
YEAR_ROWS = 52_560  # one year of 10-minute rows
TIME = Path("/usr/bin/time")


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


# --------------------------------------------------------------------------------------- processes


@dataclass
class Run:
    wall: float
    peak_mib: float


def process_env(**extra: str) -> dict[str, str]:
    """The environment of every measured process. Bytecode is written and used, as for an installed
    package (pip compiles it at install time); without it datamgr's own modules are compiled from
    source on every start."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("DATAMGR_")}
    return {**env, "DATAMGR_CONFIG": "/dev/null", **extra}


def run_process(args: list[str], env: dict[str, str]) -> Run:
    """Wall time and peak RSS of one whole process, as GNU time reports them (the parent is time,
    not this large process, so no pages of ours count in the child's peak)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        wrapped = [str(TIME), "-o", report.name, "-f", "%e %M", *args] if TIME.exists() else args
        start = time.perf_counter()
        result = subprocess.run(wrapped, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False)
        wall = time.perf_counter() - start
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {result.stderr.decode()[-2000:]}")
        fields = report.read().split()
    return Run(wall, float(fields[-1]) / 1024 if len(fields) >= 2 else float("nan"))


def in_turn(
    contenders: dict[str, list[str]], runs: int, env: dict[str, str], setup: Callable[[], object] | None = None
) -> dict[str, list[Run]]:
    """Each contender `runs` times, in turn (A B C A B C …), `setup` untimed before every run."""
    found: dict[str, list[Run]] = {name: [] for name in contenders}
    for _ in range(runs):
        for name, args in contenders.items():
            if setup is not None:
                setup()
            found[name].append(run_process(args, env))
    return found


def as_fast(ours: list[Run], base: list[Run]) -> float:
    """How many times as fast as the baseline datamgr is: the median of the pairwise ratios."""
    return statistics.median(b.wall / o.wall for o, b in zip(ours, base, strict=True))


def wall(runs: list[Run]) -> float:
    return statistics.median(r.wall for r in runs)


def compare(section: str, what: str, ours: list[Run], base: list[Run], base_name: str, target: float | None) -> None:
    """A row: datamgr beside a baseline, `target` the least "x as fast" that meets it."""
    ratio = as_fast(ours, base)
    if target is None:
        verdict, wanted = "", ""
    else:
        wanted = f">= {target:.2g}x" + (f" (<= {1 / target:.3g}x its time)" if target < 1 else "")
        verdict = "met" if ratio >= target else f"missed by {1 - ratio / target:.0%}"
    RESULTS.append(
        Row(
            section,
            what,
            f"{wall(ours):.3f} s",
            f"{base_name} {wall(base):.3f} s",
            f"{ratio:.2f}x as fast",
            wanted,
            verdict,
        )
    )


def script(folder: Path, name: str, code: str) -> list[str]:
    """A baseline as a small program of its own, run as a whole process."""
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(code))
    return [PYTHON, str(path)]


# ------------------------------------------------------------------------------------------ data


def synthetic(rows: int, turbine: str = "T01", start: str = "1990-01-01") -> pd.DataFrame:
    """SCADA-shaped rows at 10-minute steps with random sensor values: the shape matters here, not the physics."""
    rng = np.random.default_rng(1)
    stamps = pd.date_range(start, periods=rows, freq="10min", tz="UTC")
    values = {c: rng.uniform(0, 20, rows).round(3) for c in SENSOR_COLUMNS}
    return pd.DataFrame({"turbine_id": turbine, "Timestamps": stamps, **values})


def migrated(path: Path) -> str:
    """A fresh, empty datamgr database at path (WAL, as datamgr makes it); returns its URL."""
    remove_database(path)
    url = f"sqlite:///{path}"
    engine = make_engine(url, create=True)
    with write_transaction(engine) as connection:
        upgrade_to_head(connection)
    engine.dispose()
    return url


def remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def restore(pristine: Path, path: Path) -> Callable[[], None]:
    """A setup that puts a copy of a closed database in place before each run."""

    def copy() -> None:
        remove_database(path)
        shutil.copyfile(pristine, path)

    return copy


# The pragmas datamgr sets on every connection; each SQLite baseline sets them too.
PRAGMAS = ["PRAGMA busy_timeout = 60000", "PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL"]
SECONDS = "(stamps - pd.Timestamp(0, tz='UTC')) // pd.Timedelta(seconds=1)"


# --------------------------------------------------------------------------------------- ingest


def input_forms(folder: Path, rows: int) -> dict[str, Path]:
    """The same rows as Parquet with typed timestamps, Parquet with text timestamps, and CSV."""
    say(f"ingest: writing {rows:,} rows in three forms")
    frame = synthetic(rows)
    text = frame.assign(Timestamps=frame["Timestamps"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    forms = {
        "Parquet, typed timestamps": folder / "typed.parquet",
        "Parquet, text timestamps": folder / "text.parquet",
        "CSV": folder / "input.csv",
    }
    frame.to_parquet(forms["Parquet, typed timestamps"], index=False, row_group_size=100_000)
    text.to_parquet(forms["Parquet, text timestamps"], index=False, row_group_size=100_000)
    text.to_csv(forms["CSV"], index=False)
    return forms


def ingest_baselines(folder: Path) -> dict[str, str]:
    """The baseline programs; each takes the input file and the database."""
    columns = ["turbine_id", "Timestamps", *SENSOR_COLUMNS]
    changed = " OR ".join(f'raw_data."{c}" IS NOT COALESCE(excluded."{c}", raw_data."{c}")' for c in SENSOR_COLUMNS)
    merge = (
        f"INSERT INTO raw_data ({', '.join(columns)}) SELECT {', '.join(columns)} FROM temp.staging WHERE true "
        "ON CONFLICT (turbine_id, Timestamps) DO UPDATE SET "
        + ", ".join(f'"{c}" = COALESCE(excluded."{c}", raw_data."{c}")' for c in SENSOR_COLUMNS)
        + f" WHERE {changed}"
    )
    to_sql = f"""
        import sqlite3, sys
        import pandas as pd
        path, db = sys.argv[1:3]
        data = pd.read_csv(path) if path.endswith(".csv") else pd.read_parquet(path)
        stamps = pd.to_datetime(data["Timestamps"], utc=True)
        data["Timestamps"] = {SECONDS}
        connection = sqlite3.connect(db)  # the module's default: one transaction, committed by to_sql
        for pragma in {PRAGMAS!r}:
            connection.execute(pragma)
        data.to_sql("raw_data", connection, if_exists="append", index=False)
        connection.commit()
        connection.close()
    """
    adbc = f"""
        import sys
        import pyarrow as pa, pyarrow.compute as pc, pyarrow.csv as pacsv, pyarrow.parquet as pq
        import adbc_driver_sqlite.dbapi as adbc_sqlite
        path, db = sys.argv[1:3]
        table = pacsv.read_csv(path) if path.endswith(".csv") else pq.read_table(path)
        at = table.schema.get_field_index("Timestamps")
        stamps = pc.cast(table["Timestamps"], pa.timestamp("s", tz="UTC"))
        table = table.set_column(at, "Timestamps", pc.cast(stamps, pa.int64()))
        # autocommit, so that the pragmas may be set; then one explicit transaction, as datamgr's
        with adbc_sqlite.connect(db, autocommit=True) as connection, connection.cursor() as cursor:
            for pragma in {PRAGMAS!r}:
                cursor.execute(pragma)
            cursor.execute("BEGIN IMMEDIATE")
            cursor.adbc_ingest("staging", table, mode="create", temporary=True)
            cursor.execute({merge!r})
            cursor.execute("COMMIT")
    """
    return {"to_sql": to_sql, "adbc": adbc}


def bench_ingest(folder: Path, rows: int, runs: int) -> None:
    forms = input_forms(folder, rows)
    programs = ingest_baselines(folder)
    to_sql, adbc = script(folder, "to_sql", programs["to_sql"]), script(folder, "adbc_upsert", programs["adbc"])
    db, empty = folder / "ingest.db", folder / "empty.db"
    migrated(empty)
    env = process_env(DATAMGR_DB_URL=f"sqlite:///{db}")
    for form, path in forms.items():
        say(f"ingest: {form}")
        found = in_turn(
            {
                "datamgr": [DATAMGR, "--quiet", "ingest", str(path)],
                "to_sql": [*to_sql, str(path), str(db)],
                "adbc": [*adbc, str(path), str(db)],
            },
            runs,
            env,
            restore(empty, db),
        )
        what = f"ingest {rows:,} rows, {form} (peak {max(r.peak_mib for r in found['datamgr']):.0f} MiB)"
        compare("ingest", what, found["datamgr"], found["to_sql"], "pandas to_sql, one transaction", 2.0)
        compare("ingest", what, found["datamgr"], found["adbc"], "ADBC upsert (staging + merge)", 0.8)
        if form.startswith("Parquet, typed"):
            first = found["datamgr"]
            again = in_turn({"datamgr": [DATAMGR, "--quiet", "ingest", str(path)]}, runs, env)["datamgr"]
            compare("ingest", f"re-ingest the same {rows:,} rows (all unchanged)", again, first, "first ingest", 1.0)


# ----------------------------------------------------------------------------------------- range


def filled(folder: Path, rows: int) -> Path:
    """A closed database holding `rows` rows of T01, loaded by datamgr itself."""
    db = folder / "filled.db"
    if db.exists():
        return db
    parquet = folder / "fill.parquet"
    synthetic(rows).to_parquet(parquet, index=False, row_group_size=100_000)
    env = process_env(DATAMGR_DB_URL=migrated(db))
    run_process([DATAMGR, "--quiet", "ingest", str(parquet)], env)
    return db


def bench_range(folder: Path, rows: int, runs: int) -> None:
    read_rows = min(300_000, rows)
    db = filled(folder, rows)
    start = pd.Timestamp("1990-01-01", tz="UTC")
    end = start + pd.Timedelta(minutes=10 * (read_rows - 1))
    out = folder / "range.parquet"
    sql = "SELECT * FROM raw_data WHERE turbine_id = ? AND Timestamps BETWEEN ? AND ? ORDER BY Timestamps"
    params = ("T01", int(start.timestamp()), int(end.timestamp()))
    read_sql = script(
        folder,
        "read_sql_query",
        f"""
        import sqlite3, sys
        import pandas as pd
        db, out = sys.argv[1:3]
        connection = sqlite3.connect(db)
        data = pd.read_sql_query({sql!r}, connection, params={params!r})
        data["Timestamps"] = pd.to_datetime(data["Timestamps"], unit="s", utc=True)
        data.to_parquet(out, index=False)
        """,
    )
    adbc = script(
        folder,
        "adbc_fetch",
        f"""
        import sys
        import pyarrow as pa, pyarrow.compute as pc, pyarrow.parquet as pq
        import adbc_driver_sqlite.dbapi as adbc_sqlite
        db, out = sys.argv[1:3]
        with adbc_sqlite.connect(db) as connection, connection.cursor() as cursor:
            cursor.execute({sql!r}, {params!r})
            table = cursor.fetch_arrow_table()
        at = table.schema.get_field_index("Timestamps")
        stamps = pc.cast(pc.cast(table["Timestamps"], pa.timestamp("s")), pa.timestamp("s", tz="UTC"))
        pq.write_table(table.set_column(at, "Timestamps", stamps), out)
        """,
    )
    ours = [DATAMGR, "--quiet", "range", "--turbine", "T01", "--start", start.isoformat(), "--end", end.isoformat()]
    say(f"range: {read_rows:,} of {rows:,} rows to Parquet")
    env = process_env(DATAMGR_DB_URL=f"sqlite:///{db}")
    found = in_turn(
        {
            "datamgr": [*ours, "--output", str(out)],
            "read_sql": [*read_sql, str(db), str(out)],
            "adbc": [*adbc, str(db), str(out)],
        },
        runs,
        env,
        lambda: out.unlink(missing_ok=True),
    )
    what = f"range of {read_rows:,} rows (of {rows:,}) to Parquet"
    compare("range", what, found["datamgr"], found["read_sql"], "pandas read_sql_query", 1.5)
    compare("range", what, found["datamgr"], found["adbc"], "ADBC fetch_arrow_table", 0.8)


# -------------------------------------------------------------------------------------- start-up


def clean_sqlite_utils(folder: Path) -> str | None:
    """sqlite-utils in a virtual environment of its own: no pandas or NumPy there for it to load."""
    venv = folder / "sqlite-utils-venv"
    base = getattr(sys, "_base_executable", sys.executable)
    say("start-up: installing sqlite-utils in a clean virtual environment")
    try:
        subprocess.run([base, "-m", "venv", str(venv)], check=True, capture_output=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "sqlite-utils"]
        subprocess.run(pip, check=True, capture_output=True)
    except subprocess.CalledProcessError as exc:
        say(f"start-up: no clean sqlite-utils ({exc.stderr.decode().strip()[-300:]}); that row is left out")
        return None
    return str(venv / "bin" / "sqlite-utils")


def trained_project(folder: Path, history: pd.DataFrame, *, start: str, end: str) -> tuple[dict[str, str], Path]:
    """A database with `history` ingested and a model trained per turbine, predictions none;
    returns the environment and the closed, pristine copy of the database."""
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "history.parquet"
    history.to_parquet(source, index=False, row_group_size=100_000)
    db = folder / "app.db"
    env = process_env(DATAMGR_DB_URL=migrated(db), DATAMGR_TRAINING_PIPELINE__MODELS_DIR=str(folder / "models"))
    run_process([DATAMGR, "--quiet", "ingest", str(source)], env)
    trained = run_process([DATAMGR, "--quiet", "train", "--start", start, "--end", end], env)
    turbines = history["turbine_id"].nunique()
    RESULTS.append(
        Row(
            "train",
            f"`datamgr train`, {turbines} turbine(s) x {len(history) // turbines:,} rows",
            f"{trained.wall:.2f} s",
            f"peak RSS {trained.peak_mib:.0f} MiB",
        )
    )
    pristine = folder / "pristine.db"
    shutil.copyfile(db, pristine)
    return env, pristine


def bench_startup(folder: Path, rows: int, runs: int) -> None:
    db = filled(folder, rows)
    env = process_env(DATAMGR_DB_URL=f"sqlite:///{db}")
    floor = [PYTHON, "-c", "import typer, sqlalchemy"]
    last_n = [DATAMGR, "last-n", "32", "--format", "csv"]
    in_turn({"warm": last_n, "help": [DATAMGR, "--help"]}, 1, env)  # writes the bytecode once
    say("start-up: last-n and --help against the import floor")
    found = in_turn({"last-n": last_n, "help": [DATAMGR, "--help"], "floor": floor}, runs, env)
    floor_name = '`python -c "import typer, sqlalchemy"`'
    compare("start-up", f"`datamgr last-n 32` ({rows:,} rows)", found["last-n"], found["floor"], floor_name, 1 / 1.5)
    compare("start-up", "`datamgr --help`", found["help"], found["floor"], floor_name, 1 / 1.5)
    clean = clean_sqlite_utils(folder)
    if clean is not None:
        query = "select * from raw_data where turbine_id = 'T01' order by Timestamps desc limit 32"
        theirs = in_turn({"last-n": last_n, "sqlite-utils": [clean, "query", str(db), query, "--csv"]}, runs, env)
        compare(
            "start-up",
            "`datamgr last-n 32`",
            theirs["last-n"],
            theirs["sqlite-utils"],
            "`sqlite-utils query` (clean venv)",
            None,
        )

    say("start-up: train and predict on the sample turbine")
    lesson = generate(end="2008-06-30 23:50:00").assign(turbine_id="T01")
    env, pristine = trained_project(folder / "lesson", lesson, start="2007-07-01", end="2008-06-30 23:50:00")
    predict = [DATAMGR, "--quiet", "predict", "--batch-size", "32"]
    sklearn = [PYTHON, "-c", "import sklearn.ensemble"]
    db = Path(env["DATAMGR_DB_URL"].removeprefix("sqlite:///"))
    found = in_turn({"predict": predict, "floor": sklearn}, runs, env, restore(pristine, db))
    floor_name = '`python -c "import sklearn.ensemble"`'
    compare("start-up", "`datamgr predict --batch-size 32`", found["predict"], found["floor"], floor_name, 1 / 1.3)


# -------------------------------------------------------------------------------------- postgres


def bench_postgres(folder: Path, rows: int, runs: int) -> None:
    """`datamgr ingest` of typed Parquet into PostgreSQL beside `psql \\copy` of the same rows as CSV.

    A throw-away server (tests/postgres_server.py, the one the tests start) holds one database
    migrated by `datamgr init-db --no-history`; raw_data is emptied before every run, untimed.
    Then datamgr ingests the same file again over the rows the last run left (all unchanged).
    """
    from tests.postgres_server import start_server

    server, reason = start_server()
    if server is None:
        say(f"postgres: skipped, {reason}")
        RESULTS.append(Row("postgres", f"ingest {rows:,} rows into PostgreSQL", "skipped", reason))
        return
    try:
        database = server.create_database()
        url = server.url(database)
        env = process_env(DATAMGR_DB_URL=url)
        run_process([DATAMGR, "--quiet", "init-db", "--no-history"], env)
        say(f"postgres: writing {rows:,} rows as typed Parquet and as CSV")
        frame = synthetic(rows)
        parquet, csv = folder / "pg_typed.parquet", folder / "pg_rows.csv"
        frame.to_parquet(parquet, index=False, row_group_size=100_000)
        frame.to_csv(csv, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
        columns = ", ".join(f'"{c}"' for c in frame.columns)
        copy = f"\\copy raw_data({columns}) FROM '{csv}' WITH (FORMAT csv, HEADER)"
        connect = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres"]
        psql = [shutil.which("psql") or "psql", *connect, "-d", database]
        emptied = [*psql, "-c", "TRUNCATE raw_data, quarantine"]
        say(f"postgres: ingest {rows:,} rows, datamgr beside psql \\copy")
        found = in_turn(
            {"datamgr": [DATAMGR, "--quiet", "ingest", str(parquet)], "psql": [*psql, "-c", copy]},
            runs,
            env,
            lambda: run_process(emptied, env),
        )
        peak = max(r.peak_mib for r in found["datamgr"])
        what = f"ingest {rows:,} rows into PostgreSQL, Parquet typed (peak {peak:.0f} MiB)"
        compare("postgres", what, found["datamgr"], found["psql"], "`psql \\copy` of the rows as CSV", 0.8)
        say(f"postgres: re-ingest the same {rows:,} rows (all unchanged)")
        again = in_turn({"datamgr": [DATAMGR, "--quiet", "ingest", str(parquet)]}, runs, env)["datamgr"]
        first = found["datamgr"]
        compare("postgres", f"re-ingest the same {rows:,} rows (all unchanged)", again, first, "first ingest", 1.0)
    finally:
        server.stop()


# ------------------------------------------------------------------------------------------ farm


def farm_file(path: Path, turbines: int, rows_each: int) -> int:
    """A farm feed: `turbines` turbines, `rows_each` 10-minute rows each, in time order with every
    turbine interleaved (as a SCADA export arrives). The sample farm's four turbines are repeated
    under new ids; written a month at a time, so the file never sits whole in memory."""
    end = pd.Timestamp("2007-07-01", tz="UTC") + pd.Timedelta(minutes=10 * (rows_each - 1))
    four = generate_farm(4, start="2007-07-01 00:00:00", end=end.strftime("%Y-%m-%d %H:%M:%S"))
    by_turbine = {t: part.drop(columns="turbine_id").reset_index(drop=True) for t, part in four.groupby("turbine_id")}
    sources = list(by_turbine.values())
    ids = [f"T{t + 1:03d}" for t in range(turbines)]
    writer: pq.ParquetWriter | None = None
    step = 4_320  # a month of rows per turbine
    for first in range(0, rows_each, step):
        parts = [sources[i % 4].iloc[first : first + step].assign(turbine_id=ids[i]) for i in range(turbines)]
        month = pd.concat(parts, ignore_index=True).sort_values(["Timestamps", "turbine_id"], kind="stable")
        table = pa.Table.from_pandas(month[["turbine_id", *four.columns.drop("turbine_id")]], preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=100_000)
    assert writer is not None
    writer.close()
    return int(pq.ParquetFile(path).metadata.num_rows)


def last_n_latency(db: Path, turbine: str) -> float:
    """In process: one turbine's last 32 rows, the median of 200 calls (the query, not the start-up)."""
    engine = make_engine(f"sqlite:///{db}")
    with read_connection(engine) as connection:
        times = []
        for _ in range(200):
            began = time.perf_counter()
            assert len(reads.newest_rows(connection, raw_data, 32, [turbine]).rows) == 32
            times.append(time.perf_counter() - began)
    engine.dispose()
    return statistics.median(times)


def share_model(db: Path, turbine: str) -> None:
    """Register one turbine's active model as the active model of every other turbine (same artifact),
    so that predict has a model for each without training them all."""
    engine = make_engine(f"sqlite:///{db}")
    with write_transaction(engine) as connection:
        run = registry.active_model_run(connection, turbine)
        assert run is not None, f"{turbine} has no model"
        for other in known_turbines(connection):
            if other != turbine:
                copy = dataclasses.replace(run, turbine_id=other)
                registry.set_active(connection, registry.insert_model_run(connection, copy), other)
    engine.dispose()


def bench_farm(folder: Path, turbines: int, runs: int, *, train: bool) -> None:
    farm = folder / "farm"
    farm.mkdir()
    small_turbines = max(1, round(1_000_000 / YEAR_ROWS)) if turbines >= 20 else max(1, turbines // 5)
    figures = {}
    for count in (small_turbines, turbines):
        path = farm / f"farm_{count}.parquet"
        say(f"farm: writing {count} turbines x {YEAR_ROWS:,} rows")
        rows = farm_file(path, count, YEAR_ROWS)
        db = farm / f"farm_{count}.db"
        env = process_env(DATAMGR_DB_URL=migrated(db), DATAMGR_TRAINING_PIPELINE__MODELS_DIR=str(farm / "models"))
        say(f"farm: ingest {rows:,} rows")
        run = run_process([DATAMGR, "--quiet", "ingest", str(path)], env)
        figures[count] = (rows, run)
    (small_rows, small), (big_rows, big) = figures[small_turbines], figures[turbines]
    small_rate, big_rate = small_rows / small.wall, big_rows / big.wall
    RESULTS.append(
        Row(
            "farm",
            f"ingest rate, {turbines} turbines x one year ({big_rows:,} rows, interleaved)",
            f"{big_rate / 1000:.0f}k rows/s",
            f"{small_rows:,} rows: {small_rate / 1000:.0f}k rows/s",
            f"{big_rate / small_rate:.2f}x as fast",
            ">= 0.8x (flat)",
            "met" if big_rate / small_rate >= 0.8 else f"missed by {1 - big_rate / small_rate / 0.8:.0%}",
        )
    )
    growth = big.peak_mib / small.peak_mib
    RESULTS.append(
        Row(
            "farm",
            f"ingest peak RSS, {big_rows:,} rows",
            f"{big.peak_mib:.0f} MiB",
            f"{small_rows:,} rows: {small.peak_mib:.0f} MiB",
            f"{growth:.2f}x the memory",
            "<= 1.25x (flat)",
            "met" if growth <= 1.25 else f"missed by {growth / 1.25 - 1:.0%}",
        )
    )

    say("farm: last-n 32 of one turbine against a 10k-row database")
    big_db = farm / f"farm_{turbines}.db"
    ten_k = farm / "ten_k.parquet"
    synthetic(10_000).to_parquet(ten_k, index=False)
    small_db = farm / "ten_k.db"
    run_process([DATAMGR, "--quiet", "ingest", str(ten_k)], process_env(DATAMGR_DB_URL=migrated(small_db)))
    middle = f"T{turbines // 2:03d}"
    latency_big, latency_small = last_n_latency(big_db, middle), last_n_latency(small_db, "T01")
    slower = latency_big / latency_small
    RESULTS.append(
        Row(
            "farm",
            f"last-n 32 --turbine {middle} in process, {big_rows:,} rows",
            f"{latency_big * 1000:.3f} ms",
            f"10,000-row database {latency_small * 1000:.3f} ms",
            f"{slower:.2f}x the time",
            "<= 1.5x the time",
            "met" if slower <= 1.5 else f"missed by {slower / 1.5 - 1:.0%}",
        )
    )
    env = process_env(DATAMGR_DB_URL=f"sqlite:///{big_db}")
    found = in_turn(
        {
            "big": [DATAMGR, "last-n", "32", "--turbine", middle, "--format", "csv"],
            "small": [DATAMGR, "--db-url", f"sqlite:///{small_db}", "last-n", "32", "--format", "csv"],
        },
        runs,
        env,
    )
    slower = 1 / as_fast(found["big"], found["small"])
    RESULTS.append(
        Row(
            "farm",
            f"`datamgr last-n 32 --turbine {middle}` whole process, {big_rows:,} rows",
            f"{wall(found['big']):.3f} s",
            f"10,000 rows {wall(found['small']):.3f} s",
            f"{slower:.2f}x the time",
            "<= 1.5x the time",
            "met" if slower <= 1.5 else f"missed by {slower / 1.5 - 1:.0%}",
        )
    )

    env = process_env(DATAMGR_DB_URL=f"sqlite:///{big_db}", DATAMGR_TRAINING_PIPELINE__MODELS_DIR=str(farm / "models"))
    end = (pd.Timestamp("2007-07-01") + pd.Timedelta(minutes=10 * (YEAR_ROWS - 1))).isoformat()
    span = ["--start", "2007-07-01", "--end", end]
    if train:
        say(f"farm: train all {turbines} turbines")
        trained = run_process([DATAMGR, "--quiet", "train", *span], env)
        RESULTS.append(
            Row(
                "farm",
                f"`datamgr train`, all {turbines} turbines x {YEAR_ROWS:,} rows, one process",
                f"{trained.wall:.1f} s ({trained.wall / turbines:.2f} s a turbine)",
                f"peak RSS {trained.peak_mib:.0f} MiB",
            )
        )
    else:
        say(f"farm: train {middle} and register its model for every turbine (--also farm-train trains each)")
        trained = run_process([DATAMGR, "--quiet", "train", "--turbine", middle, *span], env)
        share_model(big_db, middle)
        RESULTS.append(
            Row(
                "farm",
                f"`datamgr train --turbine {middle}`, {YEAR_ROWS:,} rows; its model is registered for all "
                f"{turbines} turbines for predict (`--also farm-train` trains each)",
                f"{trained.wall:.1f} s",
                f"peak RSS {trained.peak_mib:.0f} MiB",
            )
        )
    pristine = farm / "trained.db"
    shutil.copyfile(big_db, pristine)
    say(f"farm: predict all {turbines} turbines in one process")
    found = in_turn(
        {
            "all": [DATAMGR, "--quiet", "predict", "--batch-size", "32"],
            "one": [DATAMGR, "--quiet", "predict", "--batch-size", "32", "--turbine", middle],
        },
        runs,
        env,
        restore(pristine, big_db),
    )
    each = (wall(found["all"]) - wall(found["one"])) / (turbines - 1)
    budget = 0.1
    RESULTS.append(
        Row(
            "farm",
            f"`datamgr predict --batch-size 32`, all {turbines} turbines, one process "
            f"(peak {max(r.peak_mib for r in found['all']):.0f} MiB)",
            f"{wall(found['all']):.2f} s: {each * 1000:.0f} ms a turbine beyond the first",
            f"one turbine {wall(found['one']):.2f} s",
            "",
            f"<= {budget * 1000:.0f} ms a turbine",
            "met" if each <= budget else f"missed by {each / budget - 1:.0%}",
        )
    )


# ----------------------------------------------------------------------------------- quick_check


def farm_database(folder: Path, turbines: int) -> Path:
    """A farm database of `turbines` x one year: the farm section's, when it ran in this run, else one
    built here the same way (the farm file, ingested by datamgr)."""
    made = folder / "farm" / f"farm_{turbines}.db"
    if made.exists():
        return made
    own = folder / "quick_check"
    own.mkdir(exist_ok=True)
    path, db = own / "farm.parquet", own / "farm.db"
    say(f"quick_check: writing {turbines} turbines x {YEAR_ROWS:,} rows")
    farm_file(path, turbines, YEAR_ROWS)
    say("quick_check: ingesting them")
    run_process([DATAMGR, "--quiet", "ingest", str(path)], process_env(DATAMGR_DB_URL=migrated(db)))
    return db


def cron_file(db: Path, path: Path, steps: int = 6) -> int:
    """What a cron ingest brings: the next `steps` 10-minute rows of every turbine (an hour of the farm)."""
    with closing(sqlite3.connect(db)) as connection:
        newest = pd.read_sql_query(
            "SELECT * FROM raw_data WHERE Timestamps = (SELECT max(Timestamps) FROM raw_data)", connection
        )
    stamps = pd.to_datetime(newest["Timestamps"], unit="s", utc=True)
    parts = [newest.assign(Timestamps=stamps + pd.Timedelta(minutes=10 * k)) for k in range(1, steps + 1)]
    pd.concat(parts, ignore_index=True).to_parquet(path, index=False)
    return len(newest) * steps


def pragma_seconds(db: Path, pragma: str, runs: int) -> float:
    """In process: the median time of `PRAGMA <pragma>` on a fresh sqlite3 connection (it must say ok)."""
    times = []
    for _ in range(runs):
        connection = sqlite3.connect(db)
        began = time.perf_counter()
        found = connection.execute(f"PRAGMA {pragma}").fetchall()
        times.append(time.perf_counter() - began)
        connection.close()
        assert found == [("ok",)], f"{db}: PRAGMA {pragma} says {found[:3]}"
    return statistics.median(times)


# The same command with the two checks switched off, before any module that binds them is imported:
# the command's own time, beside which the check is weighed.
UNCHECKED = [
    PYTHON,
    "-c",
    "import sys; import datamgr.store.engine as engine; engine.check_intact = lambda connection: None; "
    "engine.check_intact_once = lambda engine: None; from datamgr.cli import main; main()",
]


def bench_quick_check(folder: Path, turbines: int, runs: int) -> None:
    """What PRAGMA quick_check costs on a farm database, beside the time of each command that might run it.

    The ratio is the check's time (in process) over the command's own time, as a whole process: for a
    command that runs the check, the same command with the check switched off (UNCHECKED), run in
    turn with it; for one that does not, the command itself (what the check would add to it).
    """
    db = farm_database(folder, turbines)
    with closing(sqlite3.connect(db)) as connection:
        rows = connection.execute("SELECT count(*) FROM raw_data").fetchone()[0]
    size = f"{rows:,} rows, {db.stat().st_size / 2**20:.0f} MiB"
    say(f"quick_check: PRAGMA quick_check and integrity_check of {size}")
    check = pragma_seconds(db, "quick_check", max(runs, 3))
    integrity = pragma_seconds(db, "integrity_check", 1)
    RESULTS.append(
        Row(
            "quick_check",
            f"PRAGMA quick_check, {size}, in process",
            f"{check:.3f} s",
            f"integrity_check {integrity:.3f} s",
        )
    )
    work = folder / "quick_check_work"
    work.mkdir(exist_ok=True)
    pristine = work / "pristine.db"
    shutil.copyfile(db, pristine)
    cron = work / "cron.parquet"
    cron_rows = cron_file(db, cron)
    middle = f"T{turbines // 2:03d}"
    end = pd.Timestamp("2007-07-01", tz="UTC") + pd.Timedelta(minutes=10 * (YEAR_ROWS - 1))
    day = (end - pd.Timedelta(days=1)).isoformat()
    year = ["--start", "2007-07-01T00:00:00+00:00", "--end", end.isoformat()]
    one_day = ["--turbine", middle, "--start", day, "--end", end.isoformat()]
    commands: list[tuple[str, list[str], bool]] = [
        ("status --format nagios", ["status", "--format", "nagios", "--as-of", end.isoformat()], True),
        (f"ingest FILE ({cron_rows} rows: an hour of every turbine)", ["ingest", str(cron)], True),
        ("init-db (already done)", ["init-db"], True),
        (f"export ({rows:,} rows to Parquet)", ["export", "-o", str(work / "all.parquet")], True),
        (f"train --turbine {middle} --force (one year)", ["train", "--turbine", middle, "--force", *year], True),
        (f"range --turbine {middle}, one day", ["range", *one_day, "-o", str(work / "day.parquet")], False),
        (
            f"range --turbine {middle}, one year",
            ["range", "--turbine", middle, *year, "-o", str(work / "y.parquet")],
            False,
        ),
        (f"last-n 32 --turbine {middle}", ["last-n", "32", "--turbine", middle, "--format", "csv"], False),
    ]
    env = process_env(
        DATAMGR_DB_URL=f"sqlite:///{work / 'farm.db'}", DATAMGR_TRAINING_PIPELINE__MODELS_DIR=str(work / "models")
    )
    setup = restore(pristine, work / "farm.db")  # every run starts from the same file (ingest writes)
    setup()
    run_process([DATAMGR, "--quiet", "train", "--turbine", middle, *year], env)  # status and --force need a model
    shutil.copyfile(work / "farm.db", pristine)
    for name, args, checks in commands:
        say(f"quick_check: `datamgr {name}`" + (", with the check and without it" if checks else ""))
        contenders = {"with": [DATAMGR, "--quiet", *args]}
        if checks:
            contenders["without"] = [*UNCHECKED, "--quiet", *args]
        found = in_turn(contenders, runs, env, setup if args[0] == "ingest" else None)
        own = wall(found["without"] if checks else found["with"])
        RESULTS.append(
            Row(
                "quick_check",
                f"`datamgr {name}`" + (" runs quick_check" if checks else ": no quick_check"),
                f"{wall(found['with']):.3f} s",
                f"without the check {own:.3f} s" if checks else "",
                f"quick_check = {check / own:.2f}x the command's own time",
            )
        )


# -------------------------------------------------------------------------------------- layout


LAYOUTS = {
    "rowid table, text key": "PRIMARY KEY (turbine_id, Timestamps))",
    "WITHOUT ROWID, text key (chosen)": "PRIMARY KEY (turbine_id, Timestamps)) WITHOUT ROWID",
    "WITHOUT ROWID, integer key": "PRIMARY KEY (turbine_id, Timestamps)) WITHOUT ROWID",
}


def raw_sqlite(path: Path) -> sqlite3.Connection:
    """The plain driver, with the pragmas datamgr uses (transactions are explicit)."""
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in PRAGMAS:
        connection.execute(pragma)
    return connection


def _layout_table(db: Path, name: str, turbines: int, rows_each: int) -> tuple[float, float, float, str]:
    """Fill one layout the way a farm feed arrives (time-ordered, every turbine interleaved);
    returns fill seconds, MiB, one turbine's last-n 32 latency and the query plan."""
    remove_database(db)
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
    latencies = []
    for _ in range(200):
        began = time.perf_counter()
        connection.execute(query, one).fetchall()
        latencies.append(time.perf_counter() - began)
    plan = connection.execute("EXPLAIN QUERY PLAN " + query, one).fetchall()[0][3]
    connection.close()
    size = sum(Path(f"{db}{s}").stat().st_size for s in ("", "-wal") if Path(f"{db}{s}").exists())
    return fill, size / 2**20, statistics.median(latencies), plan


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


# ---------------------------------------------------------------------------------------- report


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
    names = [
        "typer",
        "sqlalchemy",
        "pandas",
        "pyarrow",
        "numpy",
        "scikit-learn",
        "skops",
        "adbc-driver-sqlite",
    ]
    found = [f"{name} {version(name)}" for name in names]
    return f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, " + ", ".join(found)


def table() -> str:
    head = "| section | what | datamgr | baseline | ratio | target | verdict |\n|---|---|---|---|---|---|---|\n"
    return head + "\n".join(
        f"| {r.section} | {r.what} | {r.figure} | {r.baseline} | {r.ratio} | {r.target} | {r.verdict} |"
        for r in RESULTS
    )


SECTIONS = ["ingest", "postgres", "range", "start-up", "farm", "farm-train", "quick_check", "layout"]
# On demand only: the layout study behind the schema, and training all the farm's turbines (about
# half an hour; without it the farm's predict uses one trained model registered for every turbine).
ON_DEMAND = ("farm-train", "layout")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows for ingest, range and last-n")
    parser.add_argument("--turbines", type=int, default=100, help="turbines of the farm section, one year each")
    parser.add_argument("--runs", type=int, default=3, help="runs of each contender, in turn (the median counts)")
    parser.add_argument("--quick", action="store_true", help="200k rows, 10 turbines, 3 runs: a smoke run")
    parser.add_argument(
        "--only", action="append", choices=SECTIONS, help="run this section (repeatable); the table is not written"
    )
    parser.add_argument(
        "--also",
        action="append",
        choices=ON_DEMAND,
        default=[],
        help="add an on-demand section to the default run (repeatable), e.g. --also farm-train",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.turbines, args.runs = 200_000, 10, 3
    command = "make bench" if len(sys.argv) == 1 else "python -m benchmarks " + " ".join(sys.argv[1:])
    chosen = args.only or [s for s in SECTIONS if s not in ON_DEMAND] + args.also
    if "farm-train" in chosen and "farm" not in chosen:
        chosen.append("farm")  # training all turbines is a part of the farm section
    folder = Path(tempfile.mkdtemp(prefix="datamgr-bench-"))
    started = time.perf_counter()
    sections: dict[str, Callable[[], object]] = {
        "ingest": lambda: bench_ingest(folder, args.rows, args.runs),
        "range": lambda: bench_range(folder, args.rows, args.runs),
        "start-up": lambda: bench_startup(folder, args.rows, max(args.runs, 7)),
        "postgres": lambda: bench_postgres(folder, args.rows, args.runs),
        "farm": lambda: bench_farm(folder, args.turbines, 3, train="farm-train" in chosen),
        "quick_check": lambda: bench_quick_check(folder, args.turbines, 3),
        "layout": lambda: bench_layout(folder, 100, YEAR_ROWS),
    }
    try:
        for name in SECTIONS:
            if name in chosen and name in sections:
                sections[name]()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    header = (
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `{command}` in {time.perf_counter() - started:.0f} s.\n\n"
        f"- Machine: {machine()}\n- Libraries: {versions()}\n\n"
    )
    print(header + table())
    if args.only is None and not args.quick:
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
