"""Our storage SCP against hostile clients: idle and dripping sockets, lying and empty data
sets, a deflate bomb, colliding file names, wrong AE titles (raw sockets and pynetdicom)."""

import logging
import os
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, generate_uid
from pynetdicom import AE

from desktop.net.encoding import encode
from desktop.net.pdu import pdv_header
from desktop.net.scp import ListenerSettings, StorageListener
from tests.core.store.modes import loose_modes
from tests.net.hostile import EXPLICIT_LITTLE, RawClient, read_pdu

DEFLATED = "1.2.840.10008.1.2.1.99"
CANNOT_UNDERSTAND, DOES_NOT_MATCH, OUT_OF_RESOURCES = 0xC000, 0xA900, 0xA700


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[StorageListener, list[dict[str, Any]]]]:
    records: list[dict[str, Any]] = []
    settings = ListenerSettings(
        "COURIER", "127.0.0.1", 0, tmp_path / "inbox", request_timeout=1.5, max_inflated=64 << 20
    )
    server = StorageListener(settings, records.append).start()
    yield server, records
    server.stop()


def ct(uid: str | None = None, *, rows: int = 8, pixels: bytes | None = None) -> Dataset:
    dataset = Dataset()
    dataset.SOPClassUID = CTImageStorage
    dataset.SOPInstanceUID = uid or generate_uid()
    dataset.PatientID = "HOSTILE-1"
    dataset.StudyInstanceUID = "1.2.3.4"
    dataset.SeriesInstanceUID = "1.2.3.4.5"
    dataset.Rows = dataset.Columns = rows
    dataset.SamplesPerPixel = 1
    dataset.BitsAllocated = 16
    dataset.BitsStored = 16
    dataset.PixelRepresentation = 0
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.PixelData = pixels if pixels is not None else bytes(rows * rows * 2)
    return dataset


def stored_files(inbox: Path) -> list[Path]:
    return [p for p in inbox.rglob("*.dcm") if ".incoming" not in p.parts]


def send(port: int, dataset: Dataset | bytes, *, uid: str = "", sop_class: str = CTImageStorage):
    client = RawClient(port, [(CTImageStorage, EXPLICIT_LITTLE)])
    data = dataset if isinstance(dataset, bytes) else encode(dataset, EXPLICIT_LITTLE)
    if not uid and isinstance(dataset, Dataset):
        uid = str(dataset.SOPInstanceUID)
    answer = client.store(1, sop_class, uid or "1.2.3.999", [data])
    client.release()
    return answer


def test_idle_and_dripping_sockets_neither_lock_clients_out_nor_stay(
    listener: tuple[StorageListener, list[dict[str, Any]]],
) -> None:
    server, records = listener
    idle = [  # 5 from each of 4 addresses: under the per-address cap
        socket.create_connection(("127.0.0.1", server.port), source_address=(f"127.0.0.{n}", 0))
        for n in [2, 3, 4, 5] * 5
    ]
    drip = socket.create_connection(("127.0.0.1", server.port))
    try:
        start = time.monotonic()
        ae = AE(ae_title="ECHOER")
        ae.add_requested_context("1.2.840.10008.1.1")
        association = ae.associate("127.0.0.1", server.port, ae_title="COURIER")
        assert association.is_established
        assert association.send_c_echo().Status == 0
        association.release()
        assert time.monotonic() - start < 1.5  # not after the idle sockets time out
        for byte in b"\x01\x00\x00\x00":  # an A-ASSOCIATE-RQ a byte at a time
            drip.sendall(bytes([byte]))
            time.sleep(0.4)
        for connection in [*idle, drip]:
            connection.settimeout(5)
            assert connection.recv(1) == b""  # closed by the listener, after 1.5 s
        assert time.monotonic() - start < 4
    finally:
        for connection in [*idle, drip]:
            connection.close()
    dropped = [r for r in records if r["event"] == "connection-dropped"]
    assert dropped and "no A-ASSOCIATE-RQ within 1.5 s" in dropped[0]["reason"]
    assert not any(r.get("capped") for r in dropped)
    assert len(dropped) <= 4 * 5 + 1  # rate-limited per peer host


