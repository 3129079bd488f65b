"""``dicom-courier sign`` and ``verify``: DICOM digital signatures (PS3.15 Annex C)."""

import argparse
import datetime as dt
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop import auditing
from desktop.commands.options import open_keystore, password_option
from desktop.core.errors import CourierError
from desktop.core.files import private_folder
from desktop.core.shown import shown

if TYPE_CHECKING:
    from desktop.signing import Checked, FileCheck

HASHES = {"sha256": "SHA256", "sha384": "SHA384", "sha512": "SHA512"}
PROFILES = ("base", "creator", "authorization")


def register(commands: Any) -> None:
    """Add ``sign`` and ``verify`` to the parser's subcommands."""
    sign = commands.add_parser(
        "sign", parents=[password_option()], help="add a DICOM digital signature to files"
    )
    sign.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    sign.add_argument("--identity", required=True, metavar="NAME", help="the keystore identity")
    sign.add_argument(
        "--profile", choices=PROFILES, default="base", help="the PS3.15 Annex C profile"
    )
    sign.add_argument("--hash", choices=sorted(HASHES), default="sha256", help="the MAC hash")
    sign.add_argument(
        "--item",
        type=_location,
        default=(),
        metavar="LOCATION",
        help="sign a sequence item instead of the data set, e.g. ReferencedImageSequence[0]",
    )
    target = sign.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=Path, metavar="DIR", help="write signed copies into DIR")
    target.add_argument("--in-place", action="store_true", help="replace each file (atomically)")
    sign.set_defaults(run=_sign)

    verify = commands.add_parser(
        "verify",
        help="check every DICOM digital signature of files (exit 1 if any fails, or if a file "
        "is unsigned, unless --allow-unsigned)",
    )
    verify.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    verify.add_argument(
        "--crl",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="a certificate revocation list (PEM or DER) to check signers against (repeatable)",
    )
    verify.add_argument(
        "--allow-unsigned",
        action="store_true",
        help="an unsigned file passes (by default it fails: a stripped signature must not)",
    )
    verify.add_argument(
        "--allow-uncovered",
        action="store_true",
        help="elements of a signed data set that no signature covers (added after signing?) "
        "are only warned of (by default the file fails)",
    )
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(run=_verify, password_file=None)


def _location(text: str) -> tuple[tuple[int, int], ...]:
    from desktop.core.signatures.location import parse_location

    try:
        return parse_location(text)
    except CourierError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _files(paths: list[Path]) -> Iterator[tuple[Path, Path]]:
    """Each file with its path relative to the argument that named it; in folders (walked
    recursively) only DICOM Part 10 files, the DICOMDIR left out."""
    from desktop.core.outputs import input_files

    return input_files(paths, lambda found: found.name != "DICOMDIR" and _part10(found))


