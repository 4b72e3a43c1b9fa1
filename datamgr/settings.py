"""Settings: the config file, overridden by DATAMGR_* environment variables, overridden by CLI options.

`Settings` is a pydantic-settings BaseSettings, and load_settings gives it its sources. Nested keys are
reached from the environment with a double underscore, for example DATAMGR_INFERENCE_PIPELINE__BATCH_SIZE=64
or DATAMGR_DATA_MANAGER__DB_PATH=/srv/scada.db. An empty variable counts as unset. A dict-valued variable
(JSON, such as DATAMGR_TRAINING_PIPELINE__PARAMS='{"alpha": 1.0}') replaces the file's value whole:
merging would leave keys from the file that the new value never meant to keep.

Paths, so that cron can run datamgr from any directory: a relative path written in the config
file (and a default, when a config file is in use) is taken from the project folder, which is the
folder of the config file, or its parent when that folder is named `config` (the lesson's
PROJECT/config/parameters.yml). A relative path given in an environment variable or on the
command line is taken from the working directory, as any shell command's would be.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from datamgr.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("config/parameters.yml")
ENV_PREFIX, ENV_NESTING = "DATAMGR_", "__"
# Read by the command line itself (as --config and --log-format), not settings.
CLI_ONLY_ENV = frozenset({"CONFIG", "LOG_FORMAT"})
# What an option overriding a setting is called, for error messages.
OPTION_NAMES = {"db_url": "--db-url"}
CHECK_SPELLING = "check the spelling against config/parameters.yml"


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
    # A server that accepts the connection but never answers must not hang cron.
    connect_timeout_s: int = Field(10, ge=1)
    # How long a writer waits for another's write lock before giving up.
    lock_timeout_s: int = Field(60, ge=1)
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
            for bound in (low, high):
                if bound is not None and not math.isfinite(bound):  # NaN would turn the check off
                    raise ValueError(f"{name}: the limit {bound} is not a finite number; use numbers or null")
            if low is not None and high is not None and not low < high:
                raise ValueError(f"{name}: the lower limit {low} is not below the upper limit {high}")
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
    # A new model replaces the active one only if its holdout MAE is no worse than the active
    # model's on the same rows by more than this fraction (and it beats its binned power curve).
    promote_tolerance: float = Field(0.05, ge=0.0)

    @field_validator("start_timestamp", "end_timestamp", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        # YAML turns an unquoted 2007-07-29 03:10:00 into a datetime; keep one form.
        return value.isoformat(sep=" ") if hasattr(value, "isoformat") else value

    @field_validator("start_timestamp", "end_timestamp")
    @classmethod
    def _parses(cls, value: str) -> str:
        # Checked here so that a bad value is blamed on the file or variable it came from.
        from datamgr.timestamps import EXAMPLE, parse_instant

        try:
            parse_instant(value)
        except ConfigError:
            pass  # only a zone can raise it, and the zone is checked with its own setting
        except Exception:
            raise ValueError(f"not a valid timestamp; use ISO 8601 such as {EXAMPLE}") from None
        return value


# The largest count or id a database integer holds (SQL's BIGINT).
MAX_INT = 2**63 - 1


class InferencePipelineSettings(_Section):
    batch_size: int = Field(32, gt=0, le=MAX_INT)
    model_id: int | None = Field(None, ge=1, le=MAX_INT)


class MonitoringSettings(_Section):
    """Thresholds of `status` (dbt's source freshness) and `evaluate` (NannyML's alerts)."""

    warn_after: str = "30m"
    error_after: str = "2h"
    window: str = "1d"
    mae_alert_ratio: float = Field(1.5, gt=1.0)

    @field_validator("warn_after", "error_after", "window")
    @classmethod
    def _duration(cls, value: str) -> str:
        from datamgr.monitoring.windows import parse_duration

        try:
            parse_duration(value, "a duration")
        except Exception:
            raise ValueError("not a duration; use a positive number and a unit, such as 30m, 2h or 7d") from None
        return value


SECTIONS: dict[str, type[_Section]] = {
    "data_manager": DataManagerSettings,
    "training_pipeline": TrainingPipelineSettings,
    "inference_pipeline": InferencePipelineSettings,
    "monitoring": MonitoringSettings,
}

Key = tuple[str, ...]
# What one load_settings call reads below the options (environment, config file); none for Settings(...) alone.
_SOURCES: ContextVar[tuple[PydanticBaseSettingsSource, ...]] = ContextVar("datamgr_settings_sources", default=())


class Settings(BaseSettings):
    """Everything datamgr reads from the config file, the environment and the options."""

    model_config = SettingsConfigDict(
        extra="forbid", env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_NESTING, env_ignore_empty=True
    )

    db_url: str | None = None
    data_manager: DataManagerSettings = Field(default_factory=DataManagerSettings)
    training_pipeline: TrainingPipelineSettings = Field(default_factory=TrainingPipelineSettings)
    inference_pipeline: InferencePipelineSettings = Field(default_factory=InferencePipelineSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    turbines: dict[str, TurbineSettings] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Options first, then what load_settings read; Settings(...) alone is its arguments over the defaults."""
        return (init_settings, *_SOURCES.get())

    @field_validator("turbines")
    @classmethod
    def _turbine_ids(cls, value: dict[str, TurbineSettings]) -> dict[str, TurbineSettings]:
        import re

        bad = [key for key in value if not re.fullmatch(TURBINE_ID_PATTERN, key)]
        if bad:
            raise ValueError(f"turbine id {bad[0]!r} must be 1-64 letters, digits, '_', '.' or '-'")
        return value

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL: db_url when given, else the SQLite file at data_manager.db_path
        (escaped, so that a path with `%`, `?` or `#` names that very file)."""
        if self.db_url:
            return self.db_url
        from sqlalchemy.engine import URL

        return URL.create("sqlite", database=str(self.data_manager.db_path)).render_as_string(hide_password=False)


# Every setting one value can be given for: a top-level field, a whole section, or one key of a section.
SETTABLE: dict[Key, FieldInfo] = {(name,): info for name, info in Settings.model_fields.items()} | {
    (section, name): info for section, model in SECTIONS.items() for name, info in model.model_fields.items()
}

JSON_EXAMPLES: dict[Key, str] = {
    ("turbines",): '{"T01": {"rated_power_kw": 2000}}',
    ("data_manager", "column_map"): '{"Ws_avg": "WindSpeed"}',
    ("training_pipeline", "params"): '{"max_iter": 100}',
    ("data_manager", "limits"): '{"Power": [0, 2600]}',
}


class EnvironmentSource(EnvSettingsSource):
    """DATAMGR_* variables of the given mapping, nested and JSON-decoded by pydantic-settings; unlike the built-in
    source, it refuses a name that sets nothing (a typo is not ignored) and blames bad JSON on its variable."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)  # it reads os.environ; env_vars is replaced by the given mapping's below
        self.names: dict[Key, str] = {}  # the variable each setting came from
        for name in sorted(environ):
            setting = name[len(ENV_PREFIX) :]
            if not name.startswith(ENV_PREFIX) or setting in CLI_ONLY_ENV or environ[name] == "":
                continue  # not a setting, or unset (env_ignore_empty)
            key = tuple(setting.lower().split(ENV_NESTING))
            if key not in SETTABLE:
                raise ConfigError(f"{name}: unknown setting {'.'.join(key)}; {CHECK_SPELLING}")
            self.names[key] = name
        self.env_vars = {name.lower(): environ[name] for name in self.names.values()}

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        try:
            return super().decode_complex_value(field_name, field, value)
        except json.JSONDecodeError as exc:
            key = next(key for key, info in SETTABLE.items() if info is field)
            name, example = self.names[key], JSON_EXAMPLES.get(key, '{"key": "value"}')
            raise ConfigError(
                f"{name}: not valid JSON ({exc.msg} at character {exc.pos + 1}); write the value as JSON, "
                f"for example {name}='{example}'"
            ) from None


