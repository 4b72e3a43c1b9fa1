"""Migration 0004: a single-turbine database made by the previous schema keeps every row and its lineage."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, inspect, text

from datamgr.store.engine import make_engine, read_connection, write_transaction
from datamgr.store.migrate import upgrade_to_head
from datamgr.store.schema import SCHEMA_REVISION

# Rows as the 0003 schema held them: (Timestamps as stored, Power, WindSpeed).
RAW = [(1_200_000_000, 812.5, 9.1), (1_200_000_600, None, 9.4), (1_200_001_200, 1500.0, None)]


def _instant(connection: Connection, seconds: int) -> Any:
    """A 0003-era stored instant: epoch seconds on SQLite, timestamptz on PostgreSQL."""
    if connection.dialect.name == "sqlite":
        return seconds
    return connection.execute(text("SELECT to_timestamp(:s)"), {"s": seconds}).scalar_one()


def _fill_0003(connection: Connection) -> None:
    at = lambda s: _instant(connection, s)  # noqa: E731
    for seconds, power, wind in RAW:
        connection.execute(
            text('INSERT INTO raw_data ("Timestamps", "Power", "WindSpeed") VALUES (:t, :p, :w)'),
            {"t": at(seconds), "p": power, "w": wind},
        )
    for model in (1, 2):
        connection.execute(
            text(
                "INSERT INTO model_runs (id, created_at, estimator, params, features, train_start, train_end, "
                "row_count, data_digest, metrics, artifact_path, artifact_sha256) VALUES "
                "(:id, :t, 'Ridge', '{}', '[\"WindSpeed\"]', :t, :t, 3, 'digest', '{}', :path, 'sha')"
            ),
            {"id": model, "t": at(1_200_000_000), "path": f"model_{model}.skops"},
        )
    for model, seconds, value in ((1, 1_200_000_000, 800.0), (2, 1_200_000_000, 810.0), (2, 1_200_000_600, 900.0)):
        connection.execute(
            text(
                'INSERT INTO predictions (model_id, "Timestamps", predicted_power, created_at) VALUES (:m, :t, :v, :c)'
            ),
            {"m": model, "t": at(seconds), "v": value, "c": at(1_200_002_000)},
        )
    connection.execute(
        text(
            'INSERT INTO quarantine (source, "Timestamps", row_number, reason, "Power", created_at) '
            "VALUES ('feed.csv', :t, 7, 'Power=9999.0 above 2600.0', 9999.0, :c)"
        ),
        {"t": at(1_200_001_800), "c": at(1_200_002_000)},
    )


def _epoch(connection: Connection, column: str) -> str:
    quoted = f'"{column}"'
    return quoted if connection.dialect.name == "sqlite" else f"CAST(EXTRACT(EPOCH FROM {quoted}) AS BIGINT)"


@pytest.mark.parametrize("default_turbine", ["T01", "WTG-07"])
def test_a_single_turbine_database_moves_to_the_default_turbine(database_url: str, default_turbine: str) -> None:
    engine = make_engine(database_url, create=True)
    with write_transaction(engine) as connection:
        upgrade_to_head(connection, target="0003_quarantine")
        _fill_0003(connection)
    with write_transaction(engine) as connection:
        assert upgrade_to_head(connection, default_turbine_id=default_turbine) == ("0003_quarantine", SCHEMA_REVISION)

    with read_connection(engine) as connection:
        stamp = _epoch(connection, "Timestamps")
        rows = connection.execute(
            text(f'SELECT turbine_id, {stamp}, "Power", "WindSpeed" FROM raw_data ORDER BY 2')
        ).all()
        assert [tuple(r) for r in rows] == [(default_turbine, *row) for row in RAW]
        predictions = connection.execute(
            text(f"SELECT model_id, turbine_id, {stamp}, predicted_power FROM predictions ORDER BY 1, 3")
        ).all()
        assert [tuple(r) for r in predictions] == [
            (1, default_turbine, 1_200_000_000, 800.0),
            (2, default_turbine, 1_200_000_000, 810.0),
            (2, default_turbine, 1_200_000_600, 900.0),
        ]
        models = connection.execute(text("SELECT id, turbine_id, artifact_path FROM model_runs ORDER BY id")).all()
        assert [tuple(r) for r in models] == [
            (1, default_turbine, "model_1.skops"),
            (2, default_turbine, "model_2.skops"),
        ]
        quarantined = connection.execute(
            text(f"SELECT source, turbine_id, {stamp}, row_number, reason FROM quarantine")
        ).all()
        assert [tuple(r) for r in quarantined] == [
            ("feed.csv", default_turbine, 1_200_001_800, 7, "Power=9999.0 above 2600.0")
        ]
        assert [tuple(r) for r in connection.execute(text("SELECT turbine_id, name FROM turbines"))] == [
            (default_turbine, None)
        ]
        inspector = inspect(connection)
        assert inspector.get_pk_constraint("raw_data")["constrained_columns"] == ["turbine_id", "Timestamps"]
        assert inspector.get_pk_constraint("quarantine")["constrained_columns"] == [
            "source",
            "turbine_id",
            "Timestamps",
        ]
        assert inspector.get_foreign_keys("predictions")[0]["referred_table"] == "model_runs"

    # The new key holds: the same instant may now exist once per turbine, never twice for one.
    with write_transaction(engine) as connection:
        at = _instant(connection, RAW[0][0])
        connection.execute(text("INSERT INTO raw_data (turbine_id, \"Timestamps\") VALUES ('T99', :t)"), {"t": at})
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"), write_transaction(engine) as connection:
        connection.execute(
            text('INSERT INTO raw_data (turbine_id, "Timestamps") VALUES (:tid, :t)'), {"tid": default_turbine, "t": at}
        )


def test_an_empty_database_gets_no_turbine(database_url: str) -> None:
    engine = make_engine(database_url, create=True)
    with write_transaction(engine) as connection:
        upgrade_to_head(connection, target="0003_quarantine")
    with write_transaction(engine) as connection:
        upgrade_to_head(connection)
    with read_connection(engine) as connection:
        assert connection.execute(text("SELECT count(*) FROM turbines")).scalar_one() == 0


@pytest.mark.sqlite_only
def test_sqlite_raw_data_is_clustered_on_the_turbine_key(database_url: str) -> None:
    engine = make_engine(database_url, create=True)
    with write_transaction(engine) as connection:
        upgrade_to_head(connection)
    with read_connection(engine) as connection:
        ddl = connection.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'raw_data'").scalar_one()
        assert ddl.rstrip().endswith("WITHOUT ROWID")
        plan = connection.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT * FROM raw_data WHERE turbine_id = 'T01' ORDER BY \"Timestamps\" DESC LIMIT 5"
        ).all()
        assert "USING PRIMARY KEY (turbine_id=?)" in plan[0][3]
