"""``dicom-courier gui``: the desktop application (Qt is imported only here, and only then)."""

import argparse
import os
import sys
from pathlib import Path
from typing import Any


def register(commands: Any) -> None:
    """Add ``gui`` to the parser's subcommands."""
    gui = commands.add_parser("gui", help="start the desktop application")
    gui.add_argument("path", nargs="?", type=Path, help="media to open")
    gui.add_argument(
        "--demo",
        action="store_true",
        help="run on the embedded demo: demo CA, sample media, a local TLS PACS",
    )
    gui.add_argument(
        "--screenshot",
        type=Path,
        metavar="PNG",
        help="save the first window as PNG once it is shown, then quit (smoke tests, docs)",
    )
    gui.set_defaults(run=run_gui, long_running=True)


NO_DISPLAY = (
    "dicom-courier: no display: the desktop application needs a graphical session "
    "(DISPLAY or WAYLAND_DISPLAY); the command line is 'dicom-courier --help'"
)


def has_display() -> bool:
    """Whether Qt can show a window: a display on X11/Wayland systems, always on Windows and
    macOS, and whenever QT_QPA_PLATFORM names a platform (offscreen, vnc, ...)."""
    if sys.platform in ("win32", "darwin") or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_gui(args: argparse.Namespace) -> int:
    if not has_display():
        print(NO_DISPLAY, file=sys.stderr)  # not Qt's abort and its advice to reinstall
        return 1
    from desktop.ui.launch import run

    return run(args.path, demo=args.demo, screenshot=args.screenshot)
