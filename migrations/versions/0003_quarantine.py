"""quarantine: rows refused for physically impossible values, with the reason and source file

Revision ID: 0003_quarantine
Revises: 0002_model_runs
Create Date: 2026-11-29
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003_quarantine"
down_revision: str | None = "0002_model_runs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


class UtcTimestamp(sa.types.TypeDecorator[datetime]):
    """This revision's own frozen copy of datamgr's UtcTimestamp, as far as DDL needs it: INTEGER
    epoch seconds on SQLite, timestamptz elsewhere. A migration never imports live code, which may
    change after it was written."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Integer())
        return dialect.type_descriptor(sa.DateTime(timezone=True))


SENSORS = (
    "WindSpeed", "WindDirAbs", "WindDirRel", "Power", "Pitch", "GenRPM", "RotorRPM",
    "EnvirTemp", "NacelTemp", "GearOilTemp", "GearBearTemp", "GenPh1Temp", "GenBearTemp",
)  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "quarantine",
        sa.Column("source", sa.String(1000), nullable=False),
        sa.Column("Timestamps", UtcTimestamp(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(2000), nullable=False),
        *(sa.Column(name, sa.Float(), nullable=True) for name in SENSORS),
        sa.Column("created_at", UtcTimestamp(), nullable=False),
        sa.PrimaryKeyConstraint("source", "Timestamps", name=op.f("pk_quarantine")),
    )


def downgrade() -> None:
    op.drop_table("quarantine")
