"""Where each setting comes from: paths relative to the config file, environment overrides that
replace (never merge), errors that name the variable, empty variables as unset, options first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datamgr.errors import ConfigError
from datamgr.settings import Settings, TurbineSettings, load_settings
from tests.conftest import Invoke, Project


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A working directory of its own below tmp_path (conftest's autouse fixture has already
    removed every DATAMGR_* variable)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


PATHS = """\
data_manager:
  history_data_path: history_data/h.parquet
  db_path: data/app.db
training_pipeline:
  models_dir: /srv/models
"""


def test_relative_paths_in_the_config_file_are_taken_from_the_project_folder(clean_env: Path) -> None:
    config = write(clean_env / "scada" / "config" / "parameters.yml", PATHS)
    settings = load_settings(config)
    manager = settings.data_manager
    assert manager.history_data_path == clean_env / "scada" / "history_data" / "h.parquet"
    assert manager.db_path == clean_env / "scada" / "data" / "app.db"
    assert manager.prod_data_path == clean_env / "scada" / "data" / "prod_data" / "prod_database.parquet"  # default
    assert settings.training_pipeline.models_dir == Path("/srv/models")  # absolute stays
    assert settings.database_url == f"sqlite:///{clean_env / 'scada' / 'data' / 'app.db'}"


def test_a_config_file_outside_a_config_folder_is_its_own_project_folder(clean_env: Path) -> None:
    config = write(clean_env / "etc" / "datamgr.yml", PATHS + "db_url: sqlite:///db/app.db\n")
    settings = load_settings(config)
    assert settings.data_manager.history_data_path == clean_env / "etc" / "history_data" / "h.parquet"
    assert settings.database_url == f"sqlite:///{clean_env / 'etc' / 'db' / 'app.db'}"


def test_relative_paths_from_the_environment_or_options_are_taken_from_the_working_directory(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(clean_env / "scada" / "config" / "parameters.yml", PATHS)
    monkeypatch.setenv("DATAMGR_DATA_MANAGER__DB_PATH", "here.db")
    monkeypatch.setenv("DATAMGR_TRAINING_PIPELINE__MODELS_DIR", "models")
    settings = load_settings(config, db_url="sqlite:///option.db")
    assert settings.data_manager.db_path == Path("here.db")
    assert settings.training_pipeline.models_dir == Path("models")
    assert settings.database_url == "sqlite:///option.db"
    assert settings.data_manager.history_data_path == clean_env / "scada" / "history_data" / "h.parquet"


def test_without_a_config_file_defaults_are_taken_from_the_working_directory(clean_env: Path) -> None:
    assert load_settings().data_manager.db_path == Path("data/sqlite/app.db")


def test_dict_valued_variables_replace_the_files_value(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(
        clean_env / "config" / "parameters.yml",
        "training_pipeline:\n  params: {max_iter: 300, learning_rate: 0.05}\n"
        "data_manager:\n  limits: {Power: [-100, 2600], WindSpeed: [0, 60]}\n",
    )
    monkeypatch.setenv("DATAMGR_TRAINING_PIPELINE__PARAMS", '{"alpha": 2.0}')
    monkeypatch.setenv("DATAMGR_DATA_MANAGER__LIMITS", '{"Power": [0, 100]}')
    settings = load_settings(config)
    assert settings.training_pipeline.params == {"alpha": 2.0}
    assert settings.data_manager.limits == {"Power": (0.0, 100.0)}


def test_switching_the_estimator_by_environment_alone(project: Project, cli: Invoke, monkeypatch) -> None:
    """The lesson's params (learning_rate…) do not fit Ridge; replacing them by {} must."""
    write(project.root / "config" / "parameters.yml", "training_pipeline:\n  params: {learning_rate: 0.05}\n")
    monkeypatch.setenv("DATAMGR_TRAINING_PIPELINE__ESTIMATOR", "Ridge")
    monkeypatch.setenv("DATAMGR_TRAINING_PIPELINE__PARAMS", "{}")
    assert cli("init-db").exit_code == 0
    outcome = cli("train")
    assert outcome.exit_code == 0, outcome.stderr
    (estimator, params) = project.sql("SELECT estimator, params FROM model_runs")[0]
    assert (estimator, json.loads(params) if isinstance(params, str) else params) == ("Ridge", {})


