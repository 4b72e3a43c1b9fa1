"""turbines: a turbine key on every time series, a turbines table, the turbine of each model

Existing rows, quarantined rows, predictions and models move to the default turbine
(data_manager.default_turbine_id, passed in by datamgr; T01 when run by hand), so a
single-turbine store keeps every row and every prediction's lineage.

On SQLite the keyed tables are rebuilt (a primary key cannot be altered there), raw_data as
a WITHOUT ROWID table clustered on (turbine_id, Timestamps); on PostgreSQL the column is added
and the primary keys are replaced in place.

Revision ID: 0004_turbines
Revises: 0003_quarantine
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_turbines"
down_revision: str | None = "0003_quarantine"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SENSORS = (
    "WindSpeed", "WindDirAbs", "WindDirRel", "Power", "Pitch", "GenRPM", "RotorRPM",
    "EnvirTemp", "NacelTemp", "GearOilTemp", "GearBearTemp", "GenPh1Temp", "GenBearTemp",
)  # fmt: skip
TURBINE = "turbine_id"
# Frozen copies of this revision's columns (SQLite stores instants as INTEGER epoch seconds).
KEYS = {
    "raw_data": ("turbine_id", "Timestamps"),
    "predictions": ("model_id", "turbine_id", "Timestamps"),
    "quarantine": ("source", "turbine_id", "Timestamps"),
}


def _default_turbine() -> str:
    config = op.get_context().config
    value = config.attributes.get("default_turbine_id") if config is not None else None
    return str(value or "T01")


def _turbine_column(default: str | None = None) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(TURBINE, sa.String(64), nullable=False, server_default=default)


def _sqlite_columns(table: str) -> list[sa.Column]:  # type: ignore[type-arg]
    instant = sa.Integer
    if table == "raw_data":
        return [
            _turbine_column(),
            sa.Column("Timestamps", instant(), nullable=False),
            *(sa.Column(name, sa.Float(), nullable=True) for name in SENSORS),
        ]
    if table == "predictions":
        return [
            sa.Column(
                "model_id", sa.Integer(), sa.ForeignKey("model_runs.id", name="fk_predictions_model_id_model_runs")
            ),
            _turbine_column(),
            sa.Column("Timestamps", instant(), nullable=False),
            sa.Column("predicted_power", sa.Float(), nullable=True),
            sa.Column("created_at", instant(), nullable=False),
        ]
    return [
        sa.Column("source", sa.String(1000), nullable=False),
        _turbine_column(),
        sa.Column("Timestamps", instant(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(2000), nullable=False),
        *(sa.Column(name, sa.Float(), nullable=True) for name in SENSORS),
        sa.Column("created_at", instant(), nullable=False),
    ]


def _rebuild_on_sqlite(table: str, turbine: str) -> None:
    """Create the keyed table anew, copy every row in under the default turbine, swap it in."""
    columns = _sqlite_columns(table)
    new = f"_new_{table}"
    op.create_table(
        new,
        *columns,
        sa.PrimaryKeyConstraint(*KEYS[table], name=f"pk_{table}"),
        sqlite_with_rowid=table != "raw_data",
    )
    names = [c.name for c in columns]
    copied = [sa.literal(turbine).label(TURBINE) if n == TURBINE else sa.column(n) for n in names]
    target = sa.table(new, *(sa.column(n) for n in names))
    op.execute(target.insert().from_select(names, sa.select(*copied).select_from(sa.table(table))))
    op.drop_table(table)
    op.rename_table(new, table)


def _rekey_on_postgresql(table: str, turbine: str) -> None:
    """Add the turbine column (filled by a default that is then dropped) and replace the primary key."""
    op.add_column(table, _turbine_column(turbine))
    op.alter_column(table, TURBINE, server_default=None)
    op.drop_constraint(f"pk_{table}", table, type_="primary")
    op.create_primary_key(f"pk_{table}", table, list(KEYS[table]))


def upgrade() -> None:
    turbine = _default_turbine()
    sqlite = op.get_context().dialect.name == "sqlite"
    op.create_table(
        "turbines",
        sa.Column(TURBINE, sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("rated_power_kw", sa.Float(), nullable=True),
        sa.Column("hub_height_m", sa.Float(), nullable=True),
        sa.Column("rotor_diameter_m", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint(TURBINE, name="pk_turbines"),
    )
    # model_runs is referenced by predictions: add its column in place on both backends.
    op.add_column("model_runs", _turbine_column(turbine))
    if not sqlite:
        op.alter_column("model_runs", TURBINE, server_default=None)
    op.create_index("ix_model_runs_turbine_id", "model_runs", [TURBINE])
    op.drop_index("ix_predictions_Timestamps", table_name="predictions")
    for table in KEYS:
        (_rebuild_on_sqlite if sqlite else _rekey_on_postgresql)(table, turbine)
    op.create_index("ix_predictions_turbine_id_Timestamps", "predictions", [TURBINE, "Timestamps"])
    # The default turbine exists once anything was stored under it.
    turbines = sa.table("turbines", sa.column(TURBINE))
    anything = sa.union_all(
        *(sa.select(sa.literal(1)).select_from(sa.table(t)) for t in ("raw_data", "model_runs", "quarantine"))
    ).subquery()
    op.execute(
        turbines.insert().from_select(
            [TURBINE], sa.select(sa.literal(turbine)).where(sa.exists(sa.select(anything.c[0])))
        )
    )


def downgrade() -> None:
    raise NotImplementedError("0004_turbines cannot be reversed without losing the turbine of each row")
