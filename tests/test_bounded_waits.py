"""Every wait for PostgreSQL is bounded, even for a server frozen after the connection was made
(SIGSTOP: its kernel still acknowledges every packet, so TCP alone never notices). A statement runs
for at most its statement_timeout (5 x data_manager.lock_timeout_s), and a wait for an answer
lasts at most that plus data_manager.connect_timeout_s; then the command ends with one clear error,
and the server rolls back what was not committed."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from datamgr.errors import TimeoutExpiredError
from datamgr.store.engine import make_engine, read_connection
from tests import test_atomicity
from tests.conftest import Project, SampleFiles
from tests.postgres_server import PostgresServer, start_server
from tests.test_smoke import DATAMGR

pytest.importorskip("psycopg")
big_file = test_atomicity.big_file  # the kill -9 tests' file of 300,000 rows, in three batches
CONNECT_S, LOCK_S = 2, 1  # so statement_timeout is 5 s, and a wait for an answer at most 7 s
BOUNDS = {
    "DATAMGR_DATA_MANAGER__CONNECT_TIMEOUT_S": str(CONNECT_S),
    "DATAMGR_DATA_MANAGER__LOCK_TIMEOUT_S": str(LOCK_S),
}


@pytest.fixture(scope="module")
def own_server() -> Iterator[PostgresServer]:
    """A server of this module's own, so that freezing it disturbs no other test's."""
    server, reason = start_server()
    if server is None:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    yield server
    server.stop()


@pytest.fixture
def database(own_server: PostgresServer) -> Iterator[str]:
    name = own_server.create_database()
    yield own_server.url(name)
    own_server.drop_database(name)


def server_processes(server: PostgresServer) -> list[int]:
    """The postmaster (first line of postmaster.pid) and every process it started."""
    postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                children.append(int(entry.name))
    return [postmaster, *children]


@contextmanager
def frozen(server: PostgresServer) -> Iterator[None]:
    """SIGSTOP the whole server for the block; SIGCONT it afterwards, whatever happened."""
    stopped: list[int] = []
    try:
        for pid in server_processes(server):
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
        yield
    finally:
        for pid in reversed(stopped):
            os.kill(pid, signal.SIGCONT)


def no_answer_message(url: str) -> str:
    return (
        f"database {url}: the server did not answer within 7 s (its statement_timeout, 5 x "
        "data_manager.lock_timeout_s = 5 s, plus data_manager.connect_timeout_s = 2 s), so the connection "
        "was dropped; the server rolls back what was not committed; check that it is running and not "
        "overloaded, then run again"
    )


def test_the_bounds_reach_the_server(database: str) -> None:
    engine = make_engine(database, connect_timeout_s=CONNECT_S, lock_timeout_s=LOCK_S)
    with read_connection(engine) as connection:
        shown = {
            name: connection.exec_driver_sql(f"SHOW {name}").scalar() for name in ("statement_timeout", "lock_timeout")
        }
        parameters = connection.connection.dbapi_connection.info.get_parameters()  # type: ignore[union-attr]
    engine.dispose()
    assert shown == {"statement_timeout": "5s", "lock_timeout": "1s"}
    assert {
        k: parameters.get(k)
        for k in ("keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout")
    } == {
        "keepalives": "1",
        "keepalives_idle": "2",
        "keepalives_interval": "1",
        "keepalives_count": "3",
        "tcp_user_timeout": "2000",
    }


def test_a_statement_past_its_statement_timeout_is_one_clear_error(database: str) -> None:
    engine = make_engine(database, connect_timeout_s=CONNECT_S, lock_timeout_s=LOCK_S)
    started = time.monotonic()
    with pytest.raises(TimeoutExpiredError) as raised, read_connection(engine) as connection:
        connection.execute(text("SELECT pg_sleep(20)"))
    elapsed = time.monotonic() - started
    engine.dispose()
    assert str(raised.value) == (
        f"database {database}: a statement ran longer than its statement_timeout of 5 s (5 x "
        "data_manager.lock_timeout_s); nothing was written; check what slows the server, or raise "
        "data_manager.lock_timeout_s"
    )
    assert 4.5 < elapsed < 10


def test_a_frozen_server_ends_a_read_with_one_clear_error(own_server: PostgresServer, database: str) -> None:
    engine = make_engine(database, connect_timeout_s=CONNECT_S, lock_timeout_s=LOCK_S)
    with read_connection(engine) as connection:
        connection.execute(text("SELECT 1"))  # connected, and the connection is back in the pool
    failures: list[Exception] = []

    def read() -> None:
        try:
            with read_connection(engine) as connection:
                connection.execute(text("SELECT count(*) FROM pg_class"))
        except Exception as exc:
            failures.append(exc)

    reader = threading.Thread(target=read, daemon=True)  # a thread, so that this test's own wait is bounded
    with frozen(own_server):
        started = time.monotonic()
        reader.start()
        reader.join(timeout=20)
        elapsed = time.monotonic() - started
    reader.join(timeout=30)
    engine.dispose()
    assert [type(exc) for exc in failures] == [TimeoutExpiredError]
    assert str(failures[0]) == no_answer_message(database)
    assert 6.5 < elapsed < 12


class Lines:
    """A process's stderr, read by a thread, so that every wait for a line has a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert process.stderr is not None
        stream = process.stderr

        def read() -> None:
            for line in stream:
                self._queue.put(line)
            self._queue.put(None)

        threading.Thread(target=read, daemon=True).start()

    def until(self, marker: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while (line := self._queue.get(timeout=max(0.0, deadline - time.monotonic()))) is not None:
            self.seen.append(line)
            if marker in line:
                return
        raise AssertionError(f"the process ended before saying {marker!r}: {''.join(self.seen)[-2000:]}")

    def rest(self, timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        while (line := self._queue.get(timeout=max(0.0, deadline - time.monotonic()))) is not None:
            self.seen.append(line)
        return self.seen


def test_a_server_frozen_mid_ingest_ends_it_with_one_clear_error(
    own_server: PostgresServer, database: str, big_file: Path, sample_files: SampleFiles, tmp_path: Path
) -> None:
    assert DATAMGR
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DATAMGR_")},
        **BOUNDS,
        "DATAMGR_DB_URL": database,
        "DATAMGR_CONFIG": "/dev/null",
    }
    prepared = subprocess.run(
        [DATAMGR, "init-db", "--no-history"], env=env, capture_output=True, text=True, timeout=120
    )
    assert prepared.returncode == 0, prepared.stderr
    project = Project(tmp_path, database, "postgresql", sample_files, tmp_path / "unused.db")
    before = project.snapshot()
    process = subprocess.Popen(
        [DATAMGR, "--verbose", "ingest", str(big_file)], env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    lines = Lines(process)
    try:
        lines.until("staged 100000 rows", timeout=120)  # its first COPY is under way
        with frozen(own_server):
            started = time.monotonic()
            code = process.wait(timeout=30)
            elapsed = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    seen = lines.rest(timeout=10)
    assert (code, seen[-1]) == (1, f"Error: {no_answer_message(database)}\n")
    assert 5 < elapsed < 20
    assert project.snapshot() == before
    if project._engine is not None:
        project._engine.dispose()
