"""``dicom-courier service``: a warm service that commands are handed to (start, stop,
status, run, lock). See ``desktop.warm``: the service imports what commands need once and,
unlocked, holds the keystore's secrets in memory until ``--for`` runs out."""

import argparse
import datetime as dt
import gc
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop import auditing, cli
from desktop.commands.options import open_keystore, password_option
from desktop.core.errors import CourierError
from desktop.core.paths import courier_home
from desktop.security.passwords import PASSWORD_ENV
from desktop.warm import wire
from desktop.warm.control import ask

if TYPE_CHECKING:
    from desktop.security.keystore import Unlocked
    from desktop.warm.server import Lease

DURATION = re.compile(r"(\d+)\s*([smhd]?)")
SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
READY = "warm service listening on"
STOP_WAIT = 30.0  # seconds ``service stop`` waits for the running commands to end
MIN_UNLOCK, MAX_UNLOCK = 1, 7 * 86400  # seconds an unlock may last
UNLOCK_FOR = 8 * 3600  # seconds an unlock lasts unless ``--for`` says


def add_unlock_for(action: argparse.ArgumentParser, *, forget: str) -> None:
    """The ``--for DURATION`` option: how long the service keeps the keystore's secrets."""
    action.add_argument(
        "--for",
        dest="lasting",
        type=unlock_duration,
        default=UNLOCK_FOR,
        metavar="DURATION",
        help=f"forget {forget} after this long (30m, 8h, 1d; default 8h)",
    )


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
        add_unlock_for(action, forget="the unlocked secrets")
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
    stop = actions.add_parser("stop", help="stop the service (running commands finish first)")
    stop.add_argument(
        "--now",
        action="store_true",
        help="interrupt the running commands as Ctrl-C would (what they did not do stays queued)",
    )
    stop.add_argument(
        "--wait",
        type=duration,
        default=STOP_WAIT,
        metavar="DURATION",
        help=f"how long to wait for the service to end (default {STOP_WAIT:g}s)",
    )
    stop.set_defaults(run=_stop, audited=False)
    unlock = actions.add_parser(
        "unlock",
        parents=[password_option()],
        help="ask for the keystore password and have the running service hold its secrets",
    )
    add_unlock_for(unlock, forget="them")
    unlock.set_defaults(run=_unlock, audited=False)
    for name, run, text in (
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


def unlock_duration(text: str) -> int:
    """An argparse type: how long the keystore's secrets are held, 1 second to 7 days (an
    unlock of patients' data keys for longer is refused, as one that would end at once)."""
    seconds = duration(text)
    if not MIN_UNLOCK <= seconds <= MAX_UNLOCK:
        raise argparse.ArgumentTypeError(
            f"an unlock lasts from 1s to 7d (then 'service unlock' again), not {text!r}"
        )
    return seconds


def _run(args: argparse.Namespace) -> int:
    from desktop.net.queue import check_ahead
    from desktop.warm.server import Lease, Service

    home = courier_home()
    if (running := ask(home, wire.STATUS)) is not None:
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
    service = Service(
        home,
        lease,
        idle=args.idle,
        on_lock=partial(_locked, home),
        on_unlock=partial(_derived, home),
        ahead=lambda: check_ahead(queue),
        warm_up=partial(warm_up, lease),
    )
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
    ``__main__`` of a package, which would run), build the commands' parsers, and have
    OpenSSL and SQLite do their once-per-process work (~1.5 ms of a command's connector)."""
    import importlib
    import pkgutil
    import sqlite3
    import ssl

    import desktop

    for module in pkgutil.walk_packages(desktop.__path__, "desktop."):
        skipped = module.name.startswith(("desktop.ui", "desktop.commands.gui"))
        if not skipped and not module.name.endswith(".__main__"):
            importlib.import_module(module.name)
    importlib.import_module("pwd")  # getpass.getuser's, for every audited command's session
    cli.build_parsers(set(cli.COMMANDS.values()) - {"gui"})
    ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # OpenSSL reads its configuration once, here
    sqlite3.connect(":memory:").close()  # SQLite initialises itself once, here


#: Command lines a spare child parses as it waits (their patterns compiled, the parsing's
#: pages its own), as the next command's parse would: a send, and a short one.
WARM_UP_LINES = (["send", "NODE", "PATH"], ["node", "list"])


def warm_up(lease: "Lease") -> None:
    """What the first moments of a command in a freshly forked child do, done ahead in the
    service's spare child (``Service.warm_up``): parsing; the queue, opened (the command's
    opening takes that connection); and, unlocked, the client context of the first TLS node
    whose identity the service holds (``make_ahead``: a command's connector to that node
    takes it; nothing is connected, audited or written)."""
    from desktop.net.queue import open_ahead

    for line in WARM_UP_LINES:
        cli.parser_for(line).parse_args(line)
    open_ahead(courier_home() / "queue.sqlite")
    if lease.holds is None:
        return
    from desktop.commands.options import hold_unlocked
    from desktop.connect import make_ahead
    from desktop.core.config import load_config

    hold_unlocked(lease.holds)  # as the command's child will
    keystore = open_keystore(argparse.Namespace(password_file=None))
    nodes = load_config(courier_home()).nodes.values()
    held = next((n for n in nodes if n.tls and n.identity and keystore.holds(n.identity)), None)
    if held is not None:
        make_ahead(held, keystore)


def _start(args: argparse.Namespace) -> int:
    home = courier_home()
    if args.unlock and ask(home, wire.STATUS) is not None:  # as at login: unlock it
        return _unlock(args)
    if (running := ask(home, wire.STATUS)) is not None:
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
        with _audited(home), auditing.unlocking("keystore (warm service)", refusals_only=True):
            password = open_keystore(args).unlock_all().password  # the service's is audited
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


def _stop(args: argparse.Namespace) -> int:
    """Stop the service; say the truth when it is still finishing commands (exit 1)."""
    from desktop.warm.server import LOCK_NAME, holder

    home = courier_home()
    status = ask(home, wire.STATUS)
    if status is not None and ask(home, wire.STOP) is not None:
        pid, commands = status["pid"], status["commands"]
    elif (held := holder(home / LOCK_NAME)) is not None and held.stopping:
        pid, commands = held.pid, _children(held.pid)  # asked before: stopping already
    else:
        print(f"no warm service runs for {home}")
        return 0
    if args.now:
        for command in commands:  # Ctrl-C: each ends truthfully, its job left pending
            with suppress(ProcessLookupError):
                os.kill(command, signal.SIGINT)
    deadline = time.monotonic() + args.wait
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not _alive(pid):
        print(f"warm service stopped (pid {pid})")
        return 0
    running = _children(pid)
    print(
        f"warm service stopping (pid {pid}): it takes no new commands, and ends once its "
        f"{len(running)} running command(s) (pid {', '.join(map(str, running))}) have ended; "
        "'dicom-courier service stop --now' interrupts them"
    )
    return 1


def _children(pid: int) -> list[int]:
    """The processes ``pid`` forked for commands, still running (Linux's /proc says)."""
    found = []
    for entry in Path("/proc").iterdir():
        with suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if entry.name.isdigit() and int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return sorted(found)


def _status(_args: argparse.Namespace) -> int:
    from desktop.warm.server import LOCK_NAME, holder

    home = courier_home()
    status = ask(home, wire.STATUS)
    if status is None:
        held = holder(home / LOCK_NAME)
        if held is not None and held.stopping:
            print(
                f"warm service stopping (pid {held.pid}): it takes no new commands and ends "
                f"once its {held.running} running command(s) have ended"
            )
        else:
            print(f"no warm service runs for {home}")
        return 1
    since = dt.datetime.fromtimestamp(status["started"], dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"warm service running: pid {status['pid']}, since {since}, on {status['socket']}")
    print(_keystore_state(status["unlocked_until"]))
    print(f"commands served: {status['served']} ({status['running']} running)")
    return 0


def _lock(_args: argparse.Namespace) -> int:
    home = courier_home()
    if ask(home, wire.LOCK) is None:
        print(f"no warm service runs for {home}")
        return 1
    print("the warm service has forgotten the keystore's secrets: commands ask again")
    return 0


def _unlock(args: argparse.Namespace) -> int:
    """Have the running service unlock the keystore with the password asked here (on this
    terminal, or --password-file): the service checks it, derives, audits."""
    from desktop.security.passwords import password_source

    home = courier_home()
    if ask(home, wire.STATUS) is None:
        print(f"no warm service runs for {home} ('service start --unlock' starts one unlocked)")
        return 1
    password = password_source(args.password_file, str(home.absolute()))(False)
    answer = ask(home, wire.UNLOCK, b"%d" % args.lasting, password.encode())
    word, _, rest = (answer or {}).get("answer", "").partition(" ")
    if word != "unlocked":
        raise CourierError(rest or "the warm service stopped before it answered")
    print(_keystore_state(float(rest)))
    return 0


def _derived(home: Path, password: str) -> "Unlocked":
    """The keystore's secrets derived from ``password`` in the service (``service
    unlock``): the unlock, or its refusal, audited."""
    from desktop.security.keystore import Keystore

    with _audited(home), auditing.unlocking("keystore (warm service)"):
        return Keystore(home, lambda _new: password).unlock_all()


def _keystore_state(until: float | None) -> str:
    if until is None:
        return "keystore locked: commands ask for its password as usual"
    when = dt.datetime.fromtimestamp(until, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"keystore unlocked until {when} ('service lock' forgets it sooner)"


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


def _locked(home: Path, description: str) -> None:
    """The service forgot its unlocked secrets (``service lock``, ``--for`` ran out, it
    stops): 110114 Logout in the audit trail, saying what was locked and why."""
    with _audited(home):
        auditing.locked(description)


@contextmanager
def _audited(home: Path) -> Iterator[None]:
    """The service's own events (start, stop, unlock) in the home's audit trail."""
    auditing.install(home)
    try:
        yield
    finally:
        auditing.uninstall()
