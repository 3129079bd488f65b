"""Scratch folders for the benchmarks, removed when the benchmark ends however it ends (a
return, an exception, Ctrl+C): runs that made theirs with ``mkdtemp`` left 400 MB each in /tmp
and filled the disk."""

import tempfile
from pathlib import Path

_OPEN: list[tempfile.TemporaryDirectory[str]] = []


def scratch_folder(prefix: str = "courier-bench-", *, within: Path | None = None) -> Path:
    """A new empty folder (in ``within``, else the system's temporary folder) that is
    removed at the latest when the interpreter exits."""
    folder = tempfile.TemporaryDirectory(prefix=prefix, dir=within)
    _OPEN.append(folder)  # kept alive: its finalizer removes it at exit
    return Path(folder.name)
