"""``dicom-courier service``: a warm service that commands are handed to (start, stop,
status, run, lock). See ``desktop.warm``: the service imports what commands need once and,
unlocked, holds the keystore's secrets in memory until ``--for`` runs out."""

import argparse
import datetime as dt
import gc
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from desktop import auditing, cli
from desktop.commands.options import open_keystore, password_option
from desktop.core.errors import CourierError
from desktop.core.paths import courier_home
from desktop.security.passwords import PASSWORD_ENV
from desktop.warm import wire

DURATION = re.compile(r"(\d+)\s*([smhd]?)")
SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
READY = "warm service listening on"
STOP_WAIT = 30.0  # seconds ``service stop`` waits for the running commands to end


def register(commands: Any) -> None:
    """Add ``service`` and its actions to the parser's subcommands."""
    service = commands.add_parser(
        "service", help="a warm service that commands are handed to: much faster starts"
    )
    service.set_defaults(audited=False)  # the service records its own start, stop, unlock
    actions = service.add_subparsers(metavar="ACTION")
    daemon: tuple[tuple[str, Callable[[argparse.Namespace], int], str], ...] = (
        ("start", _start, "start the service in the background"),
        ("run", _run, "run the service in the foreground (for systemd)"),
    )
    for name, run, text in daemon:
        action = actions.add_parser(name, parents=[password_option()], help=text)
        action.add_argument(
            "--unlock",
            action="store_true",
            help="ask for the keystore password now and keep its secrets in memory: "
            "commands then ask for none (as ssh-agent does)",
        )
        action.add_argument(
            "--for",
            dest="lasting",
            type=duration,
            default=8 * 3600,
            metavar="DURATION",
            help="forget the unlocked secrets after this long (30m, 8h, 1d; default 8h)",
        )
        action.add_argument(
            "--idle",
            type=duration,
            default=0,
            metavar="DURATION",
            help="stop after this long without a command (default: never)",
        )
        if name == "run":
            action.add_argument(
                "--log", type=Path, metavar="FILE", help="once listening, log to FILE"
            )
        action.set_defaults(run=run, audited=False)
    for name, run, text in (
        ("stop", _stop, "stop the service (running commands finish first)"),
        ("status", _status, "whether a service runs, and whether it is unlocked"),
        ("lock", _lock, "make the service forget the keystore's secrets"),
    ):
        actions.add_parser(name, help=text).set_defaults(run=run, audited=False)


def duration(text: str) -> int:
    """An argparse type: seconds, or a number with s, m, h or d."""
    match = DURATION.fullmatch(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"a duration is such as 90s, 30m, 8h or 1d; not {text!r}")
    return int(match[1]) * SECONDS[match[2]]


def _run(args: argparse.Namespace) -> int:
    from desktop.net.queue import check_ahead
    from desktop.warm.server import Lease, Service

    home = courier_home()
    if (running := _ask(home, wire.STATUS)) is not None:
        raise CourierError(f"a warm service runs already for {home} (pid {running['pid']})")
    preload()
    gc.freeze()  # what is loaded stays: the children's collections skip it, pages stay shared
    lease = Lease(None)
    keystore = open_keystore(args)
    keystore.trusted_pem()  # checked once: the commands reuse it while its files are unchanged
    if args.unlock:
        with _audited(home), auditing.unlocking("keystore (warm service)"):
            lease.holds = keystore.unlock_all()
        lease.until = time.monotonic() + args.lasting
        lease.wall_until = time.time() + args.lasting
    queue = home / "queue.sqlite"
    service = Service(home, lease, idle=args.idle, ahead=lambda: check_ahead(queue))
    service.listen()
    print(f"{READY} {service.path} (pid {service.pid})")
    print(_keystore_state(lease.wall_until if lease.holds else None))
    if args.log is not None:
        _log_to(args.log)
    else:
        _log_to_stderr()
    with _audited(home):
        auditing.application(started=True)
    handoff = service.serve()
    if handoff is not None:  # the child forked for a command
        from desktop.warm.child import run

        return run(handoff, lease.holds)
    with _audited(home):
        auditing.application(started=False)
    return 0


def preload() -> None:
    """Import every module a command may need (all of ``desktop`` but the GUI and the
    ``__main__`` of a package, which would run) and build the commands' parsers."""
    import importlib
    import pkgutil

    import desktop

    for module in pkgutil.walk_packages(desktop.__path__, "desktop."):
        skipped = module.name.startswith(("desktop.ui", "desktop.commands.gui"))
        if not skipped and not module.name.endswith(".__main__"):
            importlib.import_module(module.name)
    importlib.import_module("pwd")  # getpass.getuser's, for every audited command's session
    cli.build_parsers(set(cli.COMMANDS.values()) - {"gui"})