ENV_ERRORS = [
    (
        "DATAMGR_INFERENCE_PIPELINE__BATCHSIZE",
        "64",
        "DATAMGR_INFERENCE_PIPELINE__BATCHSIZE: unknown setting inference_pipeline.batchsize; check the spelling "
        "against config/parameters.yml",
    ),
    (
        "DATAMGR_DBURL",
        "sqlite:///x.db",
        "DATAMGR_DBURL: unknown setting dburl; check the spelling against config/parameters.yml",
    ),
    (
        "DATAMGR_INFERENCE_PIPELINE__BATCH_SIZE",
        "many",
        "DATAMGR_INFERENCE_PIPELINE__BATCH_SIZE: setting inference_pipeline.batch_size = 'many' is invalid: "
        "Input should be a valid integer, unable to parse string as an integer",
    ),
    (
        "DATAMGR_TRAINING_PIPELINE__PARAMS",
        "{max_iter: 5}",
        "DATAMGR_TRAINING_PIPELINE__PARAMS: not valid JSON (Expecting property name enclosed in double quotes at "
        """character 2); write the value as JSON, for example DATAMGR_TRAINING_PIPELINE__PARAMS='{"max_iter": 100}'""",
    ),
    (
        "DATAMGR_TRAINING_PIPELINE__PARAMS",
        "[1, 2]",
        "DATAMGR_TRAINING_PIPELINE__PARAMS: setting training_pipeline.params = [1, 2] is invalid: "
        "Input should be a valid dictionary",
    ),
    (
        "DATAMGR_DATA_MANAGER__LIMITS",
        '{"Wind": [0, 60]}',
        "DATAMGR_DATA_MANAGER__LIMITS: setting data_manager.limits = {'Wind': [0, 60]} is invalid: Value error, "
        "'Wind' is not a sensor column; known: WindSpeed, WindDirAbs, WindDirRel, Power, Pitch, GenRPM, RotorRPM, "
        "EnvirTemp, NacelTemp, GearOilTemp, GearBearTemp, GenPh1Temp, GenBearTemp",
    ),
    (
        "DATAMGR_DATA_MANAGER__LOCK_TIMEOUT_S",
        "0",
        "DATAMGR_DATA_MANAGER__LOCK_TIMEOUT_S: setting data_manager.lock_timeout_s = '0' is invalid: "
        "Input should be greater than or equal to 1",
    ),
    (
        "DATAMGR_TRAINING_PIPELINE__END_TIMESTAMP",
        "soon",
        "DATAMGR_TRAINING_PIPELINE__END_TIMESTAMP: setting training_pipeline.end_timestamp = 'soon' is invalid: "
        "Value error, not a valid timestamp; use ISO 8601 such as '2007-07-29 03:10:00' or "
        "'2007-07-29T03:10:00+02:00'",
    ),
]


