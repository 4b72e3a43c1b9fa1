"""datamgr as cron runs it: from `/`, with an empty environment, against a project elsewhere.

The crontab lines are read from the README, so that what the README shows is what is tested.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TRAIN_END, TRAIN_START, Invoke, Project, SampleFiles
from tests.test_smoke import DATAMGR

README = Path(__file__).resolve().parents[1] / "README.md"
# What cron gives a job (crontab(5)): next to nothing.
CRON_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/", "LANG": "C.UTF-8"}
CONFIG = f"""\
data_manager:
  history_data_path: history_data/history_database.parquet
  db_path: data/sqlite/app.db
training_pipeline:
  start_timestamp: '{TRAIN_START}'
  end_timestamp: '{TRAIN_END}'
  params: {{max_iter: 60, random_state: 0}}
  models_dir: data/06_models
"""


def make_scada_project(folder: Path, files: SampleFiles) -> Path:
    """The lesson's layout, with relative paths in its config file, and no database yet."""
    (folder / "config").mkdir(parents=True)
    (folder / "config" / "parameters.yml").write_text(CONFIG)
    (folder / "history_data").mkdir()
    shutil.copy(files.history, folder / "history_data" / "history_database.parquet")
    (folder / "data" / "01_raw").mkdir(parents=True)
    shutil.copy(files.inference, folder / "data" / "01_raw" / "inference_data.parquet")
    return folder


def readme_crontab() -> list[tuple[str, str]]:
    """(schedule, command) of every line of the README's crontab block."""
    text = README.read_text()
    block = text[text.index("```cron\n") + len("```cron\n") :]
    block = block[: block.index("```")]
    entries = []
    for line in block.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split(None, 1 if line.startswith("@") else 5)
        entries.append((" ".join(fields[:-1]), fields[-1]))
    return entries


def cron_run(command: str) -> subprocess.CompletedProcess[str]:
    """As cron does it: /bin/sh -c, from /, with cron's environment only."""
    return subprocess.run(
        ["/bin/sh", "-c", command], cwd="/", env=CRON_ENV, capture_output=True, text=True, timeout=300
    )


