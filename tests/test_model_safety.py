"""Model artifacts datamgr must not load or write badly: a type outside the narrow trust list, bytes
that are not a skops file, a full disk while training, and folders or artifacts others may write."""

from __future__ import annotations

import builtins
import hashlib
import os
import re
import resource
import signal
import stat
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from datamgr.errors import ModelError
from datamgr.model_store import DATA_TYPES, ESTIMATOR_TYPES, TRUSTED_TYPES, load_model, save_model, types_in
from datamgr.pipelines.training import ESTIMATORS, make_estimator
from tests.conftest import Invoke, Project
from tests.test_smoke import DATAMGR

WARN = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ WARNING "
EXEC_TYPES = "builtins.exec, sklearn.preprocessing._function_transformer.FunctionTransformer"

# Every estimator a config may name, with the params that change what its artifact holds (losses,
# sampling, early stopping): the trust list must be all of them need.
VARIANTS: dict[str, list[dict[str, Any]]] = {
    "HistGradientBoostingRegressor": [
        {"max_iter": 5},
        {"max_iter": 5, "loss": "absolute_error"},
        {"max_iter": 5, "loss": "quantile", "quantile": 0.5},
        {"max_iter": 5, "loss": "poisson"},
        {"max_iter": 5, "loss": "gamma"},
        {"max_iter": 30, "early_stopping": True, "random_state": 0, "max_features": 0.5},
    ],
    "RandomForestRegressor": [{"n_estimators": 3}, {"n_estimators": 3, "max_samples": 0.5, "random_state": 1}],
    "ExtraTreesRegressor": [{"n_estimators": 3}, {"n_estimators": 3, "bootstrap": True, "max_samples": 0.5}],
    "GradientBoostingRegressor": [
        {"n_estimators": 3},
        {"n_estimators": 3, "loss": "huber"},
        {"n_estimators": 3, "loss": "quantile"},
        {"n_estimators": 3, "loss": "absolute_error", "subsample": 0.5, "random_state": 1},
        {"n_estimators": 3, "init": "zero"},
    ],
    "Ridge": [{}, {"solver": "sag"}],
    "LinearRegression": [{}, {"positive": True}],
}


def features_with_gaps() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    features = pd.DataFrame(rng.uniform(0, 20, (300, 4)), columns=["WindSpeed", "Pitch", "GenRPM", "EnvirTemp"])
    features.iloc[::7, 1] = np.nan
    return features, features.fillna(0).sum(axis=1) + 1


def test_the_trust_list_is_exactly_what_every_estimator_needs(tmp_path: Path) -> None:
    assert set(VARIANTS) == set(ESTIMATORS)
    features, target = features_with_gaps()
    used: set[str] = set()
    for name, variants in VARIANTS.items():
        for params in variants:
            path = tmp_path / "model.skops"
            digest = save_model(make_estimator(name, params).fit(features, target), path)
            held = types_in(path.read_bytes(), "model")
            assert held <= TRUSTED_TYPES, (name, params, held - TRUSTED_TYPES)
            loaded = load_model(path, digest, model_id=1)
            assert loaded.predict(features.head(3)).shape == (3,)
            used |= held
    assert used >= ESTIMATOR_TYPES  # nothing trusted that no estimator holds
    assert not any(name.endswith(".") for name in TRUSTED_TYPES)  # names, never prefixes
    assert {name for name in TRUSTED_TYPES if name.startswith("builtins.")} == {
        f"builtins.{kind}" for kind in ("dict", "list", "tuple", "str", "int", "float", "bool")
    }
    assert {name.split(".")[0] for name in TRUSTED_TYPES} == {"builtins", "numpy", "sklearn"}
    assert ESTIMATOR_TYPES.isdisjoint(DATA_TYPES)


def exec_pipeline() -> Any:
    return make_pipeline(FunctionTransformer(func=builtins.exec), Ridge())


