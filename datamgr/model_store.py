"""Model artifacts on disk: written with skops (never pickle), checked by sha256 before loading."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from datamgr.errors import ModelError

# skops refuses unknown types by default; a file whose hash we recorded may hold these.
TRUSTED_MODULE_PREFIXES = ("sklearn.", "numpy", "scipy.", "builtins.", "collections.", "datamgr.")


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
    import skops.io as sio

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    sio.dump(model, temporary)
    with temporary.open("rb") as handle:
        os.fsync(handle.fileno())
    temporary.replace(path)
    return sha256_of(path)


def load_model(path: Path, expected_sha256: str, *, model_id: int) -> Any:
    """Load a registered artifact, refusing a missing file or one whose bytes changed since training."""
    import skops.io as sio

    if not path.is_file():
        raise ModelError(f"model {model_id}: artifact {path} is missing; retrain with `datamgr train`")
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise ModelError(
            f"model {model_id}: artifact {path} changed on disk (sha256 {actual[:12]}… but "
            f"{expected_sha256[:12]}… was recorded); refusing to load it; retrain with `datamgr train`"
        )
    untrusted = sio.get_untrusted_types(file=path)
    foreign = [name for name in untrusted if not name.startswith(TRUSTED_MODULE_PREFIXES)]
    if foreign:
        raise ModelError(f"model {model_id}: artifact {path} holds types datamgr does not trust: {', '.join(foreign)}")
    return sio.load(path, trusted=untrusted)
