"""Settings precedence (file < environment < CLI) and one clear error per bad config."""

from __future__ import annotations

from pathlib import Path

import pytest

from datamgr.errors import ConfigError
from datamgr.settings import Settings, load_settings, read_config_file
from tests.conftest import Invoke, Project


@pytest.fixture
def clean_env(isolated_environment: Path) -> Path:
    """tmp_path, the working directory, with no DATAMGR_* variable (conftest's autouse fixture)."""
    return isolated_environment


def write_config(folder: Path, text: str) -> Path:
    path = folder / "config" / "parameters.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_are_the_lessons(clean_env: Path) -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///data/sqlite/app.db"
    assert settings.data_manager.history_data_path == Path("history_data/history_database.parquet")
    assert settings.data_manager.prod_data_path == Path("data/prod_data/prod_database.parquet")
    assert settings.data_manager.raw_data_table_name == "raw_data"
    assert settings.data_manager.predictions_table_name == "predictions"
    assert settings.training_pipeline.start_timestamp == "2007-07-29 03:10:00"
    assert settings.training_pipeline.end_timestamp == "2008-02-22 11:00:00"
    assert settings.inference_pipeline.batch_size == 32


def test_shipped_config_matches_defaults() -> None:
    repo_config = Path(__file__).resolve().parents[1] / "config" / "parameters.yml"
    assert Settings.model_validate(read_config_file(repo_config)) == Settings()


def test_precedence_file_then_env_then_cli(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(clean_env, "inference_pipeline:\n  batch_size: 10\ndata_manager:\n  db_path: file.db\n")
    assert load_settings().inference_pipeline.batch_size == 10
    assert load_settings().database_url == "sqlite:///file.db"
    monkeypatch.setenv("DATAMGR_INFERENCE_PIPELINE__BATCH_SIZE", "20")
    monkeypatch.setenv("DATAMGR_DB_URL", "sqlite:///env.db")
    settings = load_settings()
    assert settings.inference_pipeline.batch_size == 20
    assert settings.database_url == "sqlite:///env.db"
    assert settings.data_manager.db_path == Path("file.db")  # env overrides one key, not the section
    assert load_settings(db_url="sqlite:///cli.db").database_url == "sqlite:///cli.db"


def test_cli_config_option_and_db_url(project: Project, cli: Invoke) -> None:
    config = write_config(project.root / "elsewhere", "inference_pipeline:\n  batch_size: 3\n")
    assert cli("init-db").exit_code == 0
    assert cli("train").exit_code == 0
    outcome = cli("--config", config, "predict", "-f", "csv")
    assert outcome.exit_code == 0, outcome.stderr
    assert len(outcome.stdout.splitlines()) == 1 + 3


def test_unquoted_yaml_timestamps_are_accepted(clean_env: Path) -> None:
    write_config(clean_env, "training_pipeline:\n  start_timestamp: 2007-07-29 03:10:00\n")
    assert load_settings().training_pipeline.start_timestamp == "2007-07-29 03:10:00"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "inference_pipeline:\n  batch_size: many\n",
            "config/parameters.yml: setting inference_pipeline.batch_size "
            "= 'many' is invalid: Input should be a valid integer, unable to parse string as an integer",
        ),
        (
            "inference_pipeline:\n  batch_size: 0\n",
            "config/parameters.yml: setting inference_pipeline.batch_size "
            "= 0 is invalid: Input should be greater than 0",
        ),
        (
            "data_manager:\n  db_pth: x.db\n",
            "config/parameters.yml: unknown setting data_manager.db_pth; check the spelling against "
            "config/parameters.yml",
        ),
        (
            "data_manager: [1, 2\n",
            "config file config/parameters.yml is not valid YAML at line 2, column 1: "
            "expected ',' or ']', but got '<stream end>'",
        ),
        (
            "- just\n- a list\n",
            "config file config/parameters.yml must hold a mapping of sections, not list",
        ),
        (
            "data_manager:\n  naive_timezone: Mars/Olympus\n",
            "config/parameters.yml: setting data_manager.naive_timezone = "
            "'Mars/Olympus' is invalid: Value error, unknown time zone 'Mars/Olympus'; use an IANA name such as UTC "
            "or Europe/Madrid",
        ),
    ],
)
def test_bad_config_is_one_clear_error(clean_env: Path, text: str, message: str) -> None:
    write_config(clean_env, text)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == message


def test_explicit_missing_config_is_an_error(clean_env: Path, cli: Invoke) -> None:
    outcome = cli("--config", "nope.yml", "last-n", "1")
    assert outcome.exit_code == 1
    assert outcome.stderr == "Error: config file nope.yml does not exist; pass --config PATH or create it\n"


def test_unreadable_config_is_an_error(clean_env: Path, cli: Invoke) -> None:
    folder = clean_env / "a-folder.yml"
    folder.mkdir()
    outcome = cli("--config", folder, "last-n", "1")
    assert outcome.exit_code == 1
    assert outcome.stderr.startswith(f"Error: cannot read config file {folder}: ")


def test_a_key_given_twice_is_refused_with_its_line(clean_env: Path) -> None:
    path = write_config(clean_env, "inference_pipeline:\n  batch_size: 32\n  batch_size: 64\n")
    with pytest.raises(ConfigError) as refused:
        load_settings(path)
    assert str(refused.value) == f"config file {path}: key 'batch_size' is given twice (again at line 3); keep one"
    twice = write_config(clean_env, "monitoring:\n  window: 1d\nmonitoring:\n  window: 7d\n")
    with pytest.raises(ConfigError, match=r"key 'monitoring' is given twice \(again at line 3\)"):
        load_settings(twice)


@pytest.mark.parametrize(
    ("limits", "problem"),
    [
        ("[.nan, .inf]", "the limit nan is not a finite number; use numbers or null"),
        ("[0, .inf]", "the limit inf is not a finite number; use numbers or null"),
        ("[100, 100]", "the lower limit 100.0 is not below the upper limit 100.0"),
        ("[2600, 0]", "the lower limit 2600.0 is not below the upper limit 0.0"),
    ],
)
def test_limits_are_finite_and_ordered(clean_env: Path, limits: str, problem: str) -> None:
    path = write_config(clean_env, f"data_manager:\n  limits:\n    Power: {limits}\n")
    with pytest.raises(ConfigError) as refused:
        load_settings(path)
    assert str(refused.value).startswith(f"{path}: setting data_manager.limits = ")
    assert f"Power: {problem}" in str(refused.value)


def test_a_blank_limit_still_means_no_bound(clean_env: Path) -> None:
    path = write_config(clean_env, "data_manager:\n  limits:\n    Power: [null, 3000]\n")
    assert load_settings(path).data_manager.limits["Power"] == (None, 3000.0)
