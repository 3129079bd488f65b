"""C-STORE and C-ECHO as a requestor: many files per association, streamed from disk.

``store`` yields a record for every association opened, closed or failed and an outcome for
every item, so a caller (the queue, a GUI worker) can persist and show each as it happens.
pydicom is imported by the functions that read files: echo starts without it.
"""

import hashlib
import io
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from io import BufferedReader
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop.core.errors import HeaderError
from desktop.core.file_state import file_state
from desktop.net import dimse, pdu
from desktop.net.association import (
    UNCOMPRESSED_SYNTAXES,
    Association,
    SourceFileError,
    open_service,
)
from desktop.net.link import Connector, Failure, LinkError
from desktop.net.status import ECHO, STORE, Status, status

if TYPE_CHECKING:  # packing (and multiprocessing) loads only for a send that compresses,
    # the codecs only for a send (an echo starts without them)
    from desktop.net.compression import Codec, Packed
    from desktop.net.pipeline import Ahead

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Peer:
    """Who we talk to, and as whom."""

    called_ae: str
    calling_ae: str


@dataclass(frozen=True, slots=True)
class StoreItem:
    """One instance to send; ``sha256`` and ``state_when_queued`` (core/file_state), when
    known, prove the file is the one queued; ``dataset_offset`` (when known: the caller just
    read the file meta) spares a read."""

    path: Path
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str
    size: int = 0
    sha256: str = ""
    dataset_offset: int = 0
    state_when_queued: str = ""


@dataclass(frozen=True, slots=True)
class StoreOutcome:
    """What became of one item."""

    item: StoreItem
    ok: bool
    transient: bool  # a failure worth retrying later
    message: str
    status: Status | None = None
    note: str = ""
    packed: tuple[str, int, int] | None = None  # compressed: (syntax, source, sent bytes)


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """An association opened, closed or failed, with its handshake transcript."""

    kind: str  # "opened", "closed", "failed"
    transcript: dict[str, Any] = field(default_factory=dict)
    failure: Failure | None = None
    sent: int = 0


@dataclass(frozen=True, slots=True)
class EchoResult:
    status: Status
    transcript: dict[str, Any]
    milliseconds: float


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def echo(connect: Connector, peer: Peer) -> EchoResult:
    """A C-ECHO; raises LinkError (with its plain-words failure) when it cannot be done."""
    start = time.perf_counter()
    link = connect()
    association, _ = open_service(
        link, peer.called_ae, peer.calling_ae, dimse.VERIFICATION, "C-ECHO (Verification)"
    )
    released = False
    try:
        message_id = association.next_message_id()
        association.send_command(1, dimse.echo_request(message_id))
        response = association.response(1, message_id, dimse.C_ECHO_RQ)
        association.release()
        released = True
    finally:
        if not released:
            association.abort()
    milliseconds = (time.perf_counter() - start) * 1000
    return EchoResult(status(ECHO, response.status), link.transcript, milliseconds)


@dataclass(slots=True)
class Plan:
    """The contexts of one association and the items it carries."""

    contexts: list[pdu.ProposedContext] = field(default_factory=list)
    items: list[StoreItem] = field(default_factory=list)
    exact: dict[tuple[str, str], int] = field(default_factory=dict)  # (class, syntax) → id
    fallback: dict[str, int] = field(default_factory=dict)  # class → id (uncompressed)
    packing: "dict[str, list[tuple[Codec, int]]]" = field(default_factory=dict)  # best first


