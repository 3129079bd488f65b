"""Storage commitment between our own requestor and listener on loopback: the report on the
same association, and hostile or stray reports that must change nothing (an unknown
transaction, another AE's report, instances never sent, a second report), a transaction
matched by a listener started after the request (a restart)."""

import json
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest

from desktop.commitments import listener_services
from desktop.connect import node_connector
from desktop.core.config import Node, add_node
from desktop.inbox import indexing, open_store
from desktop.net import dimse, pdu
from desktop.net.association import UNCOMPRESSED_SYNTAXES, Association, open_service
from desktop.net.commitment import (
    NO_SUCH_INSTANCE,
    PUSH_MODEL,
    PUSH_MODEL_INSTANCE,
    JobCommitment,
    Reference,
    Report,
    begin,
    parse_request,
    report_dataset,
    request,
    request_dataset,
)
from desktop.net.link import LinkError
from desktop.net.queue import COMMITTED, FAILED, SENT, WAITING, TransferQueue
from desktop.net.runner import send_policy
from desktop.net.scp import ListenerSettings, StorageListener
from desktop.net.services.commitment import commitment_services, send_report
from desktop.net.store import StoreItem, StoreOutcome
from desktop.security.keystore import Keystore
from tests.helpers import cli, node_add, require_tool
from tests.net.conftest import PASSWORD, make_study
from tests.net.scripted_peer import Conversation, scripted_peer
from tests.peers import free_port, unanswered_port

ARCHIVE = "ARCHIVE"
OLD_SCHEMA = """
CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, node TEXT NOT NULL,
    description TEXT NOT NULL, created REAL NOT NULL, cancelled INTEGER NOT NULL DEFAULT 0);
CREATE TABLE instances (job_id INTEGER NOT NULL REFERENCES jobs(id), seq INTEGER NOT NULL,
    path TEXT NOT NULL, sop_class_uid TEXT NOT NULL, sop_instance_uid TEXT NOT NULL,
    transfer_syntax_uid TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending', status INTEGER, message TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL DEFAULT 0, PRIMARY KEY (job_id, seq));
"""  # the queue as the release before storage commitment wrote it

#: Our running listener and the records its sink was given.
Listener = tuple[StorageListener, list[dict[str, Any]]]


@pytest.fixture
def listener(home: Path, tmp_path: Path) -> Iterator[Listener]:
    """Our plain listener as COURIER, committing what its store holds."""
    keystore = Keystore(home, lambda new: PASSWORD)
    inbox = tmp_path / "inbox"
    records: list[dict[str, Any]] = []
    settings = ListenerSettings("COURIER", "127.0.0.1", 0, inbox)
    store = open_store(inbox)
    services = commitment_services(
        listener_services(home, "COURIER", store, lambda node: node_connector(node, keystore))
    )
    sink = indexing(records.append, lambda: store)
    server = StorageListener(settings, sink, services=services).start()
    yield server, records
    server.stop()
    store.close()


def report_as(home: Path, port: int, calling: str, report: Report) -> None:
    """Send ``report`` to our listener as if AE ``calling`` were the archive answering."""
    node = Node(name="us", ae_title="COURIER", host="127.0.0.1", port=port)
    connect = node_connector(node, Keystore(home, lambda new: PASSWORD))
    send_report(connect, called="COURIER", calling=calling, report=report)


def commitment_association(home: Path, port: int) -> tuple[Association, str]:
    """An association to our listener at ``port`` as AE ARCHIVE proposing the storage
    commitment push model, and the transfer syntax it accepted for it."""
    node = Node(name="us", ae_title="COURIER", host="127.0.0.1", port=port)
    link = node_connector(node, Keystore(home, lambda new: PASSWORD))()
    return open_service(link, "COURIER", ARCHIVE, PUSH_MODEL, "storage commitment")


def lose_from_store(records: list[dict[str, Any]], sent: Path) -> None:
    """Delete the listener's stored copy of the ``sent`` file, as a disk losing it after the
    store acknowledged it."""
    lost = str(pydicom.dcmread(sent).SOPInstanceUID)
    [kept] = [r["path"] for r in records if r.get("sop_instance_uid") == lost]
    Path(kept).unlink()


