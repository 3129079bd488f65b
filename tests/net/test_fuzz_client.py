"""Seeded fuzzing of our upper layer as a client: valid server byte streams for echo, store
and find, mutated, fed through a socket pair. Every case ends in an outcome or one of our
typed errors (LinkError, QueryError), never another exception, and quickly."""

import random
import socket
import time

import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian

from desktop.net import dimse, pdu
from desktop.net.encoding import encode
from desktop.net.link import Link, LinkError
from desktop.net.query import QueryError, find
from desktop.net.store import Peer, StoreItem, StoreOutcome, echo, store
from tests.net.conftest import make_study

CASES_PER_SERVICE = 400
SEED = 20261126
PEER = Peer("SCP", "COURIER")


def accept(context_syntax: str) -> bytes:
    items: tuple[pdu.Item, ...] = (
        pdu.ApplicationContext(),
        pdu.ContextResult(1, 0, context_syntax),
        pdu.UserInformation((pdu.MaximumLength(16384), pdu.ImplementationClass("1.2.3"))),
    )
    return pdu.Associate(pdu.A_ASSOCIATE_AC, "SCP", "COURIER", items).encode()


def response(field: int, code: int, dataset: bytes | None = None) -> bytes:
    elements: dict[int, str | int] = {
        dimse.COMMAND_FIELD: field,
        dimse.MESSAGE_ID_RESPONDED: 1,
        dimse.STATUS: code,
        dimse.DATASET_TYPE: dimse.NO_DATASET if dataset is None else 0,
    }
    pdvs = [pdu.Pdv(1, 3, dimse.encode_command(elements))]
    if dataset is not None:
        pdvs.append(pdu.Pdv(1, 2, dataset))
    return pdu.PData(tuple(pdvs)).encode()


def find_stream() -> bytes:
    match = pydicom.Dataset()
    match.PatientName = "Fuzz^Peer"
    match.StudyInstanceUID = "1.2.3.4"
    identifier = encode(match, ExplicitVRLittleEndian)
    return (
        accept(ExplicitVRLittleEndian)
        + response(dimse.C_FIND_RSP, 0xFF00, identifier) * 2
        + response(dimse.C_FIND_RSP, 0)
        + pdu.Release(pdu.A_RELEASE_RP).encode()
    )


RELEASED = pdu.Release(pdu.A_RELEASE_RP).encode()
STREAMS = {
    "echo": accept("1.2.840.10008.1.2") + response(dimse.C_ECHO_RSP, 0) + RELEASED,
    "store": accept(ExplicitVRLittleEndian) + response(dimse.C_STORE_RSP, 0) + RELEASED,
    "find": find_stream(),
}


def mutate(data: bytes, rng: random.Random) -> bytes:
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        where = rng.randrange(len(buffer))
        choice = rng.randrange(6)
        if choice == 0:
            buffer[where] = rng.randrange(256)
        elif choice == 1:
            buffer[where] ^= 1 << rng.randrange(8)
        elif choice == 2:
            del buffer[where : where + rng.randint(1, 16)]
        elif choice == 3:
            buffer[where:where] = rng.randbytes(rng.randint(1, 16))
        elif choice == 4:
            buffer[where : where + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x01"])
        else:
            del buffer[where:]
        if not buffer:
            break
    return bytes(buffer)


def run(service: str, stream: bytes, item: StoreItem) -> str:
    """Play ``stream`` as the peer of one ``service`` exchange: '' when it succeeded, else
    the reason our typed error or outcome gives."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(stream)
        theirs.shutdown(socket.SHUT_WR)
        ours.settimeout(1.0)

        def connect() -> Link:
            return Link(ours, {})

        try:
            if service == "echo":
                return "" if echo(connect, PEER).status.done else "echo failed"
            if service == "store":
                records = list(store(connect, PEER, [item]))
                [outcome] = [r for r in records if isinstance(r, StoreOutcome)]
                return "" if outcome.ok else outcome.message
            matches = list(find(connect, PEER, "study", {}))
            return "" if len(matches) == 2 else f"{len(matches)} matches"
        except (LinkError, QueryError) as error:
            return str(error)


@pytest.fixture(scope="module")
def item(tmp_path_factory: pytest.TempPathFactory) -> StoreItem:
    [path] = make_study(tmp_path_factory.mktemp("fuzz"), count=1, rows=8)
    dataset = pydicom.dcmread(path)
    return StoreItem(
        path, str(dataset.SOPClassUID), str(dataset.SOPInstanceUID), ExplicitVRLittleEndian
    )


@pytest.mark.parametrize("service", sorted(STREAMS))
def test_valid_stream_succeeds(service: str, item: StoreItem) -> None:
    """The unmutated streams are complete exchanges: the fuzzing starts from valid ground."""
    assert run(service, STREAMS[service], item) == ""


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom on mutated identifiers
@pytest.mark.parametrize("service", sorted(STREAMS))
def test_mutated_streams_end_in_typed_errors(service: str, item: StoreItem) -> None:
    rng = random.Random(f"{SEED}-{service}")
    escapes: list[str] = []
    refused = 0
    start = time.monotonic()
    for case in range(CASES_PER_SERVICE):
        stream = mutate(STREAMS[service], rng)
        try:
            refused += bool(run(service, stream, item))
        except Exception as error:  # an escape: anything but our typed errors
            escapes.append(f"case {case}: {type(error).__name__}: {error}")
    assert escapes == [], "\n".join(escapes[:10])
    assert refused > CASES_PER_SERVICE // 2  # the mutations do reach the parser
    assert time.monotonic() - start < 20
