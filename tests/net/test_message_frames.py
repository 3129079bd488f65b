"""A command and its data set framed in one pass give the bytes of framing each alone, the
command first, in writes of about the batch size."""

import pytest

from desktop.net import pdu

COMMAND = bytes(range(150))


@pytest.mark.parametrize("size", [0, 1, 99, 100, 101, 305, 1000])
@pytest.mark.parametrize("batch", [1, 250, 10_000])
def test_same_bytes_as_framing_each(size: int, batch: int) -> None:
    dataset = bytes(i % 251 for i in range(size))
    expected = b"".join(
        (
            *pdu.frames(3, [COMMAND], len(COMMAND), 100, command=True, batch=batch),
            *pdu.frames(3, [dataset], size, 100, command=False, batch=batch),
        )
    )
    writes = list(pdu.message_frames(3, COMMAND, dataset, 100, batch=batch))
    assert b"".join(writes) == expected
    assert all(len(write) < batch + 2 * (100 + pdu.PDV_HEADER) + len(COMMAND) for write in writes)
    if batch >= 10_000:
        assert len(writes) == 1  # command and data set leave in one write
