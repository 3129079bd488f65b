"""Query/retrieve commands: find, move (optionally into our own listener) and get."""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from desktop import auditing
from desktop.access_control import ConfiguredAccess
from desktop.commands.options import open_keystore, password_option
from desktop.commands.transfer import connection
from desktop.connect import listener_tls
from desktop.core.errors import CourierError
from desktop.core.paths import courier_home
from desktop.core.shown import shown
from desktop.core.words import counted
from desktop.inbox import LazyStore, inbox_folder, indexing
from desktop.net.query import (
    LEVELS,
    MoveProgress,
    QueryError,
    Unsupported,
    find,
    identifier,
    move,
    retrieve_identifier,
    unreached,
)
from desktop.net.scp import ListenerSettings, StorageListener
from desktop.security.tls import Profile


def register(commands: Any) -> None:
    """Add ``find``, ``move`` and ``get`` to the parser's subcommands."""
    secret = password_option()
    retrieved = argparse.ArgumentParser(add_help=False)  # what move and get fetch, and where from
    retrieved.add_argument("node")
    retrieved.add_argument("--study", required=True, metavar="UID")
    retrieved.add_argument("--series", default="", metavar="UID")
    finding = commands.add_parser("find", parents=[secret], help="C-FIND on a node")
    finding.add_argument("node")
    finding.add_argument("--level", choices=LEVELS, default="study")
    finding.add_argument(
        "-k",
        "--key",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a matching key, e.g. PatientName=DOE*; repeatable",
    )
    finding.add_argument("--json", action="store_true")
    finding.set_defaults(run=_find)
    moving = commands.add_parser(
        "move", parents=[secret, retrieved], help="C-MOVE a study or series"
    )
    moving.add_argument("--dest", metavar="AE", help="destination AE (default: our AE title)")
    moving.add_argument(
        "--listen",
        action="store_true",
        help="receive the instances with our own storage SCP meanwhile",
    )
    moving.add_argument("--host", default="127.0.0.1", help="--listen address")
    moving.add_argument("--port", type=int, default=11113, help="--listen port")
    moving.add_argument("--out", type=Path, help="--listen folder (default: HOME/inbox)")
    moving.add_argument(
        "--no-commitment",
        action="store_true",
        help="--listen refuses storage commitment (by default it takes the reports of our "
        "own requests, which reach our AE title meanwhile, and commits what the Inbox holds, "
        "as listen does)",
    )
    moving.set_defaults(run=_move)
    getting = commands.add_parser(
        "get",
        parents=[secret, retrieved],
        help="C-GET a study or series into the Inbox over our own association (no inbound port)",
    )
    getting.add_argument("--out", type=Path, help="the store's folder (default: HOME/inbox)")
    getting.set_defaults(run=_get)


def _keys(pairs: list[str]) -> dict[str, str]:
    keys = {}
    for pair in pairs:
        keyword, separator, value = pair.partition("=")
        if not separator:
            raise QueryError(f"a key is KEYWORD=VALUE, not {pair!r}")
        keys[keyword.strip()] = value
    return keys


def _find(args: argparse.Namespace) -> int:
    keys = _keys(args.key)
    identifier(args.level, keys)  # refused before any password or association
    node, connector, peer = connection(args, args.node)
    unsupported = Unsupported()
    with auditing.querying(node, args.level, keys):
        matches = [
            {k.keyword: str(k.value) for k in match if k.keyword}
            for match in find(connector, peer, args.level, keys, unsupported=unsupported)
        ]
    if unsupported.warned:
        print(f"warning: {unsupported.describe()}", file=sys.stderr)
    if args.json:
        print(json.dumps(matches, indent=2))
    else:
        for match in matches:
            print(
                shown("  ".join(f"{k}={v}" for k, v in match.items() if k != "QueryRetrieveLevel"))
            )
        print(counted(len(matches), "match", "matches"))
    return 0


