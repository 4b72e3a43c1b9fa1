"""model_runs registry; predictions name the model that made them

Revision ID: 0002_model_runs
Revises: 0001_initial
Create Date: 2026-11-29
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002_model_runs"
down_revision: str | None = "0001_initial"
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


def upgrade() -> None:
    op.create_table(
        "model_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcTimestamp(), nullable=False),
        sa.Column("estimator", sa.String(200), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("train_start", UtcTimestamp(), nullable=False),
        sa.Column("train_end", UtcTimestamp(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("data_digest", sa.String(64), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("artifact_path", sa.String(1000), nullable=False),
        sa.Column("artifact_sha256", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_runs")),
    )
    # Predictions before this revision could not name a model, and no command wrote them;
    # refuse rather than drop rows if someone put some there by hand.
    count = op.get_bind().execute(sa.text("SELECT count(*) FROM predictions")).scalar_one()
    if count:
        raise RuntimeError(f"predictions holds {count} rows without a model; export and empty it before upgrading")
    op.drop_table("predictions")
    op.create_table(
        "predictions",
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("Timestamps", UtcTimestamp(), nullable=False),
        sa.Column("predicted_power", sa.Float(), nullable=True),
        sa.Column("created_at", UtcTimestamp(), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["model_runs.id"], name=op.f("fk_predictions_model_id_model_runs")),
        sa.PrimaryKeyConstraint("model_id", "Timestamps", name=op.f("pk_predictions")),
    )
    op.create_index(op.f("ix_predictions_Timestamps"), "predictions", ["Timestamps"])


def downgrade() -> None:
    op.drop_index(op.f("ix_predictions_Timestamps"), table_name="predictions")
    op.drop_table("predictions")
    op.create_table(
        "predictions",
        sa.Column("Timestamps", UtcTimestamp(), nullable=False, autoincrement=False),
        sa.Column("predicted_power", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("Timestamps", name=op.f("pk_predictions")),
    )
    op.drop_table("model_runs")
