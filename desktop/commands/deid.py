"""``dicom-courier deid``: de-identified copies of DICOM files (PS3.15 Annex E, header level)."""

import argparse
import sys
from pathlib import Path
from typing import Any

from desktop.core.deid.table import UNSUPPORTED_OPTIONS, Option, parse_options
from desktop.core.errors import CourierError

OPTIONS = {option.cli_name: option for option in Option}


def register(commands: Any) -> None:
    """Add ``deid`` to the parser's subcommands."""
    deid = commands.add_parser(
        "deid",
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
        "--pixels",
        choices=("auto", "off", "review"),
        default="off",
        help="burned-in text cleaning (not available yet: only 'off')",
    )
    deid.set_defaults(run=_deid)


def _deid(args: argparse.Namespace) -> int:
    from desktop.core.deid.batch import deidentify_files
    from desktop.core.deid.keys import default_key_file, project_key
    from desktop.core.deid.mapping import KeyedMapping
    from desktop.core.deid.profile import Profile

    options = _options(args)
    protect = None
    if args.recipient:
        from desktop.reidentify import recipient_protection

        protect = recipient_protection(args.recipient)
    key = project_key(args.key_file or default_key_file())
    profile = Profile(KeyedMapping(key), options)
    failures = 0
    for done in deidentify_files(args.paths, args.out, profile, protect=protect):
        if done.copy is None:
            print(f"{done.source}: not de-identified: {done.error}", file=sys.stderr)
            failures += 1
        else:
            print(f"de-identified {done.source} -> {done.copy}")
    return 1 if failures else 0


def _options(args: argparse.Namespace) -> frozenset[Option]:
    if args.pixels != "off":
        raise CourierError(
            f"--pixels {args.pixels} is not available yet: burned-in text is not cleaned, "
            "so only --pixels off (header de-identification, Burned In Annotation left as is)"
        )
    return parse_options(args.option)