def test_a_function_transformer_calling_exec_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    digest = save_model(exec_pipeline(), path)
    with pytest.raises(ModelError) as refused:
        load_model(path, digest, model_id=5)
    assert str(refused.value) == f"model 5: artifact {path} holds types datamgr does not trust: {EXEC_TYPES}"


def test_the_trust_list_holds_when_skops_was_imported_with_its_own_defaults(tmp_path: Path) -> None:
    """skops' default list (every scikit-learn estimator, FunctionTransformer among them) is built
    when skops.io is imported before datamgr; datamgr's decision must not depend on it."""
    code = (
        "import builtins, sys\n"
        "from pathlib import Path\n"
        "import skops.io\n"
        "from sklearn.linear_model import Ridge\n"
        "from sklearn.pipeline import make_pipeline\n"
        "from sklearn.preprocessing import FunctionTransformer\n"
        "from datamgr.errors import ModelError\n"
        "from datamgr.model_store import load_model, save_model\n"
        "path = Path(sys.argv[1])\n"
        "digest = save_model(make_pipeline(FunctionTransformer(func=builtins.exec), Ridge()), path)\n"
        "try:\n"
        "    load_model(path, digest, model_id=5)\n"
        "except ModelError as exc:\n"
        "    print(exc)\n"
        "else:\n"
        "    print('loaded')\n"
    )
    path = tmp_path / "model.skops"
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert result.stdout == f"model 5: artifact {path} holds types datamgr does not trust: {EXEC_TYPES}\n"


def write_zip(path: Path, members: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ({"notes.txt": b"hello"}, "it holds no schema.json"),
        ({"schema.json": b"{not json"}, "its schema.json is not JSON: JSONDecodeError"),
        ({"schema.json": b"[" * 100_000 + b"]" * 100_000}, "its schema.json is not JSON: RecursionError"),
    ],
    ids=["no-schema", "not-json", "nested-too-deep"],
)
def test_a_zip_that_is_not_a_skops_file_is_refused(tmp_path: Path, members: dict[str, bytes], reason: str) -> None:
    path = tmp_path / "model.skops"
    digest = write_zip(path, members)
    with pytest.raises(ModelError) as refused:
        load_model(path, digest, model_id=4)
    assert (
        str(refused.value) == f"model 4: artifact {path} is not a skops file ({reason}); retrain with `datamgr train`"
    )


def test_artifacts_and_a_new_models_folder_are_writable_by_their_owner_alone(tmp_path: Path) -> None:
    features, target = features_with_gaps()
    model = make_estimator("Ridge", {}).fit(features, target)
    path = tmp_path / "new" / "model.skops"
    umask = os.umask(0o002)  # a shared machine's usual umask: group-writable by default
    try:
        save_model(model, path)
    finally:
        os.umask(umask)
    assert (stat.S_IMODE(path.stat().st_mode), stat.S_IMODE(path.parent.stat().st_mode)) == (0o644, 0o755)
    assert os.listdir(path.parent) == ["model.skops"]


@pytest.fixture
def trained(initialized: Project, cli: Invoke) -> Path:
    """A project with one trained model; returns its artifact."""
    outcome = cli("train")
    assert outcome.exit_code == 0, outcome.stderr
    return initialized.root / "models" / initialized.sql("SELECT artifact_path FROM model_runs")[0][0]