def _part10(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(132)[128:] == b"DICM"
    except OSError:
        return True  # unreadable: signing or verifying it says why


def _sign(args: argparse.Namespace) -> int:
    from desktop.core.outputs import distinct_targets
    from desktop.core.signatures.profiles import Profile
    from desktop.signing import sign_files, unrevoked_signer

    files = list(_files(args.paths))
    if args.out is not None:
        distinct_targets(
            (source, args.out / relative)
            for source, relative in files
            if (args.out / relative).resolve() != source.resolve()
        )
    keystore = open_keystore(args)
    identity = auditing.unlock(keystore, args.identity)
    now = dt.datetime.now(dt.UTC)
    who = unrevoked_signer(keystore, identity, now)  # refused before anything is written
    if args.out is not None:
        private_folder(args.out)  # patient data: private, as every command makes it
    failures = 0
    jobs = []
    for source, relative in files:
        target = source if args.in_place else args.out / relative
        if not args.in_place and target.resolve() == source.resolve():
            print(f"{source}: refused: --out would overwrite the source", file=sys.stderr)
            failures += 1
            continue
        if not args.in_place:
            private_folder(target.parent)
        jobs.append((source, target))
    results = sign_files(
        jobs,
        who,
        profile=Profile(args.profile),
        algorithm=HASHES[args.hash],
        location=args.item,
        now=now,
    )
    for source, target, done in results:
        if isinstance(done, CourierError):
            print(f"{source}: not signed: {done}", file=sys.stderr)
            failures += 1
            continue
        note = " (re-encoded as Explicit VR Little Endian)" if done.converted else ""
        print(
            f"signed {source} -> {target}: {done.profile.value} profile, {done.algorithm}, "
            f"{done.location}, {done.covered} elements, MAC ID {done.mac_id}{note}"
        )
    return 1 if failures else 0


def _verify(args: argparse.Namespace) -> int:
    from desktop.signing import trust_of, verify_files

    trust = trust_of(open_keystore(args), args.crl)
    checks = list(verify_files((path for path, _ in _files(args.paths)), trust))
    if args.json:
        print(json.dumps({"files": [c.as_json() for c in checks]}, indent=2))
    else:
        for check in checks:  # the file's words (a signer's name): shown, never obeyed
            print("\n".join(shown(line) for line in _lines(check)))
    unsigned = [c for c in checks if c.status == "unsigned"]
    if unsigned and not args.allow_unsigned:
        print(
            f"{len(unsigned)} file(s) unsigned: not verified (--allow-unsigned lets them pass)",
            file=sys.stderr,
        )
        return 1
    uncovered = [c for c in checks if c.uncovered]
    if uncovered and not args.allow_uncovered:
        print(
            f"{len(uncovered)} file(s) hold elements no signature covers (added or changed "
            "after signing?): not verified (--allow-uncovered lets them pass)",
            file=sys.stderr,
        )
        return 1
    return 0 if all(c.ok for c in checks) else 1


def _lines(check: "FileCheck") -> list[str]:
    if check.error:
        return [f"{check.path}: unreadable: {check.error}"]
    if not check.signatures:
        return [f"{check.path}: unsigned"]
    bad = sum(1 for c in check.signatures if c.verdict != "valid")
    summary = "all valid" if not bad else f"{bad} NOT VALID"
    if check.uncovered:
        summary += f", but {len(check.uncovered)} element(s) covered by none"
    lines = [f"{check.path}: {len(check.signatures)} signature(s), {summary}"]
    for number, checked in enumerate(check.signatures, 1):
        lines += _signature_lines(number, checked)
    if check.uncovered:
        names = ", ".join(check.as_json()["uncovered"])
        lines.append(
            f"  WARNING: {len(check.uncovered)} element(s) of the main data set covered by no "
            f"signature (added or changed after signing?): {names}"
        )
    return lines


def _signature_lines(number: int, checked: "Checked") -> list[str]:
    facts = checked.as_json()
    verdict = facts["verdict"].upper() if facts["verdict"] != "valid" else "valid"
    lines = [
        f"  #{number} {verdict}" + (f": {facts['reason']}" if facts["reason"] else ""),
        f"     where:   {facts['location']}",
        f"     signer:  {facts['signer'] or '?'} (issuer {facts['issuer'] or '?'})",
        f"     signed:  {facts['datetime']}",
        f"     profile: {facts['profile']}"
        + (f" ({facts['purpose']})" if facts["purpose"] else "")
        + f", hash {facts['hash'] or '?'}, MAC ID {facts['mac_id']}, UID {facts['uid']}",
        f"     covers:  {len(facts['covered'])} elements: " + _some(facts["covered"]),
    ]
    if facts["changed"]:
        lines.append("     changed: " + ", ".join(facts["changed"]))
    return lines


def _some(names: list[str], shown: int = 6) -> str:
    if len(names) <= shown:
        return ", ".join(names)
    return ", ".join(names[:shown]) + f" ... and {len(names) - shown} more (--json lists all)"
