"""What the child forked for a command does: become the client's process (its files,
directory, environment and umask, in a session of its own so that a prompt can only reach the
client's terminal), then run ``desktop.cli.main`` on its arguments and return its status.

When the command has ended the child says ``done STATUS`` (the client exits with it) and
lets go of the client's files; the service reports ``exit`` or ``killed`` as it reaps it.

The client's signals arrive as lines on the connection: a thread of the child raises each in
the child (Ctrl-C is a KeyboardInterrupt, as in a local run). When the connection ends before
the command (the client was killed), the child ends too, by SIGTERM.
"""

from __future__ import annotations

import fcntl
import gc
import io
import logging
import os
import resource
import signal
import socket
import sys
import threading
import time
from contextlib import suppress
from typing import TYPE_CHECKING

from desktop.warm import wire
from desktop.warm.server import Handoff

if TYPE_CHECKING:
    from desktop.security.keystore import Unlocked

#: The resource limits a command takes from its client (``ulimit``'s). Not the memory ones
#: (``-v``, ``-d``): the child starts with all the service loaded, more than a local run maps.
LIMITS = tuple(
    getattr(resource, f"RLIMIT_{name}") for name in ("CPU", "FSIZE", "CORE", "NOFILE", "NPROC")
)

#: Set once the command has ended: the client leaving then is no reason to end the child.
_ended = threading.Event()


def run(handoff: Handoff, unlocked: Unlocked | None) -> int:
    """Run the handed-off command here; its exit status."""
    from desktop import cli
    from desktop.commands.options import hold_unlocked

    os.setsid()  # no controlling terminal: getpass asks on stdin, the client's terminal
    _take_limits(handoff.connection)
    _take_descriptors(handoff.fds)
    os.chdir(handoff.cwd)
    os.umask(handoff.umask)
    os.environ.clear()
    os.environ.update(handoff.environment)
    time.tzset()
    sys.argv = ["dicom-courier", *handoff.arguments]
    _fresh_streams()
    service_log = logging.getLogger("desktop.warm")
    service_log.handlers.clear()
    service_log.propagate = True  # as in a local run
    hold_unlocked(unlocked)
    threading.Thread(target=_follow, args=(handoff.connection,), daemon=True).start()
    status = cli.main(handoff.arguments)
    _let_go(handoff.connection, status)
    # What is left to do (collecting, the interpreter's exit: 60-80 ms of CPU after a send)
    # takes only a processor nobody else wants: not the client's, exiting with the status,
    # nor the next command's. Then what the command left in reference cycles is freed: the
    # queue's connection among it, whose closing folds the write-ahead log into the database
    # (the next command opening the queue then has none to read again: ~1 ms a megabyte).
    with suppress(OSError):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    gc.collect()
    return status


def _let_go(connection: socket.socket, status: int) -> None:
    """The command has ended: its output is out, the client may exit with ``status`` now,
    and the client's files are let go of (what the interpreter's exit may still write goes
    nowhere), so that a reader of its output sees the end at once."""
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):
            stream.flush()
    _ended.set()
    with suppress(OSError):
        connection.sendall(b"done %d\n" % status)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def _take_limits(connection: socket.socket) -> None:
    """The client's niceness, CPU affinity and resource limits (a script's ``nice``,
    ``taskset``, ``ulimit``), as far as this user may take them (a limit above the service's
    own hard one stays at it)."""
    _, client = wire.peer(connection)
    with suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, os.getpriority(os.PRIO_PROCESS, client))
    with suppress(OSError):
        os.sched_setaffinity(0, os.sched_getaffinity(client))
    for limit in LIMITS:
        with suppress(OSError, ValueError):
            soft, hard = resource.prlimit(client, limit)
            _, ours = resource.getrlimit(limit)
            if ours != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or hard > ours):
                soft, hard = (ours if soft == resource.RLIM_INFINITY else min(soft, ours)), ours
            resource.setrlimit(limit, (soft, hard))


def _take_descriptors(fds: list[int]) -> None:
    """Make the client's stdin, stdout and stderr ours (0, 1, 2)."""
    moved = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in fds]
    for fd in fds:
        os.close(fd)
    for target, fd in enumerate(moved):
        os.dup2(fd, target)
        os.close(fd)


def _fresh_streams() -> None:
    """sys.stdin/stdout/stderr over the client's descriptors, buffered as Python buffers
    them at start-up for what they are (a terminal: by line; a pipe or file: by block)."""
    old = sys.stdout
    encoding, errors = old.encoding, old.errors
    sys.stdin = io.TextIOWrapper(
        io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding=encoding, errors=errors
    )
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(1, "w", closefd=False)),
        encoding=encoding,
        errors=errors,
        line_buffering=os.isatty(1),
    )
    sys.stderr = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(2, "w", closefd=False)),
        encoding=encoding,
        errors="backslashreplace",
        line_buffering=True,
    )


def _follow(connection: socket.socket) -> None:
    """Raise here each signal the client forwards; end by SIGTERM when the client has gone."""
    lines = wire.Lines(connection)
    while True:
        try:
            line = lines.next()
        except OSError:
            line = b""
        word, _, value = line.partition(b" ")
        if word == b"signal" and value.isdigit():
            os.kill(os.getpid(), int(value))
        elif not line:
            if not _ended.is_set():
                os.kill(os.getpid(), signal.SIGTERM)
            return
