"""Alembic migrations through the API: an empty database, an already-migrated one, a newer one."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from datamgr.errors import NotInitializedError, SchemaTooNewError
from datamgr.store.engine import make_engine, read_connection, write_transaction
from datamgr.store.migrate import (
    MIGRATIONS_DIR,
    check_schema_current,
    current_revision,
    head_revision,
    upgrade_to_head,
)
from datamgr.store.schema import SCHEMA_REVISION, SENSOR_COLUMNS, metadata


def test_schema_revision_constant_is_the_migration_head() -> None:
    assert head_revision() == SCHEMA_REVISION


def test_the_script_directory_is_the_top_level_migrations_folder() -> None:
    """An editable install migrates with the checkout's migrations/ (the wheel test checks an installed one)."""
    checkout = Path(__file__).resolve().parents[2]
    assert checkout / "migrations" == MIGRATIONS_DIR
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert (MIGRATIONS_DIR / "versions" / f"{SCHEMA_REVISION}.py").is_file()


def test_migrating_an_empty_database(database_url: str) -> None:
    engine = make_engine(database_url, create=True)
    with write_transaction(engine) as connection:
        assert upgrade_to_head(connection) == (None, SCHEMA_REVISION)
    with read_connection(engine) as connection:
        inspector = inspect(connection)
        assert set(inspector.get_table_names()) == {
            "alembic_version",
            "raw_data",
            "predictions",
            "model_runs",
            "quarantine",
            "turbines",
            "evaluations",
        }
        # (PostgreSQL appends the turbine column that 0004 adds; SQLite rebuilds the table with it first.)
        assert sorted(c["name"] for c in inspector.get_columns("raw_data")) == sorted(
            ["turbine_id", "Timestamps", *SENSOR_COLUMNS]
        )
        assert inspector.get_pk_constraint("raw_data")["constrained_columns"] == ["turbine_id", "Timestamps"]
        assert inspector.get_pk_constraint("predictions")["constrained_columns"] == [
            "model_id",
            "turbine_id",
            "Timestamps",
        ]
        check_schema_current(connection)


def test_migrations_create_exactly_the_metadata(database_url: str) -> None:
    """What Alembic builds and what the code's MetaData describes do not drift apart."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_engine(database_url, create=True)
    with write_transaction(engine) as connection:
        upgrade_to_head(connection)
    with read_connection(engine) as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def _schema(engine: Engine) -> dict[str, list[tuple[str, str]]]:
    with read_connection(engine) as connection:
        inspector = inspect(connection)
        return {
            table: [(c["name"], str(c["type"])) for c in inspector.get_columns(table)]
            for table in sorted(inspector.get_table_names())
        }


def test_migrating_an_already_migrated_database_changes_nothing(database_url: str) -> None:
    engine = make_engine(database_url, create=True)
    with write_transaction(engine) as connection:
        upgrade_to_head(connection)
    before = _schema(engine)
    with write_transaction(engine) as connection:
        assert upgrade_to_head(connection) == (SCHEMA_REVISION, SCHEMA_REVISION)
    assert _schema(engine) == before


def test_upgrade_from_the_first_revision(database_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    engine = make_engine(database_url, create=True)
    with write_transaction(engine) as connection:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = connection
        command.upgrade(config, "0001_initial")
    with read_connection(engine) as connection, pytest.raises(NotInitializedError) as caught:
        check_schema_current(connection)
    assert str(caught.value) == (
        f"the database schema is at 0001_initial, older than this datamgr's {SCHEMA_REVISION}; "
        "run `datamgr init-db` to upgrade it"
    )
    with write_transaction(engine) as connection:
        assert upgrade_to_head(connection) == ("0001_initial", SCHEMA_REVISION)


def test_a_database_from_a_newer_datamgr_is_refused(database_url: str) -> None:
    engine = make_engine(database_url, create=True)
    with write_transaction(engine) as connection:
        upgrade_to_head(connection)
        connection.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
    message = (
        f"the database schema is at 0099_future, which this datamgr ({SCHEMA_REVISION}) does not know: "
        "it was migrated by a newer datamgr; upgrade datamgr"
    )
    with read_connection(engine) as connection, pytest.raises(SchemaTooNewError) as caught:
        check_schema_current(connection)
    assert str(caught.value) == message
    with write_transaction(engine) as connection, pytest.raises(SchemaTooNewError):
        upgrade_to_head(connection)
    with read_connection(engine) as connection:
        assert current_revision(connection) == "0099_future"


@pytest.mark.sqlite_only
def test_sqlite_pragmas_for_overlapping_runs(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}", create=True)
    with read_connection(engine) as connection:
        pragma = connection.exec_driver_sql
        assert pragma("PRAGMA journal_mode").scalar() == "wal"
        assert pragma("PRAGMA busy_timeout").scalar() == 60000
        assert pragma("PRAGMA foreign_keys").scalar() == 1
