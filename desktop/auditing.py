"""Composition: the process's audit trail, and the hooks where commands and the GUI report.

``install`` (done by the command line's entry point, for the CLI and the GUI alike) opens the
trail of the user's home; every hook is a no-op without it, and never fails the work it
reports on: a trail that cannot be written is logged as a warning.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from desktop.core.audit import events
from desktop.core.audit.events import Local
from desktop.core.audit.message import AuditMessage, Outcome
from desktop.core.audit.receipts import Receipts
from desktop.core.audit.trail import AuditTrail
from desktop.core.audit.writer import TrailWriter
from desktop.core.config import Node
from desktop.core.errors import CourierError
from desktop.security.errors import PasswordError

if TYPE_CHECKING:  # the hooks' subjects; a command that only starts a session loads none of them
    from desktop.net.queue import TransferQueue
    from desktop.net.scp import Sink
    from desktop.security.diagnosis import Diagnosis
    from desktop.security.keystore import Keystore, TlsIdentity, UnlockedIdentity


class Written(Protocol):
    """One file of a run that writes copies of patient data."""

    @property
    def source(self) -> Path: ...


log = logging.getLogger(__name__)
Record = TypeVar("Record")
Done = TypeVar("Done", bound="Written")
Result = TypeVar("Result")

#: Diagnoses of a connection that never reached a TLS handshake: not security events.
NOT_HANDSHAKES = frozenset({"connection-refused", "timeout", "connection-lost", "plain-dicom-port"})
#: Diagnoses where the trust in a certificate failed: a serious alert.
TRUST_FAILURES = frozenset({"untrusted-server-ca", "hostname-mismatch", "weak-peer-certificate"})

#: Listener records of a peer refused (access control): security alerts.
REFUSALS = frozenset({"access-refused", "association-rejected"})

_trail: AuditTrail | None = None
_writer: TrailWriter | None = None  # stores _trail's records on a thread, when installed so
_closers: list[Callable[[], None]] = []  # run at uninstall: what is gathered gets recorded
_unlock_listeners: list[Callable[[Keystore], None]] = []


def install(home: Path, *, ae_title: str = "COURIER", background: bool = False) -> AuditTrail:
    """Record this process's audit events in ``home``'s trail from now on; with
    ``background``, stored on a thread of their own (the work does not wait for the disk at
    each event), all of them by ``uninstall`` (or ``flush``)."""
    global _trail, _writer
    _trail = AuditTrail(home, Local.here(ae_title))
    _writer = TrailWriter(_trail) if background else None
    return _trail


def uninstall() -> None:
    """Report what is still gathered (instances received), store everything recorded, then
    stop recording."""
    global _trail, _writer
    for close in _closers:
        close()
    _unlock_listeners.clear()
    if _writer is not None:
        _writer.close()
    _trail = _writer = None


def flush() -> None:
    """Store every event recorded so far (a reader of the log in this process sees them)."""
    if _writer is not None:
        _writer.flush()


def trail_folder(home: Path) -> Path:
    """Where this process's audit events go: the installed trail's folder, else ``home``'s."""
    return _trail.folder if _trail is not None else home / "audit"


def record(build: Callable[[Local], AuditMessage], *, node: str = "") -> None:
    """Store the message ``build`` makes for this process (nothing when no trail is installed)."""
    trail = _trail
    if trail is None:
        return
    try:
        message = build(trail.local)
        if _writer is not None:
            _writer.put(message, node)
        else:
            trail.record(message, node=node)
    except Exception as error:  # auditing never fails the work it reports on
        log.warning("the audit trail could not record an event: %s", error)


def access_changed(subject: Path, entries: list[str]) -> None:
    """Who may use our listener changed: the description is the list now."""
    configuration_changed(
        subject,
        f"listener access list is now: {', '.join(entries)}"
        if entries
        else "listener access list is now empty: any calling AE title may store, query, retrieve",
    )


def configuration_changed(subject: Path | str, description: str) -> None:
    """110113 Security Alert, Security Configuration (informative): what decides whom we trust
    and how we connect changed (CAs, identities, CRLs, nodes, access); the description says how."""
    record(
        lambda local: events.security_alert(
            local,
            subject=str(subject),
            description=description,
            outcome=Outcome.SUCCESS,
            kind=events.SECURITY_CONFIGURATION,
        )
    )


