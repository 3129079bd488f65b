"""Header-only copies without decoding the pixels: the header is read, the elements the
profile replaced are encoded again, and every run of elements it left as they were (the Pixel
Data element, the last one in a file, included) is copied as the source stores it.

Most of a CT file is its pixel data and elements kept as they were; pydicom decoding and
encoding them again cost more than the whole de-identification of the header.
"""

import mmap
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import BinaryIO, cast

from pydicom import Dataset, FileMetaDataset, dcmread
from pydicom.charset import convert_encodings, default_encoding
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pydicom.tag import BaseTag
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

from desktop.core.deid.raw import LONG_HEADER_VRS
from desktop.core.deid.writer import ElementWriter

PREAMBLE = bytes(128) + b"DICM"
ITEM, SEQUENCE_END = 0xFFFEE000, 0xFFFEE0DD
UNDEFINED = 0xFFFFFFFF
GROUP_LENGTH = 0x00020000
#: What pydicom's writer would add to the file meta if it were missing.
REQUIRED_META = frozenset({0x00020001, 0x00020002, 0x00020003, 0x00020010, 0x00020012})
ITEM_HEADER = struct.Struct("<HHL")


@dataclass(frozen=True, slots=True)
class Source:
    """A file read up to its pixels: the header as read, and where its parts lie."""

    data: bytes | mmap.mmap
    dataset: Dataset
    held: Mapping[BaseTag, DataElement | RawDataElement]  #: each element as read
    pixels: int  #: where the Pixel Data element starts (``len(data)`` if none)


def split(data: bytes | mmap.mmap) -> Source | None:
    """The file read up to its pixels; None when it must be read whole (deflated, or
    elements after the pixels). A mapped file is read in place, never copied whole."""
    stream = data if isinstance(data, mmap.mmap) else BytesIO(data)
    stream.seek(0)
    dataset = dcmread(cast(BinaryIO, stream), stop_before_pixels=True)
    syntax = UID(dataset.file_meta.get("TransferSyntaxUID", ""))
    if not syntax or syntax == DeflatedExplicitVRLittleEndian or not syntax.is_transfer_syntax:
        return None
    start = stream.tell()
    if start < len(data) and _element_end(data, start, syntax) != len(data):
        return None
    held = {tag: dataset.get_item(tag) for tag in list(dataset.keys())}
    return Source(data, dataset, held, start)


def encode(source: Source) -> bytes:
    """The file: ``header(source)`` and the pixels as stored."""
    return header(source) + source.data[source.pixels :]


def write(out: BinaryIO, source: Source) -> None:
    """Write the file to ``out``: the header, then the pixels straight from the source."""
    out.write(header(source))
    out.write(memoryview(source.data)[source.pixels :])


def header(source: Source) -> bytes:
    """A zero preamble, file meta, the header in its transfer syntax (elements the profile
    left as read copied as stored), up to the pixels."""
    dataset = source.dataset
    meta = dataset.file_meta
    syntax = UID(meta.TransferSyntaxUID)
    if "MediaStorageSOPClassUID" not in meta and "SOPClassUID" in dataset:
        meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    buffer = DicomBytesIO()
    buffer.write(PREAMBLE)
    _write_meta(buffer, meta)
    buffer.is_little_endian, buffer.is_implicit_VR = syntax.is_little_endian, syntax.is_implicit_VR
    writer = ElementWriter(
        buffer, convert_encodings(dataset.get("SpecificCharacterSet") or default_encoding)
    )
    data, run = memoryview(source.data), None  # run: the span of unchanged elements pending
    get = dataset.get_item
    for tag in sorted(dataset.keys()):
        if not tag & 0xFFFF:  # group lengths (retired) would be wrong after the changes
            continue
        element = get(tag)
        span = _stored_span(element, syntax) if element is source.held.get(tag) else None
        if span is not None and run is not None and run[1] == span[0]:
            run = (run[0], span[1])
            continue
        if run is not None:
            buffer.write(data[run[0] : run[1]])
        run = span
        if span is None:
            writer.element(element)
    if run is not None:
        buffer.write(data[run[0] : run[1]])
    return buffer.getvalue()


def _write_meta(buffer: DicomBytesIO, meta: FileMetaDataset) -> None:
    """The File Meta Information group, its group length first (pydicom's writer when an
    element it would add is missing)."""
    if not set(meta.keys()) >= REQUIRED_META:
        write_file_meta_info(buffer, meta, enforce_standard=True)
        return
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    ElementWriter(body, [default_encoding]).dataset(
        meta, [tag for tag in sorted(meta.keys()) if tag != GROUP_LENGTH]
    )
    buffer.write(struct.pack("<HH2sHL", 2, 0, b"UL", 4, body.tell()))
    buffer.write(body.getvalue())


def _stored_span(element: DataElement | RawDataElement, syntax: UID) -> tuple[int, int] | None:
    """Where a raw element of defined length lies in the source, header included."""
    if not isinstance(element, RawDataElement) or element.length == UNDEFINED:
        return None
    header = 12 if not syntax.is_implicit_VR and element.VR in LONG_HEADER_VRS else 8
    return element.value_tell - header, element.value_tell + element.length


def _element_end(data: bytes | mmap.mmap, start: int, syntax: UID) -> int:
    """Where the element at ``start`` ends (an encapsulated one: after its delimiter)."""
    order = "<" if syntax.is_little_endian else ">"
    if syntax.is_implicit_VR:
        (length,) = struct.unpack_from(order + "L", data, start + 4)
        header = 8
    else:
        (length,) = struct.unpack_from(order + "L", data, start + 8)
        header = 12
    position = start + header
    if length != UNDEFINED:
        return int(position + length)
    while position + 8 <= len(data):  # encapsulated fragments, then the sequence delimiter
        group, element, length = ITEM_HEADER.unpack_from(data, position)
        position += 8
        if (group << 16 | element) == SEQUENCE_END:
            return position
        if (group << 16 | element) != ITEM:
            break
        position += length
    return -1
