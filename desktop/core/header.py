"""Header-only reading of DICOM Part 10 files, fast enough to scan thousands of files a second.

pydicom's ``dcmread`` builds an element object for every tag of a header (about 1 ms for a CT
file). A media scan needs some twenty tags and the place of the pixel data, so this module hops
from element header to element header over a memory map and keeps the raw bytes of the wanted
tags, which ``RawValues`` decodes on demand. Anything it does not walk itself (deflated transfer
syntaxes, a missing transfer syntax) goes through ``dcmread``.
"""

import mmap
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian

from desktop.core.attributes import BROWSER_TAGS
from desktop.core.errors import HeaderError, NotDicomError
from desktop.core.values import DatasetValues, RawElement, RawValues, Values

PREAMBLE_LENGTH = 128
DICOM_PREFIX = b"DICM"
PIXEL_DATA_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})
ITEM = 0xFFFEE000
ITEM_DELIMITER = 0xFFFEE00D
SEQUENCE_DELIMITER = 0xFFFEE0DD
UNDEFINED_LENGTH = 0xFFFFFFFF
LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT"})
DEFLATED_SYNTAXES = frozenset({"1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.8.1"})


@dataclass(frozen=True, slots=True)
class PixelDataLocation:
    """Where a file's pixel data element sits: its tag, value offset and length."""

    tag: int
    value_offset: int  # -1 when the value lies inside a deflated stream
    length: int | None  # None for an undefined length (encapsulated pixel data)
    end: int | None  # offset just past the value; None when its end is not in the file


@dataclass(frozen=True, slots=True)
class Header:
    """The file meta information and selected data elements of one DICOM file."""

    path: Path
    file_size: int
    transfer_syntax_uid: str
    media_sop_class_uid: str
    media_sop_instance_uid: str
    values: Values
    pixel_data: PixelDataLocation | None
    dataset_offset: int  # where the data set starts, just after the file meta information


@dataclass(slots=True)
class ElementCursor:
    """A walk over a buffer of data elements in one transfer syntax."""

    buffer: Any  # bytes or mmap
    implicit: bool
    little: bool

    def element_header(self, pos: int) -> tuple[int, bytes | None, int, int]:
        """Tag, VR (None when implicit), value length and value offset of the element at pos."""
        endian = "<" if self.little else ">"
        (
            group,
            element,
        ) = struct.unpack_from(endian + "HH", self.buffer, pos)
        tag = group << 16 | element
        if self.implicit or group == 0xFFFE:
            (length,) = struct.unpack_from(endian + "L", self.buffer, pos + 4)
            return tag, None, length, pos + 8
        vr = bytes(self.buffer[pos + 4 : pos + 6])
        if vr in LONG_VRS:
            (length,) = struct.unpack_from(endian + "L", self.buffer, pos + 8)
            return tag, vr, length, pos + 12
        (length,) = struct.unpack_from(endian + "H", self.buffer, pos + 6)
        return tag, vr, length, pos + 8

    def collect(
        self,
        pos: int,
        end: int,
        wanted: frozenset[int],
        out: dict[int, RawElement],
        stop_tags: frozenset[int],
    ) -> int:
        """Keep the raw values of ``wanted`` tags from pos to end; stop at a tag of stop_tags.

        Returns where the walk stopped: the offset of the stop tag, or ``end``.
        """
        try:
            while pos < end:
                if end - pos < 8:
                    raise HeaderError(f"truncated: {end - pos} stray bytes at the end of the file")
                tag, vr, length, value = self.element_header(pos)
                if tag in stop_tags:
                    return pos
                if length == UNDEFINED_LENGTH:
                    nested = ElementCursor(self.buffer, True, True) if vr == b"UN" else self
                    pos = nested.skip_undefined_sequence(value)
                    continue
                if value + length > end:
                    raise HeaderError(
                        f"truncated: element ({tag >> 16:04X},{tag & 0xFFFF:04X}) needs "
                        f"{value + length} bytes, the file has {end}"
                    )
                if tag in wanted:
                    out[tag] = (
                        vr.decode("ascii") if vr else None,
                        bytes(self.buffer[value : value + length]),
                    )
                pos = value + length
        except struct.error as error:
            raise HeaderError(
                f"truncated: the data ends inside an element ({end} bytes)"
            ) from error
        return pos

    def skip_undefined_sequence(self, pos: int) -> int:
        """Offset after the sequence delimiter of an undefined-length value starting at pos."""
        while True:
            tag, _, length, value = self.element_header(pos)
            if tag == SEQUENCE_DELIMITER:
                return value
            if tag != ITEM:
                raise HeaderError(
                    f"malformed sequence at byte {pos}: tag {tag:08X} where an item belongs"
                )
            pos = self.skip_item(value) if length == UNDEFINED_LENGTH else value + length

    def skip_item(self, pos: int) -> int:
        """Offset after the delimiter of an undefined-length item whose content starts at pos."""
        while True:
            tag, vr, length, value = self.element_header(pos)
            if tag == ITEM_DELIMITER:
                return value
            if length != UNDEFINED_LENGTH:
                pos = value + length
            elif vr == b"UN":
                pos = ElementCursor(self.buffer, True, True).skip_undefined_sequence(value)
            else:
                pos = self.skip_undefined_sequence(value)


