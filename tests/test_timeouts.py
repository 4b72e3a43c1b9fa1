"""Nothing waits without bound: a server that never answers and a write lock that is never released
fail fast, with one error naming the setting (data_manager.connect_timeout_s, lock_timeout_s)."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from datamgr.store.engine import WRITE_LOCK_KEY, make_engine, read_connection
from tests.conftest import Invoke, Project


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A loopback listener that accepts every connection and never says a word; yields its port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


@pytest.mark.parametrize("command", [["last-n", "5"], ["init-db"]], ids=["last-n", "init-db"])
def test_unresponsive_postgresql_fails_within_the_connect_timeout(
    silent_server: int, cli: Invoke, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: list[str]
) -> None:
    pytest.importorskip("psycopg")
    monkeypatch.setenv("DATAMGR_DATA_MANAGER__CONNECT_TIMEOUT_S", "2")
    url = f"postgresql+psycopg://u@127.0.0.1:{silent_server}/db"
    started = time.monotonic()
    outcome = cli("--db-url", url, *command)
    elapsed = time.monotonic() - started
    assert (outcome.exit_code, outcome.stdout, outcome.stderr) == (
        1,
        "",
        f"Error: database {url}: no answer within data_manager.connect_timeout_s = 2 s; check that the server "
        "is up and reachable, or raise the setting\n",
    )
    assert 1.5 < elapsed < 5
    assert list(tmp_path.iterdir()) == []


@contextmanager
def write_lock_held(project: Project) -> Iterator[None]:
    """Another process's writer, stuck: SQLite's write lock, or PostgreSQL's advisory lock of datamgr."""
    if project.backend == "sqlite":
        holder = sqlite3.connect(project.db_path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    import psycopg

    url = make_url(project.url)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database) as connection:
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
        try:
            yield
        finally:
            connection.rollback()


def lock_timeout_message(project: Project) -> str:
    url = f"sqlite:///{project.db_path}" if project.backend == "sqlite" else project.url
    return (
        f"Error: database {url}: another writer held the lock longer than data_manager.lock_timeout_s = 1 s; "
        "nothing was written; run again later, or raise the setting\n"
    )


@pytest.mark.parametrize("command", ["ingest", "train", "predict"])
def test_a_held_write_lock_fails_within_the_lock_timeout(
    initialized: Project, cli: Invoke, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    if command == "predict":
        assert cli("train").exit_code == 0
    args = {"ingest": ["ingest", str(initialized.files.inference)], "train": ["train"], "predict": ["predict"]}
    monkeypatch.setenv("DATAMGR_DATA_MANAGER__LOCK_TIMEOUT_S", "1")
    models = initialized.root / "models"
    artifacts = sorted(models.glob("*.skops")) if models.exists() else []
    before = initialized.snapshot()
    with write_lock_held(initialized):
        reader = cli("last-n", "3", "-f", "csv")  # readers never wait for writers
        started = time.monotonic()
        outcome = cli(*args[command])
        elapsed = time.monotonic() - started
    assert (reader.exit_code, len(reader.stdout.splitlines())) == (0, 4)
    assert (outcome.exit_code, outcome.stdout, outcome.stderr) == (1, "", lock_timeout_message(initialized))
    assert (0.9 < elapsed < 4) if command != "train" else elapsed < 30  # train fits first, then waits 1 s
    assert initialized.snapshot() == before
    assert (sorted(models.glob("*.skops")) if models.exists() else []) == artifacts  # no orphan artifact


def test_the_timeouts_reach_the_database(database_url: str) -> None:
    engine = make_engine(database_url, create=True, connect_timeout_s=3, lock_timeout_s=7)
    with read_connection(engine) as connection:
        if connection.dialect.name == "sqlite":
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 7000
        else:
            assert connection.exec_driver_sql("SHOW lock_timeout").scalar() == "7s"
            driver = connection.connection.dbapi_connection
            assert driver is not None
            assert driver.info.get_parameters()["connect_timeout"] == "3"
    engine.dispose()
