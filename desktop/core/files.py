"""Files under the home: written atomically, readable by their owner only, changed under a lock.

A crash or a cancel never leaves a half-written file in place; two processes changing the same
file one after the other (read, modify, write) never lose each other's change.
"""

import contextlib
import itertools
import os
import re
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import BinaryIO, cast

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
    """A temporary path beside ``target`` (created with mode 0600, a short name whatever the
    target's: ``.dc-XXXXXXXX`` + ``suffix``) that replaces ``target``, with ``mode``, only if
    the block succeeds; the data is flushed to disk before the rename.

    As ``cp`` does, a symbolic link is written through (its file replaced, the link kept) and
    a device, FIFO or socket (``/dev/stdout``) is written to, never replaced by a file; but
    only a link, FIFO or socket of this user's: one another user made in a shared folder
    (/tmp) must not lead our output (a patient's image) to that user or over our own files.
    """
    if _is_stream(target):
        if not (stat.S_ISCHR(target.stat().st_mode) or _ours(target, follow=True)):
            raise OutputError(f"cannot write {target}: a FIFO or socket of another user's")
        with _streamed(target, suffix) as temporary:
            yield temporary
        return
    _check_folder(target)
    if len(os.fsencode(target.name)) > _name_max(target.parent):
        raise OutputError(f"cannot write {target}: file name too long")
    if target.is_symlink():
        if not _ours(target, follow=False):
            raise OutputError(f"cannot write {target}: a symbolic link of another user's")
        target = Path(os.path.realpath(target))
        _check_folder(target)
    folder = target.parent
    if target.is_dir():
        raise OutputError(f"cannot write {target}: it is a folder")
    import tempfile  # with random and shutil: not before a command's first byte

    handle, name = tempfile.mkstemp(prefix=".dc-", suffix=suffix or ".tmp", dir=folder)
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


def _ours(path: Path, *, follow: bool) -> bool:
    """Whether ``path`` (the link itself unless ``follow``) belongs to this user (Windows:
    always)."""
    user = getattr(os, "geteuid", None)
    owner = (path.stat() if follow else path.lstat()).st_uid
    return user is None or owner == user()


def _is_stream(target: Path) -> bool:
    """Whether ``target`` (its links followed) is something other than a file or a folder."""
    try:
        kind = target.stat().st_mode
    except OSError:  # missing, or a dangling link: a new file
        return False
    return not (stat.S_ISREG(kind) or stat.S_ISDIR(kind))


@contextmanager
def _streamed(target: Path, suffix: str) -> Iterator[Path]:
    """A private temporary file whose content is written to the device or FIFO ``target``
    once the block succeeds."""
    import shutil  # with tempfile: not before a command's first byte
    import tempfile

    with tempfile.TemporaryDirectory(prefix="dc-") as folder:
        temporary = Path(folder) / f"output{suffix or '.tmp'}"
        yield temporary
        try:
            with temporary.open("rb") as source, target.open("wb") as sink:
                shutil.copyfileobj(source, sink)
        except OSError as error:
            raise OutputError(f"cannot write {target}: {error.strerror or error}") from None


def _name_max(folder: Path) -> int:
    """The longest file name, in bytes, ``folder``'s file system takes (255 if it won't say)."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (AttributeError, OSError, ValueError):  # Windows has no pathconf
        return 255


class AtomicBatch:
    """Files written beside their targets, then flushed and moved into place together: as with
    ``atomic_output`` a target is whole or absent, and a file is on disk before its rename. Each
    file's writing to disk starts as soon as it is written (the disk works while the next one
    is made); the commit waits for them all, moves them, and flushes each folder once for the
    whole batch. A file may be written by another process and ``adopt``ed."""

    def __init__(self, mode: int = PRIVATE, *, run: int | None = None) -> None:
        self.mode = mode
        #: the process whose run the files are for (this one unless given: a worker's
        #: parent): named in each temporary file, so ``sweep_leftovers`` knows when it died
        self.run = run
        self._pending: list[tuple[BinaryIO | None, Path, Path]] = []

    def __len__(self) -> int:
        return len(self._pending)

    @contextmanager
    def output(self, target: Path) -> Iterator[BinaryIO]:
        """A temporary file beside ``target`` (mode 0600) to write; it replaces ``target`` at
        ``commit`` if the block succeeds, else it is removed."""
        try:
            temporary, handle = _exclusive(target, self.run)
        except OSError:
            _check_folder(target)  # the reason in plain words, if it is one of these
            raise
        out = os.fdopen(handle, "wb")
        try:
            yield out
            out.flush()
        except BaseException:
            out.close()
            temporary.unlink(missing_ok=True)
            raise
        _start_writing(handle)
        self._pending.append((out, temporary, target))

    def hand_over(self) -> list[tuple[Path, Path]]:
        """The pending files closed and given up, as (temporary, target) pairs: for the batch
        of another process to ``adopt``."""
        pending, self._pending = self._pending, []
        for out, _, _ in pending:
            if out is not None:
                out.close()
        return [(temporary, target) for _, temporary, target in pending]

    def adopt(self, temporary: Path, target: Path) -> None:
        """Take a file written and closed elsewhere (``hand_over``): it replaces ``target`` at
        ``commit``."""
        self._pending.append((None, temporary, target))

    def commit(self) -> list[Path]:
        """Flush every pending file to disk, move each into place, flush their folders; the
        targets, in the order written. On an error nothing more is moved and the rest is
        removed."""
        pending, self._pending = self._pending, []
        moved: list[Path] = []
        folders = list(dict.fromkeys(target.parent for _, _, target in pending))
        sync_filesystem = _syncfs()
        try:
            for out, temporary, _ in pending:
                if out is None and sync_filesystem is not None:
                    temporary.chmod(self.mode)
                    continue
                with out or temporary.open("rb+") as handle:
                    _set_mode(handle.fileno(), temporary, self.mode)
                    if sync_filesystem is None:
                        getattr(os, "fdatasync", os.fsync)(handle.fileno())
            if sync_filesystem is not None:
                _sync_filesystems(folders, sync_filesystem)
            for _, temporary, target in pending:
                temporary.replace(target)
                moved.append(target)
            for folder in folders:
                _fsync(folder)
        finally:
            for out, temporary, _ in pending[len(moved) :]:
                if out is not None:
                    out.close()
                temporary.unlink(missing_ok=True)
        return moved

    def discard(self) -> None:
        """Remove every pending file."""
        for temporary, _ in self.hand_over():
            temporary.unlink(missing_ok=True)


def _set_mode(descriptor: int, path: Path, mode: int) -> None:
    if os.chmod in os.supports_fd:
        os.chmod(descriptor, mode)
    else:
        path.chmod(mode)


@cache
def _syncfs() -> Callable[[int], int] | None:
    """Linux's ``syncfs``: one call writes a file system's data to disk and flushes the disk
    once, where an ``fdatasync`` a file flushes it once per file (batches of CT copies were
    written 1.2-4.7x faster here; bench/README.md). Since Linux 5.8 it reports a failed write, as
    ``fdatasync`` does. It also writes other programs' data waiting for that disk. None
    elsewhere: each file is flushed by itself."""
    if sys.platform != "linux":
        return None
    import ctypes

    try:
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (AttributeError, OSError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return cast(Callable[[int], int], function)


def _sync_filesystems(folders: Iterable[Path], sync_filesystem: Callable[[int], int]) -> None:
    """The file systems of ``folders`` written to disk, each once."""
    import ctypes

    synced: set[int] = set()
    for folder in folders:
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            device = os.fstat(descriptor).st_dev
            if device not in synced and sync_filesystem(descriptor) != 0:
                error = ctypes.get_errno()
                raise OSError(error, os.strerror(error), str(folder))
            synced.add(device)
        finally:
            os.close(descriptor)


def _start_writing(descriptor: int) -> None:
    """Have the system start writing a file's data to disk now, without waiting for it (Linux:
    ``POSIX_FADV_DONTNEED`` starts the writeback of dirty pages); elsewhere, a no-op."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None and sys.platform == "linux":
        with contextlib.suppress(OSError):
            advise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)


