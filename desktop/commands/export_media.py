"""export-media: write studies as DICOM media (DICOMDIR), optionally as an ISO 9660 image."""

import argparse
import shutil
import sys
from contextlib import ExitStack
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop import auditing
from desktop.commands.options import open_keystore, password_option, terminated_as_interrupted
from desktop.core.errors import MediaError, OutputError
from desktop.core.iso_image import write_iso
from desktop.core.media import open_media
from desktop.core.media_writer import WrittenMedia, check_output, write_media
from desktop.core.model import shared_warnings
from desktop.core.paths import courier_home
from desktop.core.study_selection import media_label, sealed_media_label, select_studies
from desktop.core.words import counted

if TYPE_CHECKING:
    from cryptography import x509

    from desktop.security.keystore import UnlockedIdentity

PLAIN_AREA = "sealing"  #: under the home: the plain media while they are sealed


def register(commands: Any) -> None:
    """Add export-media to the parser's subcommands."""
    export = commands.add_parser(
        "export-media",
        parents=[password_option()],
        help="write studies to a CD/USB folder with a DICOMDIR (PS3.10/PS3.11)",
    )
    export.add_argument(
        "--study",
        action="extend",
        nargs="+",
        required=True,
        metavar="UID",
        help="the studies (--study A B, or --study A --study B)",
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
    export.add_argument(
        "--seal-for",
        type=Path,
        metavar="CERT",
        help="seal every file, the DICOMDIR too, for this recipient (secure DICOM files, "
        "PS3.10 7.4): only its key opens the media (unseal, or the browser)",
    )
    export.add_argument(
        "--sign-with",
        metavar="IDENTITY",
        help="with --seal-for: sign every file inside its envelope with this identity, so the "
        "recipient knows who sent the media (else only a SHA-256 digest protects them, and "
        "unseal --require-signed refuses them)",
    )
    export.add_argument(
        "--untrusted-recipient",
        action="store_true",
        help="--seal-for a certificate no CA of the keystore issued (its fingerprint checked)",
    )
    export.set_defaults(run=_export_media)


def _export_media(args: argparse.Namespace) -> int:
    if args.sign_with and not args.seal_for:
        raise OutputError("--sign-with signs sealed media: give --seal-for CERT too")
    trees = [open_media(source) for source in _sources(args.sources)]
    selection = select_studies(trees, args.study)
    for line in shared_warnings(trees, args.study):
        print(line, file=sys.stderr)
    recipient, signer = _sealing(args) if args.seal_for else (None, None)
    with ExitStack() as audited:  # 110106 Export for each study, its outcome the media's
        for first in selection.firsts:
            audited.enter_context(auditing.exporting(first, args.out))
        if recipient is None:
            media = _write(selection.files, args.out, media_label(trees, args.study[0]))
        else:  # the label is read without the key: no patient ID, no study date
            label = sealed_media_label(date.today())
            media = _sealed(selection.files, args.out, label, recipient, signer)
        if args.iso:
            write_iso(media.root, args.iso, volume_id=media.file_set_id)
    left_out = [*selection.left_out, *media.skipped]
    print(f"wrote {counted(media.instances, 'instance')} with a DICOMDIR to {media.root}")
    for problem in left_out:
        print(f"left off {problem.path}: {problem.reason}")
    for problem in media.invented:
        print(f"note: {problem.path}: {problem.reason}")
    if args.iso:
        neutral = ": sealed media, named without the patient" if recipient is not None else ""
        volume = media.file_set_id or "unnamed"
        print(f"wrote the ISO 9660 image {args.iso} (volume {volume}{neutral})")
    if recipient is not None and signer is None:
        from desktop.sealing import NOT_SIGNED

        print(
            f"warning: the media are sealed but {NOT_SIGNED}: a recipient who requires signed "
            "files (unseal --require-signed) refuses them; --sign-with IDENTITY signs them",
            file=sys.stderr,
        )
    return 0


def _write(files: list[Path], out: Path, fileset: str) -> WrittenMedia:
    loader = write_media(files, out, fileset=fileset)
    while True:
        try:
            next(loader)
        except StopIteration as finished:
            media: WrittenMedia = finished.value
            return media


def _sealing(
    args: argparse.Namespace,
) -> "tuple[x509.Certificate, UnlockedIdentity | None]":
    """The recipient checked (and named) and the --sign-with identity unlocked, before
    anything is written."""
    from desktop.sealing import recipient_certificate, signer_of

    keystore = open_keystore(args)
    checked = recipient_certificate(args.seal_for, keystore, untrusted=args.untrusted_recipient)
    print("\n".join(checked.lines()))
    signer = signer_of(keystore, args.sign_with) if args.sign_with else None
    if signer is not None:
        print(f"   signed: by identity {signer.name}, inside each file's envelope")
    return checked.certificate, signer


def _sealed(
    files: list[Path],
    out: Path,
    fileset: str,
    recipient: "x509.Certificate",
    signer: "UnlockedIdentity | None",
) -> WrittenMedia:
    """The media written plain into a private area of the home (never on the medium being
    made), then each file (the DICOMDIR too) sealed into ``out`` under the same file ID,
    signed by ``signer`` inside (else a digest); the plain copy removed, on SIGTERM too, and
    a copy a killed run left is swept first."""
    from desktop.net.copies import new_area, sweep_areas
    from desktop.sealing import seal_files

    check_output(out.absolute())
    sweep_areas(courier_home() / PLAIN_AREA)
    with terminated_as_interrupted(), new_area(courier_home(), PLAIN_AREA) as plain:
        media = _write(files, plain / "media", fileset)
        jobs = [
            (source, out / source.relative_to(media.root))
            for source in sorted(media.root.rglob("*"))
            if source.is_file()
        ]
        refused = [done for done in seal_files(jobs, recipient, signer) if done.target is None]
        if refused:  # the area goes with the error
            raise OutputError(f"{refused[0].source.name} could not be sealed: {refused[0].error}")
    shutil.rmtree(plain, ignore_errors=True)
    return replace(media, root=out.absolute())


def _sources(given: list[Path] | None) -> list[Path]:
    if given:
        return given
    inbox = courier_home() / "inbox"
    if not inbox.is_dir():
        raise MediaError(f"no --from given and there is no Inbox at {inbox}")
    return [inbox]
