"""Alembic environment for datamgr.

datamgr passes its own connection in `config.attributes["connection"]`, so a migration runs
inside the caller's transaction (atomic on SQLite and PostgreSQL alike). Run by hand, the URL
comes from datamgr's settings.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from datamgr.store.schema import metadata

target_metadata = metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from datamgr.settings import load_settings
    from datamgr.store.engine import make_engine, write_transaction

    engine = make_engine(load_settings().database_url, create=True)
    with write_transaction(engine) as own_connection:
        _run(own_connection)


def run_migrations_offline() -> None:
    from datamgr.settings import load_settings

    context.configure(url=load_settings().database_url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
