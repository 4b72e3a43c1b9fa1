"""The one MetaData of datamgr. Alembic migrations create exactly these tables.

Every time series is keyed by (turbine_id, Timestamps), as OpenOA's scada table is by
(asset_id, time); a single-turbine store holds everything under the default turbine.
On SQLite raw_data is a WITHOUT ROWID table clustered on that key, so one turbine's rows
sit together and its newest rows are one index seek away at any farm size
(docs/benchmarks.md has the measurements behind this choice).

Timestamps are UTC instants. On SQLite they are stored as whole seconds since the epoch
(an INTEGER), so ordering and range filters are integer comparisons and chronological; on
PostgreSQL they are timestamptz. `UtcTimestamp` hides the difference from the rest of the code.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)
from sqlalchemy.sql import false
from sqlalchemy.types import TypeDecorator, TypeEngine

# The data model's names live in datamgr.columns; the store re-exports them for its own callers.
from datamgr.columns import KEY, MODEL_ID, PREDICTED_POWER, SENSOR_COLUMNS, TIMESTAMP, TURBINE
from datamgr.columns import PROVENANCE_COLUMNS as PROVENANCE_COLUMNS
from datamgr.errors import QueryError
from datamgr.store.engine import stores_epoch_seconds

# Bump with every migration; a test checks it equals the head of migrations/versions.
SCHEMA_REVISION = "0005_monitoring"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TURBINE_ID_LENGTH = 64


class UtcTimestamp(TypeDecorator[datetime]):
    """An aware UTC datetime: INTEGER epoch seconds on SQLite, timestamptz elsewhere."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if stores_epoch_seconds(dialect):
            # Exactly INTEGER, so a one-column primary key on it is SQLite's rowid.
            return dialect.type_descriptor(Integer())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("datamgr stores aware UTC timestamps only")
        if stores_epoch_seconds(dialect):
            return int(value.timestamp())
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if stores_epoch_seconds(dialect):
            return datetime.fromtimestamp(value, tz=UTC)
        return value.astimezone(UTC)


metadata = MetaData(naming_convention=NAMING_CONVENTION)

turbines = Table(
    "turbines",
    metadata,
    Column(TURBINE, String(TURBINE_ID_LENGTH), primary_key=True),
    Column("name", String(200), nullable=True),
    Column("rated_power_kw", Float, nullable=True),
    Column("hub_height_m", Float, nullable=True),
    Column("rotor_diameter_m", Float, nullable=True),
)

raw_data = Table(
    "raw_data",
    metadata,
    Column(TURBINE, String(TURBINE_ID_LENGTH), primary_key=True),
    Column(TIMESTAMP, UtcTimestamp(), primary_key=True, autoincrement=False),
    *(Column(name, Float, nullable=True) for name in SENSOR_COLUMNS),
    sqlite_with_rowid=False,
)

model_runs = Table(
    "model_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(TURBINE, String(TURBINE_ID_LENGTH), nullable=False, index=True),
    Column("created_at", UtcTimestamp(), nullable=False),
    Column("estimator", String(200), nullable=False),
    Column("params", JSON, nullable=False),
    Column("features", JSON, nullable=False),
    Column("train_start", UtcTimestamp(), nullable=False),
    Column("train_end", UtcTimestamp(), nullable=False),
    Column("row_count", Integer, nullable=False),
    Column("data_digest", String(64), nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("artifact_path", String(1000), nullable=False),
    Column("artifact_sha256", String(64), nullable=False),
    # The model predict uses for its turbine: set by train when a new model is better, or by hand.
    Column("active", Boolean, nullable=False, server_default=false()),
    # Why a model is not (or no longer) active, for `datamgr models`.
    Column("note", String(500), nullable=True),
)

predictions = Table(
    "predictions",
    metadata,
    Column(MODEL_ID, Integer, ForeignKey("model_runs.id"), primary_key=True),
    Column(TURBINE, String(TURBINE_ID_LENGTH), primary_key=True),
    Column(TIMESTAMP, UtcTimestamp(), primary_key=True),
    Column(PREDICTED_POWER, Float, nullable=True),
    Column("created_at", UtcTimestamp(), nullable=False),
    Index("ix_predictions_turbine_id_Timestamps", TURBINE, TIMESTAMP),
)

# Rows of input files refused for physically impossible values: kept with the reason, never dropped.
quarantine = Table(
    "quarantine",
    metadata,
    Column("source", String(1000), primary_key=True),
    Column(TURBINE, String(TURBINE_ID_LENGTH), primary_key=True),
    Column(TIMESTAMP, UtcTimestamp(), primary_key=True),
    Column("row_number", Integer, nullable=False),
    Column("reason", String(2000), nullable=False),
    *(Column(name, Float, nullable=True) for name in SENSOR_COLUMNS),
    Column("created_at", UtcTimestamp(), nullable=False),
)

# evaluate's results, NannyML-style: one value per (turbine, model, window, metric), re-run idempotently.
evaluations = Table(
    "evaluations",
    metadata,
    Column(TURBINE, String(TURBINE_ID_LENGTH), primary_key=True),
    Column("model_id", Integer, ForeignKey("model_runs.id"), primary_key=True),
    Column("window_start", UtcTimestamp(), primary_key=True),
    Column("metric", String(32), primary_key=True),
    Column("window_end", UtcTimestamp(), nullable=False),
    Column("value", Float, nullable=True),
    Column("alert", Boolean, nullable=False),
    Column("created_at", UtcTimestamp(), nullable=False),
)

# The tables that hold a time series: what --table may name, and each one's upsert key.
TIME_SERIES_KEYS: dict[str, tuple[str, ...]] = {
    "raw_data": KEY,
    "predictions": (MODEL_ID, *KEY),
    "quarantine": ("source", TURBINE, TIMESTAMP),
}
TIME_SERIES_TABLES = tuple(TIME_SERIES_KEYS)
# The tables `ingest` may write (quarantine is filled by ingest itself).
INGEST_TABLES = ("raw_data", "predictions")


def time_series_table(name: str, allowed: tuple[str, ...] = TIME_SERIES_TABLES) -> Table:
    """Look a --table value up in the MetaData; anything else (including SQL) is refused."""
    if name not in allowed:
        raise QueryError(f"unknown table {name!r}; choose one of: {', '.join(sorted(allowed))}")
    return metadata.tables[name]


def value_columns(table: Table) -> list[str]:
    """The columns that are not part of the table's upsert key."""
    key = TIME_SERIES_KEYS[table.name]
    return [column.name for column in table.columns if column.name not in key]


def chronological(table: Table) -> list[Column[Any]]:
    """One turbine's rows in time order: Timestamps, then the rest of the key (model_id for predictions)."""
    key = TIME_SERIES_KEYS[table.name]
    return [table.c[TIMESTAMP], *(table.c[k] for k in key if k not in (TURBINE, TIMESTAMP))]
