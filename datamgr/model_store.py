"""Model artifacts on disk: written with skops (never pickle), checked by sha256 and by type before loading."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import logging
import stat
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

from datamgr.atomic import replace_atomically
from datamgr.errors import ModelError

log = logging.getLogger(__name__)

# Exactly the types the artifacts of datamgr's estimators hold (pipelines/training.py's ESTIMATORS,
# behind SimpleImputer in a Pipeline when they do not take NaN themselves, with every loss their
# params may choose), beside the plain data skops writes. Nothing is trusted by module prefix: a
# FunctionTransformer, or a function such as builtins.exec, is refused. tests/test_model_safety.py
# fits every estimator and checks that the list is all they need and no more than they use.
ESTIMATOR_TYPES = frozenset(
    {
        "sklearn.pipeline.Pipeline",
        "sklearn.impute._base.SimpleImputer",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.ensemble._forest.RandomForestRegressor",
        "sklearn.ensemble._forest.ExtraTreesRegressor",
        "sklearn.ensemble._gb.GradientBoostingRegressor",
        "sklearn.dummy.DummyRegressor",
        "sklearn.tree._classes.DecisionTreeRegressor",
        "sklearn.tree._classes.ExtraTreeRegressor",
        "sklearn.tree._tree.Tree",
        "sklearn.linear_model._ridge.Ridge",
        "sklearn.linear_model._base.LinearRegression",
        "sklearn._loss.loss.HalfSquaredError",
        "sklearn._loss.loss.AbsoluteError",
        "sklearn._loss.loss.PinballLoss",
        "sklearn._loss.loss.HuberLoss",
        "sklearn._loss.loss.HalfPoissonLoss",
        "sklearn._loss.loss.HalfGammaLoss",
        "sklearn._loss._loss.CyHalfSquaredError",
        "sklearn._loss._loss.CyAbsoluteError",
        "sklearn._loss._loss.CyPinballLoss",
        "sklearn._loss._loss.CyHuberLoss",
        "sklearn._loss._loss.CyHalfPoissonLoss",
        "sklearn._loss._loss.CyHalfGammaLoss",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.LogLink",
        "sklearn._loss.link.Interval",
    }
)
# The plain data of a fitted estimator: containers and numbers, arrays, their dtypes and scalars,
# and the random generators of the estimators that sample.
NUMPY_SCALARS = ("float64", "float32", "int64", "int32", "int8", "uint64", "uint32", "uint8", "bool")
DATA_TYPES = frozenset(
    {
        *(f"builtins.{name}" for name in ("dict", "list", "tuple", "str", "int", "float", "bool")),
        "numpy.ndarray",
        "numpy.dtype",
        *(f"numpy.{name}" for name in NUMPY_SCALARS),
        "numpy.random.mtrand.RandomState",
        "numpy.random._generator.Generator",
    }
)
TRUSTED_TYPES = ESTIMATOR_TYPES | DATA_TYPES
# What a folder or artifact must not be: writable by anyone but its owner.
OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


def _skops_io() -> ModuleType:
    """skops.io, imported without building skops' default trust list.

    At import skops lists every scikit-learn estimator (`sklearn.utils.all_estimators`), which
    imports every scikit-learn module (`import skops.io` took 1.33 s with it, 1.1 s without, on
    the 2-core machine of docs/benchmarks.md), for a list datamgr never uses: load_model decides
    trust itself (TRUSTED_TYPES, checked against every type the artifact names) and passes skops
    exactly those types.
    """
    if "skops.io" in sys.modules:
        return sys.modules["skops.io"]
    import sklearn.utils

    walk = sklearn.utils.all_estimators
    sklearn.utils.all_estimators = lambda *_args, **_kwargs: []
    try:
        import skops.io
    finally:
        sklearn.utils.all_estimators = walk
    return skops.io


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def stored_artifact_path(path: Path, models_dir: Path) -> str:
    """How model_runs records an artifact: relative to models_dir when inside it (so the project
    folder can move), else absolute; never relative to the working directory `train` ran in."""
    try:
        return str(path.resolve().relative_to(models_dir.resolve()))
    except ValueError:
        return str(path.resolve())


def resolve_artifact(stored: str, models_dir: Path) -> Path:
    """The file a model_runs row names, from any working directory.

    Rows written by older datamgr versions hold a path relative to wherever `train` ran (such as
    data/06_models/model_….skops): found under models_dir by its name when it is there, else
    taken as it was written. A models_dir that others may write is warned of.
    """
    warn_if_others_can_write(models_dir, f"models folder {models_dir} (training_pipeline.models_dir)")
    path = Path(stored)
    if path.is_absolute():
        return path
    candidates = [models_dir / path, models_dir / path.name, path]
    return next((candidate for candidate in candidates if candidate.is_file()), candidates[0])


_WARNED: set[Path] = set()  # paths already warned of by this process: a farm's predict warns once


def warn_if_others_can_write(path: Path, what: str) -> None:
    """A WARNING when anyone but the owner may write a models folder or an artifact.

    The sha256 check refuses an artifact that was changed, so predict cannot be tricked by it;
    but it can be stopped, and the folder's owner should know.
    """
    try:
        mode = path.stat().st_mode
    except OSError:
        return  # missing: the caller says so in its own words
    if not mode & OTHERS_WRITE or path in _WARNED:
        return
    _WARNED.add(path)
    who = {stat.S_IWGRP: "its group", stat.S_IWOTH: "others"}.get(mode & OTHERS_WRITE, "its group and others")
    log.warning(
        f"{what} is writable by {who} (mode {stat.S_IMODE(mode):04o}); "
        f"run `chmod go-w {path}` so that only its owner can change it"
    )


def save_model(model: Any, path: Path) -> str:
    """Write the model through atomic.replace_atomically (temporary file, fsync, rename) and return its sha256.

    path is models_dir / name. The artifact is writable by its owner alone. A failure (a full
    disk, a folder that cannot be written) leaves no temporary file and is one ModelError naming
    the folder.
    """
    data = _skops_io().dumps(model)
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o755)
        replace_atomically(path, lambda temporary: temporary.write_bytes(data), mode=0o644)
    except OSError as exc:
        raise ModelError(cannot_write(folder, path.name, exc)) from None
    warn_if_others_can_write(folder, f"models folder {folder} (training_pipeline.models_dir)")
    return hashlib.sha256(data).hexdigest()


NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
NOT_ALLOWED = {errno.EACCES, errno.EPERM, errno.EROFS}


def cannot_write(folder: Path, name: str, exc: OSError) -> str:
    """One line for an artifact that could not be written: where, why, and what to do."""
    reason = exc.strerror or type(exc).__name__
    if exc.errno in NO_ROOM:
        fix = "free space there, or set training_pipeline.models_dir to a folder with room"
    elif exc.errno in NOT_ALLOWED:
        fix = "make it writable, or set training_pipeline.models_dir to a folder datamgr may write"
    else:
        fix = "check the folder, or set training_pipeline.models_dir to another one"
    return f"models folder {folder}: cannot write {name}: {reason}; {fix}"


def types_in(data: bytes, name: str) -> set[str]:
    """Every type an artifact names ("module.Class"), read from its schema (JSON), not built.

    skops writes each node of the object tree as an object with `__module__` and `__class__`,
    functions and types included; reading them all costs a few ms, where skops' own listing
    (get_untrusted_types) builds the whole tree, as loading builds it again.
    """
    found: set[str] = set()

    def note(node: dict[str, Any]) -> dict[str, Any]:
        module, cls = node.get("__module__"), node.get("__class__")
        if module is not None or cls is not None:
            found.add(f"{module}.{cls}")
        return node

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            schema = archive.read("schema.json")
        json.loads(schema, object_hook=note)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise ModelError(f"{name} is not a skops file ({exc}); retrain with `datamgr train`") from None
    except KeyError:
        raise ModelError(
            f"{name} is not a skops file (it holds no schema.json); retrain with `datamgr train`"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise ModelError(
            f"{name} is not a skops file (its schema.json is not JSON: {type(exc).__name__}); "
            "retrain with `datamgr train`"
        ) from None
    return found


def load_model(path: Path, expected_sha256: str, *, model_id: int) -> Any:
    """Load a registered artifact, refusing a missing file, one whose bytes changed since training,
    one that is not a skops file, and one that names any type outside TRUSTED_TYPES.

    The file is read once: the bytes hashed are the bytes loaded, so it cannot be swapped between
    the check and the load. Each artifact's types are checked once, from its schema, and its
    object tree is built once, by the load itself, trusting exactly the types checked.
    """
    name = f"model {model_id}: artifact {path}"
    if not path.is_file():
        raise ModelError(f"{name} is missing; retrain with `datamgr train`")
    warn_if_others_can_write(path, name)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{name} cannot be read: {exc.strerror}") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise ModelError(
            f"{name} changed on disk (sha256 {actual[:12]}… but "
            f"{expected_sha256[:12]}… was recorded); refusing to load it; retrain with `datamgr train`"
        )
    held = types_in(data, name)
    foreign = sorted(held - TRUSTED_TYPES)
    if foreign:
        raise ModelError(f"{name} holds types datamgr does not trust: {', '.join(foreign)}")
    sio = _skops_io()
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        return sio.loads(data, trusted=sorted(held))
    except UntrustedTypesFoundException as exc:  # a type the schema did not show: refused all the same
        raise ModelError(f"{name} holds types datamgr does not trust: {exc}") from None
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelError(
            f"{name} cannot be loaded ({type(exc).__name__}{': ' + reason if reason else ''}); "
            "retrain with `datamgr train`"
        ) from None
