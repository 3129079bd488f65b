"""Compressing for transfer: the lossless codecs a send may propose, and packing one file.

The encoders are pydicom 3's ``Dataset.compress`` with the maintained codec plugins the
project already ships for decoding: CharLS (pyjpegls) for JPEG-LS, OpenJPEG
(pylibjpeg-openjpeg) for JPEG 2000 and pylibjpeg-rle (Rust) for RLE; pydicom's own RLE
encoder is pure Python and ~10× slower. CharLS releases the GIL while it encodes, so JPEG-LS
runs on threads; OpenJPEG and pylibjpeg-rle hold it (measured: a counting thread kept 75%
of its pace beside CharLS, 14% beside OpenJPEG, 28% beside RLE), so those run in processes.
Processes for JPEG-LS too were measured slower on 2 cores: starting them and importing
pydicom in each took the CPU the sending thread needed (100 slices on loopback: 2.5-3.9 s
against 1.8 s as stored; on threads 1.9-2.6 s against 1.9-2.3 s).

A packing costs about 20 ms per 512² CT slice for JPEG-LS on one idle core (11 ms in CharLS,
the rest in pydicom reading and writing the data set): auto starts no encoder on a link
faster than that could help.

``pack`` runs in those workers: it imports pydicom itself and takes and returns plain values.
"""

import hashlib
import io
import time
from dataclasses import dataclass
from pathlib import Path

from desktop.core.config import COMPRESSIONS

JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
RLE_LOSSLESS = "1.2.840.10008.1.2.5"
LARGEST = 256 * 1024 * 1024  # a larger file goes as it is: packing holds it in memory


@dataclass(frozen=True, slots=True)
class Codec:
    syntax: str
    name: str
    plugin: str  # pydicom's name for the encoding plugin
    threads: bool  # the encoder releases the GIL
    seconds_per_byte: float  # packing on one idle core here (512² CT), until measured


CODECS = {
    "jpeg-ls-lossless": Codec(JPEG_LS_LOSSLESS, "JPEG-LS lossless", "pyjpegls", True, 4e-8),
    "j2k-lossless": Codec(J2K_LOSSLESS, "JPEG 2000 lossless", "pylibjpeg", False, 8e-8),
    "rle": Codec(RLE_LOSSLESS, "RLE lossless", "pylibjpeg", False, 3e-8),
}
BY_SYNTAX = {codec.syntax: codec for codec in CODECS.values()}


def codecs_for(mode: str) -> tuple[Codec, ...]:
    """The codecs to propose, best first: for ``auto``, all of them in the order of their
    ratio and speed on CT (JPEG-LS 2.9:1 fastest, JPEG 2000 2.8:1, RLE 1.7:1)."""
    if mode == "none":
        return ()
    if mode == "auto":
        return tuple(CODECS.values())
    codec = CODECS.get(mode)
    if codec is None:
        raise ValueError(f"unknown compression {mode!r}; choose one of {', '.join(COMPRESSIONS)}")
    return (codec,)


def in_words(mode: str) -> str:
    """What a send with ``mode`` does to the images, for a person ('' for none)."""
    if mode == "none":
        return ""
    if mode == "auto":
        names = ", ".join(codec.name.removesuffix(" lossless") for codec in CODECS.values())
        return (
            f"uncompressed images compressed without loss ({names}: the best the peer "
            "accepts) while the link is slow enough for it to save time"
        )
    name = codecs_for(mode)[0].name
    return f"uncompressed images compressed without loss as {name}, where the peer accepts it"


@dataclass(frozen=True, slots=True)
class Packed:
    """One file packed for the wire: ``data`` is its data set in ``syntax``, or None when it
    goes as stored (``note`` says why, when something went wrong); ``problem`` is set when the
    file is no longer the one queued (it must not be sent)."""

    data: bytes | None
    syntax: str = ""
    source_bytes: int = 0
    seconds: float = 0.0
    note: str = ""
    problem: str = ""


def pack(path: str, size: int, sha256: str, syntax: str) -> Packed:
    """The file's first ``size`` bytes (those queued, checked against ``sha256`` when given)
    with their pixel data compressed in ``syntax``, losslessly (its seconds do not count
    loading the codec the first time: the pacer compares steady speeds)."""
    _load(BY_SYNTAX[syntax])
    start = time.perf_counter()
    try:
        with Path(path).open("rb") as handle:
            content = handle.read(size) if size else handle.read()
    except OSError as error:
        return Packed(None, problem=f"the file can no longer be read: {error.strerror}")
    if size and len(content) < size:
        return Packed(None, problem="the file is shorter than when it was queued")
    if sha256 and hashlib.sha256(content).hexdigest() != sha256:
        return Packed(None, problem="the file changed since it was queued (its SHA-256 differs)")
    try:
        data = _compressed(content, BY_SYNTAX[syntax])
    except Exception as error:  # any codec's refusal: the file goes as stored
        reason = " ".join(str(error).split())[:200] or type(error).__name__
        return Packed(None, note=f"sent uncompressed: it cannot be compressed ({reason})")
    if data is None:
        return Packed(None)
    return Packed(data, syntax, len(content), time.perf_counter() - start)


def _load(codec: Codec) -> None:
    """Import pydicom and the codec (a second each on a busy machine)."""
    import pydicom.pixels.encoders  # noqa: F401

    if codec.plugin == "pyjpegls":
        import jpeg_ls  # noqa: F401
    else:
        import pylibjpeg  # noqa: F401


def _compressed(content: bytes, codec: Codec) -> bytes | None:
    """The data set compressed, or None when it has no uncompressed pixel data."""
    from pydicom import dcmread

    from desktop.net.encoding import encode

    dataset = dcmread(io.BytesIO(content))
    if "PixelData" not in dataset or dataset.file_meta.TransferSyntaxUID.is_compressed:
        return None
    dataset.compress(codec.syntax, encoding_plugin=codec.plugin, generate_instance_uid=False)
    return encode(dataset, codec.syntax)
