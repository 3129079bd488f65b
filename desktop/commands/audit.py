"""``dicom-courier audit``: the audit trail (list, verify), forwarding to an audit repository,
and the session every other command runs in (application start and stop, a final flush)."""

import argparse
import datetime as dt
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from desktop import auditing
from desktop.commands.options import open_keystore, password_option
from desktop.core.audit import events
from desktop.core.audit.events import EVENTS, Local
from desktop.core.audit.forward import (
    DEFAULT_PORT,
    ForwardError,
    ForwardSettings,
)
from desktop.core.audit.message import Outcome
from desktop.core.audit.store import Entry
from desktop.core.audit.trail import AuditTrail
from desktop.core.config import PROFILES
from desktop.core.errors import CourierError
from desktop.core.paths import courier_home
from desktop.forwarding import SESSION_TIMEOUT, SessionForwarding, forwarder, in_words

log = logging.getLogger(__name__)
RELATIVE = re.compile(r"(\d+)\s*([smhd])")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
OUTCOMES = {"success": 0, "minor": 4, "serious": 8, "major": 12}  # --outcome's names
#: How ``audit`` lists an outcome: failures stand out.
LISTED = {o.value: "ok" if o is Outcome.SUCCESS else o.words.upper() for o in Outcome}


def register(commands: Any) -> None:
    """Add ``audit`` and its actions to the parser's subcommands."""
    secret = password_option()
    audit = commands.add_parser("audit", help="the audit trail: list, verify, forward")
    audit.add_argument("--json", action="store_true")
    audit.add_argument("--since", type=_since, metavar="T", help="ISO date/time, or 30m, 2h, 7d")
    audit.add_argument("--event", metavar="CODE", help="an event ID such as 110104")
    audit.add_argument("--node", help="only events with this node")
    audit.add_argument("--outcome", choices=sorted(OUTCOMES, key=OUTCOMES.__getitem__))
    audit.set_defaults(run=_list, audited=False)
    actions = audit.add_subparsers(metavar="ACTION")
    verify = actions.add_parser("verify", help="check the hash chain; exit 1 if it is broken")
    verify.set_defaults(run=_verify, audited=False)
    forward = actions.add_parser(
        "forward", help="forward audit messages to a repository (syslog over mutual TLS)"
    )
    forward.add_argument("--host", help="the audit repository")
    forward.add_argument("--port", type=int, default=DEFAULT_PORT)
    forward.add_argument("--identity", help="the keystore identity we present")
    forward.add_argument("--profile", choices=PROFILES, default="bcp195-nd")
    forward.add_argument("--server-name", default="", help="the name its certificate must hold")
    forward.add_argument("--off", action="store_true", help="stop forwarding")
    forward.set_defaults(run=_forward, audited=False)
    flush = actions.add_parser(
        "flush", parents=[secret], help="send the spooled messages to the repository now"
    )
    flush.set_defaults(run=_flush, audited=False)


@contextmanager
def session(args: argparse.Namespace) -> Iterator[None]:
    """Run a command as an audited application session: start, stop, and forwarding of the
    spool (in the background for long-running commands, else once at the end)."""
    if not getattr(args, "audited", True):
        yield
        return
    trail = auditing.install(courier_home(), background=True)
    forwarding = SessionForwarding(trail, args)
    auditing.application(started=True)
    try:
        yield
    finally:
        auditing.application(started=False)
        auditing.uninstall()
        forwarding.finish()


def _trail() -> AuditTrail:
    """The user's trail, holding every event this process recorded (written first)."""
    auditing.flush()
    return AuditTrail(courier_home(), Local.here())


def _since(text: str) -> dt.datetime:
    relative = RELATIVE.fullmatch(text.strip())
    if relative:
        amount, unit = relative.groups()
        return dt.datetime.now(dt.UTC) - dt.timedelta(**{UNITS[unit]: int(amount)})
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither an ISO date/time (2026-11-26, 2026-11-26T15:00) "
            "nor an age such as 30m, 2h or 7d"
        ) from None
    return when if when.tzinfo else when.astimezone()


