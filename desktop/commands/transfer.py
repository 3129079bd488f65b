"""Transfer commands: nodes, echo, send, the queue and the association history.

The node and history commands need only the configuration: the network, the keystore and the
media reader are imported by the commands that use them (a faster start for all).
"""

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop import nodes
from desktop.commands.options import (
    attempts,
    collecting_later,
    interruptible,
    open_keystore,
    password_option,
)
from desktop.core.config import (
    COMPRESSIONS,
    LOSSY_COMPRESSIONS,
    PIXELS_REVIEW_ON_SEND,
    SIGNATURE_PROFILES,
    Node,
    find_node,
    load_config,
    lossy_conflict,
)
from desktop.core.errors import CourierError
from desktop.core.paths import courier_home
from desktop.core.shown import shown
from desktop.net.history import History
from desktop.net.link import DEFAULT_ATTEMPTS
from desktop.nodes import describe

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from desktop.core.audit.events import Study
    from desktop.core.deid.setting import Deidentification
    from desktop.core.model import MediaTree
    from desktop.net.cancel import Cancel
    from desktop.net.queue import JobSummary, QueuedInstance, TransferQueue
    from desktop.net.store import Peer, StoreItem
    from desktop.security.keystore import Keystore

HISTORY_SCAN = 2000  # history records searched for a job's failed associations
NODE_OPTIONS = (
    "ae_title",
    "host",
    "port",
    "tls",
    "profile",
    "identity",
    "calling_ae_title",
    "server_name",
    "check_hostname",
    "max_associations",
    "connect_timeout",
    "sign_profile",
    "sign_identity",
    "deid",
    "deid_options",
    "deid_recipient",
    "deid_pixels",
    "commit",
    "commit_wait",
    "compress",
)
PIXELS_HELP = (
    "burned-in text in de-identified copies: masked as found (auto), or not searched (off), "
    "the images whose header says they may show text then held back, not sent"
)
COMPRESS_HELP = (
    "compress uncompressed images for the wire: auto picks the best lossless codec the "
    "peer accepts and sends as stored when the link is faster than compressing; "
    "jpeg-ls-near-lossless (every pixel within 2 of the original) and j2k-lossy (10:1 or "
    "more) are LOSSY: the peer gets copies with new instance UIDs that differ from the originals"
)


def register(commands: Any) -> None:
    """Add node, echo, send, queue and history to the parser's subcommands."""
    secret = password_option()
    node = commands.add_parser("node", help="configure remote DICOM nodes")
    actions = node.add_subparsers(metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add a node")
    add.add_argument("name")
    _node_options(add, required=True)
    add.set_defaults(run=_node_add)
    edit = actions.add_parser("edit", help="change a node's settings")
    edit.add_argument("name")
    edit.add_argument("--rename", metavar="NEW", type=_new_name, help="give the node a new name")
    _node_options(edit, required=False)
    edit.set_defaults(run=_node_edit)
    listing = actions.add_parser("list", help="list the nodes")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_node_list)
    remove = actions.add_parser("remove", help="remove a node")
    remove.add_argument("name")
    remove.set_defaults(run=_node_remove)

    check = commands.add_parser("echo", parents=[secret], help="C-ECHO a node")
    check.add_argument("node")
    check.add_argument("--json", action="store_true")
    check.set_defaults(run=_echo, prepare=_prepare)

    send = commands.add_parser("send", parents=[secret], help="send files, folders or media")
    send.add_argument("node")
    send.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    send.add_argument("--study", metavar="UID", help="only this study")
    send.add_argument("--series", metavar="UID", help="only this series")
    send.add_argument(
        "--attempts",
        type=attempts,
        default=DEFAULT_ATTEMPTS,
        help=f"tries for transient failures before giving up (default {DEFAULT_ATTEMPTS})",
    )
    send.add_argument(
        "--deid",
        action="store_true",
        help="send de-identified copies (PS3.15 Annex E Basic Profile; the node's options "
        "unless --option is given)",
    )
    send.add_argument(
        "--pixels",
        choices=("off", "auto", "review"),
        help=PIXELS_HELP + " (default: the node's, else off; review needs a person: use deid)",
    )
    send.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME",
        help="a de-identification option (repeatable), as deid takes it",
    )
    send.add_argument(
        "--recipient",
        type=Path,
        metavar="CERT",
        help="keep the originals in each copy, encrypted for this certificate (reid)",
    )
    send.add_argument(
        "--untrusted-recipient",
        action="store_true",
        help="take a recipient no CA of the keystore issued (its fingerprint checked with them)",
    )
    _commit_options(send, "(default: the node's setting)")
    send.add_argument(
        "--compress", choices=COMPRESSIONS, help=COMPRESS_HELP + " (default: the node's setting)"
    )
    send.add_argument("--json", action="store_true")
    send.set_defaults(run=_send, prepare=_prepare)

    queue = commands.add_parser("queue", parents=[secret], help="the durable transfer queue")
    queue.add_argument("--json", action="store_true")
    queue.set_defaults(run=_queue_list)
    queue_actions = queue.add_subparsers(metavar="ACTION")
    retry = queue_actions.add_parser("retry", help="make a job's failures pending again")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("job", type=int, nargs="?")
    which.add_argument("--failed", action="store_true", help="every failed job")
    retry.set_defaults(run=_queue_retry)
    cancel = queue_actions.add_parser("cancel", help="cancel a job")
    cancel.add_argument("job", type=int)
    cancel.set_defaults(run=_queue_cancel)
    show = queue_actions.add_parser("show", help="a job's instances: sent, committed ...")
    show.add_argument("job", type=int)
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=_queue_show)
    commit = queue_actions.add_parser(
        "commit", parents=[secret], help="ask for storage commitment of what a job sent"
    )
    commit.add_argument("job", type=int)
    commit.add_argument("--commit-wait", type=float, metavar="SECONDS")
    commit.add_argument("--json", action="store_true")
    commit.set_defaults(run=_queue_commit)
    run = queue_actions.add_parser("run", parents=[secret], help="process pending jobs")
    run.add_argument("--attempts", type=attempts, default=DEFAULT_ATTEMPTS)
    run.add_argument("--json", action="store_true")
    run.set_defaults(run=_queue_run)

    history = commands.add_parser("history", help="the association and handshake history")
    history.add_argument("--last", type=int, default=50, metavar="N")
    history.add_argument("--json", action="store_true")
    history.set_defaults(run=_history)


