"""The TLS doctor's plain-DICOM probe speaks through net's own encoder: one requestor stack."""

import pytest

from desktop.net import pdu
from desktop.net.dimse import VERIFICATION
from desktop.net.probe import speaks_plain_dicom
from tests.net.scripted_peer import Conversation, scripted_peer
from tests.peers import LOOPBACK


@pytest.mark.parametrize("answer", [pdu.A_ASSOCIATE_AC, pdu.A_ASSOCIATE_RJ, pdu.A_ABORT])
def test_any_association_answer_means_plain_dicom(answer: int) -> None:
    requests: list[list[pdu.ProposedContext]] = []

    def script(peer: Conversation) -> None:
        peer.read_request()
        requests.append(peer.proposed)
        if answer == pdu.A_ASSOCIATE_AC:
            peer.accept_proposed()
        else:
            reply = pdu.Rejection(1, 1, 1) if answer == pdu.A_ASSOCIATE_RJ else pdu.Abort()
            peer.send(reply.encode())

    with scripted_peer(script) as peer:
        assert speaks_plain_dicom(LOOPBACK, peer.port, 2)
    assert requests == [[pdu.ProposedContext(1, VERIFICATION, ("1.2.840.10008.1.2",))]]
    assert peer.conversations[0].received == [pdu.A_ASSOCIATE_RQ, pdu.A_ABORT]


def test_garbage_is_not_plain_dicom() -> None:
    def script(peer: Conversation) -> None:
        peer.read_request()
        peer.send(b"\x16\x03\x01")  # what a TLS server's record starts with

    with scripted_peer(script) as peer:
        assert not speaks_plain_dicom(LOOPBACK, peer.port, 2)
