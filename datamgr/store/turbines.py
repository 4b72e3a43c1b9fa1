"""The turbines table: OpenOA's asset metadata, one row per turbine the store knows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Table, func, select

from datamgr.store.bulk import insert_for
from datamgr.store.schema import TIMESTAMP, TURBINE, turbines


def known_turbines(connection: Connection) -> list[str]:
    """Every turbine the store knows (ingest registers each one it sees), in id order."""
    return list(connection.execute(select(turbines.c[TURBINE]).order_by(turbines.c[TURBINE])).scalars())


def sync_turbines(connection: Connection, configured: dict[str, dict[str, Any]], seen: Iterable[str] = ()) -> None:
    """Make the turbines table hold every configured turbine with its metadata, and every turbine seen in data.

    The config is the source of the metadata: its values replace the stored ones. A turbine only
    seen in data gets a row without metadata; a stored turbine is never deleted.
    """
    upsert = insert_for(connection)
    for turbine_id, values in configured.items():
        statement = upsert(turbines).values({TURBINE: turbine_id, **values})
        key = [turbines.c[TURBINE]]
        connection.execute(
            statement.on_conflict_do_update(index_elements=key, set_={k: statement.excluded[k] for k in values})
            if values
            else statement.on_conflict_do_nothing(index_elements=key)
        )
    others = sorted(set(seen) - set(configured))
    if others:
        connection.execute(
            upsert(turbines).on_conflict_do_nothing(index_elements=[turbines.c[TURBINE]]),
            [{TURBINE: turbine_id} for turbine_id in others],
        )


def rated_powers(connection: Connection) -> dict[str, float]:
    """Rated power (kW) of each turbine that has one."""
    rated = turbines.c.rated_power_kw
    rows = connection.execute(select(turbines.c[TURBINE], rated).where(rated.is_not(None)))
    return {str(turbine_id): float(value) for turbine_id, value in rows}


def turbine_summary(connection: Connection, raw: Table, refused: Table) -> list[dict[str, Any]]:
    """Every turbine with its metadata, row count, first and last timestamp, and quarantined rows."""
    stored = (
        select(
            raw.c[TURBINE],
            func.count().label("rows"),
            func.min(raw.c[TIMESTAMP]).label("first"),
            func.max(raw.c[TIMESTAMP]).label("last"),
        )
        .group_by(raw.c[TURBINE])
        .subquery()
    )
    held = select(refused.c[TURBINE], func.count().label("quarantined")).group_by(refused.c[TURBINE]).subquery()
    statement = (
        select(
            turbines,
            func.coalesce(stored.c.rows, 0).label("rows"),
            stored.c["first"],
            stored.c["last"],
            func.coalesce(held.c.quarantined, 0).label("quarantined"),
        )
        .select_from(
            turbines.outerjoin(stored, stored.c[TURBINE] == turbines.c[TURBINE]).outerjoin(
                held, held.c[TURBINE] == turbines.c[TURBINE]
            )
        )
        .order_by(turbines.c[TURBINE])
    )
    return [dict(row) for row in connection.execute(statement).mappings()]
