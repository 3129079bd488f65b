"""``dicom-courier``: hand the command to the warm service when one runs, else run it here.

Imports nothing heavy (``os``, ``sys`` and the C halves of ``socket`` and ``signal``: their
Python modules pull in ``enum`` and ``selectors``, 0.02 s of a 0.05 s hand-over): when a
service answers, the command runs in a child it forks, on this process's stdin, stdout and
stderr (passed as file descriptors), in this directory and environment; this process forwards
Ctrl-C and SIGTERM to it, stops and continues it with itself (Ctrl-Z, ``fg``), and exits with
its status. Without a service (or when it is stale, which is said, or belongs to another
installation) the command runs here, as ``desktop.cli`` always did.
"""

import _signal
import _socket
import os
import sys

from desktop.warm import wire

NO_SERVICE_ENV = "DICOM_COURIER_NO_SERVICE"
#: Commands run here: the GUI and a listener own their process; ``service`` manages it.
LOCAL_COMMANDS = frozenset({"gui", "service", "listen"})
LOCAL_OPTIONS = frozenset({"-h", "--help", "--version"})
FORWARDED = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT)
EXIT_SERVICE_LOST = 1


def main() -> int:
    arguments = sys.argv[1:]
    if handed_over(arguments):
        connection = connect(wire.socket_path(wire.home()))
        if connection is not None:
            status = _run(connection, arguments)
            if status is not None:
                return status
    return _local()


def handed_over(arguments: list[str]) -> bool:
    """Whether ``arguments`` may go to the service: a command, not one that runs here."""
    if os.environ.get(NO_SERVICE_ENV) == "1" or LOCAL_OPTIONS.intersection(arguments):
        return False
    command = next((a for a in arguments if not a.startswith("-")), None)
    return command is not None and command not in LOCAL_COMMANDS


def _local() -> int:
    from desktop.cli import main as run_here

    return run_here()


def connect(path: str) -> _socket.socket | None:
    """A connection to the service listening on ``path``, or None (no socket, nobody
    listening: a stale socket file is removed; another user listening: said, never used)."""
    try:
        before = os.stat(path)
    except OSError:
        return None
    address, folder = wire.connectable(path)
    connection = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        connection.connect(address)
    except ConnectionRefusedError:
        connection.close()
        _remove_stale(path, before)
        return None
    except OSError:
        connection.close()
        return None
    finally:
        if folder >= 0:
            os.close(folder)
    try:
        uid, _ = wire.peer(connection)
    except OSError:
        uid = -1
    if uid != os.getuid():  # not our service: it would get our environment and terminal
        connection.close()
        print(
            f"dicom-courier: warning: {path} is not your warm service (another user, uid "
            f"{uid}, listens on it): not used; check who can write to {os.path.dirname(path)}",
            file=sys.stderr,
        )
        return None
    return connection


def _remove_stale(path: str, seen: os.stat_result) -> None:
    """Remove a socket file nobody listens on, if it is still the one that refused."""
    try:
        now = os.stat(path)
        if (now.st_ino, now.st_dev, now.st_mtime_ns) == (
            seen.st_ino,
            seen.st_dev,
            seen.st_mtime_ns,
        ):
            os.unlink(path)
    except OSError:
        pass


def _run(connection: _socket.socket, arguments: list[str]) -> int | None:
    """The command's exit status from the service, or None to run it here."""

    def forward(number: int, _frame: object) -> None:
        try:
            connection.sendall(b"signal %d\n" % number)
        except OSError:
            pass

    # from before the request: a Ctrl-C meanwhile reaches the child as it starts
    previous = {number: _signal.signal(number, forward) for number in FORWARDED}
    try:
        try:
            wire.send_with_fds(connection, wire.frame(_request(arguments)), [0, 1, 2])
            lines = wire.Lines(connection)
            answer = lines.next()
        except OSError:
            answer = b""
        word, _, child = answer.partition(b" ")
        if word == b"started" and child.isdigit():
            return _outcome(lines, int(child))
    finally:
        connection.close()
    if answer == b"stale":  # it has stopped: said once, the next commands find no service
        print(
            "dicom-courier: the warm service has stopped: DICOM Courier changed on disk since "
            "it started (an upgrade?); this command runs without it ('dicom-courier service "
            "start' starts a new one)",
            file=sys.stderr,
        )
    for number, handler in previous.items():  # stale, another installation's, or refused
        _signal.signal(number, handler)
    return None


def _request(arguments: list[str]) -> list[bytes]:
    from desktop import __file__ as package
    from desktop import __version__

    mask = os.umask(0)
    os.umask(mask)
    environment = [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in os.environ.items()]
    return [
        wire.PROTOCOL,
        wire.RUN,
        __version__.encode(),
        os.fsencode(os.path.dirname(package)),
        os.fsencode(os.getcwd()),
        b"%o" % mask,
        b"%d" % len(arguments),
        *map(os.fsencode, arguments),
        *environment,
    ]


def _outcome(lines: wire.Lines, child: int) -> int:
    """The command's status as the service tells it (signals are forwarded meanwhile; Ctrl-Z
    stops the command's process ``child`` with this one, ``fg`` or ``bg`` continues both)."""
    _stop_with(child)
    try:
        line = lines.next()
    except OSError:
        line = b""
    finally:
        for number in (_signal.SIGTSTP, _signal.SIGCONT):
            _signal.signal(number, _signal.SIG_DFL)
    word, _, value = line.partition(b" ")
    if word in (b"done", b"exit"):  # the child's word, else the service's
        return int(value)
    if word == b"killed":
        return _die_of(int(value))
    print(
        "dicom-courier: the warm service stopped before the command ended: its outcome is "
        "unknown (see 'dicom-courier queue' and 'dicom-courier service status')",
        file=sys.stderr,
    )
    return EXIT_SERVICE_LOST


def _stop_with(child: int) -> None:
    """Ctrl-Z (SIGTSTP) stops ``child`` (which has no terminal: by SIGSTOP), then this
    process, as a shell's job; SIGCONT (``fg``, ``bg``) continues both."""

    def suspend(_number: int, _frame: object) -> None:
        _signal_child(child, _signal.SIGSTOP)
        _signal.signal(_signal.SIGTSTP, _signal.SIG_DFL)
        os.kill(os.getpid(), _signal.SIGTSTP)  # stopped here until continued
        _signal.signal(_signal.SIGTSTP, suspend)
        _signal_child(child, _signal.SIGCONT)

    _signal.signal(_signal.SIGTSTP, suspend)
    _signal.signal(_signal.SIGCONT, lambda _number, _frame: _signal_child(child, _signal.SIGCONT))


def _signal_child(child: int, number: int) -> None:
    try:
        os.kill(child, number)
    except OSError:  # it has ended
        pass


def _die_of(number: int) -> int:
    """End as the command did: killed by signal ``number`` (else 128 + it, as a shell says)."""
    sys.stdout.flush()
    _signal.signal(number, _signal.SIG_DFL)
    os.kill(os.getpid(), number)
    return 128 + number


if __name__ == "__main__":
    sys.exit(main())
