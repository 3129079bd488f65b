"""A malicious SCP against our upper layer: every case ends within the node's timeout with a
reason in plain words, the association aborted, and nothing counted as stored."""

import struct
import time
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest

from desktop.net import dimse, pdu
from desktop.net.encoding import encode
from desktop.net.link import LinkError, ProtocolError
from desktop.net.query import find, move
from desktop.net.store import Peer, StoreItem, StoreOutcome, echo, store
from tests.helpers import cli, node_add
from tests.net.conftest import make_study
from tests.net.scripted_peer import Conversation, Script, ScriptedPeer, scripted_peer

TIMEOUT = 1.0  # the node's network timeout in these tests
SLACK = 1.5  # what the deadline may be overrun by (thread scheduling on a loaded machine)
PEER = Peer("SCP", "COURIER")
Respond = Callable[[Conversation, int, int], None]  # peer, context ID, our message ID


@pytest.fixture
def item(tmp_path: Path) -> StoreItem:
    [path] = make_study(tmp_path / "study", count=1, rows=8)
    dataset = pydicom.dcmread(path)
    return StoreItem(
        path,
        str(dataset.SOPClassUID),
        str(dataset.SOPInstanceUID),
        str(dataset.file_meta.TransferSyntaxUID),
    )


def store_response(message_id: int, code: int) -> dict[int, str | int]:
    return {
        dimse.COMMAND_FIELD: dimse.C_STORE_RSP,
        dimse.MESSAGE_ID_RESPONDED: message_id,
        dimse.STATUS: code,
    }


def answer_store(respond: Respond) -> Script:
    """Accept, read our C-STORE-RQ and its data set, then ``respond``."""

    def script(peer: Conversation) -> None:
        peer.accept()
        context_id, command = peer.read_message()
        respond(peer, context_id, int(command[dimse.MESSAGE_ID]))

    return script


def send_one(script: Script, item: StoreItem) -> tuple[StoreOutcome, float, ScriptedPeer]:
    """Store ``item`` on a peer scripted by ``script``: its outcome and the time it took."""
    with scripted_peer(script) as peer:
        start = time.monotonic()
        records = list(store(peer.connector(TIMEOUT), PEER, [item]))
        elapsed = time.monotonic() - start
    [outcome] = [r for r in records if isinstance(r, StoreOutcome)]
    return outcome, elapsed, peer


def frame(context_id: int, data: bytes, control: int = 3) -> bytes:
    return pdu.PData((pdu.Pdv(context_id, control, data),)).encode()


def short_status(peer: Conversation, context_id: int, message_id: int) -> None:
    elements = store_response(message_id, 0)
    del elements[dimse.STATUS]
    elements[dimse.DATASET_TYPE] = dimse.NO_DATASET
    cut = dimse.encode_command(elements) + struct.pack("<HHI", 0, 0x0900, 2) + b"\x00"
    peer.send(frame(context_id, cut))


def endless_fragments(peer: Conversation, context_id: int, message_id: int) -> None:
    while True:
        peer.send(frame(context_id, bytes(16384), control=1))


def drip(peer: Conversation, context_id: int, message_id: int) -> None:
    elements = {**store_response(message_id, 0), dimse.DATASET_TYPE: dimse.NO_DATASET}
    for byte in frame(context_id, dimse.encode_command(elements)):
        peer.send(bytes([byte]))
        time.sleep(TIMEOUT / 4)


STORE_CASES: dict[str, tuple[Respond, str]] = {
    "response element shorter than its length": (
        short_status,
        "element (0000,0900) in the command set is cut short: it needs 2 bytes, only 1 remain",
    ),
    "status 0xFF00 to a C-STORE": (
        lambda p, c, m: p.respond(c, store_response(m, 0xFF00)),
        "failure: pending, which is not a C-STORE answer (0xFF00)",
    ),
    "status 0xFF01 to a C-STORE": (
        lambda p, c, m: p.respond(c, store_response(m, 0xFF01)),
        "failure: pending, which is not a C-STORE answer (0xFF01)",
    ),
    "wrong Message ID Being Responded To": (
        lambda p, c, m: p.respond(c, store_response(m + 6, 0)),
        "the C-STORE response is for message 7, not for our message 1",
    ),
    "wrong command field": (
        lambda p, c, m: p.respond(c, {**store_response(m, 0), dimse.COMMAND_FIELD: 0x8030}),
        "a message with command field 0x8030 answered our C-STORE request",
    ),
    "response about another instance": (
        lambda p, c, m: p.respond(
            c, {**store_response(m, 0), dimse.AFFECTED_SOP_INSTANCE: "1.2.3"}
        ),
        "the C-STORE response is about instance 1.2.3, not 2.25.",
    ),
    "response on a context never accepted": (
        lambda p, c, m: p.respond(99, store_response(m, 0)),
        "a fragment came on presentation context 99, which is not an accepted one",
    ),
    "endless non-final P-DATA": (
        endless_fragments,
        "the response's command set runs past 65,536 bytes",
    ),
    "4 GB PDU header": (
        lambda p, c, m: p.send(b"\x04\x00\xff\xff\xff\xff"),
        "protocol: it announced a 4,294,967,295-byte P-DATA-TF, more than the 262,144 bytes",
    ),
    "unknown PDU type": (
        lambda p, c, m: p.send(b"\x0a\x00\x00\x00\x00\x00"),
        "unknown PDU type 0x0A",
    ),
    "one byte every quarter of the timeout": (
        drip,
        f"no complete answer within {TIMEOUT:g} s (the node's network timeout)",
    ),
    "peer A-RELEASE-RQ instead of an answer": (
        lambda p, c, m: p.send(pdu.Release(pdu.A_RELEASE_RQ).encode()),
        "the peer released the association without answering",
    ),
    "abort mid-store": (
        lambda p, c, m: p.send(pdu.Abort(2, 2).encode()),
        "the peer aborted the association: unexpected PDU",
    ),
    "silence": (lambda p, c, m: None, "no complete answer within"),
}