def read_header(path: Path, wanted: Iterable[int] = BROWSER_TAGS) -> Header:
    """Read the file meta and the ``wanted`` tags of ``path`` without touching its pixel data.

    Raises NotDicomError for a file that is not DICOM Part 10 and HeaderError, with a specific
    reason, for one whose header is broken or truncated.
    """
    wanted_tags = frozenset(wanted)
    try:
        with path.open("rb") as handle:
            size = path.stat().st_size
            if size < PREAMBLE_LENGTH + 4:
                raise NotDicomError(f"not a DICOM file (only {size} bytes)")
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
                if buffer[PREAMBLE_LENGTH : PREAMBLE_LENGTH + 4] != DICOM_PREFIX:
                    raise NotDicomError("not a DICOM file (no 'DICM' marker after the preamble)")
                return _parse(path, buffer, size, wanted_tags)
    except OSError as error:
        raise HeaderError(f"cannot read the file: {error.strerror or error}") from error


def _parse(path: Path, buffer: mmap.mmap, size: int, wanted: frozenset[int]) -> Header:
    meta, pos = read_meta(buffer, size)
    syntax, media_class, media_instance = (
        meta.get(tag, b"").decode("ascii", "replace").strip("\0 ")
        for tag in (0x00020010, 0x00020002, 0x00020003)
    )
    if not syntax or syntax in DEFLATED_SYNTAXES:
        return _read_with_pydicom(path, size, syntax, media_class, media_instance, pos)
    cursor = open_cursor(buffer, pos, size, syntax)
    elements: dict[int, RawElement] = {}
    end = cursor.collect(pos, size, wanted, elements, PIXEL_DATA_TAGS)
    pixel_data = None
    if end < size:
        tag, _, length, value = cursor.element_header(end)
        pixel_data = _locate_pixel_data(cursor, tag, length, value)
    values = RawValues(elements, cursor.little)
    return Header(path, size, syntax, media_class, media_instance, values, pixel_data, pos)


def open_cursor(buffer: Any, pos: int, size: int, syntax: str) -> ElementCursor:
    """A cursor for the data set that starts at pos, in the given transfer syntax."""
    little = syntax != ExplicitVRBigEndian
    return ElementCursor(buffer, _encoded_implicit(buffer, pos, size, syntax), little)


def _locate_pixel_data(
    cursor: ElementCursor, tag: int, length: int, value: int
) -> PixelDataLocation:
    """Where the pixel data value ends: past its fragments' delimiter when encapsulated."""
    if length != UNDEFINED_LENGTH:
        return PixelDataLocation(tag, value, length, value + length)
    try:
        end: int | None = cursor.skip_undefined_sequence(value)
    except (struct.error, HeaderError):
        end = None
    return PixelDataLocation(tag, value, None, end)


def _encoded_implicit(buffer: mmap.mmap, pos: int, size: int, syntax: str) -> bool:
    """Whether the data set is implicit VR, trusting its bytes over a transfer syntax that lies."""
    if pos + 6 > size:
        return syntax == ImplicitVRLittleEndian
    vr = bytes(buffer[pos + 4 : pos + 6])
    return not (vr.isalpha() and vr.isupper())


def read_meta(buffer: Any, size: int) -> tuple[dict[int, bytes], int]:
    """The raw file meta elements (group 0002, explicit VR little endian) and where they end."""
    cursor = ElementCursor(buffer, False, True)
    pos = PREAMBLE_LENGTH + 4
    values: dict[int, bytes] = {}
    try:
        while pos + 8 <= size:
            tag, _, length, value = cursor.element_header(pos)
            if tag >> 16 != 0x0002:
                break
            values[tag] = bytes(buffer[value : value + length])
            pos = value + length
    except struct.error as error:
        raise HeaderError("truncated: the file ends inside its file meta information") from error
    if not values:
        raise HeaderError("the file has a 'DICM' marker but no file meta information")
    return values, pos


def _read_with_pydicom(
    path: Path, size: int, syntax: str, media_class: str, media_instance: str, offset: int
) -> Header:
    """Fallback for what this module does not walk itself: deflate, a missing transfer syntax."""
    try:
        dataset = dcmread(path)
    except (InvalidDicomError, EOFError, ValueError, OSError) as error:
        raise HeaderError(f"unreadable DICOM header: {error}") from error
    pixel_data = None
    for tag in PIXEL_DATA_TAGS & set(dataset.keys()):
        pixel_data = PixelDataLocation(tag, -1, len(dataset[tag].value), None)
        del dataset[tag]
    syntax = syntax or str(dataset.file_meta.get("TransferSyntaxUID", ""))
    values = DatasetValues(dataset)
    return Header(path, size, syntax, media_class, media_instance, values, pixel_data, offset)
