"""``dicom-courier listen``: our storage SCP and query/retrieve provider (C-FIND, C-MOVE to
configured nodes, C-GET over the Inbox's store), in the foreground until interrupted."""

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop import auditing
from desktop.access_control import ConfiguredAccess, allow, revoke
from desktop.commands.options import ae_title, open_keystore, port_number
from desktop.connect import listener_tls, node_connector
from desktop.core.config import load_config
from desktop.core.errors import CourierError
from desktop.core.paths import courier_home
from desktop.inbox import inbox_folder, indexing, open_store
from desktop.net.history import History
from desktop.net.scp import ListenerSettings, StorageListener
from desktop.security.tls import parse_profile
from desktop.serving import cached_connectors, query_retrieve

if TYPE_CHECKING:
    from desktop.security.keystore import Keystore
    from desktop.security.signing import Trust


def register(commands: Any) -> None:
    """Add ``listen`` and ``access ...`` to the parser's subcommands."""
    listen = commands.add_parser(
        "listen", help="receive instances and serve query/retrieve of the Inbox (an SCP)"
    )
    listen.add_argument("--port", type=port_number, default=11113)
    listen.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    listen.add_argument("--ae", type=ae_title, default="COURIER", help="our AE title")
    listen.add_argument("--out", type=Path, help="where files go (default: HOME/inbox)")
    listen.add_argument("--tls", action="store_true", help="require TLS with client certificates")
    listen.add_argument("--identity", help="the keystore identity our server presents")
    listen.add_argument("--profile", type=parse_profile, default=parse_profile("bcp195-nd"))
    listen.add_argument(
        "--allow-ae",
        action="append",
        default=[],
        metavar="AE[=SHA256]",
        help="accept only these calling AE titles (repeatable; default: the configuration's "
        "listener access list); AE=FINGERPRINT also binds the title to the SHA-256 "
        "fingerprint of the client's certificate, /store,query,retrieve grants only those "
        "services (default: all)",
    )
    listen.add_argument(
        "--accept-private", action="store_true", help="also accept private SOP classes"
    )
    listen.add_argument(
        "--no-fsync",
        action="store_true",
        help="answer Success once a file is written, before it reaches the disk (as storescp)",
    )
    listen.add_argument(
        "--verify-signatures",
        action="store_true",
        help="check each received instance's DICOM signatures; the verdicts go to the history",
    )
    listen.add_argument(
        "--no-commitment",
        action="store_true",
        help="refuse storage commitment requests (by default what the store holds is committed "
        "and the reports of our own requests are matched in the queue)",
    )
    listen.add_argument(
        "--insecure",
        action="store_true",
        help="listen beyond this machine without TLS and without an access list: anyone "
        "reaching the port may store, query and retrieve the Inbox",
    )
    listen.add_argument("--password-file", type=Path, metavar="FILE")
    listen.set_defaults(run=_listen, long_running=True)
    access = commands.add_parser(
        "access", help="who may store, query or retrieve at our listener (the CLI's and GUI's)"
    )
    actions = access.add_subparsers(metavar="ACTION", required=True)
    actions.add_parser("list", help="print the access list").set_defaults(run=_access_list)
    allow = actions.add_parser("allow", help="add entries AE[=SHA256][/store,query,retrieve]")
    allow.add_argument("entries", nargs="+", metavar="ENTRY")
    allow.add_argument(
        "--cert",
        type=Path,
        metavar="FILE",
        help="bind the entries to the client certificate in FILE (PEM, DER or .p7b): its "
        "SHA-256 fingerprint",
    )
    allow.set_defaults(run=_access_allow)
    revoke = actions.add_parser("revoke", help="remove every entry of these AE titles")
    revoke.add_argument("titles", nargs="+", metavar="AE")
    revoke.set_defaults(run=_access_revoke)


