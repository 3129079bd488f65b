"""A file's data set framed as P-DATA-TF PDUs straight from disk (the send path, C-MOVE and
C-GET): every byte once, in order, only the last fragment flagged last, the command first in
the same write, and a file that ends early refused in plain words, whether it is read by
scatter reads (a file) or one read per fragment (any other stream)."""

import hashlib
import io
import os
import struct
from pathlib import Path

import pytest

from desktop.net import pdu

OFFSET = 132  # where the data set starts: what the caller seeks to
BATCH = 1 << 18
SMALL = 1 << 14  # several batches of the file: all but the last are given


def unframed(stream: bytes) -> tuple[list[pdu.Pdv], list[int]]:
    """The PDVs of a stream of P-DATA-TF PDUs, and each PDU's length."""
    pdvs: list[pdu.Pdv] = []
    lengths: list[int] = []
    pos = 0
    while pos < len(stream):
        kind, length = stream[pos], struct.unpack_from(">I", stream, pos + 2)[0]
        unit = pdu.decode(kind, stream[pos + 6 : pos + 6 + length])
        assert isinstance(unit, pdu.PData)
        pdvs += unit.pdvs
        lengths.append(length)
        pos += 6 + length
    return pdvs, lengths


@pytest.fixture
def content() -> bytes:
    return os.urandom(OFFSET + 70_001)


def handles(content: bytes, tmp_path: Path) -> list[io.BufferedIOBase]:
    path = tmp_path / "file.dcm"
    path.write_bytes(content)
    opened: list[io.BufferedIOBase] = [path.open("rb"), io.BytesIO(content)]
    for handle in opened:
        handle.seek(OFFSET)
    return opened


@pytest.mark.parametrize("limit", [1, 7, 16_378, 131_066, 1 << 22])
def test_every_byte_goes_once_in_order_and_only_the_last_fragment_is_last(
    content: bytes, tmp_path: Path, limit: int
) -> None:
    size = len(content) - OFFSET if limit > 7 else 3_000  # 3,000 one-byte PDUs: > IOV_MAX
    command = b"\x01" * 40
    lead = b"".join(pdu.frames(5, [command], len(command), limit, command=True, batch=BATCH))
    for handle in handles(content, tmp_path):
        with handle:
            batches = [
                bytes(b) for b in pdu.file_frames(5, handle, size, limit, batch=BATCH, lead=lead)
            ]
            assert handle.tell() == OFFSET + size
        assert batches[0].startswith(lead)  # the command leaves with the first data
        pdvs, lengths = unframed(b"".join(batches)[len(lead) :])
        assert b"".join(p.data for p in pdvs) == content[OFFSET : OFFSET + size]
        assert [p.last for p in pdvs] == [False] * (len(pdvs) - 1) + [True]
        assert {p.context_id for p in pdvs} == {5} and not any(p.command for p in pdvs)
        assert max(lengths) <= limit + 6
        assert all(len(b) <= BATCH + len(lead) + limit + 12 for b in batches)


def test_an_empty_data_set_is_one_last_fragment(tmp_path: Path, content: bytes) -> None:
    for handle in handles(content, tmp_path):
        [batch] = list(pdu.file_frames(1, handle, 0, 16_378, batch=BATCH))
        pdvs, _ = unframed(bytes(batch))
        assert [(p.data, p.last) for p in pdvs] == [(b"", True)]


def test_a_file_that_ends_early_is_refused_in_plain_words(content: bytes, tmp_path: Path) -> None:
    announced = len(content) - OFFSET + 500  # the file was cut after it was checked
    for handle in handles(content, tmp_path):
        with pytest.raises(pdu.SourceFileError, match="the file ended 500 bytes early"):
            for _ in pdu.file_frames(1, handle, announced, 16_378, batch=BATCH):
                pass


def refused_batches(handle: io.BufferedIOBase, size: int, limit: int, read: bytes) -> list[bytes]:
    """The batches ``file_frames`` gives when ``before_last`` refuses, having checked that
    the digest then holds ``read``, every byte of the data set."""
    digest, given = hashlib.sha256(), []

    def refuse() -> None:
        assert digest.hexdigest() == hashlib.sha256(read).hexdigest()
        raise pdu.SourceFileError("changed")

    frames = pdu.file_frames(5, handle, size, limit, batch=SMALL, digest=digest, before_last=refuse)
    with pytest.raises(pdu.SourceFileError):
        for batch in frames:
            given.append(bytes(batch))
    return given


@pytest.mark.parametrize("limit", [7, 16_378])
def test_the_bytes_read_are_hashed_and_checked_before_the_last_batch_is_given(
    content: bytes, tmp_path: Path, limit: int
) -> None:
    """The file is read once: what is framed updates the digest; ``before_last`` runs with
    every byte read and none of the last batch given, so it can keep the data set from ever
    being complete."""
    size = len(content) - OFFSET
    for handle in handles(content, tmp_path):
        with handle:
            given = refused_batches(handle, size, limit, content[OFFSET:][:size])
            pdvs, _ = unframed(b"".join(given))
            assert len(given) >= 3 and not any(p.last for p in pdvs)
            assert sum(len(p.data) for p in pdvs) < size


def test_a_ct_slice_leaves_in_one_write(tmp_path: Path) -> None:
    """A 0.5 MB data set framed for storescp's 16 KB PDUs is one batch of the send path: one
    socket write (one TLS write) with its command."""
    from desktop.net.association import BATCH

    path = tmp_path / "slice.dcm"
    path.write_bytes(os.urandom(OFFSET + 512 * 512 * 2))
    lead = b"\x01" * 200
    with path.open("rb") as handle:
        handle.seek(OFFSET)
        batches = list(pdu.file_frames(1, handle, 512 * 512 * 2, 16_378, batch=BATCH, lead=lead))
    assert len(batches) == 1 and len(batches[0]) == len(lead) + 512 * 512 * 2 + 33 * 12
