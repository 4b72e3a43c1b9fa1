"""Model artifacts on disk: written with skops (never pickle), checked by sha256 before loading."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from datamgr.errors import ModelError

# skops refuses unknown types by default; a file whose hash we recorded may hold these.
TRUSTED_MODULE_PREFIXES = ("sklearn.", "numpy", "scipy.", "builtins.", "collections.", "datamgr.")


def _skops_io() -> ModuleType:
    """skops.io, imported without building skops' default trust list.

    At import skops lists every scikit-learn estimator (`sklearn.utils.all_estimators`), which
    imports every scikit-learn module (`import skops.io` took 1.33 s with it, 1.1 s without, on
    the 2-core machine of docs/benchmarks.md), for a list datamgr never uses. load_model decides
    trust itself (TRUSTED_MODULE_PREFIXES, checked against what `get_untrusted_types` reports,
    which only grows when the default list is empty) and passes its own `trusted` list, so
    nothing is trusted by default and loading stays as safe.
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
    taken as it was written.
    """
    path = Path(stored)
    if path.is_absolute():
        return path
    candidates = [models_dir / path, models_dir / path.name, path]
    return next((candidate for candidate in candidates if candidate.is_file()), candidates[0])


def save_model(model: Any, path: Path) -> str:
    """Write the model atomically (temporary file, fsync, rename) and return its sha256."""
    sio = _skops_io()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    sio.dump(model, temporary)
    with temporary.open("rb") as handle:
        os.fsync(handle.fileno())
    temporary.replace(path)
    return sha256_of(path)


# Type names this process has already checked against TRUSTED_MODULE_PREFIXES (skops names them
# as "module.Class"): every later artifact is first loaded trusting these alone.
_ACCEPTED_TYPES: set[str] = set()


def load_model(path: Path, expected_sha256: str, *, model_id: int) -> Any:
    """Load a registered artifact, refusing a missing file or one whose bytes changed since training.

    skops builds an artifact's whole object tree once to list its types and again to load it.
    A farm's predict loads a model per turbine, all with the same types: so the first load lists
    and checks them, and the next ones load at once, trusting only types already checked; an
    artifact holding any other type is refused by skops itself and takes the full check.
    """
    sio = _skops_io()
    from skops.io.exceptions import UntrustedTypesFoundException

    if not path.is_file():
        raise ModelError(f"model {model_id}: artifact {path} is missing; retrain with `datamgr train`")
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise ModelError(
            f"model {model_id}: artifact {path} changed on disk (sha256 {actual[:12]}… but "
            f"{expected_sha256[:12]}… was recorded); refusing to load it; retrain with `datamgr train`"
        )
    if _ACCEPTED_TYPES:
        try:
            return sio.load(path, trusted=sorted(_ACCEPTED_TYPES))
        except UntrustedTypesFoundException:
            pass  # a type not seen yet: list and check them all
    untrusted = sio.get_untrusted_types(file=path)
    foreign = [name for name in untrusted if not name.startswith(TRUSTED_MODULE_PREFIXES)]
    if foreign:
        raise ModelError(f"model {model_id}: artifact {path} holds types datamgr does not trust: {', '.join(foreign)}")
    _ACCEPTED_TYPES.update(untrusted)
    return sio.load(path, trusted=untrusted)