def _matches(entry: Entry, args: argparse.Namespace) -> bool:
    return (
        (args.since is None or entry.when >= args.since)
        and (args.event is None or entry.event == args.event)
        and (args.node is None or entry.node == args.node)
        and (args.outcome is None or entry.outcome == OUTCOMES[args.outcome])
    )


def _list(args: argparse.Namespace) -> int:
    if args.event is not None and args.event not in EVENTS:
        known = ", ".join(f"{c} ({e.meaning})" for c, e in EVENTS.items())
        raise CourierError(f"unknown event ID {args.event!r}; known: {known}")
    entries = [e for e in _trail().log.entries() if _matches(e, args)]
    if args.json:
        print(json.dumps([e.as_json() for e in entries], indent=2))
        return 0
    for entry in entries:
        print(
            f"{entry.seq:>6}  {entry.when.astimezone():%Y-%m-%d %H:%M:%S}  {entry.event}  "
            f"{LISTED[entry.outcome]:<15}  {entry.node or '-':<12}  {entry.summary}"
        )
    if not entries:
        print("no audit events" + (" match" if any(_filters(args)) else " yet"))
    return 0


def _filters(args: argparse.Namespace) -> list[object]:
    return [args.since, args.event, args.node, args.outcome]


def _verify(args: argparse.Namespace) -> int:
    trail = _trail()
    verdict = trail.log.verify()
    if verdict.ok:
        print(
            f"audit log intact: {verdict.records} record(s) chained by SHA-256 ({trail.log.path})"
        )
        return 0
    print(
        f"audit log BROKEN at record {verdict.broken}: {verdict.reason} "
        f"({verdict.records} record(s) before it hold)",
        file=sys.stderr,
    )
    return 1


def _forward(args: argparse.Namespace) -> int:
    trail = _trail()
    if args.off:
        trail.settings_path.unlink(missing_ok=True)
        _configuration_changed(trail, "audit forwarding turned off")
        print(f"audit forwarding off; {len(trail.spool.pending())} message(s) left in the spool")
        return 0
    if not args.host:
        settings = trail.forwarding()
        print(
            "audit forwarding off (audit forward --host H --port P --identity ID)"
            if settings is None
            else f"audit messages go to {settings.host}:{settings.port} as "
            f"{settings.identity or 'no identity'} ({settings.profile}); "
            f"{len(trail.spool.pending())} spooled"
        )
        return 0
    if not 1 <= args.port <= 65535:
        raise CourierError(f"the port {args.port} is not between 1 and 65535")
    if args.identity:
        open_keystore(argparse.Namespace(password_file=None)).identity(args.identity)
    for folder in (trail.folder.parent, trail.folder):
        folder.mkdir(exist_ok=True, mode=0o700)
    ForwardSettings(args.host, args.port, args.identity or "", args.profile, args.server_name).save(
        trail.settings_path
    )
    _configuration_changed(trail, f"audit forwarding to {args.host}:{args.port} turned on")
    print(
        f"audit messages from now on are spooled and sent to {args.host}:{args.port} "
        f"over TLS{' as ' + args.identity if args.identity else ''}"
    )
    return 0


def _configuration_changed(trail: AuditTrail, description: str) -> None:
    """110113 Security Alert, Security Configuration: informative (outcome 0)."""
    trail.record(
        events.security_alert(
            trail.local,
            subject=str(trail.settings_path),
            description=description,
            outcome=Outcome.SUCCESS,
            kind=events.SECURITY_CONFIGURATION,
        )
    )


def _flush(args: argparse.Namespace) -> int:
    trail = _trail()
    settings = trail.forwarding()
    if settings is None:
        raise ForwardError("audit forwarding is off: audit forward --host H --identity ID first")
    waiting = len(trail.spool.pending())
    try:
        sent = forwarder(trail, settings, open_keystore(args)).flush()
    except ForwardError as error:
        left = len(trail.spool.pending())
        raise ForwardError(
            in_words(error, settings, timeout=SESSION_TIMEOUT, waiting=left)
        ) from None
    print(f"sent {sent} of {waiting} spooled audit message(s) to {settings.host}:{settings.port}")
    return 0