STILL_SENDING = ("endless non-final P-DATA", "one byte every quarter of the timeout")


@pytest.mark.parametrize("case", sorted(STORE_CASES))
def test_store_against_a_malicious_peer(case: str, item: StoreItem) -> None:
    respond, words = STORE_CASES[case]
    outcome, elapsed, peer = send_one(answer_store(respond), item)
    assert not outcome.ok, "an instance the peer did not store counts as sent"
    assert words in outcome.message
    assert elapsed < TIMEOUT + SLACK
    [conversation] = peer.conversations
    if case.startswith("peer A-RELEASE-RQ"):
        assert pdu.A_RELEASE_RP in conversation.received  # we answered it
    elif case.startswith("status"):  # a wrong status, not a broken protocol: we release
        assert conversation.received[-1] == pdu.A_RELEASE_RQ
    elif case not in ("abort mid-store", *STILL_SENDING):
        assert conversation.received[-1] == pdu.A_ABORT  # we aborted


def test_protocol_errors_abort_as_the_service_provider(item: StoreItem) -> None:
    """A-ABORT source 2 (provider), reason 'invalid PDU parameter value'."""
    aborts: list[bytes] = []

    def script(peer: Conversation) -> None:
        peer.accept()
        context_id, command = peer.read_message()
        peer.respond(context_id, store_response(int(command[dimse.MESSAGE_ID]) + 1, 0))
        kind, body = peer.read_pdu()
        aborts.append(bytes([kind]) + body)

    outcome, _, _ = send_one(script, item)
    assert not outcome.ok and aborts == [b"\x07\x00\x00\x02\x06"]


def associate_ac(*items: bytes) -> bytes:
    body = struct.pack(">HH", 1, 0) + b"SCP".ljust(16) + b"COURIER".ljust(16) + bytes(32)
    body += b"".join(items)
    return struct.pack(">BBI", pdu.A_ASSOCIATE_AC, 0, len(body)) + body


ASSOCIATION_CASES: dict[str, tuple[bytes, str]] = {
    "1-byte presentation context item in the AC": (
        associate_ac(b"\x21\x00\x00\x01\x01"),
        "a presentation context item in the A-ASSOCIATE-AC is cut short",
    ),
    "1-byte user information sub-item in the AC": (
        associate_ac(b"\x50\x00\x00\x05\x51\x00\x00\x01\x00"),
        "the maximum length sub-item in the A-ASSOCIATE-AC is cut short",
    ),
    "1-byte A-ASSOCIATE-RJ": (
        b"\x03\x00\x00\x00\x00\x01\x01",
        "the A-ASSOCIATE-RJ's 4 bytes in the A-ASSOCIATE-RJ is cut short",
    ),
    "a syntax we did not propose": (
        associate_ac(pdu.ContextResult(1, 0, "1.2.840.10008.1.2.4.50").encode()),
        "accepts presentation context 1 with transfer syntax '1.2.840.10008.1.2.4.50', "
        "which we did not propose for it",
    ),
    "a context we did not propose": (
        associate_ac(pdu.ContextResult(5, 0, "1.2.840.10008.1.2").encode()),
        "answers presentation context 5 that we did not propose",
    ),
    "a proposal in the AC": (
        associate_ac(pdu.ProposedContext(1, "1.2.840.10008.1.1", ("1.2.840.10008.1.2",)).encode()),
        "the A-ASSOCIATE-AC holds a proposal (item 0x20) instead of a result",
    ),
    "a maximum PDU length of 1 byte": (
        associate_ac(
            pdu.ContextResult(1, 0, "1.2.840.10008.1.2").encode(),
            pdu.UserInformation((pdu.MaximumLength(1),)).encode(),
        ),
        "protocol: its maximum PDU length of 1 bytes cannot carry any data",
    ),
    "an A-ASSOCIATE-RQ as the answer": (
        pdu.associate_request("A", "B", [], 16384),
        "an unexpected A-ASSOCIATE-RQ came as the answer to our association request",
    ),
}