def installed(*args: str, cwd: Path, preexec_fn: Callable[[], None] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed command from another folder, as cron runs it."""
    assert DATAMGR is not None
    cwd.mkdir(exist_ok=True)
    return subprocess.run(
        [DATAMGR, *args], cwd=cwd, env=os.environ, capture_output=True, text=True, timeout=300, preexec_fn=preexec_fn
    )


def replace_artifact(project: Project, artifact: Path, content: bytes) -> None:
    """Put other bytes in the artifact and record their sha256, as if train had written them."""
    artifact.write_bytes(content)
    project.sql("UPDATE model_runs SET artifact_sha256 = :sha", sha=hashlib.sha256(content).hexdigest())


@pytest.mark.sqlite_only
def test_predict_refuses_a_registered_artifact_holding_exec(
    initialized: Project, trained: Path, tmp_path: Path
) -> None:
    other = tmp_path / "exec.skops"
    save_model(exec_pipeline(), other)
    replace_artifact(initialized, trained, other.read_bytes())
    before = initialized.snapshot()
    outcome = installed("predict", cwd=tmp_path / "elsewhere")
    assert (outcome.returncode, outcome.stdout, outcome.stderr) == (
        1,
        "",
        f"Error: model 1: artifact {trained} holds types datamgr does not trust: {EXEC_TYPES}\n",
    )
    assert initialized.snapshot() == before


@pytest.mark.sqlite_only
def test_predict_refuses_an_artifact_that_is_not_a_zip(initialized: Project, trained: Path, tmp_path: Path) -> None:
    replace_artifact(initialized, trained, b"these bytes were recorded, but they are no skops file\n" * 50)
    before = initialized.snapshot()
    outcome = installed("predict", cwd=tmp_path / "elsewhere")
    assert (outcome.returncode, outcome.stdout, outcome.stderr) == (
        1,
        "",
        f"Error: model 1: artifact {trained} is not a skops file (File is not a zip file); "
        "retrain with `datamgr train`\n",
    )
    assert initialized.snapshot() == before


@pytest.mark.sqlite_only
def test_a_models_folder_or_artifact_others_may_write_is_warned_of_under_quiet(
    initialized: Project, trained: Path, tmp_path: Path
) -> None:
    folder = trained.parent
    folder.chmod(0o777)
    trained.chmod(0o664)
    outcome = installed("--quiet", "predict", "--batch-size", "4", cwd=tmp_path / "elsewhere")
    assert outcome.returncode == 0, outcome.stderr
    lines = outcome.stderr.splitlines()
    assert len(lines) == 2, outcome.stderr
    assert re.fullmatch(
        WARN
        + re.escape(
            f"models folder {folder} (training_pipeline.models_dir) is writable by its group and others (mode 0777); "
            f"run `chmod go-w {folder}` so that only its owner can change it"
        ),
        lines[0],
    )
    assert re.fullmatch(
        WARN
        + re.escape(
            f"model 1: artifact {trained} is writable by its group (mode 0664); "
            f"run `chmod go-w {trained}` so that only its owner can change it"
        ),
        lines[1],
    )


def limit_file_size() -> None:
    """In the child: no file may grow past 64 KiB, and going past it is an error (EFBIG), not a signal."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


@contextmanager
def full_disk(folder: Path) -> Iterator[tuple[Callable[[], None] | None, str]]:
    """A folder with no room: a 16 KiB tmpfs where it can be mounted (root), else a file-size limit on
    the child process. Yields the child's preexec_fn and the reason the write fails with."""
    folder.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=16k,mode=0755", "tmpfs", str(folder)]
    mounted = os.geteuid() == 0 and subprocess.run(mount, capture_output=True).returncode == 0
    try:
        yield (None, "No space left on device") if mounted else (limit_file_size, "File too large")
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.sqlite_only
def test_train_on_a_full_disk_is_one_line_and_leaves_no_file(
    initialized: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "full"
    monkeypatch.setenv("DATAMGR_TRAINING_PIPELINE__MODELS_DIR", str(folder))
    before = initialized.snapshot()
    with full_disk(folder) as (preexec_fn, reason):
        outcome = installed("--quiet", "train", cwd=tmp_path / "elsewhere", preexec_fn=preexec_fn)
        left = os.listdir(folder)
    assert (outcome.returncode, outcome.stdout) == (1, ""), outcome.stderr
    assert re.fullmatch(
        re.escape(f"Error: models folder {folder}: cannot write ")
        + r"model_T01_\d{8}T\d{6}_[0-9a-f]{8}\.skops"
        + re.escape(f": {reason}; free space there, or set training_pipeline.models_dir to a folder with room\n"),
        outcome.stderr,
    ), outcome.stderr
    assert left == []
    assert initialized.snapshot() == before
