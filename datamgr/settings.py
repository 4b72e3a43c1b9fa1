"""Settings: config/parameters.yml, overridden by DATAMGR_* environment variables, overridden by CLI options.

Nested keys are reached from the environment with a double underscore, for example
DATAMGR_INFERENCE_PIPELINE__BATCH_SIZE=64 or DATAMGR_DATA_MANAGER__DB_PATH=/srv/scada.db.
Relative paths are taken from the current working directory, as the lesson's layout expects.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from datamgr.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("config/parameters.yml")
ENV_PREFIX = "DATAMGR_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Physically possible range of each sensor for a 2 MW turbine; a value outside sends its row to quarantine.
DEFAULT_LIMITS: dict[str, tuple[float | None, float | None]] = {
    "WindSpeed": (0.0, 60.0),
    "WindDirAbs": (0.0, 360.0),
    "WindDirRel": (-180.0, 180.0),
    "Power": (-100.0, 2600.0),
    "Pitch": (-10.0, 100.0),
    "GenRPM": (0.0, 2500.0),
    "RotorRPM": (0.0, 30.0),
    "EnvirTemp": (-50.0, 60.0),
    "NacelTemp": (-50.0, 90.0),
    "GearOilTemp": (-50.0, 130.0),
    "GearBearTemp": (-50.0, 150.0),
    "GenPh1Temp": (-50.0, 200.0),
    "GenBearTemp": (-50.0, 150.0),
}


TURBINE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
# What a source column may be mapped to: datamgr's own names (OpenOA's asset_id/time are turbine_id/Timestamps).
MAPPABLE = ("turbine_id", "Timestamps")


class TurbineSettings(_Section):
    """One turbine's metadata (OpenOA's asset table); every field is optional."""

    name: str | None = None
    rated_power_kw: float | None = Field(None, gt=0)
    hub_height_m: float | None = Field(None, gt=0)
    rotor_diameter_m: float | None = Field(None, gt=0)


class DataManagerSettings(_Section):
    history_data_path: Path = Path("history_data/history_database.parquet")
    prod_data_path: Path = Path("data/prod_data/prod_database.parquet")
    db_path: Path = Path("data/sqlite/app.db")
    raw_data_table_name: str = "raw_data"
    predictions_table_name: str = "predictions"
    naive_timezone: str = "UTC"
    require_offsets: bool = False
    limits: dict[str, tuple[float | None, float | None]] = Field(default_factory=lambda: dict(DEFAULT_LIMITS))
    # The turbine of rows that name none (files without a turbine_id column, the lesson's single turbine).
    default_turbine_id: str = Field("T01", pattern=TURBINE_ID_PATTERN)
    # Source column name -> datamgr column name (or null to drop it knowingly), applied before validation.
    column_map: dict[str, str | None] = Field(default_factory=dict)
    # A turbine with a known rated power quarantines Power above this multiple of it.
    power_limit_ratio: float = Field(1.3, gt=1.0)

    @field_validator("column_map")
    @classmethod
    def _known_targets(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        from datamgr.store.schema import SENSOR_COLUMNS

        for source, target in value.items():
            if target is not None and target not in (*MAPPABLE, *SENSOR_COLUMNS):
                raise ValueError(
                    f"{source!r} maps to {target!r}, which is not a datamgr column; "
                    f"use one of {', '.join((*MAPPABLE, *SENSOR_COLUMNS))} or null to drop it"
                )
        targets = [t for t in value.values() if t is not None]
        doubled = sorted({t for t in targets if targets.count(t) > 1})
        if doubled:
            raise ValueError(f"several source columns map to {', '.join(doubled)}")
        return value

    @field_validator("limits")
    @classmethod
    def _known_sensors(
        cls, value: dict[str, tuple[float | None, float | None]]
    ) -> dict[str, tuple[float | None, float | None]]:
        from datamgr.store.schema import SENSOR_COLUMNS

        for name, (low, high) in value.items():
            if name not in SENSOR_COLUMNS:
                raise ValueError(f"{name!r} is not a sensor column; known: {', '.join(SENSOR_COLUMNS)}")
            if low is not None and high is not None and low > high:
                raise ValueError(f"{name}: the lower limit {low} is above the upper limit {high}")
        return value

    @field_validator("naive_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from datamgr.timestamps import zone

        try:
            zone(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value


class TrainingPipelineSettings(_Section):
    start_timestamp: str = "2007-07-29 03:10:00"
    end_timestamp: str = "2008-02-22 11:00:00"
    holdout_fraction: float = Field(0.2, gt=0.0, lt=0.9)
    min_rows: int = Field(200, ge=10)
    estimator: str = "HistGradientBoostingRegressor"
    params: dict[str, Any] = Field(default_factory=lambda: {"max_iter": 300, "learning_rate": 0.05, "random_state": 0})
    models_dir: Path = Path("data/06_models")

    @field_validator("start_timestamp", "end_timestamp", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        # YAML turns an unquoted 2007-07-29 03:10:00 into a datetime; keep one form.
        return value.isoformat(sep=" ") if hasattr(value, "isoformat") else value


class InferencePipelineSettings(_Section):
    batch_size: int = Field(32, gt=0)
    model_id: int | None = None


class Settings(BaseSettings):
    """Everything datamgr reads from config/parameters.yml and the environment."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid")

    db_url: str | None = None
    data_manager: DataManagerSettings = DataManagerSettings()
    training_pipeline: TrainingPipelineSettings = TrainingPipelineSettings()
    inference_pipeline: InferencePipelineSettings = InferencePipelineSettings()
    turbines: dict[str, TurbineSettings] = Field(default_factory=dict)

    @field_validator("turbines")
    @classmethod
    def _turbine_ids(cls, value: dict[str, TurbineSettings]) -> dict[str, TurbineSettings]:
        import re

        bad = [key for key in value if not re.match(TURBINE_ID_PATTERN, key)]
        if bad:
            raise ValueError(f"turbine id {bad[0]!r} must be 1-64 letters, digits, '_', '.' or '-'")
        return value

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL: db_url when given, else the SQLite file at data_manager.db_path."""
        return self.db_url or f"sqlite:///{self.data_manager.db_path}"


def read_config_file(path: Path) -> dict[str, Any]:
    """Read the YAML config into a dict, turning every failure into one ConfigError naming the file."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; pass --config PATH or create it") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"config file {path} is not valid YAML{where}: {problem}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections, not {type(values).__name__}")
    return values


