"""``dicom-courier``: the headless twin of the desktop application.

Every command prints its result on stdout; an error is one line on stderr and a non-zero exit.
Nothing here imports Qt. Only the command group asked for is imported (``--version`` imports
none), so that a command starts without loading what other commands need.
"""

import argparse
import gc
import importlib
import os
import sys
from collections.abc import Iterable, Sequence

from desktop import __version__
from desktop.core.errors import CourierError

EXIT_ERROR = 1
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a command killed by it
#: Each command and the module of desktop.commands that registers it.
COMMANDS = {
    "tree": "media",
    "export": "media",
    "demo-media": "media",
    "keystore": "trust",
    "tls-check": "trust",
    "node": "transfer",
    "echo": "transfer",
    "send": "transfer",
    "queue": "transfer",
    "history": "transfer",
    "listen": "listen",
    "access": "listen",
    "import": "store",
    "store": "store",
    "find": "query",
    "move": "query",
    "get": "query",
    "sign": "sign",
    "audit": "audit",
    "settings": "settings",
    "verify": "sign",
    "seal": "seal",
    "unseal": "seal",
    "reid": "seal",
    "export-media": "export_media",
    "deid": "deid",
    "service": "service",
    "gui": "gui",
}
HELP = frozenset({"-h", "--help"})
#: Each command group's parser, built ahead by a warm service (``build_parsers``): the
#: commands it forks then only parse (argparse's building is 0.02 s of a command's start).
_built: dict[str, argparse.ArgumentParser] = {}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit status. Run as the process's command (``argv``
    None), what it leaves is frozen for the exit: no collection at exit looks at it (0.08 s
    of a send's teardown)."""
    try:
        return _command(argv)
    finally:
        if argv is None:
            gc.freeze()


def _command(argv: Sequence[str] | None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv) or ["gui"]  # the desktop app
    gc.disable()  # the command's imports make objects that stay: collecting them is waste
    try:
        parser = parser_for(arguments)
        args = parser.parse_args(arguments)
    finally:
        gc.enable()
    if not hasattr(args, "run"):
        parser.print_help()
        return EXIT_ERROR
    from desktop.commands.options import route_warnings  # not needed by --version

    route_warnings()
    _warn_of_an_unsafe_home()
    try:
        if hasattr(args, "prepare"):  # started before the session, which imports meanwhile
            args.prepare(args)
        from desktop.commands.audit import session  # after parsing: --version stays light

        with session(args):
            status: int = args.run(args)
        sys.stdout.flush()  # a closed pipe is found here, not at exit
        return status
    except CourierError as error:
        print(f"dicom-courier: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("dicom-courier: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader (head, a pager) has gone: nothing more to say
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _warn_of_an_unsafe_home() -> None:
    import logging

    from desktop.core.paths import courier_home, unsafe_home

    said = unsafe_home(courier_home())
    if said:
        logging.getLogger("desktop.cli").warning(said)


def _silence_stdout() -> None:
    """Point stdout at the null device, so flushing it at exit cannot fail again."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (captured output)
        pass


def _groups(arguments: list[str]) -> list[str]:
    """The command modules to import: the command's own, none for ``--version``, all for help
    or an unknown command (argparse then lists them)."""
    command = next((a for a in arguments if not a.startswith("-")), None)
    if command in COMMANDS:
        return [COMMANDS[command]]
    if command is None and not HELP.intersection(arguments):
        return []
    return list(dict.fromkeys(COMMANDS.values()))


def parser_for(arguments: list[str]) -> argparse.ArgumentParser:
    """The parser of ``arguments``' command: built ahead (``build_parsers``), or now."""
    groups = _groups(arguments)
    return _built[groups[0]] if len(groups) == 1 and groups[0] in _built else _parser(groups)


def build_parsers(groups: Iterable[str]) -> None:
    """Build each of ``groups``' parsers now, for the commands of this process's forks.
    Parsing leaves a parser as it was, and what registering reads (nothing of the home,
    directory or environment) is the same for every command."""
    for group in groups:
        _built[group] = _parser([group])


def _parser(groups: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dicom-courier", description="Browse, view and move DICOM media securely."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(metavar="COMMAND")
    for group in groups:
        importlib.import_module(f"desktop.commands.{group}").register(commands)
    return parser


if __name__ == "__main__":
    sys.exit(main())