def _deflate_bomb(inflated: int) -> list[bytes]:
    """A CT data set whose Pixel Data is ``inflated`` zero bytes, deflated: one fully flushed
    block of 1 MiB of zeros (no back-references), repeated."""
    header = encode(ct("1.2.3.999", rows=1, pixels=b""), EXPLICIT_LITTLE)[:-12]  # no Pixel Data
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    head = deflater.compress(header + struct.pack("<HH2s2xI", 0x7FE0, 0x0010, b"OB", inflated))
    head += deflater.flush(zlib.Z_FULL_FLUSH)
    zeros = deflater.compress(bytes(1 << 20)) + deflater.flush(zlib.Z_FULL_FLUSH)
    return [head, *[zeros] * (inflated >> 20), deflater.flush()]


def _peak_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/self/status")


def test_deflate_bomb_is_refused_with_memory_bounded(
    listener: tuple[StorageListener, list[dict[str, Any]]],
) -> None:
    server, records = listener
    before = _peak_rss()
    client = RawClient(server.port, [(CTImageStorage, DEFLATED)])
    assert client.accepted == {1}
    bomb = _deflate_bomb(1 << 30)
    assert sum(len(b) for b in bomb) < 2 << 20  # about 1 MB on the wire
    answer = client.store(1, CTImageStorage, "1.2.3.999", bomb)
    client.release()
    assert answer.status == OUT_OF_RESOURCES
    assert "inflates to more than 64 MB" in answer.comment
    assert _peak_rss() - before < 100 << 20
    assert not stored_files(server.settings.out)
    assert not list((server.settings.out / ".incoming").iterdir())
    assert any(r["event"] == "store-failed" for r in records)


def test_a_small_deflated_instance_is_stored_as_received(
    listener: tuple[StorageListener, list[dict[str, Any]]],
) -> None:
    server, _ = listener
    dataset = ct()
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    data = deflater.compress(encode(dataset, EXPLICIT_LITTLE)) + deflater.flush()
    client = RawClient(server.port, [(CTImageStorage, DEFLATED)])
    answer = client.store(1, CTImageStorage, str(dataset.SOPInstanceUID), [data])
    client.release()
    assert answer.status == 0
    [stored] = stored_files(server.settings.out)
    assert stored.read_bytes().endswith(data)
    assert pydicom.dcmread(stored).PixelData == dataset.PixelData


def _lying_pixel_data() -> bytes:
    head = encode(ct("1.2.3.999", pixels=b""), EXPLICIT_LITTLE)[:-12]
    return head + struct.pack("<HH2s2xI", 0x7FE0, 0x0010, b"OW", 0xFFFFFFF0) + bytes(100)


def _nested_with_lengths(depth: int, *, overrun: int = 0) -> bytes:
    """A CT data set holding Content Sequences ``depth`` deep, each of defined length as
    storescu writes them (the innermost item claims ``overrun`` bytes more than it holds)."""
    body = b""
    for level in range(depth):
        claimed = len(body) + (overrun if level == 0 else 0)
        item = struct.pack("<HHI", 0xFFFE, 0xE000, claimed) + body
        body = struct.pack("<HH2s2xI", 0x0040, 0xA730, b"SQ", len(item)) + item
    data = encode(ct("1.2.3.999"), EXPLICIT_LITTLE)
    pixels = data.index(struct.pack("<HH", 0x7FE0, 0x0010))
    return data[:pixels] + body + data[pixels:]


