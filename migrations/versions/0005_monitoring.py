"""monitoring: the active model of each turbine, and the evaluations table

Each turbine's newest model becomes its active one, so predict keeps using what it used.

Revision ID: 0005_monitoring
Revises: 0004_turbines
Create Date: 2026-11-30
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005_monitoring"
down_revision: str | None = "0004_turbines"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


class UtcTimestamp(sa.types.TypeDecorator[datetime]):
    """This revision's own frozen copy of datamgr's UtcTimestamp, as far as DDL needs it: INTEGER
    epoch seconds on SQLite, timestamptz elsewhere. A migration never imports live code."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Integer())
        return dialect.type_descriptor(sa.DateTime(timezone=True))


def upgrade() -> None:
    op.add_column("model_runs", sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("model_runs", sa.Column("note", sa.String(500), nullable=True))
    runs = sa.table("model_runs", sa.column("id", sa.Integer()), sa.column("turbine_id"), sa.column("active"))
    newest = sa.select(sa.func.max(runs.c.id)).group_by(runs.c.turbine_id)
    op.execute(runs.update().where(runs.c.id.in_(newest)).values(active=True))
    op.create_table(
        "evaluations",
        sa.Column("turbine_id", sa.String(64), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("window_start", UtcTimestamp(), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("window_end", UtcTimestamp(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("alert", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcTimestamp(), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["model_runs.id"], name="fk_evaluations_model_id_model_runs"),
        sa.PrimaryKeyConstraint("turbine_id", "model_id", "window_start", "metric", name="pk_evaluations"),
    )


def downgrade() -> None:
    op.drop_table("evaluations")
    op.drop_column("model_runs", "note")
    op.drop_column("model_runs", "active")