def sent_job(
    home: Path, tmp_path: Path, count: int = 3, *, request: bool = True, asked: str = ARCHIVE
) -> tuple[int, list[StoreItem], str]:
    """A job of ``count`` instances sent, commitment requested of AE ``asked`` (the
    transaction UID returned), by a queue closed since: the state on disk only."""
    files = make_study(tmp_path / "study", count=count)
    items = []
    for path in files:
        meta = pydicom.dcmread(path, stop_before_pixels=True)
        syntax = str(meta.file_meta.TransferSyntaxUID)
        items.append(StoreItem(path, str(meta.SOPClassUID), str(meta.SOPInstanceUID), syntax))
    queue = TransferQueue(home / "queue.sqlite")
    job = queue.enqueue("archive", items, "test")
    for instance in queue.instances(job):
        queue.record(instance, StoreOutcome(instance.item, True, False, "stored"), send_policy(), 0)
    transaction = "1.2.826.0.1.3680043.10.1467.99.1"
    if request:
        assert len(queue.begin_commitment(job, transaction, asked)) == count
    queue.close()
    return job, items, transaction


def sent_to_ourselves(
    capsys: pytest.CaptureFixture[str], port: int, study: Path, *node_options: object
) -> dict[str, Any]:
    """``send --json`` of ``study`` to our listener at ``port``, added as node "self" with
    ``node_options``: the command's report."""
    assert cli(capsys, *node_add("self", "COURIER", port, *node_options))[0] == 0
    status, out, err = cli(capsys, "send", "self", study, "--json")
    assert status == 0, out + err
    return dict(json.loads(out))


def asked(queue: TransferQueue, job: int, connect: Any, *, wait: float) -> JobCommitment:
    """The archive asked to commit what the job sent, as a send asks it."""
    transaction = begin(queue, job, called=ARCHIVE)
    assert transaction is not None
    return request(queue, transaction, connect, called=ARCHIVE, calling="COURIER", wait=wait)


def commitment(home: Path, job: int) -> dict[str, str]:
    queue = TransferQueue(home / "queue.sqlite")
    try:
        return {i.item.sop_instance_uid: i.commitment for i in queue.instances(job, SENT)}
    finally:
        queue.close()


def ref(item: StoreItem) -> Reference:
    return Reference(item.sop_class_uid, item.sop_instance_uid)


def all_committed(transaction: str, items: list[StoreItem]) -> Report:
    """A report for ``transaction`` that commits every one of ``items``."""
    return Report(transaction, tuple(ref(i) for i in items))