@pytest.mark.parametrize(
    ("case", "data", "status", "reason"),
    [
        ("4 GB Pixel Data holding 100 bytes", _lying_pixel_data(), CANNOT_UNDERSTAND, "declares"),
        (
            "sequences of defined length nested 100 deep (tester's F10)",
            _nested_with_lengths(100),
            CANNOT_UNDERSTAND,
            "nested deeper than 32",
        ),
        (
            "an item longer than its sequence",
            _nested_with_lengths(2, overrun=8),
            CANNOT_UNDERSTAND,
            "runs past the end",
        ),
        ("empty data set", b"", DOES_NOT_MATCH, "empty"),
        (
            "short Pixel Data",
            encode(ct("1.2.3.999", pixels=bytes(10)), EXPLICIT_LITTLE),
            DOES_NOT_MATCH,
            "need 128",
        ),
        (
            "another instance",
            encode(ct("1.2.3.1000"), EXPLICIT_LITTLE),
            DOES_NOT_MATCH,
            "holds 1.2.3.1000",
        ),
        ("garbage", b"\x08\x00\x16\x00\x01\x02" * 50, CANNOT_UNDERSTAND, "invalid VR"),
    ],
)
def test_bad_data_sets_are_refused_and_leave_nothing(
    listener: tuple[StorageListener, list[dict[str, Any]]],
    case: str,
    data: bytes,
    status: int,
    reason: str,
) -> None:
    server, records = listener
    answer = send(server.port, data, uid="1.2.3.999")
    assert answer.status == status, case
    assert not stored_files(server.settings.out)
    assert not list((server.settings.out / ".incoming").iterdir())
    [failed] = [r for r in records if r["event"] == "store-failed"]
    assert failed["status"] == status and reason in failed["error"]
    assert answer.comment == failed["error"][:64]  # Error Comment is LO: 64 characters


def test_sequences_of_defined_length_a_few_deep_are_stored(
    listener: tuple[StorageListener, list[dict[str, Any]]],
) -> None:
    server, _ = listener
    assert send(server.port, _nested_with_lengths(5), uid="1.2.3.999").status == 0
    [stored] = stored_files(server.settings.out)
    assert len(pydicom.dcmread(stored).ContentSequence) == 1


def test_a_received_file_is_its_users_alone(
    listener: tuple[StorageListener, list[dict[str, Any]]],
) -> None:
    """Tester's F8: received files were 0644 in 0755 folders (the README says 0600, 0700)."""
    server, _ = listener
    assert send(server.port, ct("1.2.3.998")).status == 0
    assert len(stored_files(server.settings.out)) == 1
    assert loose_modes(server.settings.out) == []


def test_sop_class_must_match_the_data_set(
    listener: tuple[StorageListener, list[dict[str, Any]]],
) -> None:
    server, _ = listener
    dataset = ct()
    dataset.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"  # MR in a CT request
    answer = send(server.port, dataset)
    assert answer.status == DOES_NOT_MATCH and "SOP class" in answer.comment


def test_colliding_names_keep_both_and_a_resend_is_idempotent(
    listener: tuple[StorageListener, list[dict[str, Any]]],
) -> None:
    server, records = listener
    first, second = ct("1.2.3.4"), ct("1.2.3.4", pixels=b"\x01" * 128)  # same name, other data
    assert send(server.port, first).status == 0
    assert send(server.port, second).status == 0
    assert send(server.port, first).status == 0  # the same instance again
    files = sorted(stored_files(server.settings.out))
    assert [p.name for p in files] == ["1.2.3.4.dcm", "1.2.3.4~2.dcm"]
    assert {pydicom.dcmread(p).PixelData[:1] for p in files} == {b"\x00", b"\x01"}
    stored = [r for r in records if r["event"] == "stored"]
    assert [r["duplicate"] for r in stored] == [False, False, True]