@pytest.mark.parametrize(("name", "value", "message"), ENV_ERRORS, ids=[f"{n}={v}" for n, v, _ in ENV_ERRORS])
def test_errors_name_the_variable_they_come_from(
    initialized: Project, cli: Invoke, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    write(initialized.root / "config" / "parameters.yml", "inference_pipeline:\n  batch_size: 5\n")
    monkeypatch.setenv(name, value)
    before = initialized.snapshot()
    outcome = cli("ingest", initialized.files.inference)
    assert (outcome.exit_code, outcome.stdout, outcome.stderr) == (1, "", f"Error: {message}\n")
    assert initialized.snapshot() == before


def test_the_same_bad_value_in_the_file_names_the_file(clean_env: Path) -> None:
    write(clean_env / "work" / "config" / "parameters.yml", "data_manager:\n  lock_timeout_s: 0\n")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == (
        "config/parameters.yml: setting data_manager.lock_timeout_s = 0 is invalid: "
        "Input should be greater than or equal to 1"
    )


def test_a_missing_config_file_names_the_variable_it_came_from(
    clean_env: Path, cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATAMGR_CONFIG", "/nowhere/parameters.yml")
    outcome = cli("last-n", "1")
    assert (outcome.exit_code, outcome.stderr) == (
        1,
        "Error: DATAMGR_CONFIG: config file /nowhere/parameters.yml does not exist; pass --config PATH or create it\n",
    )
    given = cli("--config", "/nowhere/parameters.yml", "last-n", "1")
    assert (
        given.stderr == "Error: config file /nowhere/parameters.yml does not exist; pass --config PATH or create it\n"
    )


def test_an_empty_variable_means_unset(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(clean_env / "work" / "config" / "parameters.yml", "inference_pipeline:\n  batch_size: 3\n")
    for name in ("DATAMGR_INFERENCE_PIPELINE__BATCH_SIZE", "DATAMGR_DB_URL", "DATAMGR_CONFIG", "DATAMGR_FOO"):
        monkeypatch.setenv(name, "")
    settings = load_settings()
    assert settings.inference_pipeline.batch_size == 3
    assert settings.database_url == "sqlite:///data/sqlite/app.db"


def test_an_empty_variable_means_unset_on_the_command_line(
    initialized: Project, cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("train").exit_code == 0
    monkeypatch.setenv("DATAMGR_INFERENCE_PIPELINE__BATCH_SIZE", "")
    monkeypatch.setenv("DATAMGR_CONFIG", "")
    monkeypatch.setenv("DATAMGR_LOG_FORMAT", "")
    outcome = cli("predict", "-f", "csv")
    assert (outcome.exit_code, len(outcome.stdout.splitlines())) == (0, 33), outcome.stderr


def test_db_url_option_beats_the_environment_variable(initialized: Project, cli: Invoke, monkeypatch) -> None:
    unused = initialized.root / "from-environment.db"
    monkeypatch.setenv("DATAMGR_DB_URL", f"sqlite:///{unused}")
    outcome = cli("--db-url", initialized.url, "last-n", "2", "-f", "json")
    assert outcome.exit_code == 0, outcome.stderr
    assert [row["Timestamps"] for row in json.loads(outcome.stdout)] == ["2007-09-30T23:40:00Z", "2007-09-30T23:50:00Z"]
    assert not unused.exists()
    without = cli("last-n", "2")  # and the variable is what is used without the option
    assert (without.exit_code, without.stderr) == (
        1,
        f"Error: database file {unused} does not exist; run `datamgr init-db` first\n",
    )


def test_config_and_db_url_are_both_used(
    initialized: Project, cli: Invoke, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """--config brings the settings (batch size, models folder), --db-url the database; neither hides the other."""
    for name in ("DATAMGR_DB_URL", "DATAMGR_DATA_MANAGER__DB_PATH", "DATAMGR_TRAINING_PIPELINE__MODELS_DIR"):
        monkeypatch.delenv(name, raising=False)
    site = tmp_path_factory.mktemp("site")
    config = write(site / "config" / "parameters.yml", "inference_pipeline:\n  batch_size: 3\n")
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    both = ("--config", str(config), "--db-url", initialized.url)
    assert cli(*both, "train").exit_code == 0
    outcome = cli(*both, "predict", "-f", "csv")
    assert (outcome.exit_code, len(outcome.stdout.splitlines())) == (0, 4), outcome.stderr
    assert initialized.rows("predictions") == 3
    assert len(list((site / "data" / "06_models").glob("*.skops"))) == 1
    assert not (site / "data" / "sqlite").exists()  # the config's own SQLite file was not used


def test_a_database_path_with_url_characters_names_that_very_file(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, cli: Invoke
) -> None:
    """`%`, `?` and `#` mean something in a URL; in data_manager.db_path they are just characters."""
    from sqlalchemy.engine import make_url

    db = clean_env / "we ird %41 ?#&;" / "a b%20?x=1#.db"
    monkeypatch.setenv("DATAMGR_DATA_MANAGER__DB_PATH", str(db))
    assert make_url(load_settings().database_url).database == str(db)
    outcome = cli("--quiet", "init-db", "--no-history")
    assert (outcome.exit_code, outcome.stderr) == (0, "")
    assert db.is_file()
    assert sorted(p.name for p in db.parent.iterdir()) == ["a b%20?x=1#.db"]
    assert not (clean_env / "we ird A ").exists()  # what an unescaped URL made of the path


def test_the_given_environment_is_read_not_the_process_one(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAMGR_INFERENCE_PIPELINE__BATCH_SIZE", "7")
    assert load_settings(environ={"DATAMGR_INFERENCE_PIPELINE__BATCH_SIZE": "9"}).inference_pipeline.batch_size == 9
    assert load_settings(environ={}).inference_pipeline.batch_size == 32
    assert load_settings().inference_pipeline.batch_size == 7


def test_settings_built_directly_are_their_arguments_over_the_defaults(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only load_settings reads the environment and the file: Settings() stays the built-in defaults."""
    write(clean_env / "work" / "config" / "parameters.yml", "inference_pipeline:\n  batch_size: 3\n")
    monkeypatch.setenv("DATAMGR_INFERENCE_PIPELINE__BATCH_SIZE", "7")
    assert Settings().inference_pipeline.batch_size == 32
    assert Settings(db_url="sqlite:///given.db").database_url == "sqlite:///given.db"


def test_a_whole_section_or_the_turbines_given_as_json_replace_the_files(clean_env: Path) -> None:
    config = write(
        clean_env / "scada" / "config" / "parameters.yml",
        "data_manager:\n  db_path: file.db\n  lock_timeout_s: 5\n  raw_data_table_name: raw\n"
        "turbines:\n  T01: {rated_power_kw: 2000}\n  T02: {name: second}\n",
    )
    environ = {
        "DATAMGR_DATA_MANAGER": '{"lock_timeout_s": 9}',
        "DATAMGR_DATA_MANAGER__CONNECT_TIMEOUT_S": "3",
        "DATAMGR_TURBINES": '{"T03": {"hub_height_m": 80}}',
    }
    settings = load_settings(config, environ=environ)
    manager = settings.data_manager
    assert (manager.lock_timeout_s, manager.connect_timeout_s, manager.raw_data_table_name) == (9, 3, "raw_data")
    assert manager.db_path == Path("data/sqlite/app.db")  # the section came from the environment: not the file's
    assert settings.turbines == {"T03": TurbineSettings(hub_height_m=80)}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "DATAMGR_TURBINES",
            "{T01}",
            "DATAMGR_TURBINES: not valid JSON (Expecting property name enclosed in double quotes at character 2); "
            """write the value as JSON, for example DATAMGR_TURBINES='{"T01": {"rated_power_kw": 2000}}'""",
        ),
        (
            "DATAMGR_MONITORING",
            "nope",
            "DATAMGR_MONITORING: not valid JSON (Expecting value at character 1); write the value as JSON, "
            """for example DATAMGR_MONITORING='{"key": "value"}'""",
        ),
        (
            "DATAMGR_TURBINES__T01__NAME",
            "first",
            "DATAMGR_TURBINES__T01__NAME: unknown setting turbines.t01.name; check the spelling against "
            "config/parameters.yml",
        ),
        (
            "DATAMGR_DATA_MANAGER__LIMITS__POWER",
            "[0, 100]",
            "DATAMGR_DATA_MANAGER__LIMITS__POWER: unknown setting data_manager.limits.power; check the spelling "
            "against config/parameters.yml",
        ),
        (
            "DATAMGR_TURBINES",
            '{"T01": {"hub_height_m": -1}}',
            "DATAMGR_TURBINES: setting turbines.T01.hub_height_m = -1 is invalid: Input should be greater than 0",
        ),
    ],
)
def test_a_bad_variable_is_blamed_by_name(clean_env: Path, name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={name: value})
    assert str(caught.value) == message


def test_a_bad_option_is_blamed_by_its_name(clean_env: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"DATAMGR_DB_URL": "sqlite:///env.db"}, db_url=5)
    assert str(caught.value) == "--db-url: setting db_url = 5 is invalid: Input should be a valid string"


def test_the_variables_the_command_line_reads_are_not_settings(clean_env: Path) -> None:
    config = write(clean_env / "site" / "config" / "parameters.yml", "inference_pipeline:\n  batch_size: 3\n")
    settings = load_settings(environ={"DATAMGR_CONFIG": str(config), "DATAMGR_LOG_FORMAT": "json"})
    assert settings.inference_pipeline.batch_size == 3


def test_a_bad_config_file_is_reported_before_a_bad_variable(clean_env: Path) -> None:
    write(clean_env / "work" / "config" / "parameters.yml", "data_manager: [1, 2\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"DATAMGR_DBURL": "sqlite:///x.db"})
    assert str(caught.value).startswith("config file config/parameters.yml is not valid YAML at line 2, column 1")
