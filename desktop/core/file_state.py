"""A file's state as the system keeps it: what shows, without reading a byte, that a file is
unchanged since it was queued.

The state is the size, the modification and change times (ns) and the inode. Any change of
content sets the change time to now, which no one can set back (the modification time can
be), so a file whose state is the same is the same file, with one exception: a change
within the file system's clock tick of taking the state. A file changed that recently is
not "settled" and needs its content hashed instead; so does every file where the system
keeps no change time (Windows).
"""

import os
import sys
import time

SETTLED_NS = 2_000_000_000  # a file changed this recently may change again unseen (same tick)


def file_state(status: os.stat_result) -> str:
    """The state of the file ``status`` (an ``os.stat`` or ``os.fstat``) describes."""
    return f"{status.st_size}:{status.st_mtime_ns}:{status.st_ctime_ns}:{status.st_ino}"


def settled(status: os.stat_result) -> bool:
    """Whether the file last changed long enough ago for its state to vouch for it; never on
    Windows, whose ``st_ctime`` is the creation time: no one's change time to trust there."""
    return sys.platform != "win32" and status.st_ctime_ns < time.time_ns() - SETTLED_NS
