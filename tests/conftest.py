"""Shared fixtures: a real SQLite file in tmp_path, real Parquet sample files, the real CLI."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import typer.core
import typer.main
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from datamgr.cli import app
from datamgr.sample_data import generate
from tests.postgres_server import PostgresServer, start_server

# A quarter of history and two weeks after it: big enough to train on, quick to load.
HISTORY_START, HISTORY_END = "2007-07-01 00:00:00", "2007-09-30 23:50:00"
INFERENCE_END = "2007-10-14 23:50:00"
TRAIN_START, TRAIN_END = "2007-07-15 00:00:00", "2007-09-15 00:00:00"


@dataclass(frozen=True)
class SampleFiles:
    history: Path
    inference: Path
    history_frame: pd.DataFrame
    inference_frame: pd.DataFrame


@pytest.fixture(scope="session")
def sample_files(tmp_path_factory: pytest.TempPathFactory) -> SampleFiles:
    folder = tmp_path_factory.mktemp("sample")
    frame = generate(HISTORY_START, INFERENCE_END)
    cut = pd.Timestamp(HISTORY_END, tz="UTC")
    history, inference = frame[frame.Timestamps <= cut], frame[frame.Timestamps > cut]
    history.to_parquet(folder / "history.parquet", index=False)
    inference.to_parquet(folder / "inference.parquet", index=False)
    return SampleFiles(
        folder / "history.parquet",
        folder / "inference.parquet",
        history.reset_index(drop=True),
        inference.reset_index(drop=True),
    )


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every test starts with no DATAMGR_* variable of the shell that ran pytest, in a working
    directory of its own: the default config/parameters.yml and every relative default path point
    into tmp_path, never into the checkout. A test sets what it needs on top; subprocesses get
    exactly that (helpers pass env=os.environ)."""
    for name in list(os.environ):
        if name.startswith("DATAMGR_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: checks something only SQLite has (a file, PRAGMAs)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that touches the database runs on both backends, unless marked sqlite_only."""
    if "backend" in metafunc.fixturenames:
        only_sqlite = metafunc.definition.get_closest_marker("sqlite_only") is not None
        metafunc.parametrize("backend", ["sqlite"] if only_sqlite else ["sqlite", "postgresql"], indirect=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[tuple[PostgresServer | None, str]]:
    """One real PostgreSQL server for the whole run, started on first use and stopped at the end."""
    server, reason = start_server()
    yield server, reason
    if server is not None:
        server.stop()


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        server, reason = request.getfixturevalue("postgres_server")
        if server is None:
            pytest.skip(f"PostgreSQL tests skipped: {reason}")
    return str(request.param)


def table_names(connection: Connection) -> list[str]:
    """Every table of the database, read from its catalog (so a new table, or one left behind, is
    never missed): SQLite's own tables included, PostgreSQL's outside the public schema named with
    their schema."""
    if connection.dialect.name == "sqlite":
        names = connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).scalars()
        return sorted(names)
    found = connection.execute(
        text(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
    )
    return sorted(name if schema == "public" else f"{schema}.{name}" for schema, name in found)


def checksum(connection: Connection, table: str) -> tuple[int, str]:
    """Row count and a digest of every row of one table."""
    quoted = ".".join(connection.dialect.identifier_preparer.quote(part) for part in table.split("."))
    rows = sorted(map(repr, connection.execute(text(f"SELECT * FROM {quoted}"))))
    return len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()


def snapshot(url: str) -> dict[str, tuple[int, str]]:
    """The checksum of every table of the database at `url`, through a connection of its own: a
    refused command must leave all of them as they were (raw_data, predictions, model_runs,
    quarantine, turbines, evaluations, alembic_version …), and make no new one."""
    engine = plain_engine(url)
    try:
        with engine.connect() as connection:
            return {table: checksum(connection, table) for table in table_names(connection)}
    finally:
        engine.dispose()


def plain_engine(url: str) -> Engine:
    """An engine apart from datamgr's (no pool, none of its settings), to look at a database."""
    return create_engine(url, poolclass=NullPool)


@dataclass
class Project:
    """A working directory laid out like a datamgr checkout, with its own database."""

    root: Path
    url: str
    backend: str
    files: SampleFiles
    db_path: Path  # the SQLite file (meaningful on the sqlite backend only)
    _engine: Engine | None = field(default=None, repr=False)

    def sql(self, statement: str, **params: Any) -> list[tuple[Any, ...]]:
        """Run SQL through a plain engine, apart from datamgr's (identifiers quoted for PostgreSQL)."""
        if self._engine is None:
            self._engine = plain_engine(self.url)
        with self._engine.begin() as connection:
            result = connection.execute(text(statement), params)
            return [tuple(row) for row in result] if result.returns_rows else []

    def rows(self, table: str = "raw_data") -> int:
        return int(self.sql(f"SELECT count(*) FROM {table}")[0][0])

    def snapshot(self) -> dict[str, tuple[int, str]]:
        """The checksum of every table in the database (see `snapshot`)."""
        return snapshot(self.url)

    def tables(self) -> set[str]:
        engine = plain_engine(self.url)
        try:
            with engine.connect() as connection:
                return set(table_names(connection))
        finally:
            engine.dispose()

    def epoch(self, column: str) -> str:
        """SQL for a stored timestamp as whole epoch seconds, on either backend."""
        return column if self.backend == "sqlite" else f"CAST(EXTRACT(EPOCH FROM {column}) AS BIGINT)"


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database of the backend under test: a SQLite file in tmp_path, or a new PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'scada.db'}"
        return
    server, _ = request.getfixturevalue("postgres_server")
    database = server.create_database()
    yield server.url(database)
    server.drop_database(database)


@pytest.fixture
def project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_files: SampleFiles, backend: str, database_url: str
) -> Iterator[Project]:
    """The working directory (tmp_path, see isolated_environment) pointed at the backend's database,
    the sample history and a quick training run."""
    db_path = tmp_path / "db" / "scada.db"
    monkeypatch.setenv("DATAMGR_DATA_MANAGER__DB_PATH", str(db_path))
    if backend == "postgresql":
        monkeypatch.setenv("DATAMGR_DB_URL", database_url)
    monkeypatch.setenv("DATAMGR_DATA_MANAGER__HISTORY_DATA_PATH", str(sample_files.history))
    monkeypatch.setenv("DATAMGR_TRAINING_PIPELINE__START_TIMESTAMP", TRAIN_START)
    monkeypatch.setenv("DATAMGR_TRAINING_PIPELINE__END_TIMESTAMP", TRAIN_END)
    monkeypatch.setenv("DATAMGR_TRAINING_PIPELINE__MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("DATAMGR_TRAINING_PIPELINE__PARAMS", '{"max_iter": 60, "random_state": 0}')
    project = Project(tmp_path, database_url, backend, sample_files, db_path)
    yield project
    if project._engine is not None:
        project._engine.dispose()


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str


Invoke = Callable[..., Outcome]


def command_paths() -> list[tuple[str, ...]]:
    """Every command of the app as typed after `datamgr`, sub-commands included (`models activate`),
    read from the app itself."""
    found: list[tuple[str, ...]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        if path:
            found.append(path)
        if isinstance(command, typer.core.TyperGroup):
            for name, sub in command.commands.items():
                walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return found


@pytest.fixture
def cli() -> Invoke:
    """Run the Typer app in-process; stdout and stderr apart, as cron sees them."""
    runner = CliRunner()

    def invoke(*args: str) -> Outcome:
        result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        return Outcome(result.exit_code, result.stdout, result.stderr)

    return invoke


@pytest.fixture
def store(project: Project, cli: Invoke) -> Project:
    """A database holding two rows and one quarantined row, so that every table has something to keep
    (what a refused input must leave as it was)."""
    assert cli("init-db", "--no-history").exit_code == 0
    seed = project.root / "seed.csv"
    seed.write_text(
        "Timestamps,WindSpeed,Power\n2030-01-01 00:00:00,7.5,1200\n2030-01-01 00:10:00,8.5,1300\n"
        "2030-01-01 00:20:00,-4,1\n"
    )
    outcome = cli("ingest", seed)
    assert outcome.exit_code == 0, outcome.stderr
    assert (project.rows(), project.rows("quarantine")) == (2, 1)
    return project


@pytest.fixture
def initialized(project: Project, cli: Invoke) -> Project:
    outcome = cli("init-db")
    assert outcome.exit_code == 0, outcome.stderr
    return project


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real small disk: a 64 KiB tmpfs (root may mount one); `fill_up` then leaves no room."""
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (root can): {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill_up(folder: Path) -> None:
    """Write a filler file until the disk under `folder` has no byte left."""
    with contextlib.suppress(OSError), (folder / "filler").open("wb") as filler:
        while True:
            filler.write(b"x" * 512)
            filler.flush()
