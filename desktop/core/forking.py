"""Threads that a fork may leave behind: each holds no lock a forked child could need (the
audit writer's storing waits out a fork, see core/audit/writer). Any other running thread
makes a fork unsafe: the child would inherit the locks it holds, held forever."""

import threading
import weakref

_SAFE: "weakref.WeakSet[threading.Thread]" = weakref.WeakSet()


def safe_beside_fork(thread: threading.Thread) -> threading.Thread:
    """``thread``, known to hold no lock a forked child needs."""
    _SAFE.add(thread)
    return thread


def unsafe_threads() -> list[threading.Thread]:
    """The threads other than the calling one that a fork now could leave holding a lock."""
    current = threading.current_thread()
    return [t for t in threading.enumerate() if t is not current and t not in _SAFE]