def plan_associations(items: Sequence[StoreItem], codecs: "Sequence[Codec]" = ()) -> list[Plan]:
    """Presentation contexts from the SOP classes and syntaxes present: one per pair as
    stored, one per codec to compress in (for classes with uncompressed instances), plus an
    uncompressed fallback per class; a new association past 128 contexts."""
    by_class: dict[str, list[StoreItem]] = {}
    for item in items:
        by_class.setdefault(item.sop_class_uid, []).append(item)
    plans = [Plan()]
    for sop_class, members in by_class.items():
        present = {m.transfer_syntax_uid for m in members}
        syntaxes = set(present) - set(UNCOMPRESSED_SYNTAXES)
        if present & set(UNCOMPRESSED_SYNTAXES):
            syntaxes |= {codec.syntax for codec in codecs}
        if len(plans[-1].contexts) + len(syntaxes) + 1 > pdu.MAX_CONTEXTS:
            plans.append(Plan())
        plan = plans[-1]
        for syntax in sorted(syntaxes):
            plan.exact[(sop_class, syntax)] = _add_context(plan, sop_class, (syntax,))
        plan.fallback[sop_class] = _add_context(plan, sop_class, UNCOMPRESSED_SYNTAXES)
        plan.packing[sop_class] = [
            (codec, plan.exact[(sop_class, codec.syntax)])
            for codec in codecs
            if (sop_class, codec.syntax) in plan.exact
        ]
        plan.items.extend(members)
    return [p for p in plans if p.items]


def _add_context(plan: Plan, sop_class: str, syntaxes: tuple[str, ...]) -> int:
    context_id = 2 * len(plan.contexts) + 1
    plan.contexts.append(pdu.ProposedContext(context_id, sop_class, syntaxes))
    return context_id


def store(
    connect: Connector,
    peer: Peer,
    items: Sequence[StoreItem],
    *,
    originator: dimse.Originator | None = None,
    compress: str = "none",
) -> Iterator[StoreOutcome | SessionEvent]:
    """Send every item (as the sub-operations of ``originator``'s C-MOVE, when given),
    uncompressed ones compressed as ``compress`` says (see config.COMPRESSIONS) when the peer
    accepts it; yields session events and one outcome per item, in order. Never raises:
    whatever goes wrong becomes the outcome of the items it touched."""
    from desktop.net.compression import codecs_for

    for plan in plan_associations(items, codecs_for(compress)):
        try:
            link = connect()
            association = Association.request(link, peer.called_ae, peer.calling_ae, plan.contexts)
        except LinkError as error:
            yield SessionEvent("failed", error.transcript, error.failure)
            yield from (
                StoreOutcome(i, False, error.failure.transient, error.failure.text)
                for i in plan.items
            )
            continue
        except Exception as error:  # a connector's bug: recorded, never a reconnect loop
            log.exception("connecting to %s", peer.called_ae)
            failure = _unexpected(error)
            yield SessionEvent("failed", {}, failure)
            yield from (StoreOutcome(i, False, False, failure.text) for i in plan.items)
            continue
        yield SessionEvent("opened", link.transcript)
        yield from _store_plan(
            association, plan, link.transcript, originator, auto=compress == "auto"
        )


def _unexpected(error: BaseException) -> Failure:
    return Failure("internal-error", f"unexpected error: {type(error).__name__}: {error}", False)


def choose_packing(association: Association, plan: Plan, *, auto: bool) -> "Ahead | None":
    """Packing ahead in the best codec the peer accepts, for the uncompressed instances of the
    classes it accepts it for (None: nothing to compress)."""
    accepted = [
        (codec, sop_class)
        for sop_class, options in plan.packing.items()
        for codec, context_id in options
        if association.accepted(context_id) is not None
    ]
    if not accepted:
        return None
    from desktop.net.compression import BY_NAME, LARGEST
    from desktop.net.pipeline import Ahead, Job

    ranked = [codec for codec in BY_NAME.values() if any(c == codec for c, _ in accepted)]
    codec = ranked[0]
    classes = {sop_class for c, sop_class in accepted if c == codec}
    jobs = {
        position: Job(str(item.path), item.size, item.sha256, item.state_when_queued)
        for position, item in enumerate(plan.items)
        if item.sop_class_uid in classes
        and item.transfer_syntax_uid in UNCOMPRESSED_SYNTAXES
        and item.size <= LARGEST
    }
    return Ahead(jobs, codec, auto=auto) if jobs else None


