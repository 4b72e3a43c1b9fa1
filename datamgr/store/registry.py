"""The model registry (model_runs) as typed records: what was trained, on what, how well, and
which model of each turbine is the active one (the one predict uses)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.engine import RowMapping

from datamgr.store.schema import TURBINE, model_runs


@dataclass(frozen=True)
class Scores:
    """A prediction's error on the holdout rows (kW, and R²)."""

    mae: float
    rmse: float
    r2: float


@dataclass(frozen=True)
class ModelMetrics:
    """model_runs.metrics: the model's and its binned power curve's holdout scores, how many rows
    went where, and the fitted curve (for evaluate). Keys this datamgr does not know are kept."""

    model: Scores
    baseline: Scores
    rows_fit: int | None = None
    rows_holdout: int | None = None
    rows_without_target: int | None = None
    baseline_curve: dict[str, Any] | None = None
    other: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> ModelMetrics:
        known = {"model", "baseline", "rows_fit", "rows_holdout", "rows_without_target", "baseline_curve"}
        return cls(
            model=Scores(**stored["model"]),
            baseline=Scores(**stored["baseline"]),
            rows_fit=stored.get("rows_fit"),
            rows_holdout=stored.get("rows_holdout"),
            rows_without_target=stored.get("rows_without_target"),
            baseline_curve=stored.get("baseline_curve"),
            other={k: v for k, v in stored.items() if k not in known},
        )

    def to_json(self) -> dict[str, Any]:
        stored: dict[str, Any] = {**self.other, "model": asdict(self.model), "baseline": asdict(self.baseline)}
        if self.baseline_curve is not None:
            stored["baseline_curve"] = self.baseline_curve
        for name in ("rows_fit", "rows_holdout", "rows_without_target"):
            if getattr(self, name) is not None:
                stored[name] = getattr(self, name)
        return stored


@dataclass(frozen=True)
class ModelRun:
    """One row of model_runs."""

    id: int
    turbine_id: str
    created_at: datetime
    estimator: str
    params: dict[str, Any]
    features: list[str]
    train_start: datetime
    train_end: datetime
    row_count: int
    data_digest: str
    metrics: ModelMetrics
    artifact_path: str
    artifact_sha256: str
    active: bool = False
    note: str | None = None

    @classmethod
    def from_row(cls, row: RowMapping) -> ModelRun:
        values = dict(row)
        return cls(**{**values, "metrics": ModelMetrics.from_json(values["metrics"]), "active": bool(values["active"])})


def insert_model_run(connection: Connection, run: ModelRun) -> int:
    """Register a trained model (its id is the database's); returns that id."""
    values = {**asdict(run), "metrics": run.metrics.to_json()}
    del values["id"]
    result = connection.execute(insert(model_runs).values(**values).returning(model_runs.c.id))
    return int(result.scalar_one())


def active_model_run(connection: Connection, turbine: str) -> ModelRun | None:
    """The model predict uses for a turbine (its active one), or None."""
    stmt = select(model_runs).where(model_runs.c[TURBINE] == turbine, model_runs.c.active)
    row = connection.execute(stmt.order_by(model_runs.c.id.desc()).limit(1)).mappings().first()
    return ModelRun.from_row(row) if row is not None else None


def set_active(connection: Connection, model_id: int, turbine: str, note: str | None = None) -> None:
    """Make a model its turbine's only active one."""
    others = model_runs.c[TURBINE] == turbine
    connection.execute(update(model_runs).where(others, model_runs.c.active).values(active=False))
    connection.execute(update(model_runs).where(model_runs.c.id == model_id).values(active=True, note=note))


def retire(connection: Connection, model_id: int, note: str) -> None:
    connection.execute(update(model_runs).where(model_runs.c.id == model_id).values(active=False, note=note))


def get_model_run(connection: Connection, model_id: int) -> ModelRun | None:
    row = connection.execute(select(model_runs).where(model_runs.c.id == model_id)).mappings().first()
    return ModelRun.from_row(row) if row is not None else None


def newest_model_run(connection: Connection, turbine: str) -> ModelRun | None:
    """A turbine's most recently registered model, active or not."""
    stmt = select(model_runs).where(model_runs.c[TURBINE] == turbine).order_by(model_runs.c.id.desc()).limit(1)
    row = connection.execute(stmt).mappings().first()
    return ModelRun.from_row(row) if row is not None else None


def list_model_runs(connection: Connection, turbine: str | None = None) -> list[ModelRun]:
    stmt = select(model_runs).order_by(model_runs.c.id)
    if turbine is not None:
        stmt = stmt.where(model_runs.c[TURBINE] == turbine)
    return [ModelRun.from_row(row) for row in connection.execute(stmt).mappings()]