def test_called_ae_title_is_checked(
    listener: tuple[StorageListener, list[dict[str, Any]]],
) -> None:
    server, records = listener
    ae = AE(ae_title="CALLER")
    ae.add_requested_context("1.2.840.10008.1.1")
    association = ae.associate("127.0.0.1", server.port, ae_title="SOMEONE_ELSE")
    assert association.is_rejected
    [rejected] = [r for r in records if r["event"] == "association-rejected"]
    assert "called AE title 'SOMEONE_ELSE' is not ours" in rejected["reason"]
    client = RawClient(server.port, [(CTImageStorage, EXPLICIT_LITTLE)], called="WRONG")
    assert client.kind == 0x03 and client.reject_reason == 7  # called AE not recognised


STANDARD_SYNTAXES = [
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless, Process 14
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.92",  # JPEG 2000 multi-component lossless
    "1.2.840.10008.1.2.4.93",  # JPEG 2000 multi-component
    "1.2.840.10008.1.2.4.100",  # MPEG-2
    "1.2.840.10008.1.2.4.102",  # MPEG-4 AVC/H.264
    "1.2.840.10008.1.2.4.107",  # HEVC/H.265
    "1.2.840.10008.1.2.4.201",  # HTJ2K lossless
    "1.2.840.10008.1.2.4.203",  # HTJ2K
    "1.2.840.10008.1.2.5",  # RLE
]


def test_every_standard_transfer_syntax_is_accepted(
    listener: tuple[StorageListener, list[dict[str, Any]]],
) -> None:
    server, _ = listener
    video = "1.2.840.10008.5.1.4.1.1.77.1.4.1"  # Video Photographic Image Storage
    client = RawClient(server.port, [(video, syntax) for syntax in STANDARD_SYNTAXES])
    assert client.accepted == {1 + 2 * i for i in range(len(STANDARD_SYNTAXES))}
    client.release()


def test_private_sop_classes_only_when_asked(tmp_path: Path) -> None:
    private = "1.3.6.1.4.1.9590.100.1.2.999"
    for accept_private, expected in ((False, set()), (True, {1})):
        settings = ListenerSettings(
            "COURIER", "127.0.0.1", 0, tmp_path / "inbox", accept_private=accept_private
        )
        server = StorageListener(settings, lambda record: None).start()
        try:
            client = RawClient(server.port, [(private, EXPLICIT_LITTLE)])
            assert client.accepted == expected
            client.release()
        finally:
            server.stop()


@pytest.mark.parametrize(
    "pdu",
    [
        # a command set whose Command Field claims 2 bytes and holds 1
        pdv_header(9, 1, True, True) + struct.pack("<HHI", 0, 0x0100, 2) + b"\x01",
        # a P-DATA-TF PDU above the maximum we announced
        struct.pack(">BBI", 0x04, 0, (1 << 20) + 1),
        # a PDV item longer than its PDU
        struct.pack(">BBII", 0x04, 0, 8, 100) + b"\x01\x03\x00\x00",
    ],
    ids=["truncated command", "oversized PDU", "PDV longer than its PDU"],
)
def test_protocol_errors_abort_the_association_only(
    listener: tuple[StorageListener, list[dict[str, Any]]], pdu: bytes
) -> None:
    server, records = listener
    client = RawClient(server.port, [(CTImageStorage, EXPLICIT_LITTLE)])
    client.sock.sendall(pdu)
    assert read_pdu(client.sock)[0] == 0x07  # A-ABORT
    client.sock.close()
    assert any(r["event"] == "association-aborted" for r in records)
    assert send(server.port, ct()).status == 0  # the listener still serves


def test_a_malformed_association_request_is_aborted(
    listener: tuple[StorageListener, list[dict[str, Any]]],
) -> None:
    server, records = listener
    body = struct.pack(">HH16s16s32x", 1, 0, b"COURIER", b"HOSTILE") + b"\x20\x00\x00\x40\x01"
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.sendall(struct.pack(">BBI", 0x01, 0, len(body)) + body)  # an item claims 64 bytes
        assert read_pdu(raw)[0] == 0x07
    [aborted] = [r for r in records if r["event"] == "association-aborted"]
    assert aborted["reason"] == (
        "bad A-ASSOCIATE-RQ: item 0x20 in the A-ASSOCIATE-RQ is cut short: it needs 64 bytes, "
        "only 1 remain"
    )
    assert send(server.port, ct()).status == 0