def application(*, started: bool) -> None:
    """110100 Application Start or Stop."""
    record(lambda local: events.application_activity(local, started=started))


@contextmanager
def unlocking(what: str, *, refusals_only: bool = False) -> Iterator[None]:
    """Around work that unlocks the keystore: 110114 for success, or for a wrong password
    (only for that with ``refusals_only``: a check before the unlock that is audited)."""
    try:
        yield
    except PasswordError as error:
        _login_refused(what, str(error))
        raise
    if not refusals_only:
        record(lambda local: events.user_authentication(local, what=what, ok=True))


def locked(description: str) -> None:
    """110114 Logout: what was held unlocked is forgotten (``description``: what, and why)."""
    record(lambda local: events.user_logout(local, description=description))


def audited_check(verifies: Callable[[str], bool]) -> Callable[[str], bool]:
    """``verifies`` (a prompt's check of a typed keystore password) recording each password
    it refuses as 110114, failed: the GUI checks what is typed before anything unlocks, so a
    guess at its prompt leaves a trace as one at the command line does."""

    def check(password: str) -> bool:
        if verifies(password):
            return True
        _login_refused("the keystore (password prompt)", "wrong keystore password")
        return False

    return check


def _login_refused(what: str, reason: str) -> None:
    record(lambda local: events.user_authentication(local, what=what, ok=False, description=reason))


def unlock(keystore: Keystore, name: str) -> UnlockedIdentity:
    """``keystore.unlock_identity(name)``, recording 110114 for success and failure."""
    return _unlocked(keystore, name, keystore.unlock_identity)


def unlock_for_tls(keystore: Keystore, name: str) -> TlsIdentity:
    """``keystore.tls_identity(name)``, recording 110114 for success and failure."""
    return _unlocked(keystore, name, keystore.tls_identity)


def _unlocked(keystore: Keystore, name: str, open_identity: Callable[[str], Result]) -> Result:
    if keystore.holds(name):  # a warm service's: its unlock was the login (audited then)
        identity = open_identity(name)
    else:
        with unlocking(f"keystore identity {name}"):
            identity = open_identity(name)
    for listener in list(_unlock_listeners):
        listener(keystore)
    return identity


def on_unlocked(listener: Callable[[Keystore], None]) -> None:
    """Call ``listener`` with the keystore each time the user has unlocked an identity."""
    _unlock_listeners.append(listener)


def handshake(transcript: dict[str, Any], *, node: str = "", ae_title: str = "") -> None:
    """110113 Security Alert for a failed or refused TLS handshake (nothing for a good one)."""
    diagnosis = transcript.get("diagnosis")
    if transcript.get("ok") or not diagnosis or diagnosis["code"] in NOT_HANDSHAKES:
        return
    code = diagnosis["code"]
    serious = code in TRUST_FAILURES or "cert" in code
    peer = str(transcript.get("peer") or "unknown")
    host = peer.rsplit(":", 1)[0]
    incoming = transcript.get("role") == "server"
    description = f"{'incoming' if incoming else 'outgoing'} TLS handshake: {diagnosis['summary']}"
    record(
        lambda local: events.security_alert(
            local,
            subject=peer,
            description=description,
            outcome=Outcome.SERIOUS_FAILURE if serious else Outcome.MINOR_FAILURE,
            peer=events.Node(ae_title or node or "unknown", host),
        ),
        node=node,
    )


def refused_after_handshake(diagnosis: Diagnosis, node: Node, peer: str) -> None:
    """110113 for our certificate refused once the handshake was over: TLS 1.3 lets a server
    reject it then, with an alert (a certificate diagnosis) or by closing the connection at
    our first read. Other failures on the wire are no security alert."""
    if "cert" in diagnosis.code or diagnosis.code == "peer-closed":
        transcript = {
            "ok": False,
            "role": "client",
            "peer": peer,
            "diagnosis": {"code": diagnosis.code, "summary": diagnosis.summary},
        }
        handshake(transcript, node=node.name, ae_title=node.ae_title)


