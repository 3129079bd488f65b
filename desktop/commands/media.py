"""Media commands: tree, export, demo-media."""

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from desktop.core.display import Window
from desktop.core.export import export_mp4, export_png
from desktop.core.frames import FrameSource
from desktop.core.media import open_media
from desktop.core.report import tree_to_json, tree_to_text
from desktop.core.synthetic import write_media


def register(commands: Any) -> None:
    """Add the media commands to the parser's subcommands."""
    tree = commands.add_parser("tree", help="show the Patient/Study/Series/Instance tree of media")
    tree.add_argument("path", type=Path, help="a DICOMDIR, a media folder or any folder or file")
    tree.add_argument("--json", action="store_true", help="print JSON instead of text")
    tree.set_defaults(run=_tree)

    export = commands.add_parser("export", help="export a frame as PNG or a cine as MP4")
    export.add_argument("file", type=Path, help="a DICOM file with pixel data")
    target = export.add_mutually_exclusive_group(required=True)
    target.add_argument("--png", type=Path, metavar="OUT", help="write one frame as PNG")
    target.add_argument("--mp4", type=Path, metavar="OUT", help="write every frame as H.264 MP4")
    export.add_argument(
        "--frame", type=int, default=0, metavar="N", help="frame for --png (from 0)"
    )
    export.add_argument("--window", type=_window, metavar="CENTER,WIDTH", help="window/level")
    export.add_argument(
        "--16bit",
        dest="stored_16bit",
        action="store_true",
        help="--png: 16-bit grey with the stored values instead of the display",
    )
    export.add_argument(
        "--fps", type=_positive, metavar="F", help="--mp4: frame rate (default: the file's)"
    )
    export.set_defaults(run=_export)

    demo = commands.add_parser("demo-media", help="write synthetic sample media with a DICOMDIR")
    demo.add_argument("folder", type=Path)
    demo.set_defaults(run=_demo_media)


def _window(text: str) -> Window:
    try:
        return Window.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {value:g}")
    return value


def _tree(args: argparse.Namespace) -> int:
    tree = open_media(args.path)
    print(json.dumps(tree_to_json(tree), indent=2) if args.json else tree_to_text(tree))
    return 0


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Decoder plugins in Rust and C++ print panics straight to file descriptor 2; an error
    of this command is one line on stderr (printed after this block), not a Rust backtrace."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _export(args: argparse.Namespace) -> int:
    with _native_stderr_silenced():
        return _write_export(args)


def _write_export(args: argparse.Namespace) -> int:
    source = FrameSource(args.file)
    if args.png:
        export_png(
            source, args.png, frame=args.frame, window=args.window, stored_16bit=args.stored_16bit
        )
        print(f"wrote frame {args.frame} of {args.file} to {args.png}")
    else:
        for _ in export_mp4(source, args.mp4, fps=args.fps, window=args.window):
            pass
        print(f"wrote {source.frame_count} frames at {args.fps or source.fps:g} fps to {args.mp4}")
    return 0


def _demo_media(args: argparse.Namespace) -> int:
    dicomdir = write_media(args.folder)
    print(f"wrote sample media to {dicomdir}")
    return 0