@pytest.mark.parametrize("case", sorted(ASSOCIATION_CASES))
def test_echo_against_a_malformed_association_answer(case: str) -> None:
    answer, words = ASSOCIATION_CASES[case]

    def script(peer: Conversation) -> None:
        peer.read_request()
        peer.send(answer)

    with scripted_peer(script) as peer:
        start = time.monotonic()
        with pytest.raises(ProtocolError) as raised:
            echo(peer.connector(TIMEOUT), PEER)
        elapsed = time.monotonic() - start
    assert words in str(raised.value)
    assert elapsed < TIMEOUT + SLACK
    assert peer.conversations[0].received[-1] == pdu.A_ABORT


def test_a_failed_association_fails_every_item_once(item: StoreItem) -> None:
    """The whole plan fails with the reason; the store generator ends (no reconnect loop)."""

    def script(peer: Conversation) -> None:
        peer.read_request()
        peer.send(associate_ac(b"\x21\x00\x00\x01\x01"))

    outcome, elapsed, _ = send_one(script, item)
    assert not outcome.ok and not outcome.transient
    assert "cut short" in outcome.message and elapsed < TIMEOUT + SLACK


def find_matches(peer: Conversation, matches: int) -> int:
    """Accept, read our C-FIND-RQ, send ``matches`` pending responses; our message ID."""
    peer.accept()
    context_id, command = peer.read_message()
    message_id = int(command[dimse.MESSAGE_ID])
    match = pydicom.Dataset()
    match.PatientName = "Hostile^Peer"
    for _ in range(matches):
        response = {
            dimse.COMMAND_FIELD: dimse.C_FIND_RSP,
            dimse.MESSAGE_ID_RESPONDED: message_id,
            dimse.STATUS: 0xFF00,
        }
        peer.respond(context_id, response, encode(match, peer.proposed[0].transfer_syntaxes[0]))
    return message_id


def test_stopping_a_find_sends_c_cancel_then_releases() -> None:
    cancels: list[dict[int, str | int]] = []

    def script(peer: Conversation) -> None:
        message_id = find_matches(peer, 2)
        context_id, cancel = peer.read_message()
        cancels.append(cancel)
        assert cancel[dimse.MESSAGE_ID_RESPONDED] == message_id
        final = {
            dimse.COMMAND_FIELD: dimse.C_FIND_RSP,
            dimse.MESSAGE_ID_RESPONDED: message_id,
            dimse.STATUS: 0xFE00,
        }
        peer.respond(context_id, final)
        kind, _ = peer.read_pdu()
        assert kind == pdu.A_RELEASE_RQ
        peer.send(pdu.Release(pdu.A_RELEASE_RP).encode())

    with scripted_peer(script) as peer:
        matches = find(peer.connector(TIMEOUT), PEER, "study", {})
        first = next(matches)
        matches.close()
    assert str(first.PatientName) == "Hostile^Peer"
    assert [c[dimse.COMMAND_FIELD] for c in cancels] == [dimse.C_CANCEL_RQ]
    assert peer.errors == []
    assert peer.conversations[0].received[-1] == pdu.A_RELEASE_RQ


def test_a_find_whose_peer_ignores_c_cancel_is_aborted() -> None:
    def script(peer: Conversation) -> None:
        find_matches(peer, 2)
        peer.read_message()  # the C-CANCEL, left unanswered

    with scripted_peer(script) as peer:
        matches = find(peer.connector(TIMEOUT), PEER, "study", {})
        next(matches)
        start = time.monotonic()
        matches.close()
        elapsed = time.monotonic() - start
    assert elapsed < TIMEOUT + SLACK
    assert peer.conversations[0].received[-1] == pdu.A_ABORT


def answer_echo(peer: Conversation) -> None:
    """Accept, read our C-ECHO-RQ and answer it with success."""
    peer.accept()
    context_id, command = peer.read_message()
    response = {
        dimse.COMMAND_FIELD: dimse.C_ECHO_RSP,
        dimse.MESSAGE_ID_RESPONDED: int(command[dimse.MESSAGE_ID]),
        dimse.STATUS: 0,
    }
    peer.respond(context_id, response)