def load_settings(config_path: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings: file < environment < the overrides given here (CLI options).

    Without an explicit path, config/parameters.yml is read when it exists and the built-in
    defaults (the lesson's values) are used when it does not.
    """
    env_path = os.environ.get(f"{ENV_PREFIX}CONFIG")
    explicit = config_path or (Path(env_path) if env_path else None)
    path = explicit or DEFAULT_CONFIG_PATH
    file_values = read_config_file(path) if explicit or path.exists() else {}

    class _FromFile(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (
                init_settings,
                env_settings,
                InitSettingsSource(settings_cls, init_kwargs=file_values),
            )

    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return _FromFile(**given)
    except ValidationError as exc:
        raise ConfigError(_describe_validation_error(exc, path)) from None


def _describe_validation_error(exc: ValidationError, path: Path) -> str:
    """One line naming the first bad key, its value and where it can come from."""
    first = exc.errors()[0]
    key = ".".join(str(part) for part in first["loc"])
    env_name = ENV_PREFIX + "__".join(str(part) for part in first["loc"]).upper()
    more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
    if first["type"] == "extra_forbidden":
        return f"{path}: unknown setting {key}{more}; check the spelling against config/parameters.yml"
    value = first.get("input")
    return f"{path} or {env_name}: setting {key} = {value!r} is invalid: {first['msg']}{more}"
