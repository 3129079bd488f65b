"""``dicom-courier gui``: the desktop application (Qt is imported only here, and only then)."""

import argparse
from pathlib import Path
from typing import Any


def register(commands: Any) -> None:
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


def run_gui(args: argparse.Namespace) -> int:
    from desktop.ui.launch import run

    return run(args.path, demo=args.demo, screenshot=args.screenshot)