def test_a_release_collision_is_answered() -> None:
    """The peer's A-RELEASE-RQ crosses ours: we answer it and still wait for its reply."""

    def script(peer: Conversation) -> None:
        answer_echo(peer)
        assert peer.read_pdu()[0] == pdu.A_RELEASE_RQ
        peer.send(pdu.Release(pdu.A_RELEASE_RQ).encode())
        assert peer.read_pdu()[0] == pdu.A_RELEASE_RP
        peer.send(pdu.Release(pdu.A_RELEASE_RP).encode())

    with scripted_peer(script) as peer:
        result = echo(peer.connector(TIMEOUT), PEER)
    assert result.status.done and peer.errors == []


def test_send_command_does_not_count_a_pending_answer_as_sent(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    """The whole command as a user runs it: the job ends failed, not stuck, not 'sent'."""
    make_study(tmp_path / "study", count=1, rows=8)
    respond = STORE_CASES["status 0xFF00 to a C-STORE"][0]
    with scripted_peer(answer_store(respond)) as peer:
        assert cli(capsys, *node_add("hostile", "SCP", peer.port))[0] == 0
        status, out, _ = cli(capsys, "send", "hostile", tmp_path / "study", "--attempts", "1")
    assert status == 1
    assert "failure: pending, which is not a C-STORE answer (0xFF00)" in out
    assert "sent 0 of 1" in out


def test_link_errors_carry_the_transcript(item: StoreItem) -> None:
    def script(peer: Conversation) -> None:
        peer.read_request()
        peer.send(b"\x03\x00\x00\x00\x00\x01\x01")

    with scripted_peer(script) as peer, pytest.raises(LinkError) as raised:
        echo(peer.connector(TIMEOUT), PEER)
    assert raised.value.transcript == {"peer": f"127.0.0.1:{peer.port}"}


def test_endless_identifier_fragments_end_the_find_in_time() -> None:
    """A pending C-FIND response whose data set never ends: bounded in bytes and in time."""

    def script(peer: Conversation) -> None:
        peer.accept()
        context_id, command = peer.read_message()
        response = {
            dimse.COMMAND_FIELD: dimse.C_FIND_RSP,
            dimse.MESSAGE_ID_RESPONDED: int(command[dimse.MESSAGE_ID]),
            dimse.STATUS: 0xFF00,
            dimse.DATASET_TYPE: 0,
        }
        peer.send(frame(context_id, dimse.encode_command(response)))
        while True:
            peer.send(frame(context_id, bytes(16000), control=0))

    with scripted_peer(script) as peer:
        start = time.monotonic()
        with pytest.raises(LinkError) as raised:
            list(find(peer.connector(TIMEOUT), PEER, "study", {}))
        elapsed = time.monotonic() - start
    assert elapsed < TIMEOUT + SLACK
    assert raised.value.failure.code in ("protocol-error", "timeout")
    assert "runs past 16,777,216 bytes" in str(raised.value) or "within 1 s" in str(raised.value)


def test_stopping_a_move_sends_c_cancel() -> None:
    cancels: list[int] = []

    def script(peer: Conversation) -> None:
        peer.accept()
        context_id, command = peer.read_message()
        message_id = int(command[dimse.MESSAGE_ID])
        base = {dimse.COMMAND_FIELD: dimse.C_MOVE_RSP, dimse.MESSAGE_ID_RESPONDED: message_id}
        peer.respond(context_id, {**base, dimse.STATUS: 0xFF00, dimse.REMAINING: 9})
        _, cancel = peer.read_message()
        cancels.append(int(cancel[dimse.COMMAND_FIELD]))
        peer.respond(context_id, {**base, dimse.STATUS: 0xFE00, dimse.REMAINING: 8})

    with scripted_peer(script) as peer:
        progress = move(peer.connector(TIMEOUT), PEER, "COURIER", "1.2.3")
        first = next(progress)
        progress.close()
    assert first.status.category == "pending" and first.remaining == 9
    assert cancels == [dimse.C_CANCEL_RQ]
    assert peer.conversations[0].received[-1] == pdu.A_RELEASE_RQ


def test_a_peer_that_never_answers_our_release_is_aborted_in_time() -> None:
    def script(peer: Conversation) -> None:
        answer_echo(peer)
        assert peer.read_pdu()[0] == pdu.A_RELEASE_RQ  # and no answer
        assert peer.read_pdu()[0] == pdu.A_ABORT

    with scripted_peer(script) as peer:
        start = time.monotonic()
        result = echo(peer.connector(TIMEOUT), PEER)
        elapsed = time.monotonic() - start
    assert result.status.done and elapsed < TIMEOUT + SLACK
    assert peer.errors == [] and peer.conversations[0].received[-1] == pdu.A_ABORT
