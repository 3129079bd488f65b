"""Files and folders left readable by others by versions before files were made 0600 and
folders 0700 (received and imported files were 0644): made private once per folder tree,
a marker file saying it was done, so a later start costs one ``stat``."""

import logging
import os
import stat
import sys
from pathlib import Path

from desktop.core.files import write_atomic

log = logging.getLogger(__name__)

#: Written into the folder once its tree is private; a later version that must tighten
#: again uses a new name.
MARKER = ".private-modes-1"
OTHERS = stat.S_IRWXG | stat.S_IRWXO


def make_private_once(root: Path) -> int | None:
    """Take group and others' rights off every file and folder under ``root`` (0644 becomes
    0600, 0755 0700; symbolic links and other people's files left alone), unless its marker
    says this was done: the number changed (logged), or None when there was nothing to do."""
    marker = root / MARKER
    if sys.platform == "win32" or marker.exists() or not root.is_dir():
        return None
    repaired = _tighten(root)
    for folder, folders, files in os.walk(root, onerror=_unreadable):
        for name in folders + files:
            repaired += _tighten(Path(folder, name))
    write_atomic(marker, b"files 0600, folders 0700\n")
    if repaired:
        log.warning(
            "%d files and folders under %s were readable by other users (made by an "
            "earlier version): now private (files 0600, folders 0700)",
            repaired,
            root,
        )
    return repaired


def _tighten(path: Path) -> int:
    """1 when ``path`` (a file or folder of ours) lost group and others' rights, else 0."""
    try:
        status = path.lstat()
        if status.st_uid != os.geteuid() or not status.st_mode & OTHERS:
            return 0
        if not (stat.S_ISREG(status.st_mode) or stat.S_ISDIR(status.st_mode)):
            return 0  # a link's target is not ours to change from here
        path.chmod(stat.S_IMODE(status.st_mode) & ~OTHERS)
    except OSError as error:
        log.warning("cannot make %s private: %s", path, error.strerror)
        return 0
    return 1


def _unreadable(error: OSError) -> None:
    log.warning("cannot make %s private: %s", error.filename, error.strerror)
