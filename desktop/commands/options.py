"""What the commands share: the keystore password option, opening the keystore, and where
warnings go (ours on stderr, the libraries' into the log).

Light to import: the keystore (and the cryptography it needs) loads only when a command
opens it.
"""

import argparse
import gc
import logging
import signal
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.core.paths import courier_home

if TYPE_CHECKING:
    from desktop.net.cancel import Cancel
    from desktop.security.keystore import Keystore, Unlocked

#: The keystore as a warm service unlocked it (``service start --unlock``), for the commands
#: it runs; None in a process of its own.
_unlocked: "Unlocked | None" = None


def hold_unlocked(unlocked: "Unlocked | None") -> None:
    """Open every keystore of this process with ``unlocked`` (None: ask as usual)."""
    global _unlocked
    _unlocked = unlocked


def password_option() -> argparse.ArgumentParser:
    """A parent parser with --password-file, for every command that may unlock the keystore."""
    secret = argparse.ArgumentParser(add_help=False)
    secret.add_argument(
        "--password-file",
        type=Path,
        metavar="FILE",
        help="read the keystore password from FILE (or set DICOM_COURIER_KEYSTORE_PASSWORD)",
    )
    return secret


def attempts(text: str) -> int:
    """``--attempts``: a whole number of tries, at least one."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"at least 1 try, not {value}")
    return value


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 1 to 65535."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 1 to 65535, not {text!r}")
    return port


def ae_title(text: str) -> str:
    """An argparse type: an AE title (PS3.5 VR AE)."""
    from desktop.core.ae_title import RULE, is_ae_title

    if not is_ae_title(text):
        raise argparse.ArgumentTypeError(f"an AE title is {RULE}; not {text!r}")
    return text


def open_keystore(args: argparse.Namespace) -> "Keystore":
    """The home's keystore, asking for its password (--password-file ...) only when needed."""
    from desktop.security.keystore import Keystore
    from desktop.security.passwords import password_source

    home = courier_home()
    keystore = Keystore(
        home,
        password_source(args.password_file, str(home.absolute())),
        on_change=_audit_change,
    )
    if _unlocked is not None and args.password_file is None:  # a file given is obeyed
        keystore.use(_unlocked)
    return keystore


def _audit_change(folder: Path, description: str) -> None:
    """The keystore's changes, audited. The trail is imported by a change: an echo or send
    opens the keystore (and starts deriving a secret) before the trail loads."""
    from desktop import auditing

    auditing.configuration_changed(folder, description)


@contextmanager
def collecting_later() -> Iterator[None]:
    """No garbage collection during the block: a command's start (its imports, a media scan,
    queuing a job) makes objects that stay or that reference counting frees, and CPython's
    collector would walk them again and again (a send with it off for its whole run used
    6-9% less CPU, at load 8 on 2 cores)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Stderr(logging.Handler):
    """Log records as ``dicom-courier: warning: ...`` lines on the current stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"dicom-courier: warning: {record.getMessage()}", file=sys.stderr)


def route_warnings() -> None:
    """Our warnings (a damaged queue moved aside, a keystore entry skipped) as one line on
    stderr; the libraries' Python warnings (pydicom's on an odd character set, a value of
    the wrong form) into the log, never raw on the terminal: what concerns a file is said
    as its problem where it is read (``tree``, the browser)."""
    library = logging.getLogger("desktop")
    if not any(isinstance(h, _Stderr) for h in library.handlers):
        library.addHandler(_Stderr(logging.WARNING))
    warnings.showwarning = _log_warning


def _log_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: object = None,
    line: str | None = None,
) -> None:
    logging.getLogger("desktop.libraries").info(
        "%s (%s, %s:%d)", message, category.__name__, filename, lineno
    )


@contextmanager
def terminated_as_interrupted() -> Iterator[None]:
    """SIGTERM (a logout, a service stop) ends the block as Ctrl+C does, so what it made is
    cleaned up (the default ends the process at once)."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def interruptible() -> "Iterator[Cancel]":
    """A cancel that Ctrl+C (SIGINT) and SIGTERM give during the block, instead of ending the
    command wherever it stands: the block's work stops at once and truthfully (a send records
    what was answered), then KeyboardInterrupt (the CLI says "interrupted", exit status 130)."""
    from desktop.net.cancel import Cancel

    cancel = Cancel()
    signalled: list[int] = []  # a cancel of the job from elsewhere is not an interrupt

    def interrupt(number: int, _frame: object) -> None:
        signalled.append(number)
        cancel.cancel()

    previous = {number: signal.signal(number, interrupt) for number in INTERRUPTS}
    try:
        yield cancel
    except Exception:
        if signalled:  # what the cancel broke: the user stopped it
            raise KeyboardInterrupt from None
        raise
    finally:
        for number, before in previous.items():
            signal.signal(number, before)
    if signalled:
        raise KeyboardInterrupt


INTERRUPTS = (signal.SIGINT, signal.SIGTERM)