def transfer(
    records: Iterator[Record],
    queue: TransferQueue,
    job_id: int,
    node: Node,
    *,
    known: Mapping[str, events.Study] | None = None,
) -> Iterator[Record]:
    """Pass a job's records through, recording 110102 per study before the first is sent and
    110104 per study once the job stops, with the outcome its instances really had. The
    studies are ``known`` by SOP Instance UID (from media already read) or read from headers."""
    from desktop.core.audit.studies import group_by_study, study_of
    from desktop.net.queue import PENDING

    if _trail is None:
        yield from records
        return
    due = {uid: path for uid, (_, path) in queue.states(job_id, PENDING).items()}
    known = known or {}
    studies = {uid: known.get(uid) or study_of(Path(path)) for uid, path in due.items()}
    grouped = group_by_study(studies.values())
    deidentified = queue.job(job_id).deidentified
    for study in grouped.values():
        study.anonymized = bool(deidentified)
    destination = events.Node(node.ae_title, node.host)
    for study in grouped.values():
        record(
            partial(events.begin_transferring, destination=destination, study=study),
            node=node.name,
        )
    try:
        yield from records
    finally:
        states = {uid: state for uid, (state, _) in queue.states(job_id).items()}
        for key, study in grouped.items():
            mine = [
                s
                for u, s in states.items()
                if u in studies and (studies[u].study_uid, studies[u].patient_id) == key
            ]
            _transferred(node, destination, study, mine, deidentified)


def _transferred(
    node: Node, destination: events.Node, study: events.Study, states: list[str], how: str
) -> None:
    from desktop.net.queue import FAILED, SENT

    sent, failed = states.count(SENT), states.count(FAILED)
    if not sent and not failed:
        return  # stopped before anything of this study was tried: still queued
    outcome = _outcome(sent, len(states))
    description = (
        f"{sent} of {len(states)} instance(s) stored"
        + (f", {failed} failed" if failed else "")
        + (f"; {how}" if how else "")
    )
    record(
        partial(
            _sent,
            source=node.calling_ae_title,
            destination=destination,
            study=study,
            outcome=outcome,
            description=description,
        ),
        node=node.name,
    )


def _outcome(sent: int, total: int) -> Outcome:
    """A transfer's outcome: success when all ``total`` were sent, minor when some were."""
    if sent == total:
        return Outcome.SUCCESS
    return Outcome.MINOR_FAILURE if sent else Outcome.SERIOUS_FAILURE