class ConfigFileSource(PydanticBaseSettingsSource):
    """The YAML config file, with read_config_file's messages. Its relative paths (and the defaults') are
    taken from the project folder here, where it is still known which values the file gave."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        super().__init__(settings_cls)
        self.values = read_config_file(path)
        base = project_dir(path)
        for section, model in SECTIONS.items():
            given = self.values.setdefault(section, {})
            if not isinstance(given, dict):
                continue  # refused when validated
            for name, info in model.model_fields.items():
                value = given.get(name, info.default)
                if info.annotation is Path and isinstance(value, str | Path) and not Path(value).is_absolute():
                    given[name] = base / value
        if isinstance(self.values.get("db_url"), str):
            self.values["db_url"] = _resolve_sqlite_url(self.values["db_url"], base)

    def drop(self, keys: Iterable[Key]) -> None:
        """Forget the file's value at each key another source sets: that value replaces it whole, not merged."""
        for key in keys:
            parent = self.values.get(key[0]) if len(key) == 2 else self.values
            if isinstance(parent, dict):
                parent.pop(key[-1], None)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self.values


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
        values = yaml.load(text, Loader=unique_keys_loader())
    except DuplicateKey as exc:
        raise ConfigError(
            f"config file {path}: key {exc.key!r} is given twice (again at line {exc.line}); keep one"
        ) from None
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


