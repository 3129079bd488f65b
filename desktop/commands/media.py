"""Media commands: tree, export, demo-media."""

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from desktop import auditing
from desktop.core.display import Window
from desktop.core.errors import FrameError
from desktop.core.export import export_mp4, export_png
from desktop.core.frames import FrameSource
from desktop.core.media import open_media
from desktop.core.report import tree_to_json, tree_to_text
from desktop.core.stack import Stack, series_stack
from desktop.core.synthetic import write_media
from desktop.core.words import counted


def register(commands: Any) -> None:
    """Add the media commands to the parser's subcommands."""
    tree = commands.add_parser("tree", help="show the Patient/Study/Series/Instance tree of media")
    tree.add_argument("path", type=Path, help="a DICOMDIR, a media folder or any folder or file")
    tree.add_argument("--json", action="store_true", help="print JSON instead of text")
    tree.set_defaults(run=_tree)

    export = commands.add_parser(
        "export", help="export a frame as PNG, or a cine or a series' stack as MP4"
    )
    export.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="a DICOM file with pixel data, or a series: its files, its folder or its media",
    )
    export.add_argument(
        "--series", metavar="UID", help="the series to export when the media holds several"
    )
    target = export.add_mutually_exclusive_group(required=True)
    target.add_argument("--png", type=Path, metavar="OUT", help="write one frame as PNG")
    target.add_argument(
        "--mp4", type=Path, metavar="OUT", help="write every frame or image as H.264 MP4"
    )
    export.add_argument(
        "--frame",
        type=_frame_number,
        default=1,
        metavar="N",
        help="--png: the frame of a file, or the image of a series in stack order, counted "
        "from 1 as DICOM and the viewer's 'Image N/M' count (default: 1, the first); before "
        "November 2026 it counted from 0",
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


def _frame_number(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a frame number: {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(
            f"frames count from 1 (as DICOM and the viewer's 'Image N/M' do): --frame 1 is the "
            f"first, not {number}"
        )
    return number


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
    frames = _frames(args)
    first = frames if isinstance(frames, FrameSource) else frames.source(0)[0]
    with auditing.exporting(first.path, args.png or args.mp4), _native_stderr_silenced():
        return _write_export(args, frames)


def _frames(args: argparse.Namespace) -> "FrameSource | Stack":
    """One file's frames, or the stack of a series (several files, a folder or media)."""
    [path] = args.paths if len(args.paths) == 1 else [None]
    if path is not None and path.is_file() and not args.series and not _is_dicomdir(path):
        return FrameSource(path)
    return series_stack([open_media(p) for p in args.paths], series_uid=args.series)


def _write_export(args: argparse.Namespace, frames: "FrameSource | Stack") -> int:
    if args.png:
        count, index = frames.frame_count, args.frame - 1  # --frame counts from 1
        named = ", ".join(map(str, args.paths))
        if args.frame > count:
            what = "frame" if isinstance(frames, FrameSource) else "image"
            raise FrameError(
                f"{what} {args.frame} is out of range: {named} has {counted(count, what)} "
                f"(1 to {count})"
            )
        source, frame = (frames, index) if isinstance(frames, FrameSource) else frames.source(index)
        export_png(
            source, args.png, frame=frame, window=args.window, stored_16bit=args.stored_16bit
        )
        print(f"wrote image {args.frame}/{count} of {named} to {args.png}")
    else:
        for _ in export_mp4(frames, args.mp4, fps=args.fps, window=args.window):
            pass
        rate = args.fps or frames.fps
        frames_written = counted(frames.frame_count, "frame")
        print(f"wrote {frames_written} at {rate:.4g} fps to {args.mp4}")
    return 0


def _is_dicomdir(path: Path) -> bool:
    return path.name.upper() == "DICOMDIR"


def _demo_media(args: argparse.Namespace) -> int:
    dicomdir = write_media(args.folder)
    print(f"wrote sample media to {dicomdir}")
    return 0
