"""Model artifacts: skops (never pickle), hash-checked, and trusted by datamgr's own rule alone."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor

from datamgr.errors import ModelError
from datamgr.model_store import load_model, save_model


def fitted() -> HistGradientBoostingRegressor:
    rng = np.random.default_rng(0)
    features = rng.uniform(0, 20, (200, 3))
    return HistGradientBoostingRegressor(max_iter=5).fit(features, features.sum(axis=1))


def test_a_saved_model_loads_and_predicts_the_same(tmp_path: Path) -> None:
    model = fitted()
    path = tmp_path / "model.skops"
    digest = save_model(model, path)
    loaded = load_model(path, digest, model_id=7)
    probe = np.array([[1.0, 2.0, 3.0], [10.0, 0.5, 7.0]])
    assert loaded.predict(probe).tolist() == model.predict(probe).tolist()


def test_an_artifact_holding_a_foreign_type_is_refused(tmp_path: Path) -> None:
    """Skipping skops' default list leaves the decision to TRUSTED_TYPES: a type outside it
    is still refused, before anything is built from the file."""
    model = fitted()
    model.datamgr_note = Fraction(1, 3)  # an attribute of a type no model needs
    path = tmp_path / "model.skops"
    digest = save_model(model, path)
    with pytest.raises(ModelError) as refused:
        load_model(path, digest, model_id=7)
    assert str(refused.value) == f"model 7: artifact {path} holds types datamgr does not trust: fractions.Fraction"


def test_a_changed_artifact_is_refused_before_loading(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    digest = save_model(fitted(), path)
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ModelError) as refused:
        load_model(path, digest, model_id=3)
    assert str(refused.value).startswith(f"model 3: artifact {path} changed on disk (sha256 ")


def test_skops_is_imported_without_walking_every_estimator() -> None:
    """The walk of all scikit-learn estimators is skipped at import, and the function is put back."""
    code = (
        "import sklearn.utils\n"
        "walk = sklearn.utils.all_estimators\n"
        "from datamgr.model_store import _skops_io\n"
        "_skops_io()\n"
        "from skops.io import _trusted_types\n"
        "print(len(_trusted_types.SKLEARN_ESTIMATOR_TYPE_NAMES), sklearn.utils.all_estimators is walk)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout == "0 True\n"


def test_a_foreign_type_is_refused_after_trusted_models_were_loaded(tmp_path: Path) -> None:
    """The second and later loads trust only the types an earlier load checked: a new type still
    goes through the full check and is refused."""
    good, bad = tmp_path / "good.skops", tmp_path / "bad.skops"
    good_digest = save_model(fitted(), good)
    first, again = load_model(good, good_digest, model_id=1), load_model(good, good_digest, model_id=1)
    probe = np.array([[1.0, 2.0, 3.0]])
    assert first.predict(probe).tolist() == again.predict(probe).tolist()
    model = fitted()
    model.datamgr_note = Fraction(1, 3)
    bad_digest = save_model(model, bad)
    with pytest.raises(ModelError) as refused:
        load_model(bad, bad_digest, model_id=2)
    assert str(refused.value) == f"model 2: artifact {bad} holds types datamgr does not trust: fractions.Fraction"