def _listen(args: argparse.Namespace) -> int:
    settings = ListenerSettings(
        args.ae,
        args.host,
        args.port,
        inbox_folder(args.out),
        args.allow_ae,
        accept_private=args.accept_private,
        fsync=not args.no_fsync,
    )
    # Without --allow-ae, the configuration's list, as `access` or the GUI changes it.
    access = None if args.allow_ae else ConfiguredAccess(courier_home())
    if access is not None:
        access()  # a configuration that cannot be read is said now, not at the first caller
    _refuse_open_door(args)
    keystore = open_keystore(args)  # one keystore: its password asked once, when first needed
    acceptor = None
    if args.tls:
        if not args.identity:
            raise SystemExit("dicom-courier: --tls needs --identity NAME (our certificate)")
        settings.tls_context, acceptor = listener_tls(keystore, args.identity, args.profile)
    try:
        store = open_store(settings.out)
    except OSError as error:
        raise CourierError(
            f"cannot use {settings.out} as the inbox: {error.strerror or error}"
        ) from error
    if store.recovered:
        print(f"the Inbox's index: {store.recovered}", flush=True)
    history = History(courier_home() / "history.jsonl")
    trust = None
    if args.verify_signatures:
        from desktop.signing import trust_of

        trust = trust_of(keystore, [])
    tls = args.profile if args.tls else ""
    shown = auditing.listener(lambda record: _show(record, history, trust, tls), settings.ae_title)
    sink = indexing(shown, lambda: store)  # outermost: what the indexer tells is audited too
    connectors = cached_connectors(
        lambda node: node_connector(node, keystore), keystore.trust_state
    )
    services = query_retrieve(store, courier_home(), connectors)
    if not args.no_commitment:
        from desktop.commitments import listener_commitment

        services += listener_commitment(courier_home(), settings.ae_title, store, connectors)
    _take_password_for_moves(keystore)
    listener = StorageListener(settings, sink, acceptor, services=services, access=access)
    listener.start()
    print(
        f"listening as {settings.ae_title} on {settings.host}:{listener.port} "
        f"({'TLS ' + args.profile if args.tls else 'plain'}), files to {settings.out}",
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    listener.stop()
    store.close()
    return 0


def _take_password_for_moves(keystore: "Keystore") -> None:
    """A C-MOVE to a TLS node opens the node's identity: the keystore password is taken now
    (a person may type it), never asked for on a listener's thread; without one, said now
    (such moves are then refused with a failure status naming why)."""
    from desktop.security.errors import PasswordError

    nodes = [n.name for n in load_config(courier_home()).nodes.values() if n.tls and n.identity]
    if not nodes:
        return
    try:
        keystore.take_password()
    except PasswordError as error:
        print(
            f"dicom-courier: warning: a C-MOVE to the TLS node(s) {', '.join(nodes)} will be "
            f"refused: {error}",
            file=sys.stderr,
            flush=True,
        )


def _refuse_open_door(args: argparse.Namespace) -> None:
    """A listener reachable from the network with neither TLS nor an access list serves every
    patient of the Inbox to anyone: refused unless --insecure, and then said loudly."""
    if args.tls or args.allow_ae or load_config(courier_home()).listener_access:
        return
    if _loopback(args.host):
        return
    exposure = (
        f"anyone reaching {args.host}:{args.port} can store, query and retrieve the whole "
        "Inbox, in plain text (no TLS, no access list)"
    )
    if not args.insecure:
        raise CourierError(
            f"refused: {exposure}; add --tls, or an access list ('access allow AE' or "
            "--allow-ae), or pass --insecure to accept it"
        )
    print(f"dicom-courier: WARNING: {exposure} (--insecure)", file=sys.stderr, flush=True)


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _show(record: dict[str, Any], history: History, trust: "Trust | None", tls: str) -> None:
    """Say a listener's record and keep it in the history; ``tls``: the listener's TLS
    profile (every association of a TLS listener came over an established session)."""
    if tls:
        record = {**record, "listener_tls": tls}
    if record["event"] == "handshake":
        transcript = record["transcript"]
        history.append(
            {
                "event": "incoming-handshake",
                "transcript": transcript,
                "failure": (transcript.get("diagnosis") or {}).get("summary"),
            }
        )
        outcome = (
            f"{transcript['protocol']} {transcript['cipher']}"
            if transcript["ok"]
            else f"FAILED: {transcript['diagnosis']['summary']}"
        )
        print(f"handshake from {transcript['peer']}: {outcome}", flush=True)
    elif record["event"] == "stored":
        print(f"stored {record['path']} from {record['calling']}", flush=True)
        if trust is not None:
            _check_signatures(record, history, trust, tls)
    elif record["event"] in ("commitment-requested", "commitment-report"):
        history.append(record)
        print(
            f"{record['event']} ({record['calling']}): transaction {record['transaction']}, "
            f"{record['committed']} committed, {record['failed']} not",
            flush=True,
        )
    else:
        history.append(record)
        who = record.get("calling") or record.get("peer", "")
        status = f" 0x{record['status']:04X}" if "status" in record else ""
        why = record.get("error") or record.get("reason") or record.get("warning") or ""
        print(f"{record['event']} ({who}){status}" + (f": {why}" if why else ""), flush=True)


def _check_signatures(record: dict[str, Any], history: History, trust: "Trust", tls: str) -> None:
    """Verify a received instance's signatures and record the verdicts (never refuses it;
    ``tls``: the listener's TLS profile, as the other records of its associations say)."""
    from desktop.signing import verify_file

    check = verify_file(Path(record["path"]), trust)
    history.append(
        {
            **({"listener_tls": tls} if tls else {}),
            "event": "signature-check",
            "path": record["path"],
            "calling": record["calling"],
            "status": check.status,
            "ok": check.ok,
            "error": check.error,
            "signatures": [
                {k: v for k, v in c.as_json().items() if k != "covered"} for c in check.signatures
            ],
        }
    )
    verdicts = ", ".join(c.verdict.value for c in check.signatures) or check.status
    warning = "" if check.ok else "  <-- NOT VALID"
    print(f"signatures of {record['path']}: {verdicts}{warning}", flush=True)


def _access_list(args: argparse.Namespace) -> int:
    entries = load_config(courier_home()).listener_access
    print("\n".join(entries) if entries else "no access list: any calling AE may do anything")
    return 0


def _access_allow(args: argparse.Namespace) -> int:
    allow(courier_home(), args.entries, certificate=args.cert)
    return _access_list(args)


def _access_revoke(args: argparse.Namespace) -> int:
    revoke(courier_home(), args.titles)
    return _access_list(args)
