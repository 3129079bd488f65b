"""Trust commands: the keystore and the TLS check."""

import argparse
import datetime as dt
import json
import ssl
import sys
from pathlib import Path
from typing import Any

from desktop import auditing
from desktop.commands.options import open_keystore, password_option
from desktop.connect import node_tls, tls_client
from desktop.core.config import ConfigError, find_node, load_config
from desktop.core.errors import CourierError
from desktop.core.paths import courier_home
from desktop.core.shown import shown
from desktop.security.certificates import CertificateInfo
from desktop.security.handshake import ClientSettings, check_tls
from desktop.security.keystore import ImportResult
from desktop.security.passwords import read_password_file
from desktop.security.revocation import held_crls, import_crl, remove_crl, revoked_entries
from desktop.security.tls import parse_profile


def register(commands: Any) -> None:
    """Add ``keystore ...`` and ``tls-check`` to the parser's subcommands."""
    secret = password_option()
    legacy = argparse.ArgumentParser(add_help=False)
    legacy.add_argument(
        "--allow-legacy",
        action="store_true",
        help="accept short keys and SHA-1 signatures (legacy nodes only)",
    )
    keystore = commands.add_parser("keystore", help="trusted CAs and identities")
    actions = keystore.add_subparsers(metavar="ACTION", required=True)

    add_ca = actions.add_parser(
        "import-ca",
        parents=[secret, legacy],
        help="trust the CA certificates of a PEM, DER or PKCS#7 file",
    )
    add_ca.add_argument("file", type=Path)
    add_ca.set_defaults(run=_import_ca)

    add_id = actions.add_parser(
        "import-identity",
        parents=[secret, legacy],
        help="import a PKCS#12 file, or a certificate and its key",
    )
    add_id.add_argument("name")
    add_id.add_argument("file", type=Path, help="PKCS#12 (.p12/.pfx) or certificate (PEM/DER)")
    add_id.add_argument("--key", type=Path, metavar="KEYFILE", help="the private key (PEM/DER)")
    add_id.add_argument("--chain", type=Path, metavar="FILE", help="intermediate certificates")
    add_id.add_argument(
        "--file-password-file",
        type=Path,
        metavar="F",
        help="the password of the PKCS#12 file or of the key",
    )
    add_id.set_defaults(run=_import_identity)

    add_crl = actions.add_parser(
        "import-crl",
        parents=[secret],
        help="store certificate revocation lists (PEM or DER): TLS then refuses revoked peers",
    )
    add_crl.add_argument("file", type=Path)
    add_crl.set_defaults(run=_import_crl)

    listing = actions.add_parser("list", parents=[secret], help="list CAs, identities and CRLs")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_list)

    show = actions.add_parser("show", parents=[secret], help="show one entry in full")
    show.add_argument("id", help="an identity name or 6+ hex digits of a fingerprint")
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=_show)

    remove = actions.add_parser(
        "remove", parents=[secret], help="remove an identity, a trusted CA or a CRL"
    )
    remove.add_argument("id")
    remove.add_argument(
        "--force",
        action="store_true",
        help="remove an identity even when nodes or the audit forwarding use it, unasked",
    )
    remove.set_defaults(run=_remove)

    change = actions.add_parser(
        "password",
        parents=[secret],
        help="change the keystore password: every identity is sealed again under the new one",
    )
    change.add_argument(
        "--new-password-file",
        type=Path,
        metavar="FILE",
        help="read the new password from FILE (else it is asked for twice)",
    )
    change.set_defaults(run=_change_password)

    export = actions.add_parser(
        "export-cert",
        parents=[secret],
        help="write an entry's certificate (PEM, or DER for .der/.cer)",
    )
    export.add_argument("id")
    export.add_argument("out", type=Path)
    export.set_defaults(run=_export_cert)

    check = commands.add_parser(
        "tls-check",
        parents=[secret],
        help="handshake with a node (its own settings) or HOST PORT and print the transcript",
    )
    check.add_argument("target", metavar="NODE|HOST", help="a configured node, or a host")
    check.add_argument("port", type=int, nargs="?", help="the port, when HOST is given")
    check.add_argument(
        "--profile",
        type=parse_profile,
        help="bcp195-nd (default), bcp195-rfc8996, bcp195-rfc8996-mod, bcp195",
    )
    check.add_argument("--identity", metavar="NAME", help="the identity to present")
    check.add_argument("--server-name", metavar="NAME", help="the name the certificate must hold")
    check.add_argument("--no-hostname-check", action="store_true")
    check.add_argument(
        "--system-cas",
        action="store_true",
        help="also trust the operating system's CAs (not only the keystore's)",
    )
    check.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS")
    check.add_argument("--json", action="store_true")
    check.set_defaults(run=_tls_check)


