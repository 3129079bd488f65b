"""Hand-made hostile DICOM files, byte by byte: what a fuzzer or an attacker would write."""

import struct
import zlib
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import (
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    RLELossless,
    SecondaryCaptureImageStorage,
)

from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from tests.helpers import sample_file

LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT"}
UNDEFINED = 0xFFFFFFFF


def element(tag: int, vr: bytes, value: bytes, *, length: int | None = None) -> bytes:
    """One explicit VR little endian element (``length`` overrides the value's length)."""
    size = len(value) if length is None else length
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr
    if vr in LONG_VRS:
        return head + b"\0\0" + struct.pack("<L", size) + value
    return head + struct.pack("<H", size) + value


def item(content: bytes, *, undefined: bool = True) -> bytes:
    """A sequence item, delimited when ``undefined``."""
    length = UNDEFINED if undefined else len(content)
    body = struct.pack("<HHL", 0xFFFE, 0xE000, length) + content
    return body + (struct.pack("<HHL", 0xFFFE, 0xE00D, 0) if undefined else b"")


def sequence(tag: int, *items: bytes) -> bytes:
    """An undefined-length sequence of the given items."""
    end = struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)
    return element(tag, b"SQ", b"".join(items), length=UNDEFINED) + end


def nested_sequences(depth: int, *, tag: int = 0x00081115) -> bytes:
    """``depth`` undefined-length sequences, each inside the only item of the one above."""
    body = b""
    for _ in range(depth):
        body = sequence(tag, item(body))
    return body


def part10(
    dataset: bytes,
    *,
    syntax: str = ExplicitVRLittleEndian,
    uid: str = "1.2.3.4",
    full_meta: bool = False,
) -> bytes:
    """A Part 10 file: preamble, 'DICM', file meta, then ``dataset`` as given; ``full_meta``
    adds the version and implementation class UID a writer gives (the raw de-identifier
    takes only such a file)."""
    meta = b"".join(
        element(tag, vr, _even(value.encode()))
        for tag, vr, value in (
            (0x00020002, b"UI", CTImageStorage),
            (0x00020003, b"UI", uid),
            (0x00020010, b"UI", syntax),
            *([(0x00020012, b"UI", "1.2.3.4.5")] if full_meta else []),
        )
    )
    if full_meta:
        meta = element(0x00020001, b"OB", b"\0\1") + meta
    group_length = element(0x00020000, b"UL", struct.pack("<L", len(meta)))
    return b"\0" * 128 + b"DICM" + group_length + meta + dataset


def identity(uid: str = "1.2.3.4", *, charset: bytes | None = None, vr: bytes = b"CS") -> bytes:
    """The elements a browser needs (a SOP instance UID, a patient), optionally a charset."""
    elements = [element(0x00080005, vr, _even(charset))] if charset is not None else []
    elements += [
        element(0x00080016, b"UI", _even(CTImageStorage.encode())),
        element(0x00080018, b"UI", _even(uid.encode())),
        element(0x00100010, b"PN", b"Hostile^File"),
        element(0x00100020, b"LO", b"EVIL"),
    ]
    return b"".join(elements)


def deflated(dataset: bytes, *, uid: str = "1.2.3.4") -> bytes:
    """A deflated explicit VR little endian file of ``dataset``."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = packer.compress(dataset) + packer.flush()
    return part10(body, syntax=DeflatedExplicitVRLittleEndian, uid=uid)


def broken_deflate(dataset: bytes) -> bytes:
    """A deflated file whose stream starts with a block of the reserved type 3 (invalid)."""
    whole = deflated(dataset)
    start = len(part10(b"", syntax=DeflatedExplicitVRLittleEndian))
    return whole[:start] + b"\xff" + whole[start + 1 :]


def deflate_bomb(expanded_mib: int, *, uid: str = "1.2.3.4") -> bytes:
    """A deflated file whose pixel data expands to ``expanded_mib`` MiB of zeros (~1000:1).

    Each MiB is compressed once and its block repeated: after a full flush the compressor
    starts afresh, so every MiB of zeros compresses to the same bytes.
    """
    head = identity(uid) + element(0x7FE00010, b"OB", b"", length=expanded_mib << 20)
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    start = packer.compress(head) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(bytes(1 << 20)) + packer.flush(zlib.Z_FULL_FLUSH)
    body = start + block * expanded_mib + packer.flush()
    return part10(body, syntax=DeflatedExplicitVRLittleEndian, uid=uid)


def odd_charset_study(folder: Path, *, charset: bytes = b"ISO_IR 999") -> list[Path]:
    """Two images whose Specific Character Set (10 bytes) is no DICOM term; the name is UTF-8."""
    study = StudySpec("ODD", "Müller^Jörg", "20240101", "odd", (SeriesSpec("CT", "ax", count=2),))
    paths = write_files(folder, (study,))
    for path in paths:
        path.write_bytes(path.read_bytes().replace(b"ISO_IR 192", charset))
    return paths


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _even(value: bytes) -> bytes:
    return value + b"\0" if len(value) % 2 else value


def rle_file(fragment: bytes, *, rows: int = 8, columns: int = 8, uid: str = "1.2.3.5") -> Dataset:
    """A 16-bit grey RLE Lossless instance whose only frame is ``fragment``."""
    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = RLELossless
    dataset.file_meta.MediaStorageSOPClassUID = dataset.SOPClassUID = SecondaryCaptureImageStorage
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID = uid
    dataset.PatientName, dataset.PatientID = "Hostile^Rle", "EVIL"
    dataset.Rows, dataset.Columns = rows, columns
    dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 16, 15
    dataset.PixelRepresentation = 0
    dataset.PixelData = encapsulate([fragment])
    dataset["PixelData"].VR = "OB"
    return dataset


#: Two RLE segments whose runs write 128 bytes into a 64-pixel segment: pylibjpeg-rle panics.
RLE_OVERRUN = struct.pack("<16L", 2, 64, 66, *[0] * 13) + b"\x81\x00\x81\x00"


def jpegls_zero_height() -> Dataset:
    """pydicom's JPEGLSNearLossless_16.dcm with its JPEG-LS frame header (SOF55) rewritten to
    4-bit precision, 0 lines (announced later by a DNL marker that never comes) and 5,386
    columns: input 97,826 of fuzz seed 1. pylibjpeg-libjpeg spins on it for minutes."""
    dataset = dcmread(sample_file("JPEGLSNearLossless_16.dcm"))
    frame = bytearray(next(generate_frames(dataset.PixelData, number_of_frames=1)))
    assert frame[2:4] == b"\xff\xf7", "the sample's frame header moved"
    struct.pack_into(">BHH", frame, 6, 4, 0, 0x150A)  # precision, lines, columns
    dataset.PixelData = encapsulate([bytes(frame)])
    return dataset
