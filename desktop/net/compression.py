"""Compressing for transfer: the lossless codecs a send may propose, and packing one file.

The encoders are pydicom 3's ``Dataset.compress`` with the maintained codec plugins the
project already ships for decoding: CharLS (pyjpegls) for JPEG-LS, OpenJPEG
(pylibjpeg-openjpeg) for JPEG 2000 and pylibjpeg-rle (Rust) for RLE; pydicom's own RLE
encoder is pure Python and ~10× slower. CharLS, called through ctypes (desktop/net/charls.py),
encodes without the GIL, so JPEG-LS runs on threads; OpenJPEG and pylibjpeg-rle hold it
(a counting thread kept 14% of its pace beside OpenJPEG, 28% beside RLE), so those run in
processes.
Processes for JPEG-LS too were measured slower on 2 cores: starting them and importing
pydicom in each took the CPU the sending thread needed (100 slices on loopback: 2.5-3.9 s
against 1.8 s as stored; on threads 1.9-2.6 s against 1.9-2.3 s).

JPEG-LS of a grey 8/16-bit image stored explicit VR little endian (CT, MR, CR, DX: what a
WAN send mostly carries) goes straight from the file's bytes to CharLS and back into the data
set's bytes, without pydicom: it costs 10 ms per 512² CT slice on one core, against 13.4 ms
through pydicom (measured here in one run), and it holds the GIL only for a header walk, so
the sending thread does not queue behind the encoders; loading it is loading CharLS's
library, without numpy or pydicom. Other layouts and codecs go through pydicom's
``Dataset.compress``. auto starts no encoder on a link faster than encoding could help.

``pack`` runs in those workers: it imports pydicom itself and takes and returns plain values.
"""

import hashlib
import io
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.core.config import COMPRESSIONS
from desktop.core.file_state import file_state
from desktop.core.header import PIXEL_DATA_TAGS, UNDEFINED_LENGTH, ElementCursor, read_meta
from desktop.core.values import RawElement, RawValues

JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
RLE_LOSSLESS = "1.2.840.10008.1.2.5"
JPEG_LS_NEAR_LOSSLESS = "1.2.840.10008.1.2.4.81"
J2K_LOSSY = "1.2.840.10008.1.2.4.91"
#: JPEG-LS NEAR: no pixel differs by more (2 HU on CT, under its noise; 2 of 255 levels at 8
#: bits). JPEG 2000's target ratio: what radiology guidance accepts for CT and CR (8-10:1).
#: JPEG baseline is not offered: pydicom 3 has no encoder for it.
NEAR, J2K_RATIO = 2, 10
EXPLICIT_LITTLE = b"1.2.840.10008.1.2.1"
LARGEST = 256 * 1024 * 1024  # a larger file goes as it is: packing holds it in memory
SAMPLES, PHOTOMETRIC, FRAMES = 0x00280002, 0x00280004, 0x00280008
ROWS, COLUMNS, BITS_ALLOCATED, BITS_STORED = 0x00280010, 0x00280011, 0x00280100, 0x00280101
PIXEL_DATA, PIXEL_GROUP_LENGTH = 0x7FE00010, 0x7FE00000
DIGITAL_SIGNATURES = 0xFFFAFFFA
#: A signature covers the data set as encoded: a compressed one would no longer verify.
SIGNED = "sent uncompressed: it is digitally signed, and a compressed copy would fail its signature"
LAYOUT = frozenset(
    {SAMPLES, PHOTOMETRIC, FRAMES, ROWS, COLUMNS, BITS_ALLOCATED, BITS_STORED, PIXEL_GROUP_LENGTH}
)


@dataclass(frozen=True, slots=True)
class Codec:
    syntax: str
    name: str
    plugin: str  # pydicom's name for the encoding plugin
    threads: bool  # the encoder releases the GIL
    seconds_per_byte: float  # packing on one idle core here (512² CT), until measured
    method: str = ""  # Lossy Image Compression Method (0028,2114); "" for a lossless codec
    options: tuple[tuple[str, Any], ...] = ()  # pydicom's lossy settings
    loss: str = ""  # what is lost, in words