def _move(args: argparse.Namespace) -> int:
    retrieve_identifier(args.study, args.series)  # refused before any association
    node, connector, peer = connection(args, args.node)
    destination = args.dest or node.calling_ae_title
    listener = None
    reached: list[object] = []  # what our listener saw: anything means the archive called
    if args.listen:
        settings = ListenerSettings(destination, args.host, args.port, inbox_folder(args.out))
        acceptor = None
        if node.tls:
            settings.tls_context, acceptor = listener_tls(
                open_keystore(args), node.identity, Profile(node.profile)
            )
        store = LazyStore(settings.out)
        sink = indexing(auditing.listener(reached.append, destination), store)
        services = [] if args.no_commitment else _commitment(args, destination, store)
        access = ConfiguredAccess(courier_home())  # who may store here, as at listen
        listener = StorageListener(
            settings, sink, acceptor, services=services, access=access
        ).start()
    try:
        last = None
        for progress in move(connector, peer, destination, args.study, series_uid=args.series):
            last = progress
            print(progress.describe(), flush=True)
    except CourierError:
        _unreached(args, node.name, destination, reached)
        raise
    finally:
        if listener is not None:
            listener.stop()
            store.close()
    if last is None or last.status.failed or last.failed:
        print(f"move failed: {last.describe() if last else 'no response'}", file=sys.stderr)
        _unreached(args, node.name, destination, reached)
        return 1
    return _matched(args, last)


def _unreached(
    args: argparse.Namespace, node: str, destination: str, reached: list[object]
) -> None:
    """A failed move into our own listener that nothing called: the usual cause said (the
    archive's log would say it could not connect back to us)."""
    if args.listen and not reached:
        where = f"{args.host}:{args.port}"
        print(f"hint: {unreached(node, destination, where)}", file=sys.stderr)


def _matched(args: argparse.Namespace, last: MoveProgress) -> int:
    """0 when the retrieve moved something; 1, saying so, when nothing matched (a mistyped
    UID must not read as success)."""
    if last.completed or last.warning:
        return 0
    what = f"series {args.series} of study {args.study}" if args.series else f"study {args.study}"
    print(f"nothing matched {what} on {args.node}", file=sys.stderr)
    return 1


def _commitment(args: argparse.Namespace, our_ae: str, store: LazyStore) -> list[Any]:
    """Storage commitment on ``move --listen``'s listener, as on ``listen``'s: it holds our
    AE title's port while the move runs, so reports of our requests arrive there."""
    from desktop.commitments import listener_commitment
    from desktop.connect import node_connector
    from desktop.serving import DeferredArchive, cached_connectors

    keystore = open_keystore(args)
    connectors = cached_connectors(
        lambda node: node_connector(node, keystore), keystore.trust_state
    )
    return listener_commitment(courier_home(), our_ae, DeferredArchive(store), connectors)


def _get(args: argparse.Namespace) -> int:
    from desktop.net.get import get

    retrieve_identifier(args.study, args.series)  # refused before any association
    node, connector, peer = connection(args, args.node)
    settings = ListenerSettings(node.calling_ae_title, out=inbox_folder(args.out))
    store = LazyStore(settings.out)
    filed = 0

    def shown(record: dict[str, Any]) -> None:
        nonlocal filed
        if record["event"] == "stored":
            filed += 1
        elif record["event"] == "store-failed":
            print(f"refused {record['sop_instance_uid']}: {record['error']}", file=sys.stderr)

    sink = indexing(auditing.listener(shown, node.calling_ae_title), store)
    last = None
    try:
        for progress in get(
            connector, peer, settings, sink, study_uid=args.study, series_uid=args.series
        ):
            last = progress
            print(progress.describe(), flush=True)
    finally:
        store.close()
    print(f"{counted(filed, 'instance')} filed in {settings.out}")
    if last is None or last.status.failed or last.failed:
        print(f"get failed: {last.describe() if last else 'no response'}", file=sys.stderr)
        return 1
    return _matched(args, last)