class DuplicateKey(Exception):
    def __init__(self, key: object, line: int) -> None:
        super().__init__(key, line)
        self.key, self.line = key, line


def unique_keys_loader() -> type:
    """YAML's safe loader, refusing a key given twice in one mapping (YAML would keep the last silently)."""
    import yaml

    class UniqueKeys(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            seen: set[object] = set()
            for key_node, _value in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise DuplicateKey(key, key_node.start_mark.line + 1)
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return UniqueKeys


def project_dir(config_path: Path) -> Path:
    """The folder relative paths in a config file are taken from (see the module's docstring)."""
    folder = config_path.parent
    return folder.parent if folder.name == "config" else folder


def load_settings(
    config_path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_from_env: bool = False,
    **overrides: Any,
) -> Settings:
    """Build the settings: file < environment < the overrides given here (CLI options).

    Without an explicit path (argument or DATAMGR_CONFIG), config/parameters.yml is read when it exists,
    else the built-in defaults (the lesson's) hold. config_from_env: config_path is DATAMGR_CONFIG's value.
    """
    environ = os.environ if environ is None else environ
    env_path = environ.get(f"{ENV_PREFIX}CONFIG")
    if config_path is None and env_path:
        config_path, config_from_env = Path(env_path), True
    path = config_path or DEFAULT_CONFIG_PATH
    try:
        file = ConfigFileSource(Settings, path) if config_path is not None or path.exists() else None
    except ConfigError as exc:
        raise ConfigError(f"{ENV_PREFIX}CONFIG: {exc}" if config_from_env else str(exc)) from None
    env = EnvironmentSource(Settings, environ)
    options = {name: value for name, value in overrides.items() if value is not None}
    # Where each key that is not the file's came from: an option wins over the variable of the same key.
    origins = env.names | {(name,): OPTION_NAMES.get(name, f"option {name}") for name in options}
    if file is not None:
        file.drop(origins)
    token = _SOURCES.set((env,) if file is None else (env, file))
    try:
        return Settings(**options)
    except ValidationError as exc:
        raise ConfigError(_describe_validation_error(exc, str(path), origins)) from None
    finally:
        _SOURCES.reset(token)


def _describe_validation_error(exc: ValidationError, config: str, origins: Mapping[Key, str]) -> str:
    """One line naming the first bad key, its value and the one place it came from."""
    first = exc.errors()[0]
    loc = tuple(str(part) for part in first["loc"])
    key = ".".join(loc)
    source = origins.get(loc[:2]) or origins.get(loc[:1]) or config
    more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
    if first["type"] == "extra_forbidden":
        return f"{source}: unknown setting {key}{more}; {CHECK_SPELLING}"
    return f"{source}: setting {key} = {first.get('input')!r} is invalid: {first['msg']}{more}"


def _resolve_sqlite_url(url: str, base: Path) -> str:
    """sqlite:///relative.db written in the config file: relative to the project folder too."""
    if not url.startswith("sqlite"):
        return url
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return url  # reported as an invalid URL when the engine is made
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:") or Path(database).is_absolute():
        return url
    return parsed.set(database=str(base / database)).render_as_string(hide_password=False)