def _store_plan(
    association: Association,
    plan: Plan,
    transcript: dict[str, Any],
    originator: dimse.Originator | None,
    *,
    auto: bool,
) -> Iterator[StoreOutcome | SessionEvent]:
    """The items of one association; a caller that stops iterating aborts it. Each request
    is read and framed while the peer stores the one before, and leaves as soon as that one
    was answered, before that answer's outcome is yielded: the caller records it while the
    link carries the next (the link idled meanwhile)."""
    sent, finished = 0, False
    ahead = choose_packing(association, plan, auto=auto)
    try:
        answer = _request(association, plan, plan.items[0], originator, ahead, 0)()
        for position, item in enumerate(plan.items):
            following = None
            if position + 1 < len(plan.items):  # read and framed while the peer stores item
                following = _request(
                    association, plan, plan.items[position + 1], originator, ahead, position + 1
                )
            try:
                outcome = answer()
            except Exception as error:
                if isinstance(error, LinkError):
                    failure, transient = error.failure, error.failure.transient
                elif isinstance(error, SourceFileError):  # mid-data-set: the peer drops it
                    failure, transient = Failure("source-file", str(error), False), False
                    association.abort()
                else:  # our bug or the file's: this item fails, the association is dropped
                    log.exception("sending %s", item.path)
                    failure, transient = _unexpected(error), False
                    association.abort()
                yield StoreOutcome(item, False, transient, f"not stored: {failure.text}")
                yield from (
                    StoreOutcome(i, False, True, f"not sent: {failure.text}")
                    for i in plan.items[position + 1 :]
                )
                finished = True
                yield SessionEvent("failed", transcript, failure, sent)
                return
            if following is not None:  # sent: its buffer is free before the next is read
                answer, following = following(), None
            sent += outcome.ok
            yield outcome
        association.release()
        finished = True
        yield SessionEvent("closed", transcript, sent=sent)
    finally:
        if ahead is not None:
            ahead.close()
        if not finished:
            association.abort()


Answer = Callable[[], StoreOutcome]  # awaits a request's answer (raises what sending raised)
Ready = Callable[[], Answer]  # sends a request prepared ahead


def _request(
    association: Association,
    plan: Plan,
    item: StoreItem,
    originator: dimse.Originator | None,
    ahead: "Ahead | None",
    position: int,
) -> Ready:
    """One item's request, prepared now (a file as stored: checked, read and framed) and
    sent when called, packed when ``ahead`` packed it, else as stored (or converted); what
    went wrong while preparing or sending is raised by the answer."""
    try:
        ready = _send_one(association, plan, item, originator, ahead, position)
    except Exception as error:
        failed: Answer = partial(_raise, error)
        return lambda: failed

    def send() -> Answer:
        try:
            return ready()
        except Exception as error:
            return partial(_raise, error)

    return send


def _raise(error: Exception) -> StoreOutcome:
    raise error


def _send_one(
    association: Association,
    plan: Plan,
    item: StoreItem,
    originator: dimse.Originator | None,
    ahead: "Ahead | None",
    position: int,
) -> Ready:
    if ahead is None:
        return _store_stored(association, plan, item, originator)
    return partial(_send_packing, association, plan, item, originator, ahead, position)


def _send_packing(
    association: Association,
    plan: Plan,
    item: StoreItem,
    originator: dimse.Originator | None,
    ahead: "Ahead",
    position: int,
) -> Answer:
    """Send one item of a send that compresses (packed when ``ahead`` has it packed): all of
    it when the one before was answered (the packing is paced by what the link takes)."""
    packed, waited = ahead.take(position)
    start = time.perf_counter()
    if packed is not None and packed.problem:
        return partial(StoreOutcome, item, False, False, packed.problem)
    if packed is not None and packed.data is not None:
        answer = _store_packed(association, plan, item, originator, packed)
        size = packed.source_bytes
    else:
        answer = _store_stored(association, plan, item, originator)()
        size = item.size or item.path.stat().st_size

    def measured() -> StoreOutcome:
        outcome = answer()
        if packed is not None and packed.data is None and packed.note:
            outcome = replace(outcome, note=packed.note)
        if outcome.ok:
            ahead.sent(packed, size, waited + time.perf_counter() - start)
        return outcome

    return measured


