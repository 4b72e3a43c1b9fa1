"""raw_data and predictions, as in the lesson

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-29
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
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
        "raw_data",
        sa.Column("Timestamps", UtcTimestamp(), nullable=False, autoincrement=False),
        *(sa.Column(name, sa.Float(), nullable=True) for name in SENSORS),
        sa.PrimaryKeyConstraint("Timestamps", name=op.f("pk_raw_data")),
    )
    op.create_table(
        "predictions",
        sa.Column("Timestamps", UtcTimestamp(), nullable=False, autoincrement=False),
        sa.Column("predicted_power", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("Timestamps", name=op.f("pk_predictions")),
    )


def downgrade() -> None:
    op.drop_table("predictions")
    op.drop_table("raw_data")
