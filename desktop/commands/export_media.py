"""export-media: write studies as DICOM media (DICOMDIR), optionally as an ISO 9660 image."""

import argparse
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from desktop import auditing
from desktop.core.errors import MediaError
from desktop.core.iso_image import write_iso
from desktop.core.media import open_media
from desktop.core.media_writer import WrittenMedia, write_media
from desktop.core.paths import courier_home
from desktop.core.study_selection import media_label, select_studies


def register(commands: Any) -> None:
    """Add export-media to the parser's subcommands."""
    export = commands.add_parser(
        "export-media", help="write studies to a CD/USB folder with a DICOMDIR (PS3.10/PS3.11)"
    )
    export.add_argument(
        "--study", action="append", required=True, metavar="UID", help="a study; repeatable"
    )
    export.add_argument(
        "--from",
        dest="sources",
        action="append",
        type=Path,
        metavar="PATH",
        help="media, folder or file to take the studies from; repeatable (default: the Inbox)",
    )
    export.add_argument("--out", type=Path, required=True, help="a new or empty folder")
    export.add_argument("--iso", type=Path, metavar="FILE", help="also write an ISO 9660 image")
    export.set_defaults(run=_export_media)


def _export_media(args: argparse.Namespace) -> int:
    trees = [open_media(source) for source in _sources(args.sources)]
    selection = select_studies(trees, args.study)
    with ExitStack() as audited:  # 110106 Export for each study, its outcome the media's
        for first in selection.firsts:
            audited.enter_context(auditing.exporting(first, args.out))
        media = _write(selection.files, args.out, media_label(trees, args.study[0]))
        if args.iso:
            write_iso(media.root, args.iso, volume_id=media.file_set_id)
    left_out = [*selection.left_out, *media.skipped]
    print(f"wrote {media.instances} instances with a DICOMDIR to {media.root}")
    for problem in left_out:
        print(f"left off {problem.path}: {problem.reason}")
    if args.iso:
        print(f"wrote the ISO 9660 image {args.iso} (volume {media.file_set_id or 'unnamed'})")
    return 0


def _write(files: list[Path], out: Path, fileset: str) -> WrittenMedia:
    loader = write_media(files, out, fileset=fileset)
    while True:
        try:
            next(loader)
        except StopIteration as finished:
            media: WrittenMedia = finished.value
            return media


def _sources(given: list[Path] | None) -> list[Path]:
    if given:
        return given
    inbox = courier_home() / "inbox"
    if not inbox.is_dir():
        raise MediaError(f"no --from given and there is no Inbox at {inbox}")
    return [inbox]