def _store_packed(
    association: Association,
    plan: Plan,
    item: StoreItem,
    originator: dimse.Originator | None,
    packed: "Packed",
) -> Answer:
    data = packed.data or b""
    context_id = plan.exact[(item.sop_class_uid, packed.syntax)]

    def send(command: bytes) -> None:
        association.send_message(context_id, command, data)

    uid = packed.instance_uid or item.sop_instance_uid
    answer = _exchange(association, context_id, item, originator, send, instance_uid=uid)
    note = f"sent as a lossy copy, SOP Instance UID {uid}" if packed.instance_uid else ""

    def described() -> StoreOutcome:
        sizes = (packed.syntax, packed.source_bytes, len(data))
        return replace(answer(), packed=sizes, note=note)

    return described


def _store_stored(
    association: Association, plan: Plan, item: StoreItem, originator: dimse.Originator | None
) -> Ready:
    """One item as stored (or converted when the peer refuses its syntax): checked, and its
    request read and framed now when it leaves in one write; sent when called."""
    offset, file_size, problem = _check(item)
    if problem:
        return _at_once(item, problem)
    exact = plan.exact.get((item.sop_class_uid, item.transfer_syntax_uid))
    fallback = plan.fallback[item.sop_class_uid]
    accepted = association.accepted(fallback)
    note, payload = "", None
    if exact is not None and association.accepted(exact):
        context_id = exact
    elif accepted is not None:
        context_id, target = fallback, accepted.transfer_syntax or ""
        if item.transfer_syntax_uid != target:
            try:
                payload = _transcode(item, target, file_size)
            except SourceFileError as error:
                return _at_once(item, f"not stored: {error}")
            except BaseException as error:  # a decoder plugin's panic is a BaseException
                if not isinstance(error, Exception) and type(error).__name__ != "PanicException":
                    raise
                return _at_once(item, _unconvertible(item, target, error))
            note = (
                f"converted from {_name(item.transfer_syntax_uid)} to {_name(target)}: "
                "the peer does not accept the stored transfer syntax"
            )
    else:
        result = association.contexts.get(fallback)
        why = pdu.CONTEXT_RESULTS.get(result.result, "refused") if result else "not answered"
        return _at_once(item, f"the peer refused {_name(item.sop_class_uid)} ({why})")

    command, answer = _message(association, context_id, item, originator)
    if payload is not None:
        data = payload

        def send() -> None:
            association.send_command(context_id, command)
            association.send_dataset(context_id, [data], len(data))

    elif association.one_write(file_size - offset):
        try:
            send = partial(
                association.send_framed,
                _framed(association, context_id, item, command, offset, file_size),
            )
        except SourceFileError as error:  # nothing of it left: it fails alone
            return _at_once(item, f"not stored: {error}")
    else:
        send = partial(_stream, association, context_id, item, command, offset, file_size)

    def sent() -> Answer:
        send()
        return partial(_noted, answer, note) if note else answer

    return sent


def _noted(answer: Answer, note: str) -> StoreOutcome:
    return replace(answer(), note=note)


def _at_once(item: StoreItem, problem: str) -> Ready:
    """The request of an item that cannot be sent: its failure, with nothing sent."""
    return lambda: partial(StoreOutcome, item, False, False, problem)


def _opened(item: StoreItem, offset: int) -> tuple[BufferedReader, "pdu.Hash | None"]:
    """The file at its data set and, when it was queued with its SHA-256, the hash of its
    file meta (hashed, not sent), for the data set to update as it is read."""
    handle = item.path.open("rb")
    digest = hashlib.sha256(handle.read(offset)) if item.sha256 else None
    handle.seek(offset)
    return handle, digest


def _framed(
    association: Association,
    context_id: int,
    item: StoreItem,
    command: bytes,
    offset: int,
    size: int,
) -> memoryview:
    """The request and the file's data set in the one write that sends them, read now and
    then checked to be what was queued (``_still_queued``): what leaves later is those bytes."""
    handle, digest = _opened(item, offset)
    with handle:
        return association.frame_file(
            context_id,
            command,
            handle,
            size - offset,
            digest=digest,
            before_last=lambda: _still_queued(item, handle, digest),
        )


def _stream(
    association: Association,
    context_id: int,
    item: StoreItem,
    command: bytes,
    offset: int,
    size: int,
) -> None:
    """Send the request and the file's data set, read as it goes (checked before the last
    fragment leaves)."""
    handle, digest = _opened(item, offset)
    with handle:
        association.send_file(
            context_id,
            command,
            handle,
            size - offset,
            digest=digest,
            before_last=lambda: _still_queued(item, handle, digest),
        )