CODECS = {  # lossless, the only ones auto uses
    "jpeg-ls-lossless": Codec(JPEG_LS_LOSSLESS, "JPEG-LS lossless", "pyjpegls", True, 2.5e-8),
    "j2k-lossless": Codec(J2K_LOSSLESS, "JPEG 2000 lossless", "pylibjpeg", False, 8e-8),
    "rle": Codec(RLE_LOSSLESS, "RLE lossless", "pylibjpeg", False, 3e-8),
}
LOSSY = {  # only when a user picks one for a node or a send
    "jpeg-ls-near-lossless": Codec(
        JPEG_LS_NEAR_LOSSLESS,
        "JPEG-LS near-lossless",
        "pyjpegls",
        True,
        2.5e-8,
        method="ISO_14495_1",
        options=(("jls_error", NEAR),),
        loss=f"every pixel within ±{NEAR} of the original",
    ),
    "j2k-lossy": Codec(
        J2K_LOSSY,
        "JPEG 2000 lossy",
        "pylibjpeg",
        False,
        8e-8,
        method="ISO_15444_1",
        options=(("j2k_cr", (J2K_RATIO,)),),
        loss=f"{J2K_RATIO}:1 or more, the finest detail and noise smoothed",
    ),
}
BY_NAME = {**CODECS, **LOSSY}
BY_SYNTAX = {codec.syntax: codec for codec in BY_NAME.values()}


def codecs_for(mode: str) -> tuple[Codec, ...]:
    """The codecs to propose, best first: for ``auto``, the lossless ones in the order of their
    ratio and speed on CT (JPEG-LS 2.9:1 fastest, JPEG 2000 2.8:1, RLE 1.7:1)."""
    if mode == "none":
        return ()
    if mode == "auto":
        return tuple(CODECS.values())
    codec = BY_NAME.get(mode)
    if codec is None:
        raise ValueError(f"unknown compression {mode!r}; choose one of {', '.join(COMPRESSIONS)}")
    return (codec,)


def is_lossy(mode: str) -> bool:
    return mode in LOSSY


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
    codec = codecs_for(mode)[0]
    if codec.method:
        return (
            f"uncompressed images compressed LOSSILY as {codec.name} ({codec.loss}), where "
            "the peer accepts it: it gets copies that are not identical to the originals, "
            "with new instance UIDs"
        )
    return f"uncompressed images compressed without loss as {codec.name}, where the peer accepts it"


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
    instance_uid: str = ""  # a lossy copy's new SOP Instance UID


def pack(path: str, size: int, sha256: str, syntax: str, state_when_queued: str = "") -> Packed:
    """The file's first ``size`` bytes (those queued, checked against ``sha256`` or the
    file's state when queued, as given) with their pixel data compressed in ``syntax``,
    losslessly (its seconds do not count loading the codec the first time: the pacer
    compares steady speeds)."""
    _load(BY_SYNTAX[syntax])
    start = time.perf_counter()
    try:
        with Path(path).open("rb") as handle:
            before = file_state(os.fstat(handle.fileno()))
            content = handle.read(size) if size else handle.read()
            after = file_state(os.fstat(handle.fileno()))
    except OSError as error:
        return Packed(None, problem=f"the file can no longer be read: {error.strerror}")
    if size and len(content) < size:
        return Packed(None, problem="the file is shorter than when it was queued")
    if sha256 and hashlib.sha256(content).hexdigest() != sha256:
        return Packed(None, problem="the file changed since it was queued (its SHA-256 differs)")
    if not sha256 and state_when_queued and not state_when_queued == before == after:
        return Packed(
            None, problem="the file changed since it was queued (its size, times or inode differ)"
        )
    try:
        data, instance_uid, note = _compressed(content, BY_SYNTAX[syntax])
    except Exception as error:  # any codec's refusal: the file goes as stored
        reason = " ".join(str(error).split())[:200] or type(error).__name__
        return Packed(None, note=f"sent uncompressed: it cannot be compressed ({reason})")
    if data is None:
        return Packed(None, note=note)
    seconds = time.perf_counter() - start
    return Packed(data, syntax, len(content), seconds, instance_uid=instance_uid)


def _load(codec: Codec) -> None:
    """Import the codec, and pydicom unless CharLS may do without it (a second each on a busy
    machine; pydicom is imported when a file first needs it)."""
    if codec.plugin == "pyjpegls":
        from desktop.net.charls import encoder

        encoder()
    else:
        import pydicom.pixels.encoders  # noqa: F401
        import pylibjpeg  # noqa: F401