def _report(result: ImportResult) -> None:
    for info in result.added:
        print(f"added {info.subject}  SHA-256 {info.fingerprint}")
    for info in result.already_present:
        print(f"already trusted {info.subject}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def _import_ca(args: argparse.Namespace) -> int:
    _report(open_keystore(args).import_cas(args.file, allow_legacy=args.allow_legacy))
    return 0


def _import_crl(args: argparse.Namespace) -> int:
    for info in import_crl(open_keystore(args), args.file):
        kept = " (kept the newer one already stored)" if info.kept_newer else ""
        print(f"{info.describe()}{kept}")
    return 0


def _import_identity(args: argparse.Namespace) -> int:
    file_password = read_password_file(args.file_password_file) if args.file_password_file else None
    keystore = open_keystore(args)
    with auditing.unlocking(f"the keystore, to import identity {args.name}"):
        result = keystore.import_identity(
            args.name,
            args.file,
            key_path=args.key,
            chain_path=args.chain,
            file_password=file_password,
            allow_legacy=args.allow_legacy,
        )
    _report(result)
    from desktop.signing import revoked_identity_warning, untrusted_identity_warning

    for warned in (untrusted_identity_warning, revoked_identity_warning):
        said = warned(keystore, args.name)
        if said:
            print(f"warning: {said}", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace) -> int:
    keystore = open_keystore(args)
    cas, identities, damaged = keystore.trusted(), keystore.identities(), keystore.damaged()
    crls, now = held_crls(keystore), dt.datetime.now(dt.UTC)
    revoked = revoked_entries(keystore)
    if args.json:
        print(
            json.dumps(
                {
                    "trusted_cas": [
                        {"id": _id(c), **c.as_json(), "revoked": revoked.get(c.fingerprint, "")}
                        for c in cas
                    ],
                    "identities": [
                        {
                            "id": i.name,
                            "allow_legacy": i.allow_legacy,
                            **i.certificate.as_json(),
                            "revoked": revoked.get(i.certificate.fingerprint, ""),
                        }
                        for i in identities
                    ],
                    "crls": [{**c.as_json(), "warning": c.expiry(now)} for c in crls],
                    "damaged": [{"path": str(d.path), "reason": d.reason} for d in damaged],
                },
                indent=2,
            )
        )
        return 0
    print(f"Trusted CAs ({len(cas)}):")
    for info in cas:  # a certificate's names are its issuer's words: shown, never obeyed
        print(f"  {_id(info)}  {shown(info.subject)}  until {info.not_after:%Y-%m-%d}")
        _say_revoked(revoked.get(info.fingerprint, ""))
    print(f"Identities ({len(identities)}):")
    for identity in identities:
        info = identity.certificate
        print(
            f"  {identity.name}  {shown(info.subject)}  until {info.not_after:%Y-%m-%d}  "
            f"{', '.join(info.extended_key_usages) or 'any usage'}"
        )
        _say_revoked(revoked.get(info.fingerprint, ""))
    print(f"CRLs ({len(crls)}):")
    for crl in crls:
        until = f"{crl.next_update:%Y-%m-%d}" if crl.next_update else "-"
        print(
            f"  {crl.id}  {crl.issuer}  {crl.revoked} revoked  "
            f"this update {crl.last_update:%Y-%m-%d}  next update {until}"
        )
        if crl.expiry(now):
            print(f"    warning: {crl.expiry(now)}")
    if damaged:
        print(f"Damaged entries, skipped ({len(damaged)}; remove the file and import again):")
    for entry in damaged:
        print(f"  {entry.path}: {entry.reason}")
    return 0


def _say_revoked(why: str) -> None:
    if why:
        print(f"    REVOKED: {why}, by a revocation list of the keystore")


def _id(info: CertificateInfo) -> str:
    return info.fingerprint.replace(":", "")[:16].lower()


def _show(args: argparse.Namespace) -> int:
    kind, info = open_keystore(args).find(args.id)
    if args.json:
        print(json.dumps({"kind": kind, **info.as_json()}, indent=2))
        return 0
    rows = [
        ("kind", "identity" if kind == "identity" else "trusted CA"),
        ("subject", info.subject),
        ("issuer", info.issuer),
        ("serial", info.serial),
        ("valid from", f"{info.not_before:%Y-%m-%d %H:%M} UTC"),
        ("valid until", f"{info.not_after:%Y-%m-%d %H:%M} UTC"),
        ("SHA-256", info.fingerprint),
        ("names", ", ".join(info.subject_alt_names) or "-"),
        ("key", f"{info.key_type} {info.key_bits} bits"),
        ("key usage", ", ".join(info.key_usages) or "-"),
        ("extended usage", ", ".join(info.extended_key_usages) or "any"),
        ("signature", info.signature_hash),
        ("CA", "yes" if info.is_ca else "no"),
    ]
    for label, value in rows:
        print(f"{label:>15}: {value}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    keystore = open_keystore(args)
    crl = remove_crl(keystore, args.id)
    if crl is not None:
        print(f"removed {crl.describe()}")
        return 0
    kind, _, name = keystore.locate(args.id)
    if kind == "identity" and not args.force and not _may_remove_identity(name):
        print("nothing removed")
        return 1
    print(f"removed {keystore.remove(args.id)}")
    return 0


def _change_password(args: argparse.Namespace) -> int:
    from desktop.security.passwords import (
        new_password,
        password_source,
        remember_password,
        remembered_password,
    )
    from desktop.warm.control import PASSWORD_CHANGED, forget_secrets

    account = str(courier_home().absolute())
    keystore = open_keystore(args)
    asked: list[str] = []

    def ask_new() -> str:
        asked.append(new_password(args.new_password_file))
        return asked[0]

    with auditing.unlocking("the keystore, to change its password"):
        # The current password is asked even of a warm service that holds it unlocked.
        current = password_source(args.password_file, account)(False)
        count = keystore.change_password(ask_new, old=current)
    if remembered_password(account) is not None:  # the OS keyring keeps the new one
        remember_password(account, asked[0])
    print(f"keystore password changed: {count} identit{'y' if count == 1 else 'ies'} sealed again")
    if forget_secrets(courier_home(), PASSWORD_CHANGED):
        print(
            "the warm service has forgotten the old secrets: commands ask for the new password "
            "until 'dicom-courier service unlock'"
        )
    return 0


def _may_remove_identity(name: str) -> bool:
    """Refused while nodes or the audit forwarding use identity ``name`` (said); asked on a
    terminal otherwise: its private key goes for good."""
    from desktop.nodes import identity_users

    users = identity_users(courier_home(), name)
    if users:
        raise CourierError(
            f"identity {name} is used by {', '.join(users)}: they would stop working, and its "
            "private key would be deleted for good; change them first, or remove it anyway "
            "with --force"
        )
    if not sys.stdin.isatty():
        return True
    answer = input(
        f"Remove identity {name}? Its private key is deleted for good (only its certificate "
        "can be exported). [y/N] "
    )
    return answer.strip().lower() in ("y", "yes")


def _export_cert(args: argparse.Namespace) -> int:
    info = open_keystore(args).export_certificate(args.id, args.out)
    print(f"wrote the certificate of {info.subject} to {args.out}")
    return 0


def _tls_check(args: argparse.Namespace) -> int:
    context, settings = _node_tls(args) if args.port is None else _host_tls(args)
    transcript = check_tls(settings, context)
    if transcript.diagnosis is not None:  # names the peer's certificates: its words, shown
        print(shown(transcript.diagnosis.line()), file=sys.stderr)
    print(
        json.dumps(transcript.as_json(), indent=2)
        if args.json
        else "\n".join(map(shown, transcript.lines()))
    )
    return 0 if transcript.ok else 1


def _node_tls(args: argparse.Namespace) -> tuple[ssl.SSLContext, ClientSettings]:
    """A configured node, checked exactly as a send to it connects."""
    given = [
        option
        for option, value in (
            ("--profile", args.profile),
            ("--identity", args.identity),
            ("--server-name", args.server_name),
            ("--no-hostname-check", args.no_hostname_check),
            ("--system-cas", args.system_cas),
        )
        if value
    ]
    if given:
        raise ConfigError(
            f"tls-check {args.target} uses the node's own settings: drop {', '.join(given)}, "
            "or give HOST PORT to check other settings"
        )
    node = find_node(load_config(courier_home()), args.target)
    if not node.tls:
        raise ConfigError(f"node {node.name!r} is not a TLS node (node edit --tls makes it one)")
    return node_tls(node, open_keystore(args))


def _host_tls(args: argparse.Namespace) -> tuple[ssl.SSLContext, ClientSettings]:
    """HOST PORT, checked with the options given."""
    return tls_client(
        open_keystore(args),
        args.target,
        args.port,
        args.profile or parse_profile("bcp195-nd"),
        identity=args.identity or "",
        server_name=args.server_name or "",
        check_hostname=not args.no_hostname_check,
        timeout=args.timeout,
        system_store=args.system_cas,
    )