def _still_queued(item: StoreItem, handle: BufferedReader, digest: "pdu.Hash | None") -> None:
    """Before the data set's last fragment leaves (the peer stores nothing without it): the
    bytes read are those queued (``digest``, their SHA-256, when one was queued), else the
    file is in the state it was queued in (checked before it was opened: so it was not
    changed while read either)."""
    if item.sha256:
        if digest is None or digest.hexdigest() != item.sha256:
            raise SourceFileError("the file changed since it was queued (its SHA-256 differs)")
    elif item.state_when_queued and file_state(os.fstat(handle.fileno())) != item.state_when_queued:
        raise SourceFileError("the file changed while it was sent")


def _exchange(
    association: Association,
    context_id: int,
    item: StoreItem,
    originator: dimse.Originator | None,
    send: Callable[[bytes], None],
    *,
    instance_uid: str = "",
) -> Answer:
    """The C-STORE request (see ``_message``) sent by ``send`` now, and the wait for the
    peer's answer."""
    command, answer = _message(association, context_id, item, originator, instance_uid)
    send(command)
    return answer


def _message(
    association: Association,
    context_id: int,
    item: StoreItem,
    originator: dimse.Originator | None,
    instance_uid: str = "",
) -> tuple[bytes, Answer]:
    """The C-STORE request (a sub-operation of ``originator``'s C-MOVE, when given), the next
    message of the association, and the wait for the peer's answer to it (``instance_uid``: a
    lossy copy's own)."""
    uid = instance_uid or item.sop_instance_uid
    message_id = association.next_message_id()

    def answer() -> StoreOutcome:
        response = association.response(context_id, message_id, dimse.C_STORE_RQ, instance=uid)
        said = status(STORE, response.status)
        comment = response.command.get(dimse.ERROR_COMMENT)
        message = said.describe() + (f" ({comment})" if comment else "")
        return StoreOutcome(item, said.done, said.transient, message, said)

    return dimse.store_request(message_id, item.sop_class_uid, uid, originator), answer


def _name(uid: str) -> str:
    """A UID's name in words (pydicom's dictionary is loaded only for such a message)."""
    from pydicom.uid import UID

    return str(UID(uid).name)


def _unconvertible(item: StoreItem, target: str, error: BaseException) -> str:
    reason = " ".join(line.strip() for line in str(error).splitlines()) or type(error).__name__
    return (
        f"the peer does not accept {_name(item.transfer_syntax_uid)} and the file cannot be "
        f"converted to {_name(target)}: {reason[:300]}"
    )


def _check(item: StoreItem) -> tuple[int, int, str]:
    """Where the file's data set starts, how many bytes the file has as queued, and why it
    cannot be sent as queued ('' if it can): a file queued by its state must be in that state
    (one queued with its SHA-256 is checked as it is sent). A file cut short after this fails
    as it is sent (the queued size is what is read), never goes out truncated."""
    from desktop.core.header import dataset_offset

    try:
        status = item.path.stat()
        size = item.size or status.st_size
        if not item.sha256 and item.state_when_queued not in ("", file_state(status)):
            return 0, 0, "the file changed since it was queued (its size, times or inode differ)"
        return item.dataset_offset or dataset_offset(item.path), size, ""
    except HeaderError as error:
        return 0, 0, f"the file can no longer be read: {error}"
    except OSError as error:
        return 0, 0, f"the file can no longer be read: {error.strerror}"


def _transcode(item: StoreItem, target: str, size: int) -> bytes:
    """The data set of the file's first ``size`` bytes (checked as ``_still_queued`` checks
    a file sent as stored) decompressed if needed and encoded in ``target`` (an uncompressed
    one)."""
    from pydicom import dcmread

    from desktop.net.encoding import transcode

    with item.path.open("rb") as handle:
        content = handle.read(size)
        if len(content) < size:
            missing = size - len(content)
            raise SourceFileError(f"the file ended {missing} bytes early: it changed while sent")
        _still_queued(item, handle, hashlib.sha256(content) if item.sha256 else None)
    return transcode(dcmread(io.BytesIO(content)), target)
