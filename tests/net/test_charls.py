"""CharLS called through ctypes gives pyjpegls's bytes, and lets other threads run meanwhile."""

import threading
import time
from pathlib import Path

import jpeg_ls
import numpy as np
import pytest

from desktop.net import charls


def image(rows: int, columns: int, bits: int) -> bytes:
    noise = np.random.default_rng(bits).normal(0, 40, (rows, columns)) + (1 << (bits - 1))
    dtype = "u1" if bits <= 8 else "<u2"
    return noise.clip(0, (1 << bits) - 1).astype(dtype).tobytes()


def test_the_installed_pyjpegls_is_called_without_the_gil() -> None:
    assert charls.encoder() is not charls._with_gil


@pytest.mark.parametrize(
    ("rows", "columns", "bits"), [(64, 48, 16), (37, 21, 12), (40, 33, 8), (30, 19, 2)]
)
@pytest.mark.parametrize("near", [0, 2])
def test_same_bytes_as_pyjpegls(rows: int, columns: int, bits: int, near: int) -> None:
    frame = image(rows, columns, bits)
    expected = jpeg_ls.encode_pixel_data(
        frame, lossy_error=near, rows=rows, columns=columns, samples_per_pixel=1, bits_stored=bits
    )
    assert charls.encoder()(b"pad" + frame, 3, rows, columns, bits, near) == bytes(expected)


def test_a_refusal_is_an_error_in_words() -> None:
    with pytest.raises(RuntimeError, match="JPEG-LS encoding failed"):
        charls.encoder()(image(4, 4, 16), 0, 4, 4, 16, -5)


def test_another_thread_runs_while_it_encodes() -> None:
    """With the GIL held for the whole image, the main thread's 1 ms sleeps would not return
    until the encoding ends (pyjpegls's own call: one or two ticks)."""
    frame = image(2048, 2048, 16)
    encode = charls.encoder()
    encode(frame, 0, 64, 64, 16, 0)  # loaded before the clock starts
    worker = threading.Thread(target=encode, args=(frame, 0, 2048, 2048, 16, 0))
    ticks = 0
    worker.start()
    while worker.is_alive():
        time.sleep(0.001)
        ticks += 1
    worker.join()
    assert ticks >= 10


def test_a_frame_past_the_end_is_refused_before_charls_reads_it() -> None:
    with pytest.raises(ValueError, match="runs past the end"):
        charls.encoder()(image(4, 4, 16), 2, 4, 4, 16, 0)


def test_the_version_is_read_beside_the_library(tmp_path: Path) -> None:
    assert charls._version(tmp_path) == ""
    (tmp_path / "pyjpegls-1.5.1.dist-info").mkdir()
    (tmp_path / "pydicom-3.0.2.dist-info").mkdir()
    assert charls._version(tmp_path) == "1.5.1"
    assert charls._version(tmp_path).startswith(charls.CHECKED)
