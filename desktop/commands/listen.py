"""``dicom-courier listen``: our storage SCP, in the foreground until interrupted."""

import argparse
import contextlib
import signal
import threading
from pathlib import Path
from typing import Any

from desktop import auditing
from desktop.commands.trust import open_keystore
from desktop.connect import listener_tls
from desktop.core.paths import courier_home
from desktop.net.history import History
from desktop.net.scp import ListenerSettings, StorageListener
from desktop.security.tls import parse_profile


def register(commands: Any) -> None:
    listen = commands.add_parser("listen", help="receive instances (a storage SCP)")
    listen.add_argument("--port", type=int, default=11113)
    listen.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    listen.add_argument("--ae", default="COURIER", help="our AE title")
    listen.add_argument("--out", type=Path, help="where files go (default: HOME/inbox)")
    listen.add_argument("--tls", action="store_true", help="require TLS with client certificates")
    listen.add_argument("--identity", help="the keystore identity our server presents")
    listen.add_argument("--profile", type=parse_profile, default=parse_profile("bcp195-nd"))
    listen.add_argument(
        "--allow-ae",
        action="append",
        default=[],
        metavar="AE",
        help="accept only these calling AE titles (repeatable)",
    )
    listen.add_argument("--password-file", type=Path, metavar="FILE")
    listen.set_defaults(run=_listen, long_running=True)


def _listen(args: argparse.Namespace) -> int:
    settings = ListenerSettings(
        args.ae, args.host, args.port, args.out or courier_home() / "inbox", args.allow_ae
    )
    acceptor = None
    if args.tls:
        if not args.identity:
            raise SystemExit("dicom-courier: --tls needs --identity NAME (our certificate)")
        settings.tls_context, acceptor = listener_tls(
            open_keystore(args), args.identity, args.profile
        )
    history = History(courier_home() / "history.jsonl")
    sink = auditing.listener(lambda record: _show(record, history), settings.ae_title)
    listener = StorageListener(settings, sink, acceptor)
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
    return 0


def _show(record: dict[str, Any], history: History) -> None:
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
    else:
        history.append(record)
        print(f"{record['event']}: {record}", flush=True)
