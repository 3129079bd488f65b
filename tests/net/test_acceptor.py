"""The listener reads an A-ASSOCIATE-RQ with the one PDU decoder (``pdu.decode``), leniently:
what an acceptor may ignore is ignored, as the listener's former decoder of its own did, while
the requestor's side stays strict; anything else is one AssociationRequestError in words."""

import random
import struct

import pytest

from desktop.net import pdu
from desktop.net.acceptor import AssociationRequestError, parse_request
from desktop.net.link import ProtocolError
from tests.net import encoded_pdus as fx

VERIFICATION, IMPLICIT = "1.2.840.10008.1.1", "1.2.840.10008.1.2"
CT = "1.2.840.10008.5.1.4.1.1.2"
PYNETDICOM = ("ANY-SCP", "ECHOSCU", 16382, "PYNETDICOM_090", {})
REQUESTS = {  # pynetdicom's fixtures of what real toolkits send, and what they ask for
    "a_associate_rq": PYNETDICOM,
    "a_associate_rq_user_async": PYNETDICOM,
    "a_associate_rq_role": ("ANY-SCP", "GETSCU", 16382, "PYNETDICOM_090", {CT: (0, 1)}),
    "a_associate_rq_user_id_user_pass": ("ANY-SCP", "STORESCU", 16384, "OFFIS_DCMTK_360", {}),
    "a_associate_rq_user_id_ext_neg": PYNETDICOM,
    "a_associate_rq_called": ("", "ANY-", 16382, "PYNETDICOM_090", {}),
    "a_associate_rq_calling": ("ANY-", "", 16382, "PYNETDICOM_090", {}),
}


def item(kind: int, value: bytes) -> bytes:
    return struct.pack(">BBH", kind, 0, len(value)) + value


def request(*items: bytes, calling: bytes = b"ECHOSCU") -> bytes:
    return struct.pack(">HH16s16s32x", 1, 0, b"COURIER", calling) + b"".join(items)


CONTEXT = item(
    0x20,
    b"\x01\x00\x00\x00" + item(0x30, VERIFICATION.encode()) + item(0x40, b"1.2.840.10008.1.2\0"),
)
APPLICATION = item(0x10, pdu.APPLICATION_CONTEXT.encode())
MAXIMUM = item(0x51, struct.pack(">I", 16384))


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_what_toolkits_send_is_read_as_they_meant(name: str) -> None:
    read = parse_request(getattr(fx, name)[6:])
    assert read.application_context == pdu.APPLICATION_CONTEXT
    first = read.proposals[0]
    assert first.context_id == 1 and first.transfer_syntaxes[0] in (IMPLICIT, f"{IMPLICIT}.1")
    assert first.abstract_syntax in (VERIFICATION, CT)
    version, roles = read.implementation_version, read.roles
    assert (read.called, read.calling, read.max_pdu_length, version, roles) == REQUESTS[name]


def test_the_role_selection_a_c_get_proposes_is_read() -> None:
    rq = pdu.associate_request(
        "COURIER",
        "GETSCU",
        [pdu.ProposedContext(1, CT, (IMPLICIT,))],
        16384,
        (pdu.RoleSelection(CT, 0, 1),),
    )
    read = parse_request(rq[6:])
    assert read.roles == {CT: (0, 1)} and read.may_act_as_scp(CT)
    assert read.proposals == [pdu.ProposedContext(1, CT, (IMPLICIT,))]


LENIENT = {  # what PS3.8 lets an acceptor ignore: the strict decoder refuses each
    "an item an A-ASSOCIATE-RQ does not have": request(APPLICATION, item(0x99, b"x"), CONTEXT),
    "a context result in a request": request(APPLICATION, item(0x21, b"\x01"), CONTEXT),
    "an unknown sub-item in a presentation context": request(
        APPLICATION,
        item(
            0x20,
            b"\x01\x00\x00\x00"
            + item(0x30, VERIFICATION.encode())
            + item(0x31, b"?")
            + item(0x40, IMPLICIT.encode()),
        ),
    ),
    "a malformed asynchronous operations window": request(
        APPLICATION, CONTEXT, item(0x50, MAXIMUM + item(0x53, b"\x00\x01\x00"))
    ),
    "a malformed extended negotiation": request(
        APPLICATION, CONTEXT, item(0x50, MAXIMUM + item(0x56, b"\x00\x09\xff"))
    ),
    "a user identity cut short": request(
        APPLICATION, CONTEXT, item(0x50, MAXIMUM + item(0x58, b"\x01\x00\x00\x05ab"))
    ),
}


@pytest.mark.parametrize("case", sorted(LENIENT))
def test_what_an_acceptor_may_ignore_is_ignored_by_the_listener_only(case: str) -> None:
    body = LENIENT[case]
    with pytest.raises(ProtocolError):
        pdu.decode(pdu.A_ASSOCIATE_RQ, body)  # the requestor's side stays strict
    read = parse_request(body)
    assert read.proposals == [pdu.ProposedContext(1, VERIFICATION, (IMPLICIT,))]
    assert read.calling == "ECHOSCU"


REFUSED = {
    "no presentation context": (request(APPLICATION), "no presentation context proposed"),
    "an AE title not in ASCII": (
        request(APPLICATION, CONTEXT, calling=b"ECH\xd4"),
        "a UID or AE title holds non-ASCII bytes: 'ECHÔ'",
    ),
    "a context without transfer syntaxes": (
        request(APPLICATION, item(0x20, b"\x01\x00\x00\x00" + item(0x30, b"1.2"))),
        "presentation context 1 lacks an abstract syntax or transfer syntaxes",
    ),
    "129 contexts": (
        request(APPLICATION, *[CONTEXT] * 129),
        "more than 128 presentation contexts proposed",
    ),
    "a role of 2": (
        request(APPLICATION, CONTEXT, item(0x50, item(0x54, b"\x00\x031.2\x02\x00"))),
        "a role selection item with roles 2 and 0",
    ),
    "a maximum length of 3 bytes": (
        request(APPLICATION, CONTEXT, item(0x50, item(0x51, b"\x00\x00\x01"))),
        "the maximum length sub-item in the A-ASSOCIATE-RQ is cut short",
    ),
    "an item longer than the request": (
        request(APPLICATION, CONTEXT)[:-3],
        "item 0x20 in the A-ASSOCIATE-RQ is cut short: it needs 47 bytes, only 44 remain",
    ),
    "a request shorter than its fixed fields": (
        b"\x00\x01" + bytes(40),
        "the reserved field in the A-ASSOCIATE-RQ is cut short: it needs 32 bytes, only 6 remain",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_the_listener_cannot_use_is_refused_in_words(case: str) -> None:
    body, words = REFUSED[case]
    with pytest.raises(AssociationRequestError) as refused:
        parse_request(body)
    assert words in str(refused.value)
    assert not str(refused.value).startswith("the peer broke")


def test_mutated_requests_are_read_or_refused_in_words() -> None:
    """5,000 mutations of the fixtures: each a request or one AssociationRequestError."""
    rng = random.Random(9)
    seeds, read = [getattr(fx, name)[6:] for name in REQUESTS], 0
    for _ in range(5000):
        body = bytearray(rng.choice(seeds))
        for _ in range(rng.randrange(1, 4)):
            position = rng.randrange(len(body))
            if rng.random() < 0.5:
                body[position] = rng.randrange(256)
            else:
                del body[position : position + rng.randrange(1, 6)]
        try:
            parse_request(bytes(body))
            read += 1
        except AssociationRequestError:
            pass
    assert 200 < read < 4800, read  # both outcomes were exercised
