"""A blank never erases a stored value: on SQLite and PostgreSQL, on the in-place and the staging
write paths, with exact counts; `--replace-blanks` is the deliberate way to erase."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
from sqlalchemy import Engine

from datamgr.store import reads
from datamgr.store.engine import make_engine, read_connection, write_transaction
from datamgr.store.migrate import upgrade_to_head
from datamgr.store.schema import raw_data
from datamgr.store.upsert import UpsertCounts
from tests.conftest import Invoke, Project
from tests.store.test_upsert import Upsert, frame

nan = np.nan


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    """A migrated, empty database of the backend under test."""
    engine = make_engine(database_url, create=True)
    with write_transaction(engine) as connection:
        upgrade_to_head(connection)
    yield engine
    engine.dispose()


@pytest.fixture(params=["upsert", "upsert_frames"])
def write(request: pytest.FixtureRequest) -> Upsert:
    """Both write paths (`upsert`: the backend's bulk path; `upsert_frames`: always the staging
    merge), with or without replace_blanks."""
    return Upsert(str(request.param))


def table(engine: Engine) -> list[tuple[float | None, ...]]:
    with read_connection(engine) as connection:
        rows = reads.to_frame(reads.between(connection, raw_data, None, None))
    return [tuple(None if math.isnan(v) else v for v in row) for row in rows[["Power", "WindSpeed"]].to_numpy()]


def test_a_blank_keeps_the_stored_value_and_is_counted(db: Engine, write: Upsert) -> None:
    write(db, frame([0, 10, 20], [1.0, 2.0, nan], WindSpeed=[7.0, 8.0, 9.0]))
    counts = write(db, frame([0, 10, 20, 30], [5.0, nan, nan, nan], WindSpeed=[nan, nan, 9.5, nan]))
    # 00:00 Power changes (WindSpeed kept); 00:10 only blanks (both kept): unchanged; 00:20 WindSpeed
    # changes (Power was already NULL: nothing kept); 00:30 is new.
    assert counts == UpsertCounts(rows_read=4, inserted=1, updated=2, unchanged=1, blanks_kept=3)
    assert table(db) == [(5.0, 7.0), (2.0, 8.0), (None, 9.5), (None, None)]


def test_rows_differing_only_by_blanks_are_unchanged(db: Engine, write: Upsert) -> None:
    write(db, frame([0, 10], [1.0, 2.0], WindSpeed=[7.0, 8.0]))
    counts = write(db, frame([0, 10], [nan, nan], WindSpeed=[7.0, nan]))
    assert counts == UpsertCounts(rows_read=2, unchanged=2, blanks_kept=3)
    assert table(db) == [(1.0, 7.0), (2.0, 8.0)]


def test_replace_blanks_erases_and_counts_updates(db: Engine, write: Upsert) -> None:
    write(db, frame([0, 10], [1.0, 2.0], WindSpeed=[7.0, 8.0]))
    counts = write(db, frame([0, 10], [nan, 2.0], WindSpeed=[7.0, 8.0]), replace_blanks=True)
    assert counts == UpsertCounts(rows_read=2, updated=1, unchanged=1)
    assert table(db) == [(None, 7.0), (2.0, 8.0)]


def test_blanks_in_later_batches_and_duplicates(db: Engine, write: Upsert) -> None:
    write(db, frame([0, 10, 20], [1.0, 2.0, 3.0]))
    counts = write(
        db,
        frame([0, 10], [nan, 20.0]),
        frame([20, 20], [30.0, nan]),  # the last of a duplicate is blank: the stored 3.0 stays
    )
    assert counts == UpsertCounts(rows_read=4, duplicates=1, updated=1, unchanged=2, blanks_kept=2)
    assert table(db) == [(1.0, None), (20.0, None), (3.0, None)]


SEED = "Timestamps,WindSpeed,Power,Pitch\n" + "".join(f"2031-01-01 00:{m}0,{m}.5,{m}00,{m}\n" for m in range(6))
# Blanks everywhere but one changed value; the overlapping order sends SQLite to the staging merge.
FEED_ROWS = [
    "2031-01-01 00:00,,,",
    "2031-01-01 00:10,1.5,,",
    "2031-01-01 00:20,,250,",
    "2031-01-01 00:30,,,",
    "2031-01-01 00:40,,,",
    "2031-01-01 00:50,5.5,,",
]


@pytest.mark.parametrize("order", ["time-ordered", "overlapping-batches"])
@pytest.mark.parametrize("replace", [False, True], ids=["keep", "replace-blanks"])
def test_cli_blanks_keep_values_on_both_paths(
    initialized: Project, cli: Invoke, monkeypatch: pytest.MonkeyPatch, order: str, replace: bool
) -> None:
    import datamgr.files

    seed, feed = initialized.root / "seed.csv", initialized.root / "feed.csv"
    seed.write_text(SEED)
    assert cli("ingest", seed).exit_code == 0
    rows = FEED_ROWS if order == "time-ordered" else [FEED_ROWS[i] for i in (2, 3, 0, 1, 4, 5)]
    feed.write_text("Timestamps,WindSpeed,Power,Pitch\n" + "\n".join(rows) + "\n")
    monkeypatch.setattr(datamgr.files, "BATCH_ROWS", 2)
    outcome = cli("ingest", feed, *(["--replace-blanks"] if replace else []))
    assert outcome.exit_code == 0, outcome.stderr
    if replace:
        # Every row has at least one blank over a stored value, so every row changes.
        assert outcome.stderr.endswith("6 rows read, 0 inserted, 6 updated, 0 unchanged\n")
    else:
        assert outcome.stderr.endswith(
            "6 rows read, 0 inserted, 1 updated, 5 unchanged, 15 stored values kept where the file was blank\n"
        )
    stamp = initialized.epoch('"Timestamps"')
    stored = initialized.sql(
        f'SELECT "WindSpeed", "Power", "Pitch" FROM raw_data WHERE {stamp} >= 1924992000 ORDER BY 1'
    )
    if replace:
        assert sorted(stored, key=repr) == sorted(
            [(None, None, None), (1.5, None, None), (None, 250.0, None), (None, None, None), (None, None, None),
             (5.5, None, None)], key=repr)  # fmt: skip
    else:
        assert stored == [(0.5, 0.0, 0.0), (1.5, 100.0, 1.0), (2.5, 250.0, 2.0), (3.5, 300.0, 3.0),
                          (4.5, 400.0, 4.0), (5.5, 500.0, 5.0)]  # fmt: skip