def listener(sink: Sink, ae_title: str) -> Sink:
    """A listener sink that also records 110104 for what each sender delivered of a study,
    once it has been quiet for a moment (or when the trail is closed)."""
    from desktop.core.audit.studies import study_of

    def report(sender: events.Node, study: events.Study) -> None:
        record(
            lambda local: events.instances_transferred(
                local,
                source=sender,
                destination=events.Node(ae_title, local.host),
                study=study,
                outcome=Outcome.SUCCESS,
                received=True,
                description=f"{sum(study.sop_classes.values())} instance(s) received",
            ),
            node=sender.ae_title,
        )

    receipts = Receipts(report)
    _closers.append(receipts.close)

    def audited(event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "stored" and _trail is not None:
            calling = str(event.get("calling") or "unknown")
            peer = str(event.get("peer") or "").rsplit(":", 1)[0]
            receipts.add(events.Node(calling, peer), study_of(Path(event["path"])))
        elif kind in REFUSALS or event.get("capped"):
            _refused(event, ae_title)
        elif kind == "handshake":
            handshake(event.get("transcript") or {})
        elif kind == "retrieve-answered":
            if event.get("patients"):
                _shared_retrieve(event)
            elif event.get("destination_refused"):
                _refused(event, ae_title)
            elif _trail is not None:
                _served(event, ae_title)
            # the history keeps the counts; a move of thousands need not list every file
            event = {k: v for k, v in event.items() if k not in ("files", "delivered")}
        elif kind == "query-answered":
            _answered(event)
        elif kind == "study-of-two-patients":
            _shared_study(event)
        sink(event)

    return audited


def _served(event: dict[str, Any], ae_title: str) -> None:
    """110104 per study of what an answered C-MOVE or C-GET sent (we are the source; the
    destination is the move's, or the C-GET's requestor), with the outcome the study's
    sub-operations had. Nothing when the retrieve located no instance."""
    from desktop.core.audit.studies import group_by_study, instance_of

    located = [instance_of(Path(f)) for f in event.get("files", ())]
    delivered = set(event.get("delivered", ()))
    host = str(event.get("peer") or "").rsplit(":", 1)[0]
    get = event.get("service") == "C-GET"
    destination = events.Node(str(event.get("destination") or "unknown"), host if get else "")
    mover = None if get else events.Node(str(event.get("calling") or "unknown"), host)
    for key, study in group_by_study(s for _, s in located).items():
        total = sum(study.sop_classes.values())
        sent = sum(
            1 for i, s in located if (s.study_uid, s.patient_id) == key and i and i in delivered
        )
        outcome = _outcome(sent, total)
        description = (
            f"{event.get('service')} by {event.get('calling')}: "
            f"{sent} of {total} instance(s) sent to {destination.ae_title}"
        )
        record(
            partial(
                _sent,
                source=ae_title,
                destination=destination,
                requestor=mover,
                study=study,
                outcome=outcome,
                description=description,
            ),
            node=destination.ae_title,
        )


def _sent(
    local: Local,
    *,
    source: str,
    destination: events.Node,
    study: events.Study,
    outcome: Outcome,
    description: str,
    requestor: events.Node | None = None,
) -> AuditMessage:
    """110104 for a study our AE ``source`` sent (of its own accord, or for a C-MOVE's
    ``requestor``)."""
    return events.instances_transferred(
        local,
        source=events.Node(source, local.host),
        destination=destination,
        requestor=requestor,
        study=study,
        outcome=outcome,
        received=False,
        description=description,
    )


def _answered(event: dict[str, Any]) -> None:
    """110112 for a C-FIND our listener answered: the requestor, the level and the keys."""
    calling = str(event.get("calling") or "unknown")
    host = str(event.get("peer") or "").rsplit(":", 1)[0]
    status = int(event.get("status", 0))
    keys = dict(event.get("keys") or {})
    record(
        lambda local: events.query(
            local,
            peer=events.Node(calling, host),
            sop_class=str(event.get("sop_class", "")),
            keys=keys,
            outcome=Outcome.SUCCESS if status in (0x0000, 0xFE00) else Outcome.MINOR_FAILURE,
            answered=True,
            description=f"{event.get('matches', 0)} match(es), status 0x{status:04X}"
            + (f": {event['reason']}" if event.get("reason") else ""),
        ),
        node=calling,
    )


def _shared_study(event: dict[str, Any]) -> None:
    """110113 for a study UID a sender delivered for a patient while we held it for others."""
    calling = str(event.get("calling") or "unknown")
    sender = events.Node(calling, str(event.get("peer") or "").rsplit(":", 1)[0])
    record(
        lambda local: events.study_of_two_patients(
            local,
            peer=sender,
            study=events.Study(str(event["study"]), str(event["patient"])),
            others=event["others"],
            description=str(event["warning"]),
        ),
        node=calling,
    )


def _shared_retrieve(event: dict[str, Any]) -> None:
    """110113 for a retrieve refused because it named a UID we hold for several patients."""
    calling = str(event.get("calling") or "unknown")
    first, *others = event["patients"]
    record(
        lambda local: events.study_of_two_patients(
            local,
            peer=events.Node(calling, str(event.get("peer") or "").rsplit(":", 1)[0]),
            study=events.Study(str(event["study"]), str(first)),
            others=others,
            description=f"{event.get('service')} by {calling} refused: {event.get('reason')}",
            delivered=False,
        ),
        node=calling,
    )


def _refused(event: dict[str, Any], ae_title: str) -> None:
    """110113 for a peer our listener refused: a calling AE title not allowed, or bound to
    another certificate, or a service the title is not granted, or a move to a destination
    that is no configured node (or may not receive the store's originals), or a connection
    closed because its address held too many connections without an association request."""
    peer = str(event.get("peer") or "unknown")
    calling = str(event.get("calling") or "unknown")
    description = f"{ae_title} refused {calling} ({peer}): {event.get('reason', '')}"
    record(
        lambda local: events.security_alert(
            local,
            subject=peer,
            description=description,
            outcome=Outcome.MINOR_FAILURE,
            peer=events.Node(calling, peer.rsplit(":", 1)[0]),
        ),
        node=calling,
    )


@contextmanager
def querying(node: Node, level: str, keys: dict[str, str]) -> Iterator[None]:
    """Around a C-FIND: 110112 Query with the identifier sent, and whether it failed."""
    from desktop.net.catalogue import PATIENT_ROOT_FIND, STUDY_ROOT_FIND
    from desktop.net.query import identifier

    error = ""
    try:
        yield
    except Exception as failure:
        error = str(failure) or type(failure).__name__
        raise
    finally:
        try:
            sent = {e.keyword: str(e.value) for e in identifier(level, keys) if e.keyword}
        except CourierError:  # keys the query itself refused: recorded as typed
            sent = {}
        record(
            lambda local: events.query(
                local,
                peer=events.Node(node.ae_title, node.host),
                sop_class=PATIENT_ROOT_FIND if level == "patient" else STUDY_ROOT_FIND,
                keys=sent,
                outcome=Outcome.SERIOUS_FAILURE if error else Outcome.SUCCESS,
                description=error,
            ),
            node=node.name,
        )


def queried(node: Node, level: str, keys: dict[str, str], run: Callable[[], Result]) -> Result:
    """``run()`` (a C-FIND) inside ``querying``."""
    with querying(node, level, keys):
        return run()


@contextmanager
def exporting(source: Path, target: Path) -> Iterator[None]:
    """Around an export of images made from ``source`` into ``target``: 110106 Export."""
    from desktop.core.audit.studies import study_of

    error = ""
    try:
        yield
    except GeneratorExit:
        error = "cancelled"
        raise
    except Exception as failure:
        error = str(failure) or type(failure).__name__
        raise
    finally:
        record(
            lambda local: events.export(
                local,
                target=target.absolute().as_uri(),
                studies=[study_of(source)],
                outcome=Outcome.SERIOUS_FAILURE if error else Outcome.SUCCESS,
                description=error,
            )
        )


def export_file(source: Path, target: Path, write: Callable[[], object]) -> None:
    """``write()`` (a PNG export) inside ``exporting``."""
    with exporting(source, target):
        write()


def export_frames(
    source: Path, target: Path, frames: Iterator[Record]
) -> Generator[Record, None, None]:
    """A cine export's progress records, inside ``exporting`` (cancelling is recorded)."""
    with exporting(source, target):
        yield from frames


def copies_written(
    results: Iterable[Done],
    *,
    event: Literal["export", "opened", "re-identified"],
    description: str,
    written: Callable[[Done], Path | None],
    study: Callable[[Done], events.Study | None] = lambda _: None,
) -> Generator[Done, None, None]:
    """Each result of a run that writes copies of patient data, passed on; at its end, or when
    it stops, one record naming each patient and study done: 110106 Export for copies made to
    leave (de-identified, sealed: the patient's own file is the source), 110103 DICOM
    Instances Accessed for files opened here (unsealed, re-identified: the copy holds the
    patient). ``written`` is a result's copy (None: not written); ``description`` says what was
    done, with which identity or for which recipient; ``study``, a result's study when it was
    read on the way (None: read from the file)."""
    from desktop.core.audit.studies import study_of

    studies: list[events.Study] = []
    targets: list[Path] = []
    failed, error = 0, ""
    try:
        for result in results:
            copy = written(result)
            if copy is None:
                failed += 1
            else:
                known = study(result)
                studies.append(known or study_of(result.source if event == "export" else copy))
                targets.append(copy)
            yield result
    except GeneratorExit:
        error = "stopped before the end"
        raise
    except Exception as failure:
        error = str(failure) or type(failure).__name__
        raise
    finally:
        _record_copies(event, description, studies, targets, failed, error)


def _record_copies(
    event: str, description: str, studies: list[events.Study], targets: list[Path], failed: int,
    error: str,
) -> None:  # fmt: skip
    from desktop.core.audit.studies import group_by_study

    if error or (failed and not targets):
        outcome = Outcome.SERIOUS_FAILURE
    else:
        outcome = Outcome.MINOR_FAILURE if failed else Outcome.SUCCESS
    told = f"{description}: {len(targets)} file(s)" + (f", {failed} failed" if failed else "")
    told += f"; {error}" if error else ""
    grouped = list(group_by_study(studies).values())
    if event == "export":
        parents = [str(t.absolute().parent) for t in targets]
        folder = Path(os.path.commonpath(parents)) if parents else Path.cwd()
        record(
            lambda local: events.export(
                local, target=folder.as_uri(), studies=grouped, outcome=outcome, description=told
            )
        )
    else:
        action = "C" if event == "re-identified" else "R"
        record(
            lambda local: events.instances_accessed(
                local, action=action, studies=grouped, outcome=outcome, description=told
            )
        )
