"""``dicom-courier seal`` and ``unseal``: secure DICOM files (PS3.10 §7.4, PS3.15 Annex D);
``reid``: original values restored from an Encrypted Attributes Sequence by its recipient."""

import argparse
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from desktop.commands.options import open_keystore, password_option
from desktop.core.outputs import FileOutcome
from desktop.core.shown import shown
from desktop.sealing import part10

Done = TypeVar("Done", bound=FileOutcome)


def _der(head: bytes) -> bool:
    return head[:1] == b"\x30"  # a DER SEQUENCE: a CMS ContentInfo, checked when opened


def register(commands: Any) -> None:
    """Add ``seal``, ``unseal`` and ``reid`` to the parser's subcommands."""
    files = argparse.ArgumentParser(add_help=False, parents=[password_option()])
    files.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    files.add_argument("--out", required=True, type=Path, metavar="DIR", help="write into DIR")
    holder = argparse.ArgumentParser(add_help=False)  # unseal's and reid's recipient
    holder.add_argument("--identity", required=True, metavar="NAME", help="the recipient identity")

    seal = commands.add_parser(
        "seal",
        parents=[files],
        help="encrypt DICOM files for one recipient as secure DICOM files (CMS, AES-256)",
    )
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
    seal.set_defaults(run=_seal)

    unseal = commands.add_parser(
        "unseal",
        parents=[files, holder],
        help="decrypt secure DICOM files and check their signature or digest",
    )
    signed = unseal.add_mutually_exclusive_group()
    signed.add_argument(
        "--require-signed",
        action="store_true",
        help="refuse a file no trusted signature authenticates (only a digest protects it)",
    )
    signed.add_argument(
        "--allow-unsigned",
        action="store_true",
        help="open such files with a warning, though `settings --require-signed-sealed on`",
    )
    unseal.set_defaults(run=_unseal)

    reid = commands.add_parser(
        "reid",
        parents=[files, holder],
        help="restore the original values a recipient's Encrypted Attributes Sequence holds",
    )
    reid.set_defaults(run=_reid)


def _seal(args: argparse.Namespace) -> int:
    from desktop.sealing import recipient_certificate, seal_files, signer_of

    keystore = open_keystore(args)
    checked = recipient_certificate(args.recipient, keystore, untrusted=args.untrusted_recipient)
    print("\n".join(checked.lines()))
    recipient = checked.certificate
    signer = signer_of(keystore, args.sign_with) if args.sign_with else None
    how = f"signed by {signer.name}" if signer else "SHA-256 digest"
    return _print_results(
        seal_files(_jobs(args, part10), recipient, signer),
        "not sealed",
        lambda done: (
            f"sealed {done.source} -> {done.target}: for "
            f"{recipient.subject.rfc4514_string()}, {how}"
        ),
    )


def _unseal(args: argparse.Namespace) -> int:
    from desktop import auditing
    from desktop.core.paths import courier_home
    from desktop.sealing import signature_required, unseal_files
    from desktop.signing import trust_of

    required = args.require_signed or (
        not args.allow_unsigned and signature_required(courier_home())
    )
    keystore = open_keystore(args)
    identity = auditing.unlock(keystore, args.identity)
    trust = trust_of(keystore, [])
    unsigned = 0

    def told(done: Any) -> str:
        nonlocal unsigned
        unsigned += bool(done.warning)
        return f"unsealed {done.source} -> {done.target}: {done.checked}"

    jobs = _jobs(args, _der)
    status = _print_results(
        unseal_files(
            jobs,
            identity,
            trust,
            require_signed=required,
            holders=keystore.identities(),
        ),
        "not opened",
        told,
    )
    if unsigned:
        print(
            f"warning: {unsigned} file(s) NOT SIGNED: their sender is not authenticated "
            "(--require-signed refuses such files; `dicom-courier settings "
            "--require-signed-sealed on` always)",
            file=sys.stderr,
        )
    return status


def _reid(args: argparse.Namespace) -> int:
    from desktop import auditing
    from desktop.reidentify import reidentify_files

    keystore = open_keystore(args)
    identity = auditing.unlock(keystore, args.identity)
    return _print_results(
        reidentify_files(_jobs(args, part10), identity, holders=keystore.identities()),
        "not re-identified",
        lambda done: (
            f"re-identified {done.source} -> {done.target}: "
            f"{done.restored} original values restored"
        ),
    )


def _print_results(results: Iterable[Done], failed: str, done: Callable[[Done], str]) -> int:
    """Print each file's result, a failure as ``SOURCE: {failed}: ERROR`` on stderr, the others
    in ``done``'s words; exit status 1 when any failed."""
    failures = 0
    for result in results:  # the files' words (a signer's name): shown, never obeyed
        if result.target is None:
            print(shown(f"{result.source}: {failed}: {result.error}"), file=sys.stderr)
            failures += 1
        else:
            print(shown(done(result)))
    return 1 if failures else 0


def _jobs(args: argparse.Namespace, wanted: Callable[[bytes], bool]) -> list[tuple[Path, Path]]:
    """Each source file with its target under --out (folder layout kept); never the source.
    Files named are all taken; in folders, those whose first bytes are ``wanted``."""
    from desktop.core.outputs import distinct_targets, input_files

    def taken(found: Path) -> bool:
        if found.name.startswith("."):  # a DICOMDIR is taken: sealed media hold one
            return False
        with found.open("rb") as handle:
            return wanted(handle.read(132))

    return distinct_targets(  # each target's folder is made as its file is written
        (source, args.out / relative) for source, relative in input_files(args.paths, taken)
    )
