"""Writing files atomically: a crash or a cancel never leaves a half-written file in place."""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from desktop.core.errors import OutputError

PRIVATE = 0o600


def public_mode() -> int:
    """The mode an ordinary new file gets under the process's umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_output(target: Path, suffix: str = "", mode: int = PRIVATE) -> Iterator[Path]:
    """A temporary path beside ``target`` (created with mode 0600) that replaces ``target``,
    with ``mode``, only if the block succeeds; the data is flushed to disk before the rename."""
    folder = target.parent
    if not folder.is_dir():
        raise OutputError(f"cannot write {target}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"cannot write {target}: the folder {folder} is not writable")
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=folder)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        temporary.chmod(mode)
        _fsync(temporary)
        temporary.replace(target)
        _fsync(folder)
    finally:
        temporary.unlink(missing_ok=True)


def write_atomic(target: Path, data: bytes, mode: int = PRIVATE) -> None:
    """Write ``data`` to ``target`` atomically (see ``atomic_output``)."""
    with atomic_output(target, mode=mode) as temporary:
        temporary.write_bytes(data)


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
