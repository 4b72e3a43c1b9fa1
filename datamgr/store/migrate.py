"""Schema migrations through Alembic's API, on a connection the caller owns (and so its transaction)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from sqlalchemy import Column, Connection, MetaData, String, Table, inspect, select

from datamgr.errors import NotInitializedError, SchemaTooNewError
from datamgr.store.schema import SCHEMA_REVISION

# The top-level migrations/ is installed as the package datamgr.migrations (pyproject.toml maps
# it), so an installed datamgr can migrate; an editable install resolves it to the checkout's folder.
MIGRATIONS_DIR = Path(str(files("datamgr.migrations")))

# Alembic's bookkeeping table, read with Core so that everyday commands need not import Alembic.
_alembic_version = Table("alembic_version", MetaData(), Column("version_num", String(32)))


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(select(_alembic_version.c.version_num)).scalar_one_or_none()


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS_DIR))
    return {revision.revision for revision in script.walk_revisions()}


def head_revision() -> str:
    """The newest revision in migrations/versions (what SCHEMA_REVISION must equal)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS_DIR))
    return str(script.get_current_head())


def check_schema_current(connection: Connection) -> None:
    """Refuse to work on a database that is not at this datamgr's schema revision."""
    revision = current_revision(connection)
    if revision == SCHEMA_REVISION:
        return
    if revision is None:
        raise NotInitializedError("the database has no datamgr schema; run `datamgr init-db` first")
    _refuse_newer(revision)
    raise NotInitializedError(
        f"the database schema is at {revision}, older than this datamgr's {SCHEMA_REVISION}; "
        "run `datamgr init-db` to upgrade it"
    )


def _refuse_newer(revision: str | None) -> None:
    if revision is not None and revision not in _known_revisions():
        raise SchemaTooNewError(
            f"the database schema is at {revision}, which this datamgr ({SCHEMA_REVISION}) does not "
            "know: it was migrated by a newer datamgr; upgrade datamgr"
        )


def upgrade_to_head(
    connection: Connection, *, default_turbine_id: str = "T01", target: str = "head"
) -> tuple[str | None, str]:
    """Migrate to head (or `target`) inside the caller's transaction; returns the revisions before and after.

    Rows stored before turbines existed move to default_turbine_id.
    """
    from alembic import command
    from alembic.config import Config

    before = current_revision(connection)
    _refuse_newer(before)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    config.attributes["default_turbine_id"] = default_turbine_id
    command.upgrade(config, target)
    return before, SCHEMA_REVISION if target == "head" else target