def _compressed(content: bytes, codec: Codec) -> tuple[bytes | None, str, str]:
    """The data set compressed (None when it has no uncompressed pixel data, or must not be
    compressed lossily), a lossy copy's new SOP Instance UID, and a note."""
    if codec.syntax == JPEG_LS_LOSSLESS:
        direct = _jpeg_ls_direct(content)
        if direct is not None:
            return direct, "", ""
    from pydicom import dcmread

    from desktop.net.encoding import encode

    dataset = dcmread(io.BytesIO(content))
    if "PixelData" not in dataset or dataset.file_meta.TransferSyntaxUID.is_compressed:
        return None, "", ""
    if DIGITAL_SIGNATURES in dataset:
        return None, "", SIGNED
    if not codec.method:
        dataset.compress(codec.syntax, encoding_plugin=codec.plugin, generate_instance_uid=False)
        return encode(dataset, codec.syntax), "", ""
    from desktop.net.lossy import compress_lossy

    refusal = compress_lossy(dataset, codec)
    if refusal:
        return None, "", refusal
    return encode(dataset, codec.syntax), str(dataset.SOPInstanceUID), ""


def _jpeg_ls_direct(content: bytes) -> bytes | None:
    """The data set with its frames JPEG-LS encoded by CharLS from the file's bytes as they
    are (what pydicom hands CharLS for these layouts), for a grey image of 8 or 16 bits
    stored explicit VR little endian; None for any other layout (pydicom's path)."""
    meta, start = read_meta(content, len(content))
    if meta.get(0x00020010, b"").rstrip(b"\0 ") != EXPLICIT_LITTLE:
        return None
    cursor, elements = ElementCursor(content, False, True), dict[int, RawElement]()
    at = cursor.collect(start, len(content), LAYOUT, elements, PIXEL_DATA_TAGS)
    if at + 12 > len(content):
        return None
    tag, _, length, value = cursor.element_header(at)
    values = RawValues(elements, True)
    rows, columns = values.integer(ROWS) or 0, values.integer(COLUMNS) or 0
    bits, stored = values.integer(BITS_ALLOCATED) or 0, values.integer(BITS_STORED) or 0
    frames, frame = values.integer(FRAMES) or 1, rows * columns * bits // 8
    if (
        tag != PIXEL_DATA
        or PIXEL_GROUP_LENGTH in elements
        or (values.integer(SAMPLES) or 1) != 1
        or values.text(PHOTOMETRIC) not in ("MONOCHROME1", "MONOCHROME2")
        or not ((bits == 8 and 2 <= stored <= 8) or (bits == 16 and 8 < stored <= 16))
        or not frame
        or frames < 1
        or length == UNDEFINED_LENGTH
        or length < frame * frames
        or value + length != len(content)  # elements after it (a signature): pydicom's way
    ):
        return None
    from desktop.net.charls import encoder

    encode = encoder()
    fragments = [
        encode(content, value + index * frame, rows, columns, stored, 0) for index in range(frames)
    ]
    return b"".join((content[start:at], encapsulated(fragments), content[value + length :]))


def encapsulated(fragments: list[bytes]) -> bytes:
    """Pixel Data (7FE0,0010) encapsulated as PS3.5 A.4 says, one fragment per frame, with a
    Basic Offset Table (as pydicom's ``encapsulate`` writes it)."""
    items = []
    for fragment in fragments:
        pad = b"\0" * (len(fragment) % 2)
        items.append(struct.pack("<HHL", 0xFFFE, 0xE000, len(fragment) + len(pad)))
        items.append(bytes(fragment) + pad)
    offsets, offset = [], 0
    for index in range(0, len(items), 2):
        offsets.append(offset)
        offset += 8 + len(items[index + 1])
    table = struct.pack(f"<{len(offsets)}L", *offsets)
    return b"".join(
        (
            struct.pack("<HH2sHL", 0x7FE0, 0x0010, b"OB", 0, UNDEFINED_LENGTH),
            struct.pack("<HHL", 0xFFFE, 0xE000, len(table)),
            table,
            *items,
            struct.pack("<HHL", 0xFFFE, 0xE0DD, 0),
        )
    )