def test_send_commit_to_our_listener_gets_the_report_on_the_same_association(
    home: Path, listener: Listener, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server, records = listener
    make_study(tmp_path / "study", count=4)
    job = sent_to_ourselves(capsys, server.port, tmp_path / "study", "--commit")
    assert (job["state"], job["committed"]) == ("committed", 4)
    assert {i["commitment"] for i in job["instances"]} == {COMMITTED}
    [sent] = [r for r in records if r["event"] == "commitment-report-sent"]
    assert sent["association"] == "same"


def test_a_report_for_a_transaction_we_never_made_is_refused_and_changes_nothing(
    home: Path, listener: Listener, tmp_path: Path
) -> None:
    server, records = listener
    job, items, _ = sent_job(home, tmp_path)
    forged = all_committed("1.2.3.4.5.6.7", items)
    with pytest.raises(LinkError, match=r"refused the report: .* \(0x0110\)"):
        report_as(home, server.port, ARCHIVE, forged)
    assert set(commitment(home, job).values()) == {WAITING}
    [ignored] = [r for r in records if r["event"] == "commitment-report-ignored"]
    assert "no transaction 1.2.3.4.5.6.7 of ours" in ignored["error"]


def test_a_report_from_another_ae_than_the_one_asked_changes_nothing(
    home: Path, listener: Listener, tmp_path: Path
) -> None:
    server, _ = listener
    job, items, transaction = sent_job(home, tmp_path)
    with pytest.raises(LinkError, match="refused the report"):
        report_as(home, server.port, "MALLORY", all_committed(transaction, items))
    assert set(commitment(home, job).values()) == {WAITING}


def test_a_late_report_is_matched_after_a_restart_and_names_only_what_we_sent(
    home: Path, listener: Listener, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server, _ = listener  # started after the queue that asked was closed: a restart
    job, items, transaction = sent_job(home, tmp_path)
    stranger = Reference(items[0].sop_class_uid, "1.2.3.999.1")  # never sent by us
    report = Report(transaction, (ref(items[0]), stranger), ((ref(items[1]), NO_SUCH_INSTANCE),))
    report_as(home, server.port, ARCHIVE, report)
    assert commitment(home, job) == {
        items[0].sop_instance_uid: COMMITTED,
        items[1].sop_instance_uid: FAILED,
        items[2].sop_instance_uid: WAITING,  # not named: never "committed" by default
    }
    queue = TransferQueue(home / "queue.sqlite")
    assert len(queue.instances(job)) == 3  # the stranger was not recorded
    reason = queue.instances(job, SENT)[1].commitment_reason
    assert reason == "not committed: no such object instance: the archive does not hold it (0x0112)"
    summary = queue.job(job)
    assert summary.state == "commitment failed"
    queue.close()
    status, out, _ = cli(capsys, "queue", "show", job)
    assert status == 1
    assert f"{items[0].path}  sent, committed\n" in out
    assert f"{items[1].path}  sent, NOT COMMITTED: {reason}\n" in out
    assert f"{items[2].path}  sent, waiting for commitment\n" in out
    # a second report for the same transaction cannot turn the failure into a success
    with pytest.raises(LinkError, match="refused the report"):
        report_as(home, server.port, ARCHIVE, all_committed(transaction, items))
    assert commitment(home, job)[items[1].sop_instance_uid] == FAILED


def test_a_report_with_an_unknown_event_type_is_answered_no_such_event(
    home: Path, listener: Listener, tmp_path: Path
) -> None:
    server, _ = listener
    job, items, transaction = sent_job(home, tmp_path, count=1)
    association, syntax = commitment_association(home, server.port)
    association.send_command(1, dimse.event_report_request(1, PUSH_MODEL, PUSH_MODEL_INSTANCE, 9))
    body = report_dataset(Report(transaction, (ref(items[0]),)), syntax)
    association.send_dataset(1, [body], len(body))
    answer = association.response(1, 1, dimse.N_EVENT_REPORT_RQ)
    association.release()
    assert answer.status == 0x0113  # no such event type
    assert set(commitment(home, job).values()) == {WAITING}


def test_a_queue_from_before_commitment_gains_its_columns_and_keeps_its_jobs(
    tmp_path: Path,
) -> None:
    path = tmp_path / "queue.sqlite"
    old = sqlite3.connect(path)
    old.executescript(OLD_SCHEMA)
    old.execute("INSERT INTO jobs (node, description, created) VALUES ('pacs', 'old', 0)")
    old.execute(
        "INSERT INTO instances (job_id, seq, path, sop_class_uid, sop_instance_uid, "
        "transfer_syntax_uid, size, sha256, state) VALUES (1, 0, 'a.dcm', '1.2', '1.2.3', "
        "'1.2.840.10008.1.2.1', 10, 'x', 'sent')"
    )
    old.commit()
    old.close()
    queue = TransferQueue(path)
    [instance] = queue.instances(1)
    assert (instance.state, instance.commitment) == (SENT, "")
    assert (queue.job(1).state, queue.job(1).deidentified) == ("done", "")
    copy = tmp_path / "b.dcm"
    copy.write_bytes(b"copy")
    item = StoreItem(copy, "1.2", "1.2.4", "1.2.840.10008.1.2.1")
    job = queue.enqueue("pacs", [item], "new", hashing_threads=1, deidentified="basic profile")
    assert queue.job(job).deidentified == "basic profile"  # the jobs table gained it too
    queue.close()


def test_node_commit_settings_are_kept_and_bad_waits_refused(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = cli(capsys, *node_add("pacs", "PACS", 104, "--commit", "--commit-wait", 5))
    assert status == 0 and "storage commitment, report awaited 5 s" in out
    [node] = json.loads(cli(capsys, "node", "list", "--json")[1])
    assert (node["commit"], node["commit_wait"]) == (True, 5)
    status, _, err = cli(capsys, "node", "edit", "pacs", "--commit-wait", "-1")
    assert status != 0 and "the wait for a commitment report is 0 to 86400 s" in err


def accept_the_request(peer: Conversation) -> int:
    """Accept, read our N-ACTION-RQ and answer it with success; its presentation context."""
    peer.accept()
    context_id, command = peer.read_message()
    peer.respond(
        context_id,
        {
            dimse.COMMAND_FIELD: dimse.N_ACTION_RSP,
            dimse.MESSAGE_ID_RESPONDED: command[dimse.MESSAGE_ID],
            dimse.STATUS: 0,
        },
    )
    return context_id


def test_a_forged_report_on_the_same_association_is_answered_failure_and_never_commits(
    home: Path, tmp_path: Path
) -> None:
    job, items, _ = sent_job(home, tmp_path, count=2, request=False)
    answers: list[dict[int, str | int]] = []

    def archive(peer: Conversation) -> None:
        context_id = accept_the_request(peer)
        forged = all_committed("1.2.3.4.5.6.7", items)
        peer.send(
            pdu.PData(
                (
                    pdu.Pdv(
                        context_id,
                        3,
                        dimse.event_report_request(7, PUSH_MODEL, PUSH_MODEL_INSTANCE, 1),
                    ),
                    pdu.Pdv(context_id, 2, report_dataset(forged, UNCOMPRESSED_SYNTAXES[0])),
                )
            ).encode()
        )
        answers.append(peer.read_message()[1])

    queue = TransferQueue(home / "queue.sqlite")
    with scripted_peer(archive) as peer:
        done = asked(queue, job, peer.connector(5), wait=1.5)
    assert done.outcome.accepted
    assert "no transaction 1.2.3.4.5.6.7 of ours" in done.outcome.notes[0]
    assert answers[0][dimse.STATUS] == 0x0110  # told the peer it was not taken
    assert set(commitment(home, job).values()) == {WAITING}
    assert queue.job(job).state == "waiting for commitment"
    queue.close()


def test_our_provider_does_not_commit_an_instance_its_store_lost(
    home: Path, listener: Listener, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server, records = listener
    files = make_study(tmp_path / "study", count=3)
    job = sent_to_ourselves(capsys, server.port, tmp_path / "study")["job"]
    lose_from_store(records, files[2])

    status, out, err = cli(capsys, "queue", "commit", job, "--commit-wait", 10)
    assert status == 1, out + err
    assert f"NOT COMMITTED {files[2]}: not committed: no such object instance" in out
    assert "2 committed, 1 not committed" in out
    [requested] = [r for r in records if r["event"] == "commitment-requested"]
    assert (requested["committed"], requested["failed"]) == (2, 1)


def test_queue_commit_asks_again_for_a_job_already_committed(
    home: Path, listener: Listener, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tester's F7: after the archive lost a file, `queue commit` said 'asking' and
    reported 'committed' from the first answer without asking."""
    server, records = listener
    files = make_study(tmp_path / "study", count=2)
    assert cli(capsys, *node_add("self", "COURIER", server.port, "--commit"))[0] == 0
    status, out, err = cli(capsys, "send", "self", tmp_path / "study", "--json")
    assert status == 0 and json.loads(out)["state"] == "committed", out + err
    job = json.loads(out)["job"]
    lose_from_store(records, files[1])
    status, out, err = cli(capsys, "queue", "commit", job, "--commit-wait", 10)
    assert status == 1, out + err
    assert "asking self for storage commitment of 2 instance(s)" in err
    assert f"NOT COMMITTED {files[1]}: not committed: no such object instance" in out
    requested = [r for r in records if r["event"] == "commitment-requested"]
    assert [(r["committed"], r["failed"]) for r in requested] == [(2, 0), (1, 1)]


def test_an_archive_that_aborts_after_accepting_still_commits_by_reporting_to_listen(
    home: Path, listener: Listener, tmp_path: Path
) -> None:
    server, _ = listener
    job, _, _ = sent_job(home, tmp_path, count=2, request=False)

    def archive(peer: Conversation) -> None:
        accept_the_request(peer)
        transaction, references = parse_request(peer.dataset, UNCOMPRESSED_SYNTAXES[0])
        peer.send(pdu.Abort(2, 0).encode())  # gone; the report follows a moment later
        time.sleep(1)
        report_as(home, server.port, ARCHIVE, Report(transaction, tuple(references)))

    queue = TransferQueue(home / "queue.sqlite")
    with scripted_peer(archive) as peer:
        done = asked(queue, job, peer.connector(5), wait=10)
    assert done.outcome.accepted, done
    assert queue.job(job).state == "committed"
    queue.close()


def test_a_request_we_cannot_act_on_is_refused_with_its_reason(
    home: Path, listener: Listener
) -> None:
    server, records = listener
    association, syntax = commitment_association(home, server.port)
    answers = []
    for message_id, action, body in (
        (1, 2, request_dataset("1.2.3", [Reference("1.2", "1.2.3.4")], syntax)),  # no such action
        (2, 1, request_dataset("1.2.3", [], syntax)),  # names nothing
    ):
        command = dimse.action_request(message_id, PUSH_MODEL, PUSH_MODEL_INSTANCE, action)
        association.send_command(1, command)
        association.send_dataset(1, [body], len(body))
        answers.append(association.response(1, message_id, dimse.N_ACTION_RQ))
    association.release()
    assert [a.status for a in answers] == [0x0123, 0x0115]
    assert answers[1].command[dimse.ERROR_COMMENT].endswith("names no instance")
    refused = [r for r in records if r["event"] == "commitment-refused"]
    assert [r["status"] for r in refused] == [0x0123, 0x0115]


@pytest.mark.parametrize("allowed", [[], ["ARCHIVE/store"], ["OTHER"]])
def test_move_listen_takes_a_report_that_reaches_our_ae_during_the_move(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], allowed: list[str]
) -> None:
    """``move --listen`` holds our AE title's port while the move runs: an archive that reports
    on an earlier ``send --commit`` then (on a new association, as the archive we move from
    does here before answering the C-MOVE) is matched in the queue, as ``listen`` matches it.
    Its temporary listener refused the report before (no storage commitment context). The
    access list applies there as at ``listen``: a title it does not allow is rejected."""
    if allowed:
        assert cli(capsys, "access", "allow", *allowed)[0] == 0
    job, items, transaction = sent_job(home, tmp_path, count=2)
    port = free_port()
    reported: list[BaseException | None] = []

    def archive(peer: Conversation) -> None:
        peer.accept()
        context_id, command = peer.read_message()  # the C-MOVE-RQ
        try:
            report_as(home, port, ARCHIVE, all_committed(transaction, items))
            reported.append(None)
        except LinkError as error:
            reported.append(error)
        peer.respond(
            context_id,
            {
                dimse.COMMAND_FIELD: dimse.C_MOVE_RSP,
                dimse.MESSAGE_ID_RESPONDED: command[dimse.MESSAGE_ID],
                dimse.STATUS: 0,
                **dict.fromkeys((dimse.REMAINING, dimse.FAILED_COUNT, dimse.WARNING_COUNT), 0),
                dimse.COMPLETED: 1,  # a move that matched nothing exits 1
            },
        )

    with scripted_peer(archive) as peer:
        assert cli(capsys, *node_add("archive", ARCHIVE, peer.port))[0] == 0
        status, out, err = cli(
            capsys, "move", "archive", "--study", "1.2.3", "--listen", "--port", port
        )
    assert status == 0, out + err
    if allowed == ["OTHER"]:
        assert "calling AE title not recognised" in str(reported[0])
        assert set(commitment(home, job).values()) == {WAITING}
    else:
        assert reported == [None]
        assert set(commitment(home, job).values()) == {COMMITTED}


def test_stopping_the_listener_wakes_a_commitment_report_to_a_node_that_never_answers(
    home: Path, listener: Listener
) -> None:
    """Our listener reports a commitment on a new association when the requestor let its own
    go; to a node that never answers, its thread waited the node's connect timeout, past the
    listener's stop (``listen``'s Ctrl-C, the GUI's Inbox stopped or quit)."""
    server, records = listener
    with unanswered_port() as port:
        add_node(home, Node("archive", ARCHIVE, "127.0.0.1", port, connect_timeout=60.0))
        association, syntax = commitment_association(home, server.port)
        body = request_dataset("1.2.3", [Reference("1.2", "1.2.3.4")], syntax)
        association.send_command(1, dimse.action_request(1, PUSH_MODEL, PUSH_MODEL_INSTANCE, 1))
        association.send_dataset(1, [body], len(body))
        assert association.response(1, 1, dimse.N_ACTION_RQ).status == 0
        association.abort()  # gone before the report: it goes on a new association
        deadline = time.monotonic() + 10
        while not any(r["event"] == "commitment-requested" for r in records):
            assert time.monotonic() < deadline, records
            time.sleep(0.05)
        time.sleep(0.5)  # well inside the report's connect
        begun = time.monotonic()
        server.stop()
        stopped = time.monotonic() - begun
    [failed] = [r for r in records if r["event"] == "commitment-report-failed"]
    assert stopped < 2.0, f"the stop took {stopped:.1f} s"
    assert failed["association"] == "new", failed
    assert (
        failed["error"]
        == "the report to archive could not be sent: stopped before the peer answered"
    )


def test_a_report_to_a_node_that_never_answers_holds_up_no_other_association(
    home: Path, tmp_path: Path
) -> None:
    """A report that went on a new association held its association's thread and slot for
    the node's whole connect timeout: a listener with every slot so held refused everyone
    (a sender allowed to store, naming an offline node's AE title, could lock it). It goes on
    a thread of its own now; the listener answers others meanwhile, and the report's failure
    is said in plain words once the node's timeout has passed."""
    inbox = tmp_path / "inbox"
    store = open_store(inbox)
    keystore = Keystore(home, lambda new: PASSWORD)
    services = commitment_services(
        listener_services(home, "COURIER", store, lambda node: node_connector(node, keystore))
    )
    records: list[dict[str, Any]] = []
    settings = ListenerSettings("COURIER", "127.0.0.1", 0, inbox, max_associations=1)
    server = StorageListener(settings, records.append, services=services).start()
    try:
        with unanswered_port() as port:
            add_node(home, Node("archive", ARCHIVE, "127.0.0.1", port, connect_timeout=3.0))

            def request_and_leave(transaction: str) -> None:
                association, syntax = commitment_association(home, server.port)
                body = request_dataset(transaction, [Reference("1.2", "1.2.3.4")], syntax)
                action = dimse.action_request(1, PUSH_MODEL, PUSH_MODEL_INSTANCE, 1)
                association.send_command(1, action)
                association.send_dataset(1, [body], len(body))
                assert association.response(1, 1, dimse.N_ACTION_RQ).status == 0
                association.abort()  # gone before the report: it goes on a new association

            def failures() -> dict[str, str]:
                return {
                    r["transaction"]: r["error"]
                    for r in records
                    if r["event"] == "commitment-report-failed"
                }

            request_and_leave("1.2.3")
            deadline = time.monotonic() + 10
            while not any(r["event"] == "commitment-requested" for r in records):
                assert time.monotonic() < deadline, records
                time.sleep(0.05)
            time.sleep(0.3)  # the report is connecting to the silent node
            echo = [require_tool("echoscu"), "-aet", "ECHO", "-aec", "COURIER"]
            answered = subprocess.run(
                [*echo, "127.0.0.1", str(server.port)], capture_output=True, text=True, timeout=30
            )
            assert answered.returncode == 0, answered.stderr + answered.stdout
            assert not [r for r in records if r["event"] == "association-rejected"]
            assert failures() == {}
            # As many reports under way as associations: the next is not sent, and said so.
            request_and_leave("1.2.4")
            while "1.2.4" not in failures():
                assert time.monotonic() < deadline, records
                time.sleep(0.05)
            assert "1.2.3" not in failures()
            assert failures()["1.2.4"] == (
                "as many reports as the listener takes associations are already waiting on "
                "nodes that have not answered: this one is not sent (ask again later)"
            )
            while "1.2.3" not in failures():
                assert time.monotonic() < deadline, records
                time.sleep(0.05)
    finally:
        server.stop()
        store.close()
    [failed] = [r for r in records if r.get("transaction") == "1.2.3" and "error" in r]
    assert failed["association"] == "new" and failed["calling"] == ARCHIVE, failed
    assert failed["error"] == (
        f"the report to archive could not be sent: No answer from 127.0.0.1:{port} within 3 s. "
        "Check the host name and port, and that firewalls or a VPN let the connection through"
    )
