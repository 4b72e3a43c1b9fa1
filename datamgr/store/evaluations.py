"""What monitoring reads and writes: predictions joined with the actuals that arrived since,
evaluate's stored results, and the facts `status` judges per turbine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, func, or_, select, type_coerce

from datamgr.store.bulk import insert_for
from datamgr.store.reads import columns_to_arrow
from datamgr.store.registry import ModelRun, active_model_run
from datamgr.store.schema import TIMESTAMP, TURBINE, UtcTimestamp, evaluations, predictions, quarantine, raw_data

if TYPE_CHECKING:
    import pyarrow as pa


def predictions_with_actuals(connection: Connection, turbine: str, model_id: int) -> pa.Table:
    """A model's stored predictions for a turbine, each with the actual Power and wind speed of its row
    (NaN until they arrive) and the Power of the turbine's previous row (persistence), oldest first."""
    p, r, before = predictions, raw_data, raw_data.alias("before")
    previous = (
        select(before.c.Power)
        .where(before.c[TURBINE] == p.c[TURBINE], before.c[TIMESTAMP] < p.c[TIMESTAMP])
        .order_by(before.c[TIMESTAMP].desc())
        .limit(1)
        .scalar_subquery()
    )
    stamp = p.c[TIMESTAMP]
    stmt = (
        select(
            type_coerce(stamp, UtcTimestamp().load_dialect_impl(connection.dialect)).label(TIMESTAMP),
            p.c.predicted_power,
            r.c.Power.label("actual"),
            r.c.WindSpeed.label("wind_speed"),
            previous.label("previous_power"),
        )
        .select_from(p.outerjoin(r, and_(r.c[TURBINE] == p.c[TURBINE], r.c[TIMESTAMP] == stamp)))
        .where(p.c.model_id == model_id, p.c[TURBINE] == turbine)
        .order_by(stamp)
    )
    columns = [(TIMESTAMP, stamp), ("predicted_power", p.c.predicted_power), ("actual", r.c.Power)]
    columns += [("wind_speed", r.c.WindSpeed), ("previous_power", r.c.Power)]
    return columns_to_arrow(columns, connection.execute(stmt).all())


def store_evaluations(connection: Connection, rows: list[dict[str, Any]]) -> int:
    """Upsert evaluate's results on (turbine, model, window start, metric); unchanged values are not rewritten."""
    if not rows:
        return 0
    statement = insert_for(connection)(evaluations)
    kept = ("window_end", "value", "alert")
    upsert = statement.on_conflict_do_update(
        index_elements=[evaluations.c[k] for k in (TURBINE, "model_id", "window_start", "metric")],
        set_={c: statement.excluded[c] for c in (*kept, "created_at")},
        where=or_(*(evaluations.c[c].is_distinct_from(statement.excluded[c]) for c in kept)),
    )
    connection.execute(upsert, rows)
    return len(rows)


@dataclass(frozen=True)
class StoredFacts:
    """What the store holds about one turbine for `status`, over the last day."""

    newest_row: datetime | None
    slots_present: int
    quarantined: int
    newest_prediction: datetime | None
    waiting_for_actuals: int
    active: ModelRun | None
    last_mae: float | None


def turbine_facts(connection: Connection, turbine: str, since: datetime, until: datetime) -> StoredFacts:
    """What `status` judges for one turbine, as of `until`: index seeks and counts over the last day."""
    raw, held, made = raw_data, quarantine, predictions
    mine, up_to = raw.c[TURBINE] == turbine, raw.c[TIMESTAMP] <= until
    newest = connection.execute(select(func.max(raw.c[TIMESTAMP])).where(mine, up_to)).scalar_one_or_none()
    present = connection.execute(select(func.count()).where(mine, raw.c[TIMESTAMP] > since, up_to)).scalar_one()
    quarantined = connection.execute(
        select(func.count()).where(held.c[TURBINE] == turbine, held.c[TIMESTAMP] > since, held.c[TIMESTAMP] <= until)
    ).scalar_one()
    predicted = connection.execute(
        select(func.max(made.c[TIMESTAMP])).where(made.c[TURBINE] == turbine, made.c[TIMESTAMP] <= until)
    ).scalar_one_or_none()
    active = active_model_run(connection, turbine)
    waiting, last_mae = 0, None
    if active is not None:
        on_row = and_(raw.c[TURBINE] == made.c[TURBINE], raw.c[TIMESTAMP] == made.c[TIMESTAMP])
        waiting = connection.execute(
            select(func.count())
            .select_from(made.outerjoin(raw, on_row))
            .where(made.c.model_id == active.id, made.c[TURBINE] == turbine, raw.c.Power.is_(None))
        ).scalar_one()
        last_mae = connection.execute(
            select(evaluations.c.value)
            .where(evaluations.c.model_id == active.id, evaluations.c.metric == "mae", evaluations.c.value.is_not(None))
            .order_by(evaluations.c.window_start.desc())
            .limit(1)
        ).scalar_one_or_none()
    return StoredFacts(newest, int(present), int(quarantined), predicted, int(waiting), active, last_mae)
