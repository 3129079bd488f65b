"""``dicom-courier``: the headless twin of the desktop application.

Every command prints its result on stdout; an error is one line on stderr and a non-zero exit.
Nothing here imports Qt.
"""

import argparse
import sys
from collections.abc import Sequence

from desktop import __version__
from desktop.commands import audit, gui, listen, media, query, transfer, trust
from desktop.core.errors import CourierError

EXIT_ERROR = 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit status."""
    parser = _parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(arguments or ["gui"])  # no command: the desktop application
    if not hasattr(args, "run"):
        parser.print_help()
        return EXIT_ERROR
    try:
        with audit.session(args):
            status: int = args.run(args)
        return status
    except CourierError as error:
        print(f"dicom-courier: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("dicom-courier: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dicom-courier", description="Browse, view and move DICOM media securely."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(metavar="COMMAND")

    media.register(commands)
    trust.register(commands)
    transfer.register(commands)
    listen.register(commands)
    query.register(commands)
    gui.register(commands)
    audit.register(commands)
    return parser


if __name__ == "__main__":
    sys.exit(main())