def _exclusive(target: Path, run: int | None = None) -> tuple[Path, int]:
    """A new file beside ``target`` (mode 0600), made by this call only (O_EXCL): its path and
    descriptor. Cheaper than ``tempfile.mkstemp`` for many files: the name is the run's
    process (``run``, else this one), this process's and a counter, a random word only after
    a clash."""
    pid = os.getpid()
    owner = f"{run}-{pid}" if run is not None and run != pid else str(pid)
    for attempt in range(100):
        suffix = next(_COUNTER) if attempt == 0 else os.urandom(4).hex()
        temporary = target.with_name(f".dc-{owner}-{suffix}.tmp")  # short: any name fits
        try:
            return temporary, os.open(temporary, _EXCLUSIVE, PRIVATE)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {target}")


_COUNTER = itertools.count()
_LEFTOVER = re.compile(r"\.dc-(\d+)-[-0-9a-f]+\.tmp")
#: Windows cannot ask whether a process lives: a leftover untouched this long is stale.
STALE_AFTER = 3600.0


def sweep_leftovers(folder: Path, *, run: int | None = None) -> list[Path]:
    """Remove the temporary files (``AtomicBatch``'s) that runs no longer alive left under
    ``folder`` (killed, or the power cut, before moving them into place); the paths removed.
    A file of a live run is kept (on Windows: one changed within ``STALE_AFTER``). With
    ``run``: the files of that run only (this process's, stopped, its workers ended)."""
    removed: list[Path] = []
    for leftover in folder.rglob(".dc-*.tmp"):
        found = _LEFTOVER.fullmatch(leftover.name)
        with contextlib.suppress(FileNotFoundError):
            if found is None or not leftover.is_file():
                continue
            if int(found[1]) != run if run is not None else _alive(int(found[1]), leftover):
                continue
            leftover.unlink()
            removed.append(leftover)
    return removed


def _alive(pid: int, made: Path) -> bool:
    """Whether the process ``pid``, which wrote ``made``, runs (on Windows, where asking
    would end it: whether ``made`` changed lately)."""
    if sys.platform == "win32":
        return made.stat().st_mtime > time.time() - STALE_AFTER
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether ``pid`` is dead but not yet reaped by its parent (signal 0 still reaches it):
    Linux's /proc says; where there is none, not known, so taken as alive."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return status.rpartition(")")[2].split()[:1] == ["Z"]


_EXCLUSIVE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def _check_folder(target: Path) -> None:
    folder = target.parent
    if not folder.is_dir():
        raise OutputError(f"cannot write {target}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"cannot write {target}: the folder {folder} is not writable")


def write_atomic(target: Path, data: bytes, mode: int = PRIVATE) -> None:
    """Write ``data`` to ``target`` atomically (see ``atomic_output``)."""
    with atomic_output(target, mode=mode) as temporary:
        temporary.write_bytes(data)


def replace_durably(source: Path, target: Path) -> None:
    """``source.replace(target)`` (a file or a folder), the rename itself on disk when
    this returns: a commit point that survives a power cut."""
    source.replace(target)
    _fsync(target.parent)


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