def test_the_association_limit_answers_with_a_transient_rejection(tmp_path: Path) -> None:
    settings = ListenerSettings("COURIER", "127.0.0.1", 0, tmp_path / "inbox", max_associations=1)
    server = StorageListener(settings, lambda record: None).start()
    try:
        first = RawClient(server.port, [(CTImageStorage, EXPLICIT_LITTLE)])
        second = RawClient(server.port, [(CTImageStorage, EXPLICIT_LITTLE)])
        assert first.kind == 0x02
        assert second.kind == 0x03 and second.reject_reason == 2  # local limit exceeded
        first.release()
        deadline = time.monotonic() + 5  # the slot is freed once the first thread has ended
        while (third := RawClient(server.port, [(CTImageStorage, EXPLICIT_LITTLE)])).kind != 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        third.release()
    finally:
        server.stop()


def test_files_left_by_a_crash_are_swept_at_start(tmp_path: Path) -> None:
    incoming = tmp_path / "inbox" / ".incoming"
    incoming.mkdir(parents=True)
    old, fresh = incoming / "crashed.dcm", incoming / "in-flight.dcm"
    old.write_bytes(b"partial")
    fresh.write_bytes(b"another listener's transfer")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    server = StorageListener(ListenerSettings(out=tmp_path / "inbox", port=0), print).start()
    server.stop()
    assert not old.exists() and fresh.exists()


def test_a_dripping_pdu_cannot_hold_an_association(tmp_path: Path) -> None:
    settings = ListenerSettings(out=tmp_path / "inbox", port=0, idle_timeout=1.0)
    records: list[dict[str, Any]] = []
    server = StorageListener(settings, records.append).start()
    try:
        client = RawClient(server.port, [(CTImageStorage, EXPLICIT_LITTLE)])
        start = time.monotonic()
        with pytest.raises(OSError):
            for byte in bytes(pdv_header(1000, 1, True, True)) + bytes(1000):
                client.sock.sendall(bytes([byte]))  # one byte every 0.3 s, forever
                time.sleep(0.3)
        assert time.monotonic() - start < 4
        assert any("no complete PDU within 1 s" in r.get("reason", "") for r in records)
    finally:
        server.stop()


def test_a_partial_file_of_a_killed_listener_is_swept_at_the_next_start_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Tester's finding 45: a receive killed with the listener left its file in .incoming
    (a restart within two minutes kept it, and nothing swept it while the listener ran)."""
    incoming = tmp_path / "inbox" / ".incoming"
    incoming.mkdir(parents=True)
    killed, live = incoming / "killed-1.dcm", incoming / "live-1.dcm"
    killed.write_bytes(b"partial")
    live.write_bytes(b"another listener's transfer, still running")
    writer = subprocess.Popen(  # another listener writing into the same inbox
        [sys.executable, "-c", HOLDER, str(live)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "held\n"
        ten_seconds_ago = time.time() - 10
        for path in (killed, live):
            os.utime(path, (ten_seconds_ago, ten_seconds_ago))
        with caplog.at_level(logging.WARNING, logger="desktop.net.scp"):
            StorageListener(ListenerSettings(out=tmp_path / "inbox", port=0), print).start().stop()
    finally:
        writer.kill()
        writer.wait()
    assert not killed.exists() and live.exists()
    assert "removed killed-1.dcm (7 bytes)" in caplog.text and "interrupted" in caplog.text


HOLDER = """
import os, sys, time
from desktop.core.files import mark_in_use
descriptor = os.open(sys.argv[1], os.O_RDWR)
mark_in_use(descriptor)
print("held", flush=True)
time.sleep(60)
"""
