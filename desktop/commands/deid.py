"""``dicom-courier deid``: de-identified copies of DICOM files (PS3.15 Annex E), their
burned-in text masked with ``--pixels auto``, or as reviewed with ``--pixels review``: the
command line writes what it found to ``--boxes FILE`` and makes no copies; once the file is
edited, the same command with the same ``--boxes FILE`` masks exactly the boxes it lists."""

import argparse
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop.core.deid.table import UNSUPPORTED_OPTIONS, Option, parse_options
from desktop.core.errors import CourierError

if TYPE_CHECKING:
    from desktop.core.deid.batch import Copied
    from desktop.core.deid.pixels import PixelPolicy

OPTIONS = {option.cli_name: option for option in Option}


def register(commands: Any) -> None:
    """Add ``deid`` to the parser's subcommands."""
    from desktop.commands.options import password_option

    deid = commands.add_parser(
        "deid",
        parents=[password_option()],
        help="write de-identified copies (Basic Application Level Confidentiality Profile)",
    )
    deid.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    deid.add_argument("--out", required=True, type=Path, metavar="DIR", help="the copies' folder")
    deid.add_argument(
        "--option",
        action="append",
        default=[],
        choices=sorted([*OPTIONS, *UNSUPPORTED_OPTIONS]),
        metavar="NAME",
        help="a profile option (repeatable): " + ", ".join(sorted(OPTIONS)),
    )
    deid.add_argument(
        "--key-file",
        type=Path,
        metavar="F",
        help="the project key (32 random bytes, made 0600 if missing; default: one per home)",
    )
    deid.add_argument(
        "--recipient",
        type=Path,
        metavar="CERT",
        help="keep the original values encrypted for this certificate (PEM/DER): only its "
        "holder restores them (reid)",
    )
    deid.add_argument(
        "--untrusted-recipient",
        action="store_true",
        help="encrypt for a certificate no trusted CA issued (its fingerprint checked by you)",
    )
    deid.add_argument(
        "--pixels",
        choices=("auto", "off", "review"),
        default="off",
        help="burned-in text: masked as found (auto), as reviewed in --boxes F (review), "
        "left as is (off, the default)",
    )
    deid.add_argument(
        "--boxes",
        type=Path,
        metavar="F",
        help="with --pixels review: the review file (written when missing, applied when present)",
    )
    deid.set_defaults(run=_deid)


def _deid(args: argparse.Namespace) -> int:
    """SIGTERM ends it as Ctrl+C does: what it was writing is removed, its copies whole."""
    from desktop.commands.options import terminated_as_interrupted

    with terminated_as_interrupted():
        return _deidentify(args)


def _deidentify(args: argparse.Namespace) -> int:
    from desktop.deidentify import copies

    options = _options(args)
    pixels = _pixel_policy(args)
    if args.pixels == "review" and pixels is None:
        return _write_review(args.paths, args.boxes)
    if args.recipient is not None:
        from desktop.commands.options import open_keystore
        from desktop.sealing import recipient_certificate

        checked = recipient_certificate(
            args.recipient, open_keystore(args), untrusted=args.untrusted_recipient
        )
        print("\n".join(checked.lines()))
    made = copies(
        args.paths,
        args.out,
        options=options,
        key_file=args.key_file,
        recipient=args.recipient,
        pixels=pixels,
    )
    with closing(made):  # interrupted: the run's temporary files removed before we go on
        return _report(made, searched=pixels is not None)


def _report(made: "Iterator[Copied]", *, searched: bool) -> int:
    """Say what became of each file as it comes; the exit status."""
    from desktop.deidentify import with_signs

    failures = written = at_risk = 0
    for done, signs in with_signs(made, searched=searched):
        if done.copy is None:
            named = done.error.startswith(str(done.source))  # the file named once
            print(
                done.error if named else f"{done.source}: not de-identified: {done.error}",
                file=sys.stderr,
            )
            failures += 1
            continue
        print(f"de-identified {done.source} -> {done.copy}")
        written += 1
        if signs:
            at_risk += 1
            print(
                f"warning: {done.source}: its pixels may hold burned-in text "
                f"({', '.join(signs)}); not searched (--pixels off)",
                file=sys.stderr,
            )
    if at_risk:
        print(
            f"warning: {at_risk} of {written} copies may hold burned-in text in their pixels "
            "(each named above): their pixels were not searched (--pixels off), so any name, "
            "ID or date written into the image is still there; de-identify them again with "
            "--pixels auto or --pixels review",
            file=sys.stderr,
        )
    return 1 if failures else 0


def _pixel_policy(args: argparse.Namespace) -> "PixelPolicy | None":
    """The policy of ``--pixels``; None for ``off`` and for a review file still to write."""
    if args.boxes is not None and args.pixels != "review":
        raise CourierError("--boxes goes with --pixels review (the review file to write or apply)")
    if args.pixels == "off":
        return None  # pydicom is not even imported: the copies are made from the headers' bytes
    from desktop.core.deid.pixels import PixelPolicy
    from desktop.core.deid.review_file import read_review

    if args.pixels == "auto":
        from desktop.deidentify import check_ocr

        check_ocr()
        return PixelPolicy()
    if args.boxes is None:
        raise CourierError(
            "--pixels review needs --boxes FILE on the command line: the boxes found are "
            "written there to edit, then masked when the command is run again with the same "
            "file (the GUI shows them over the image instead)"
        )
    return PixelPolicy(given=read_review(args.boxes)) if args.boxes.exists() else None


def _write_review(paths: list[Path], review: Path) -> int:
    """Search ``paths`` for burned-in text and write the review file; no copies."""
    from desktop.core.deid.review_file import write_review
    from desktop.deidentify import search

    found = []
    failures = 0
    for searched in search(paths):
        if searched.finding is None:
            print(f"{searched.source}: not searched: {searched.error}", file=sys.stderr)
            failures += 1
        else:
            found.append((searched.source, searched.uid, searched.finding))
    count = write_review(review, found)
    boxes = sum(len(finding.boxes) for _, _, finding in found)
    print(
        f"wrote {review}: {boxes} boxes to mask in {count} images; edit their 'boxes' "
        f"([x, y, width, height]), then run the same command again to make the copies"
    )
    return 1 if failures else 0


def _options(args: argparse.Namespace) -> frozenset[Option]:
    if "clean-pixel-data" in args.option:
        raise CourierError(
            "the Clean Pixel Data option is chosen with --pixels auto (or --pixels review)"
        )
    return parse_options(args.option)
