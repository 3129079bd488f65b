"""``dicom-courier seal`` and ``unseal``: secure DICOM files (PS3.10 §7.4, PS3.15 Annex D);
``reid``: original values restored from an Encrypted Attributes Sequence by its recipient."""

import argparse
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from desktop.commands.options import open_keystore, password_option
from desktop.core.errors import CourierError
from desktop.sealing import part10


def _der(head: bytes) -> bool:
    return head[:1] == b"\x30"  # a DER SEQUENCE: a CMS ContentInfo, checked when opened


def register(commands: Any) -> None:
    """Add ``seal``, ``unseal`` and ``reid`` to the parser's subcommands."""
    seal = commands.add_parser(
        "seal",
        parents=[password_option()],
        help="encrypt DICOM files for one recipient as secure DICOM files (CMS, AES-256)",
    )
    seal.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    seal.add_argument(
        "--recipient", required=True, type=Path, metavar="CERT", help="its certificate (PEM/DER)"
    )
    seal.add_argument(
        "--sign-with", metavar="IDENTITY", help="sign inside the envelope (else: a SHA-256 digest)"
    )
    seal.add_argument(
        "--untrusted-recipient",
        action="store_true",
        help="seal for a certificate no trusted CA issued (its fingerprint checked by you)",
    )
    seal.add_argument("--out", required=True, type=Path, metavar="DIR", help="write into DIR")
    seal.set_defaults(run=_seal)

    unseal = commands.add_parser(
        "unseal",
        parents=[password_option()],
        help="decrypt secure DICOM files and check their signature or digest",
    )
    unseal.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    unseal.add_argument("--identity", required=True, metavar="NAME", help="the recipient identity")
    unseal.add_argument("--out", required=True, type=Path, metavar="DIR", help="write into DIR")
    unseal.add_argument(
        "--require-signed",
        action="store_true",
        help="refuse a file no trusted signature authenticates (only a digest protects it)",
    )
    unseal.set_defaults(run=_unseal)

    reid = commands.add_parser(
        "reid",
        parents=[password_option()],
        help="restore the original values a recipient's Encrypted Attributes Sequence holds",
    )
    reid.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    reid.add_argument("--identity", required=True, metavar="NAME", help="the recipient identity")
    reid.add_argument("--out", required=True, type=Path, metavar="DIR", help="write into DIR")
    reid.set_defaults(run=_reid)


def _seal(args: argparse.Namespace) -> int:
    from desktop.sealing import recipient_certificate, seal_files, signer_of

    keystore = open_keystore(args)
    checked = recipient_certificate(args.recipient, keystore, untrusted=args.untrusted_recipient)
    print("\n".join(checked.lines()))
    recipient = checked.certificate
    signer = signer_of(keystore, args.sign_with) if args.sign_with else None
    failures = 0
    how = f"signed by {signer.name}" if signer else "SHA-256 digest"
    for done in seal_files(_jobs(args, part10), recipient, signer):
        if done.target is None:
            print(f"{done.source}: not sealed: {done.error}", file=sys.stderr)
            failures += 1
        else:
            print(
                f"sealed {done.source} -> {done.target}: for "
                f"{recipient.subject.rfc4514_string()}, {how}"
            )
    return 1 if failures else 0


def _unseal(args: argparse.Namespace) -> int:
    from desktop import auditing
    from desktop.sealing import unseal_files
    from desktop.signing import trust_of

    keystore = open_keystore(args)
    identity = auditing.unlock(keystore, args.identity)
    trust = trust_of(keystore, [])
    failures = 0
    unsigned = 0
    jobs = _jobs(args, _der)
    for done in unseal_files(jobs, identity, trust, require_signed=args.require_signed):
        if done.target is None:
            print(f"{done.source}: not opened: {done.error}", file=sys.stderr)
            failures += 1
        else:
            print(f"unsealed {done.source} -> {done.target}: {done.checked}")
            unsigned += bool(done.warning)
    if unsigned:
        print(
            f"warning: {unsigned} file(s) NOT SIGNED: their sender is not authenticated "
            "(--require-signed refuses such files)",
            file=sys.stderr,
        )
    return 1 if failures else 0


def _reid(args: argparse.Namespace) -> int:
    from desktop import auditing
    from desktop.reidentify import reidentify_files

    identity = auditing.unlock(open_keystore(args), args.identity)
    failures = 0
    for done in reidentify_files(_jobs(args, part10), identity):
        if done.target is None:
            print(f"{done.source}: not re-identified: {done.error}", file=sys.stderr)
            failures += 1
        else:
            print(
                f"re-identified {done.source} -> {done.target}: "
                f"{done.restored} original values restored"
            )
    return 1 if failures else 0


def _jobs(args: argparse.Namespace, wanted: Callable[[bytes], bool]) -> list[tuple[Path, Path]]:
    """Each source file with its target under --out (folder layout kept); never the source.
    Files named are all taken; in folders, those whose first bytes are ``wanted``."""
    from desktop.core.outputs import distinct_targets

    return distinct_targets(  # each target's folder is made as its file is written
        (source, args.out / relative) for source, relative in _files(args.paths, wanted)
    )


def _files(paths: list[Path], wanted: Callable[[bytes], bool]) -> Iterator[tuple[Path, Path]]:
    from desktop.core.outputs import named_files

    names = named_files([path for path in paths if path.exists() and not path.is_dir()])
    for path in paths:
        if path.is_dir():
            for found in sorted(p for p in path.rglob("*") if p.is_file()):
                if not found.name.startswith("."):  # a DICOMDIR too: sealed media hold one
                    with found.open("rb") as handle:
                        if wanted(handle.read(132)):
                            yield found, found.relative_to(path)
        elif path in names:
            yield path, names[path]
        else:
            raise CourierError(f"{path} does not exist")