def _node_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("--ae", dest="ae_title", required=required, help="called AE title")
    parser.add_argument("--host", required=required)
    parser.add_argument("--port", type=int, required=required)
    parser.add_argument("--tls", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--profile", help="TLS profile (default bcp195-nd)")
    parser.add_argument("--identity", help="the keystore identity to present")
    parser.add_argument("--calling-ae", dest="calling_ae_title", help="our AE title (COURIER)")
    parser.add_argument("--server-name", help="the name the server certificate must hold")
    parser.add_argument(
        "--hostname-check",
        dest="check_hostname",
        action=argparse.BooleanOptionalAction,
        default=None,
    )
    parser.add_argument("--max-associations", type=int, help="parallel associations (1)")
    parser.add_argument(
        "--sign-profile",
        choices=SIGNATURE_PROFILES,
        help="sign copies before sending (base, creator, authorization; '' to stop)",
    )
    parser.add_argument("--sign-identity", help="the keystore identity that signs them")
    parser.add_argument(
        "--deid",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="de-identify before sending: the node gets de-identified copies only",
    )
    parser.add_argument(
        "--deid-option",
        dest="deid_options",
        action="append",
        metavar="NAME",
        help="a de-identification option for this node (repeatable; replaces the node's)",
    )
    parser.add_argument(
        "--deid-recipient",
        type=Path,
        metavar="CERT",
        help="keep the originals in the copies, encrypted for this certificate",
    )
    parser.add_argument(
        "--deid-pixels", choices=("off", "auto", "review"), help=PIXELS_HELP + " (off)"
    )
    parser.add_argument(
        "--timeout", dest="connect_timeout", type=float, help="seconds to connect (10)"
    )
    _commit_options(parser, "after every send to this node")
    parser.add_argument("--compress", choices=COMPRESSIONS, help=COMPRESS_HELP + " (none)")


def _commit_options(parser: argparse.ArgumentParser, when: str) -> None:
    parser.add_argument(
        "--commit",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"ask the node for storage commitment of what was sent {when}",
    )
    parser.add_argument(
        "--commit-wait",
        type=float,
        metavar="SECONDS",
        help="how long to wait for the commitment report (60); a later one reaches `listen`",
    )


def _new_name(text: str) -> str:
    """``--rename``'s name: an empty one is refused here (it read as no rename at all)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("a node name is 1 to 64 characters, not empty")
    return text


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    changes = {k: getattr(args, k) for k in NODE_OPTIONS if getattr(args, k) is not None}
    if "deid_options" in changes:
        changes["deid_options"] = tuple(changes["deid_options"])
    if "deid_recipient" in changes:
        recipient = changes["deid_recipient"]
        if not recipient.is_file():
            raise CourierError(f"{recipient}: no such certificate file")
        changes["deid_recipient"] = str(recipient.resolve())
    if changes.get("deid") is False:  # a node that stops de-identifying forgets how it did
        changes.update(deid_options=(), deid_recipient="", deid_pixels="off")
    if changes.get("tls") is False:  # ... and one that stops TLS, the identity it presented
        changes.setdefault("identity", "")
    for key in ("identity", "sign_identity"):
        if changes.get(key):
            open_keystore(argparse.Namespace(password_file=None)).identity(changes[key])
    return changes


def _node_add(args: argparse.Namespace) -> int:
    node = nodes.add(courier_home(), Node(name=args.name, **_changes(args)))
    print(f"added node {node.name}: {describe(node)}")
    return 0


def _node_edit(args: argparse.Namespace) -> int:
    renamed = {"name": args.rename} if args.rename else {}
    before, node = nodes.edit(courier_home(), args.name, **_changes(args), **renamed)
    print(f"{'unchanged' if node == before else 'changed'} node {node.name}: {describe(node)}")
    return 0


def _node_list(args: argparse.Namespace) -> int:
    configured = list(load_config(courier_home()).nodes.values())
    if args.json:
        print(json.dumps([asdict(n) for n in configured], indent=2))
        return 0
    for node in configured:
        print(f"{node.name}: {describe(node)}")
    if not configured:
        print("no nodes yet: node add NAME --ae AE --host HOST --port PORT [--tls]")
    return 0


def _node_remove(args: argparse.Namespace) -> int:
    print(f"removed node {nodes.remove(courier_home(), args.name).name}")
    if waiting := nodes.waiting_jobs(courier_home(), args.name):
        listed = ", ".join(map(str, waiting))
        print(
            f"warning: job {listed} still waits for {args.name}: cancel it (queue cancel "
            f"{waiting[0]}) or add the node again",
            file=sys.stderr,
        )
    return 0


def connection(args: argparse.Namespace, name: str) -> tuple[Node, Any, "Peer"]:
    node, keystore = prepared(args, name)
    from desktop.connect import node_connector
    from desktop.net.store import Peer

    connector = node_connector(node, keystore)
    return node, connector, Peer(node.ae_title, node.calling_ae_title)


def _prepare(args: argparse.Namespace) -> None:
    """Before the command's session (``cli.main``): ``prepared`` for its node, so that the
    identity's secret derives while the session and the network code import. What fails
    here is left for the command to report, in its session."""
    with suppress(CourierError):
        args.prepared = prepared(args, args.node)


def prepared(args: argparse.Namespace, name: str) -> tuple[Node, "Keystore"]:
    """Node ``name`` and the keystore, the secret of the identity the node presents already
    being derived (on a thread, while the command imports the network code)."""
    early = getattr(args, "prepared", None)
    if early is not None and early[0].name == name:
        return early  # type: ignore[no-any-return]
    node = find_node(load_config(courier_home()), name)
    keystore = open_keystore(args)
    if node.tls and node.identity:
        keystore.prepare(node.identity)
    return node, keystore


def _history_log() -> History:
    return History(courier_home() / "history.jsonl")


def _echo(args: argparse.Namespace) -> int:
    node, connector, peer = connection(args, args.node)
    from desktop.net.link import LinkError
    from desktop.net.store import echo

    try:
        result = echo(connector, peer)
    except LinkError as error:
        _history_log().append(
            {
                "node": node.name,
                "event": "echo",
                "transcript": error.transcript,
                "failure": error.failure.text,
            }
        )
        print(error.failure.text, file=sys.stderr)
        if args.json:
            print(
                json.dumps(
                    {
                        "ok": False,
                        "code": error.failure.code,
                        "failure": error.failure.text,
                        "transcript": error.transcript,
                    }
                )
            )
        return 1
    _history_log().append(
        {
            "node": node.name,
            "event": "echo",
            "status": result.status.code,
            "transcript": result.transcript,
        }
    )
    if args.json:
        print(
            json.dumps(
                {
                    "ok": not result.status.failed,
                    "status": result.status.code,
                    "milliseconds": round(result.milliseconds, 1),
                    "transcript": result.transcript,
                },
                indent=2,
            )
        )
    else:
        from desktop.nodes import echo_words

        print(echo_words(node.name, result))
    return 0 if not result.status.failed else 1


def items_from(
    trees: "list[MediaTree]", study: str | None, series: str | None
) -> "tuple[list[StoreItem], list[str]]":
    """The instances to send from opened media, one copy of each (the readable one), and
    why any were left out."""
    from desktop.core.model import InstanceStatus, one_copy_each
    from desktop.net.store import StoreItem

    chosen, _ = one_copy_each(
        instance
        for tree in trees
        for patient in tree.patients
        for a_study in patient.studies
        if not study or a_study.study_instance_uid == study
        for a_series in a_study.series
        if not series or a_series.series_instance_uid == series
        for instance in a_series.instances
    )
    items, skipped = [], []
    for instance in chosen:
        if instance.path is None or instance.status in (
            InstanceStatus.MISSING,
            InstanceStatus.DAMAGED,
        ):
            skipped.append(
                f"{instance.path or instance.sop_instance_uid}: "
                f"not sent, the file is {instance.status.value}"
            )
            continue
        items.append(
            StoreItem(
                instance.path,
                instance.sop_class_uid,
                instance.sop_instance_uid,
                instance.transfer_syntax_uid,
                instance.size or 0,
                dataset_offset=instance.dataset_offset,
                state_when_queued=instance.file_state,  # as it was read: its metadata's
            )
        )
    if (study or series) and not items and not skipped:
        from desktop.core.study_selection import absent

        raise CourierError(f"nothing to send: {absent(trees, study, series)}")
    return items, skipped


def _send(args: argparse.Namespace) -> int:
    with collecting_later():  # until the job is queued
        node, keystore = prepared(args, args.node)
        from desktop.connect import ConnectingAhead

        ahead = ConnectingAhead(node, keystore)  # unlocks and connects meanwhile
    try:
        # The connector first (its secret deriving since the start): imports and a media
        # scan beside its file reads, audit record and TLS context would take the GIL back at
        # each of them, and the first byte would wait for them. The handshakes run beside.
        connector = ahead.ready()  # a wrong password or damaged identity queues nothing
        with collecting_later():
            from desktop.core.audit.studies import studies_in
            from desktop.core.media import open_media
            from desktop.core.model import shared_warnings
            from desktop.net.copies import sweep
            from desktop.net.queue import TransferQueue
            from desktop.net.store import Peer

            peer = Peer(node.ae_title, node.calling_ae_title)
            how = _deidentification(args, node)
            _check_recipient(args, how)
            _check_lossy(args, node)
            trees = [open_media(path) for path in args.paths]
            items, skipped = items_from(trees, args.study, args.series)
            for line in shared_warnings(trees, [args.study] if args.study else None):
                print(line, file=sys.stderr)
            queue = TransferQueue(courier_home() / "queue.sqlite")
            sweep(queue, courier_home())
            description = ", ".join(str(p) for p in args.paths)
            with ExitStack() as areas:  # the copies' areas stay locked until the job is queued
                items, held = _copies(args, node, how, items, skipped, areas)
                for line in skipped:
                    print(line, file=sys.stderr)
                items = queue.hashed(items)  # beside the handshake, which leaves the GIL
                deidentified = how.describe() if how else ""
                job_id, enqueued = queue.enqueued(
                    node.name,
                    items,
                    description,
                    deidentified=deidentified,
                    compression=args.compress or "",
                )
        # de-identified copies have new instance UIDs: their studies are read from the copies
        _run_to_end(
            queue,
            job_id,
            node,
            connector,
            peer,
            args,
            known=studies_in(trees),
            compress=args.compress or node.compress,
            enqueued=enqueued,
        )
    finally:
        ahead.close()
    return _report_job(queue, job_id, args.json, extra_failures=len(skipped), held=held)


def _check_recipient(args: argparse.Namespace, how: "Deidentification | None") -> None:
    """The copies' recipient checked as deid --recipient checks it, and named on stderr."""
    if how is None or how.recipient is None:
        if args.untrusted_recipient:
            raise CourierError("--untrusted-recipient: this send has no recipient (--recipient)")
        return
    from desktop.sealing import recipient_certificate

    checked = recipient_certificate(
        how.recipient, open_keystore(args), untrusted=args.untrusted_recipient
    )
    print("\n".join(checked.lines()), file=sys.stderr)


def _check_lossy(args: argparse.Namespace, node: Node) -> None:
    """A lossy --compress refuses what the node does that lossy copies would break."""
    if args.compress not in LOSSY_COMPRESSIONS:
        return
    commit = node.commit if args.commit is None else args.commit
    if commit or node.sign_profile:
        what = "storage commitment" if commit else "signing"
        hint = " (or add --no-commit)" if commit else ""
        raise CourierError(lossy_conflict(what) + hint)


def _deidentification(args: argparse.Namespace, node: Node) -> "Deidentification | None":
    """How this send de-identifies: as asked on the command line, else as the node says."""
    from desktop.core.deid.setting import Deidentification
    from desktop.core.deid.table import parse_options

    if (args.option or args.recipient) and not args.deid:
        raise CourierError("--option and --recipient say how to de-identify: add --deid")
    if args.pixels and not args.deid:
        raise CourierError(
            "--pixels says how a de-identifying send treats burned-in text: add --deid"
        )
    if args.pixels == "review":
        raise CourierError(PIXELS_REVIEW_ON_SEND)
    by_node = Deidentification.of_node(node)
    if not args.deid:
        return by_node
    options = parse_options(args.option) if args.option or by_node is None else by_node.options
    recipient = args.recipient or (by_node.recipient if by_node else None)
    if recipient is not None and not recipient.is_file():
        raise CourierError(f"{recipient}: no such certificate file")
    pixels = args.pixels or (by_node.pixels if by_node else "off")
    return Deidentification(options, recipient, pixels)


def _copies(
    args: argparse.Namespace,
    node: Node,
    how: "Deidentification | None",
    items: list["StoreItem"],
    skipped: list[str],
    areas: ExitStack,
) -> tuple[list["StoreItem"], int]:
    """The items to queue: de-identified copies, then signed copies, as the send asks (the
    sources stay as they are), and how many were held back for burned-in text; those that
    could not be made are added to ``skipped``."""
    import shutil

    from desktop.net.copies import new_area

    made, held = None, 0
    if how is not None:
        from desktop.deid_send import AREA, deidentified_items

        made = areas.enter_context(new_area(courier_home(), AREA))
        items, refused, held = deidentified_items(items, how, made)
        skipped += refused
    if node.sign_profile:
        from desktop.core.signatures.profiles import Profile
        from desktop.signed_send import AREA as SIGNING
        from desktop.signed_send import signed_items

        area = areas.enter_context(new_area(courier_home(), SIGNING))
        keystore = open_keystore(args)
        profile = Profile(node.sign_profile)
        items, refused = signed_items(items, keystore, node.sign_identity, profile, area)
        skipped += refused
        if made is not None:  # the signed copies are sent: the unsigned ones go now
            shutil.rmtree(made, ignore_errors=True)
    return items, held


def _run_to_end(
    queue: "TransferQueue",
    job_id: int,
    node: Node,
    connector: Any,
    peer: "Peer",
    args: argparse.Namespace,
    *,
    known: "Mapping[str, Study] | None" = None,
    compress: str = "",
    enqueued: "Sequence[QueuedInstance]" = (),
) -> None:
    """Run a job with the command's retry policy, saying notes and failures as they come
    (``known``: the studies of its instances, when the media was just read; ``compress``:
    the send's choice, else the node's; ``enqueued``: its instances as just queued)."""
    from desktop.net.compression import in_words, is_lossy
    from desktop.net.runner import run_job, send_policy

    if is_lossy(compress or node.compress) and not args.json:
        print(f"warning: LOSSY: {in_words(compress or node.compress)}", file=sys.stderr)
    policy = send_policy(args.attempts)
    with interruptible() as cancel:  # Ctrl+C, SIGTERM: what was answered is recorded
        records = run_job(
            queue,
            job_id,
            connector,
            peer,
            policy=policy,
            history=_history_log(),
            parallel=node.max_associations,
            compress=compress or node.compress,
            sleep=cancel.wait,
            cancel=cancel,
            enqueued=enqueued,
        )
        from desktop import auditing

        records = auditing.transfer(records, queue, job_id, node, known=known)
        _consume(records, args.json)
        from desktop.net.copies import discard_copies

        discard_copies(queue, job_id, courier_home())
        commit = getattr(args, "commit", None)
        if not cancel.cancelled and (node.commit if commit is None else commit):
            _commit(queue, job_id, node, connector, args, cancel=cancel)


def _commit(
    queue: "TransferQueue",
    job_id: int,
    node: Node,
    connector: Any,
    args: argparse.Namespace,
    *,
    again: bool = False,
    cancel: "Cancel | None" = None,
) -> None:
    """Storage commitment of what the job sent (not yet committed; ``again``: all of it):
    the report awaited here for a while, the instances left waiting otherwise (a report
    that comes later is matched by `listen`)."""
    from desktop.net.commitment import begin, request

    wait = getattr(args, "commit_wait", None)
    wait = node.commit_wait if wait is None else wait
    transaction = begin(queue, job_id, called=node.ae_title, again=again)
    if transaction is None:
        if again and not args.json:
            print(f"job {job_id} sent nothing: no storage commitment to ask for", file=sys.stderr)
        return
    if not args.json:
        print(
            f"asking {node.name} for storage commitment of {len(transaction.references)} "
            f"instance(s) (waiting up to {wait:g} s)",
            file=sys.stderr,
        )
    done = request(
        queue,
        transaction,
        connector,
        called=node.ae_title,
        calling=node.calling_ae_title,
        wait=wait,
        cancel=cancel,
    )
    _history_log().append(
        {
            "node": node.name,
            "job": job_id,
            "event": "commitment-requested",
            "transaction": done.transaction_uid,
            "accepted": done.outcome.accepted,
            "result": done.outcome.message,
            "notes": done.outcome.notes,
        }
    )
    if not args.json:
        for note in done.outcome.notes:
            print(f"storage commitment: {note}", file=sys.stderr)
        if not done.outcome.accepted:
            print(f"storage commitment not requested: {done.outcome.message}", file=sys.stderr)


def _consume(records: Iterator[Any], quiet: bool) -> None:
    from desktop.net.store import StoreOutcome

    packed: dict[str, list[int]] = {}  # syntax → [instances, source bytes, bytes sent]
    for record in records:
        if isinstance(record, StoreOutcome) and record.ok and record.packed:
            syntax, source, sent = record.packed
            totals = packed.setdefault(syntax, [0, 0, 0])
            for index, value in enumerate((1, source, sent)):
                totals[index] += value
        if quiet:
            continue
        if isinstance(record, StoreOutcome) and record.note and not record.packed:
            print(f"note: {record.item.path}: {record.note}", file=sys.stderr)
    if not quiet:
        from desktop.net.compression import BY_SYNTAX

        for syntax, (count, source, sent) in packed.items():
            codec = BY_SYNTAX[syntax]
            lossy = (
                f" — LOSSY ({codec.loss}): the peer got copies with new instance UIDs that "
                "differ from the originals"
                if codec.method
                else ""
            )
            print(
                f"compressed {count} instance(s) with {codec.name}: "
                f"{source / 1e6:.1f} MB sent as {sent / 1e6:.1f} MB "
                f"({source / max(sent, 1):.1f}:1){lossy}"
            )


def _report_job(
    queue: "TransferQueue", job_id: int, as_json: bool, extra_failures: int = 0, held: int = 0
) -> int:
    """The job's outcome said (``held``: images of the send held back for burned-in text,
    counted among those asked for); 0 only if everything asked for was sent (and committed)."""
    from desktop.net.queue import FAILED

    job = queue.job(job_id)
    failed = queue.instances(job_id, FAILED)
    warned = queue.warned(job_id) if job.sent else []
    if as_json:
        print(
            json.dumps(
                {
                    "job": job.id,
                    "node": job.node,
                    "state": job.state,
                    "total": job.total,
                    "held_back": held,
                    "sent": job.sent,
                    "stored_with_warning": len(warned),
                    "failed": job.failed,
                    "pending": job.pending,
                    "deidentified": job.deidentified,
                    "compression": job.compression,
                    "committed": job.committed,
                    "commit_failed": job.commit_failed,
                    "commit_waiting": job.commit_waiting,
                    "instances": [
                        {
                            "path": str(i.item.path),
                            "sop_instance_uid": i.item.sop_instance_uid,
                            "state": i.state,
                            "message": i.message,
                            "note": i.note,
                            "attempts": i.attempts,
                            "commitment": i.commitment,
                            "commitment_reason": i.commitment_reason,
                        }
                        for i in queue.instances(job_id)
                    ],
                },
                indent=2,
            )
        )
    else:
        unreached = _failed_associations(job_id) if failed else set()  # said once
        for message, count in Counter(i.message for i in failed if i.message in unreached).items():
            print(f"FAILED job {job.id} to {job.node}: {message}; {count} instance(s) not sent")
        for instance in failed:
            if instance.message not in unreached:
                print(f"FAILED {instance.item.path}: {instance.message}")
        for instance in queue.commitment_failures(job_id) if job.commit_failed else []:
            print(f"NOT COMMITTED {instance.item.path}: {instance.commitment_reason}")
        _say_warnings(job, warned)
        held_back = ""
        if held:  # the send de-identified: its module is loaded already
            from desktop.deid_send import HELD_BACK

            held_back = f"; {held} {HELD_BACK}"
        commitment = job.commitment()
        print(
            f"job {job.id} to {job.node}: {job.state}, sent {job.sent} of {job.total + held}"
            + held_back
            + (f", {job.failed} failed" if job.failed else "")
            + _pending(job)
            + (f"; the peer stored {len(warned)} of them with a warning" if warned else "")
            + (f"; {commitment}" if commitment else "")
            + (" (a later report reaches `dicom-courier listen`)" if job.commit_waiting else "")
            + (f"; {job.deidentified}" if job.deidentified else "")
        )
    requested = job.committed + job.commit_failed + job.commit_waiting
    committed = not requested or job.committed == job.total
    return 0 if job.sent == job.total and committed and not (extra_failures or held) else 1


def _say_warnings(job: "JobSummary", warned: "list[QueuedInstance]") -> None:
    """What the peer said of the instances it stored with a warning (elements coerced or
    discarded ...): each alone, or counted when many got the same."""
    for message, count in Counter(i.message for i in warned).items():
        if count == 1:
            path = next(i.item.path for i in warned if i.message == message)
            print(f"WARNING {path}: stored, but {job.node} answered {message}")
        else:
            print(
                f"WARNING job {job.id} to {job.node}: {count} instance(s) stored, but "
                f"{job.node} answered {message} (dicom-courier queue show {job.id} names them)"
            )


def _pending(job: "JobSummary") -> str:
    """The job's unsent instances and the command that sends them: `queue run` sends a
    pending job, a cancelled one only after `queue retry`."""
    if not job.pending:
        return ""
    if job.cancelled:
        return f", {job.pending} not sent (dicom-courier queue retry {job.id})"
    return f", {job.pending} pending (dicom-courier queue run)"


def _failed_associations(job_id: int) -> set[str]:
    """The reasons the job's associations failed, from the history."""
    return {
        str(record["failure"])
        for record in _history_log().read(HISTORY_SCAN)
        if record.get("job") == job_id and record.get("event") == "failed" and record.get("failure")
    }


def _queue_list(args: argparse.Namespace) -> int:
    from desktop.net.queue import TransferQueue

    queue = TransferQueue(courier_home() / "queue.sqlite")
    jobs = queue.jobs()
    if args.json:
        print(json.dumps([{**asdict(j), "state": j.state} for j in jobs], indent=2))
        return 0
    for job in jobs:
        print(
            f"{job.id:>4}  {job.node}  {job.state:<9}  {job.sent}/{job.total} sent  "
            f"{job.bytes_sent / 2**20:.1f}/{job.bytes_total / 2**20:.1f} MB"
            + (f"  {job.failed} failed" if job.failed else "")
            + (f"  {job.commitment()}" if job.commitment() else "")
            + f"  {job.description}"
            + (f"  [{job.deidentified}]" if job.deidentified else "")
            + (f"  [--compress {job.compression}]" if job.compression else "")
        )
    if not jobs:
        print("the queue is empty")
    return 0


def _queue_retry(args: argparse.Namespace) -> int:
    """Retry one job, or (``--failed``) every failed one, as the GUI's Retry failed does."""
    from desktop.net.queue import TransferQueue

    queue = TransferQueue(courier_home() / "queue.sqlite")
    jobs = [j.id for j in queue.jobs() if j.state == "failed"] if args.failed else [args.job]
    if not jobs:
        print("no failed job to retry")
    nodes = load_config(courier_home()).nodes
    for job_id in jobs:
        node = queue.job(job_id).node
        if node not in nodes:
            raise CourierError(
                f"job {job_id} cannot be retried: its node {node!r} is no longer configured; "
                f"add it again (node add {node} ...) or cancel the job (queue cancel {job_id})"
            )
        count = queue.retry(job_id)
        print(
            f"job {job_id}: {count} instance(s) pending again (dicom-courier queue run)"
            if count
            else f"job {job_id}: nothing to retry"
        )
    return 0


def _queue_cancel(args: argparse.Namespace) -> int:
    from desktop.net.copies import discard_copies
    from desktop.net.queue import TransferQueue

    queue = TransferQueue(courier_home() / "queue.sqlite")
    queue.cancel(args.job)
    discard_copies(queue, args.job, courier_home())
    print(f"job {args.job} cancelled")
    return 0


COMMITMENT_WORDS = {
    "": "",
    "waiting": "waiting for commitment",
    "committed": "committed",
    "failed": "NOT COMMITTED",
}


def _queue_show(args: argparse.Namespace) -> int:
    """Each instance of a job: its send state and its commitment, with the reasons."""
    from desktop.net.queue import TransferQueue

    queue = TransferQueue(courier_home() / "queue.sqlite")
    if args.json:
        return _report_job(queue, args.job, True)
    warned = queue.warned(args.job)
    for instance in queue.instances(args.job):
        commitment = COMMITMENT_WORDS[instance.commitment]
        reason = instance.commitment_reason or (
            instance.message if instance.state != "sent" or instance in warned else ""
        )
        print(
            f"{instance.item.path}  {instance.state}"
            + (f", {commitment}" if commitment else "")
            + (f": {reason}" if reason else "")
        )
    return _report_job(queue, args.job, False)


def _queue_commit(args: argparse.Namespace) -> int:
    from desktop.net.queue import TransferQueue

    queue = TransferQueue(courier_home() / "queue.sqlite")
    node, connector, _ = connection(args, queue.job(args.job).node)
    with interruptible() as cancel:
        _commit(queue, args.job, node, connector, args, again=True, cancel=cancel)
    return _report_job(queue, args.job, args.json)


def _queue_run(args: argparse.Namespace) -> int:
    from desktop.net.claim import JobTakenError
    from desktop.net.copies import sweep
    from desktop.net.queue import TransferQueue

    queue = TransferQueue(courier_home() / "queue.sqlite")
    sweep(queue, courier_home())
    status = 0
    runnable = queue.runnable()
    if not runnable and not args.json:
        print("nothing pending in the queue")
    for job_id in runnable:
        job = queue.job(job_id)
        try:  # a job that cannot start (its node removed, its identity damaged) blocks no other
            node, connector, peer = connection(args, job.node)
        except CourierError as error:
            print(f"job {job_id} not run: {error}", file=sys.stderr)
            status = 1
            continue
        if job_id not in queue.runnable():  # sent or cancelled by another process since listed
            continue
        try:
            _run_to_end(queue, job_id, node, connector, peer, args, compress=job.compression)
        except JobTakenError as taken:  # its sender reports it
            print(taken, file=sys.stderr)
            continue
        status |= _report_job(queue, job_id, args.json)
    return status


def _history(args: argparse.Namespace) -> int:
    records = _history_log().read(args.last)
    if args.json:
        print(json.dumps(records, indent=2))
        return 0
    for record in records:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record["time"]))
        print(  # what peers sent (certificate names, comments, AE titles): shown
            shown(
                f"{when}  {_who(record)}  {record.get('event')}  "
                + _security(record)
                + (f"  FAILED: {record['failure']}" if record.get("failure") else "")
                + (f"  WARNING: {record['warning']}" if record.get("warning") else "")
                + (f"  [{record['deidentified']}]" if record.get("deidentified") else "")
            )
        )
    return 0


def _who(record: dict[str, Any]) -> str:
    """The node of a send, else the calling AE or address of a listener's peer."""
    return str(record.get("node") or record.get("calling") or record.get("peer") or "-")


def _security(record: dict[str, Any]) -> str:
    """How the association was protected: the TLS session, TLS that was not established
    (a TLS node whose connection or handshake failed), a TLS listener's, or plain DICOM."""
    transcript = record.get("transcript") or {}
    if transcript.get("protocol"):
        return f"{transcript['protocol']} {transcript.get('cipher')}"
    if transcript.get("profile"):
        return f"TLS ({transcript['profile']}) not established"
    if record.get("listener_tls"):
        return f"TLS listener ({record['listener_tls']})"
    return "plain"