def database_state(db: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(db) as connection:
        return {
            table: sorted(connection.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
            for table in ("raw_data", "predictions", "model_runs", "quarantine")
        }


def test_readme_crontab_runs_from_root_with_an_empty_environment(tmp_path: Path, sample_files: SampleFiles) -> None:
    assert DATAMGR is not None
    project = make_scada_project(tmp_path / "scada", sample_files)
    logs = tmp_path / "log"
    logs.mkdir()
    entries = readme_crontab()
    assert [schedule for schedule, _ in entries] == ["@reboot", "15 2 * * *", "*/10 * * * *"]
    commands = [
        command.replace("/srv/datamgr/.venv/bin/datamgr", str(Path(DATAMGR).absolute()))
        .replace("/srv/scada", str(project))
        .replace("/var/log/", f"{logs}/")
        for _, command in entries
    ]
    root_before = sorted(os.listdir("/"))

    # init-db, train, then ingest && predict: the order a fresh installation meets them
    for command in commands:
        result = cron_run(command)
        assert (result.returncode, result.stdout, result.stderr) == (0, "", ""), command
    db = project / "data" / "sqlite" / "app.db"
    first = database_state(db)
    assert len(first["raw_data"]) == len(sample_files.history_frame) + len(sample_files.inference_frame)
    assert len(first["model_runs"]) == 1
    assert len(first["predictions"]) == 32
    artifacts = list((project / "data" / "06_models").glob("*.skops"))
    with sqlite3.connect(db) as connection:
        stored = [row[0] for row in connection.execute("SELECT artifact_path FROM model_runs")]
    assert [a.name for a in artifacts] == stored  # stored relative to models_dir
    predictions = (project / "data" / "prod_data" / "latest_predictions.csv").read_text().splitlines()
    assert predictions[0] == "turbine_id,Timestamps,predicted_power,model_id,created_at"
    assert len(predictions) == 33
    # --quiet: not a byte when all is well (train's metrics table included), so cron mails nothing
    assert {log.name: log.read_text() for log in logs.iterdir()} == {"datamgr.log": "", "datamgr-train.log": ""}
    assert sorted(os.listdir("/")) == root_before  # nothing landed in the working directory

    # the next night and the next feed: nothing new, so nothing changes
    for command in commands:
        assert cron_run(command).returncode == 0, command
    assert database_state(db) == first
    assert list((project / "data" / "06_models").glob("*.skops")) == artifacts
    assert sorted(os.listdir("/")) == root_before


def test_relative_command_line_paths_are_taken_from_the_working_directory(
    tmp_path: Path, sample_files: SampleFiles
) -> None:
    """--config and FILE relative to the working directory; the config's own paths relative to the project."""
    assert DATAMGR is not None
    make_scada_project(tmp_path / "scada", sample_files)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config = "../scada/config/parameters.yml"
    for args in (
        ["init-db"],
        ["ingest", "../scada/data/01_raw/inference_data.parquet"],
        ["train"],
        ["predict", "-n", "5", "-f", "csv"],
    ):
        result = subprocess.run(
            [DATAMGR, "--config", config, *args], cwd=elsewhere, env=CRON_ENV, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 6
    assert list(elsewhere.iterdir()) == []
    assert (tmp_path / "scada" / "data" / "sqlite" / "app.db").is_file()
    assert len(list((tmp_path / "scada" / "data" / "06_models").glob("*.skops"))) == 1


def test_predict_finds_the_model_from_any_directory(
    initialized: Project, cli: Invoke, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = initialized.root / "models"
    monkeypatch.setenv("DATAMGR_TRAINING_PIPELINE__MODELS_DIR", "models")  # relative: to the working directory
    assert cli("train").exit_code == 0
    (name,) = [row[0] for row in initialized.sql("SELECT artifact_path FROM model_runs")]
    assert (models / name).is_file()
    monkeypatch.chdir(tmp_path_factory.mktemp("cron-cwd"))
    monkeypatch.setenv("DATAMGR_TRAINING_PIPELINE__MODELS_DIR", str(models))
    outcome = cli("predict", "-n", "3", "-f", "csv")
    assert (outcome.exit_code, len(outcome.stdout.splitlines())) == (0, 4), outcome.stderr


def test_rows_of_older_versions_still_find_their_artifact(
    initialized: Project, cli: Invoke, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Older datamgr stored the path relative to where train ran (models/model_….skops here)."""
    assert cli("train").exit_code == 0
    (name,) = [row[0] for row in initialized.sql("SELECT artifact_path FROM model_runs")]
    initialized.sql("UPDATE model_runs SET artifact_path = :path", path=f"models/{name}")
    monkeypatch.chdir(tmp_path_factory.mktemp("cron-cwd"))
    outcome = cli("predict", "-n", "3", "-f", "csv")
    assert (outcome.exit_code, len(outcome.stdout.splitlines())) == (0, 4), outcome.stderr
    initialized.sql("UPDATE model_runs SET artifact_path = :path", path="models/gone.skops")
    outcome = cli("predict", "-n", "4")  # one row more than predicted: the model has to be loaded
    assert (outcome.exit_code, outcome.stderr) == (
        1,
        f"Error: model 1: artifact {initialized.root / 'models' / 'models' / 'gone.skops'} is missing; "
        "retrain with `datamgr train`\n",
    )


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder another user can reach (pytest's tmp_path is private to its owner)."""
    folder = Path(tempfile.mkdtemp(prefix="datamgr-ro-"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(folder)


def as_unprivileged_user() -> list[str]:
    """The command prefix that runs a process as `nobody` when we are root (root ignores file modes)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot drop to a user that file modes apply to")
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def test_read_only_database_for_a_user_without_write_permission(shared_folder: Path, sample_files: SampleFiles) -> None:
    """chmod, not chattr: the database file and its folder are read-only for the user running datamgr."""
    assert DATAMGR is not None
    db = shared_folder / "db" / "app.db"
    env = {**CRON_ENV, "HOME": str(shared_folder), "DATAMGR_DATA_MANAGER__DB_PATH": str(db)}
    env["DATAMGR_DATA_MANAGER__HISTORY_DATA_PATH"] = str(sample_files.history)
    init = subprocess.run([DATAMGR, "init-db"], cwd=shared_folder, env=env, capture_output=True, text=True)
    assert init.returncode == 0, init.stderr
    csv = shared_folder / "new.csv"
    csv.write_text("Timestamps,Power\n2031-01-01 00:00,1\n")
    csv.chmod(0o644)
    before = database_state(db)
    for path in db.parent.iterdir():
        path.chmod(0o444)
    db.parent.chmod(0o555)
    prefix = as_unprivileged_user()
    probe = subprocess.run([*prefix, DATAMGR, "--version"], cwd=shared_folder, env=env, capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"the unprivileged user cannot run {DATAMGR}: {probe.stderr.decode().strip()}")

    reader = subprocess.run(
        [*prefix, DATAMGR, "last-n", "1", "-f", "csv"], cwd=shared_folder, env=env, capture_output=True, text=True
    )
    writer = subprocess.run(
        [*prefix, DATAMGR, "ingest", str(csv)], cwd=shared_folder, env=env, capture_output=True, text=True
    )
    assert (reader.returncode, len(reader.stdout.splitlines())) == (0, 2), reader.stderr
    assert (writer.returncode, writer.stdout) == (1, "")
    assert writer.stderr == (
        f"Error: database sqlite:///{db}: attempt to write a readonly database; check the file's permissions\n"
    )
    assert database_state(db) == before
