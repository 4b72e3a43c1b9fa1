"""The one safe way datamgr writes a file: a new temporary file in the target's folder, fsynced,
then renamed over the target, and the folder fsynced; a failure leaves the old file as it was and
no stray file. Every output (-o, export, the report) and every model artifact is written here."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def replace_atomically(path: Path, write: Callable[[Path], object], *, mode: int | None = None) -> None:
    """`write` fills the temporary file; then it takes `path`'s place. The new file keeps the old one's
    permissions, or gets `mode`, or the usual ones (0666 less the umask). Raises OSError.

    The temporary file is made with O_EXCL (never an existing file or a link); rename replaces a link
    at `path` rather than writing through it.
    """
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        with temporary.open("rb") as written:
            os.fsync(written.fileno())
        if mode is not None:
            temporary.chmod(mode)
        elif path.is_file() and not path.is_symlink():
            shutil.copymode(path, temporary)
        else:
            temporary.chmod(0o666 & ~current_umask())
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
    sync_folder(path.parent)


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sync_folder(folder: Path) -> None:
    """Make a rename durable (the folder's entry), where the platform allows it."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