def _start(args: argparse.Namespace) -> int:
    home = courier_home()
    if (running := _ask(home, wire.STATUS)) is not None:
        raise CourierError(f"a warm service runs already for {home} (pid {running['pid']})")
    frozen = getattr(sys, "frozen", False)  # the installed bundle: its executable is the CLI
    # -P: not the current directory first on its path (a "desktop" package there would be
    # the code the service runs, and the clients would find it is not theirs)
    python = [] if frozen else ["-P", "-m", "desktop.warm"]
    command = [sys.executable, *python, "service", "run"]
    command += ["--log"]
    command += [str(home / "service.log"), "--for", str(args.lasting), "--idle", str(args.idle)]
    password = ""
    if args.unlock:  # asked here, on this terminal, checked before the service starts
        password = open_keystore(args).unlock_all().password
        command += ["--unlock", "--password-file", "/dev/stdin"]
    service = subprocess.Popen(
        command,
        env={k: v for k, v in os.environ.items() if k != PASSWORD_ENV},  # not in /proc/PID
        stdin=subprocess.PIPE if args.unlock else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        text=True,
    )
    assert service.stdout is not None
    if service.stdin is not None:
        service.stdin.write(password + "\n")  # a pipe: the password never touches a disk
        service.stdin.close()
    said = service.stdout.read()  # until the service, listening, turns to its log
    try:
        service.wait(timeout=0.2)
    except subprocess.TimeoutExpired:
        print(said, end="")
        return 0
    raise CourierError(f"the warm service did not start: {said.strip() or service.returncode}")


def _stop(_args: argparse.Namespace) -> int:
    home = courier_home()
    status = _ask(home, wire.STATUS)
    if status is None or _ask(home, wire.STOP) is None:
        print(f"no warm service runs for {home}")
        return 0
    deadline = time.monotonic() + STOP_WAIT
    while _alive(status["pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    print(f"warm service stopped (pid {status['pid']})")
    return 0


def _status(_args: argparse.Namespace) -> int:
    home = courier_home()
    status = _ask(home, wire.STATUS)
    if status is None:
        print(f"no warm service runs for {home}")
        return 1
    since = dt.datetime.fromtimestamp(status["started"], dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"warm service running: pid {status['pid']}, since {since}, on {status['socket']}")
    print(_keystore_state(status["unlocked_until"]))
    print(f"commands served: {status['served']} ({status['running']} running)")
    return 0


def _lock(_args: argparse.Namespace) -> int:
    home = courier_home()
    if _ask(home, wire.LOCK) is None:
        print(f"no warm service runs for {home}")
        return 1
    print("the warm service has forgotten the keystore's secrets: commands ask again")
    return 0


def _keystore_state(until: float | None) -> str:
    if until is None:
        return "keystore locked: commands ask for its password as usual"
    when = dt.datetime.fromtimestamp(until, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"keystore unlocked until {when} ('service lock' forgets it sooner)"


def _ask(home: Path, kind: bytes) -> dict[str, Any] | None:
    """Ask the home's service (status, stop, lock); None when none answers."""

    from desktop.warm.client import connect

    connection = connect(str(home / wire.SOCKET_NAME))
    if connection is None:
        return None
    with closing(connection):  # a bare _socket.socket
        try:
            connection.sendall(wire.frame([wire.PROTOCOL, kind]))
            answer = wire.Lines(connection).next()
        except (TimeoutError, OSError):
            return None
    if not answer or answer in wire.LOCAL:
        return None
    return json.loads(answer) if answer.startswith(b"{") else {"answer": answer.decode()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _log_to(path: Path) -> None:
    """Once listening: stdout and stderr to the log file (0600), stdin from nowhere."""
    log = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(null)
    _log_to_stderr()


def _log_to_stderr() -> None:
    import logging

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s warm service: %(message)s"))
    logger = logging.getLogger("desktop.warm")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # not again by the commands' "dicom-courier: warning:" lines


@contextmanager
def _audited(home: Path) -> Iterator[None]:
    """The service's own events (start, stop, unlock) in the home's audit trail."""
    auditing.install(home)
    try:
        yield
    finally:
        auditing.uninstall()
