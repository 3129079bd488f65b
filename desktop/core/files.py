"""Files under the home: written atomically, readable by their owner only, changed under a lock.

A crash or a cancel never leaves a half-written file in place; two processes changing the same
file one after the other (read, modify, write) never lose each other's change.
"""

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from desktop.core.errors import OutputError

if sys.platform == "win32":
    import msvcrt
else:
    import fcntl

PRIVATE = 0o600
PRIVATE_FOLDER = 0o700


def public_mode() -> int:
    """The mode an ordinary new file gets under the process's umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def private_folder(folder: Path) -> Path:
    """``folder`` made if missing (its missing parents too, all 0700), else set to 0700 when
    it is ours."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    for made in missing or [folder]:
        with contextlib.suppress(PermissionError):  # a folder of someone else's: left alone
            made.chmod(PRIVATE_FOLDER)
    return folder


def private_file(path: Path) -> Path:
    """``path`` made empty if missing, and set to 0600 (before anything is written to it)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE))
    path.chmod(PRIVATE)
    return path


@contextmanager
def locked(lock: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file ``lock`` (made 0600 if missing) for the block;
    other processes asking for it wait. Released when the block ends or the process dies."""
    private_folder(lock.parent)
    descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, PRIVATE)
    try:
        _lock(descriptor)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def mark_in_use(descriptor: int) -> None:
    """Mark a file being written through ``descriptor`` as in use until it is closed or the
    process dies (``in_use`` tells another process). Windows: not marked (age decides)."""
    if sys.platform != "win32":
        fcntl.flock(descriptor, fcntl.LOCK_SH)  # waits out an ``in_use`` check (an instant)


def in_use(path: Path, *, since: float) -> bool:
    """Whether a live process writes ``path`` (``mark_in_use``), or made it within the last
    second (it may not have marked it yet); on Windows, whether it was changed after ``since``
    (a time.time())."""
    changed = path.stat().st_mtime
    if sys.platform == "win32" or changed > time.time() - 1:
        return changed >= min(since, time.time() - 1)
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(descriptor)
    return False


@contextmanager
def lock_if_free(lock: Path) -> Iterator[bool]:
    """Take the lock on the file ``lock`` (made 0600 if missing) for the block if no other
    holder has it: True if taken, False at once if it is held."""
    descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, PRIVATE)
    try:
        try:
            if sys.platform == "win32":
                msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
            else:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
        else:
            yield True
    finally:
        os.close(descriptor)  # closing releases the lock


def _lock(descriptor: int) -> None:
    """Wait for an exclusive lock on the open file (its first byte, on Windows)."""
    if sys.platform == "win32":
        while True:
            try:
                msvcrt.locking(descriptor, msvcrt.LK_LOCK, 1)  # gives up after 10 s: again
                return
            except OSError:
                continue
    else:
        fcntl.flock(descriptor, fcntl.LOCK_EX)


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
