"""Header-only reading of DICOM Part 10 files, fast enough to scan thousands of files a second.

pydicom's ``dcmread`` builds an element object for every tag of a header (about 1 ms for a CT
file). A media scan needs some twenty tags and the place of the pixel data, so this module hops
from element header to element header over a memory map and keeps the raw bytes of the wanted
tags, which ``RawValues`` decodes on demand. Deflated data sets are inflated in bounded steps,
only as far as their pixel data.

Hostile files meet limits, never recursion nor unbounded memory: sequences are skipped with an
explicit stack at most MAX_NESTING deep, an invalid VR ends the walk with a HeaderError, and a
deflated header may not expand past MAX_INFLATED_HEADER.
"""

import mmap
import os
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.core.attributes import BROWSER_TAGS
from desktop.core.errors import HeaderError, NotDicomError, TruncatedHeaderError
from desktop.core.file_state import file_state, settled
from desktop.core.uids import EXPLICIT_VR_BIG_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN
from desktop.core.values import RawElement, RawValues

PREAMBLE_LENGTH = 128
DICOM_PREFIX = b"DICM"
#: A DER ContentInfo's content type OID for EnvelopedData (1.2.840.113549.1.7.3).
ENVELOPED_DATA = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x03"
SEALED_HEAD = 32  #: enough of a file for ``is_sealed``
SEALED = (
    "sealed (secure DICOM file): open it with a recipient identity (File ▸ Open sealed "
    "files…, or `dicom-courier unseal`)"
)
PIXEL_DATA_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})
ITEM = 0xFFFEE000
ITEM_DELIMITER = 0xFFFEE00D
SEQUENCE_DELIMITER = 0xFFFEE0DD
UNDEFINED_LENGTH = 0xFFFFFFFF
LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT"})
SHORT_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT PN SH SL SS ST SV TM UI UL US UV".split()
)
#: An explicit VR little endian element header: group, element, VR, 16-bit length.
EXPLICIT_LITTLE = struct.Struct("<HH2sH")
LONG_LENGTH = struct.Struct("<L")  # the 32-bit length of a long VR, after two reserved bytes
MAX_NESTING = 64  # real data sets nest sequences a handful of levels deep
DEFLATED_SYNTAXES = frozenset({"1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.8.1"})
INFLATE_INPUT = 1 << 16  # compressed bytes fed to zlib at a time
INFLATE_STEP = 1 << 16  # inflated bytes first tried for a header
MAX_INFLATED_HEADER = 64 << 20  # a deflated header (all before the pixel data) may not exceed


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
    values: RawValues
    pixel_data: PixelDataLocation | None
    dataset_offset: int  # where the data set starts, just after the file meta information
    #: The file's state as it was read (core/file_state), when settled enough to vouch for
    #: it ('' otherwise): what a queue takes as the state of the file queued.
    state: str = ""


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
        if vr not in SHORT_VRS:
            if len(vr) < 2:
                raise struct.error("the data ends inside an element header")
            raise HeaderError(
                f"element ({group:04X},{element:04X}) at byte {pos} has an invalid VR "
                f"{vr.decode('latin-1')!r}: the bytes that follow cannot be read"
            )
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
        buffer, fast = self.buffer, self.little and not self.implicit
        explicit_little, long_length = EXPLICIT_LITTLE.unpack_from, LONG_LENGTH.unpack_from
        try:
            while pos < end:
                if end - pos < 8:
                    raise TruncatedHeaderError(
                        f"truncated: {end - pos} stray bytes at the end of the file"
                    )
                # The common case (explicit VR little endian, a known VR) read inline: one
                # unpack instead of a call; anything else goes through ``element_header``.
                group, element, vr, length = explicit_little(buffer, pos)
                if fast and group != 0xFFFE and vr in SHORT_VRS:
                    tag, value = group << 16 | element, pos + 8
                elif fast and group != 0xFFFE and vr in LONG_VRS:
                    tag, value = group << 16 | element, pos + 12
                    (length,) = long_length(buffer, pos + 8)
                else:
                    tag, vr, length, value = self.element_header(pos)
                if tag in stop_tags:
                    return pos
                if length == UNDEFINED_LENGTH:
                    nested = ElementCursor(self.buffer, True, True) if vr == b"UN" else self
                    pos = nested.skip_undefined_sequence(value)
                    continue
                if value + length > end:
                    raise TruncatedHeaderError(
                        f"truncated: element ({tag >> 16:04X},{tag & 0xFFFF:04X}) needs "
                        f"{value + length} bytes, the file has {end}"
                    )
                if tag in wanted:
                    out[tag] = (
                        vr.decode("ascii") if vr else None,
                        bytes(buffer[value : value + length]),
                    )
                pos = value + length
        except struct.error as error:
            raise TruncatedHeaderError(
                f"truncated: the data ends inside an element ({end} bytes)"
            ) from error
        return pos

    def skip_undefined_sequence(self, pos: int) -> int:
        """Offset after the sequence delimiter of an undefined-length value starting at pos.

        Nested undefined-length sequences and items are walked with an explicit stack (never
        recursion), at most MAX_NESTING deep.
        """
        # Each level: the cursor of its encoding, and whether it is a sequence (else an item).
        levels: list[tuple[ElementCursor, bool]] = [(self, True)]
        while levels:
            cursor, in_sequence = levels[-1]
            tag, vr, length, value = cursor.element_header(pos)
            if tag == (SEQUENCE_DELIMITER if in_sequence else ITEM_DELIMITER):
                levels.pop()
                pos = value
                continue
            if in_sequence and tag != ITEM:
                raise HeaderError(
                    f"malformed sequence at byte {pos}: tag {tag:08X} where an item belongs"
                )
            if length != UNDEFINED_LENGTH:
                pos = value + length
                continue
            if len(levels) >= 2 * MAX_NESTING:  # levels alternate: a sequence, its item
                raise HeaderError(
                    f"sequences nested deeper than {MAX_NESTING} levels at byte {pos}"
                )
            if in_sequence:
                levels.append((cursor, False))
            else:
                levels.append(
                    (ElementCursor(self.buffer, True, True) if vr == b"UN" else cursor, True)
                )
            pos = value
        return pos


HEAD_LENGTH = 1 << 14  # file meta information is a few hundred bytes, a CT header ~2 KB


def read_header(path: Path, wanted: Iterable[int] = BROWSER_TAGS) -> Header:
    """Read the file meta and the ``wanted`` tags of ``path`` without touching its pixel data.

    Raises NotDicomError for a file that is not DICOM Part 10 and HeaderError, with a specific
    reason, for one whose header is broken or truncated.
    """
    wanted_tags = frozenset(wanted)
    try:
        with path.open("rb", buffering=0) as handle:
            status = os.fstat(handle.fileno())  # the file opened, not the path again
            size, state = status.st_size, file_state(status) if settled(status) else ""
            if size < PREAMBLE_LENGTH + 4:
                raise NotDicomError(f"not a DICOM file (only {size} bytes)")
            head = handle.read(HEAD_LENGTH)
            if head[PREAMBLE_LENGTH : PREAMBLE_LENGTH + 4] != DICOM_PREFIX:
                if is_sealed(head[:SEALED_HEAD]):
                    raise HeaderError(SEALED)
                raise NotDicomError("not a DICOM file (no 'DICM' marker after the preamble)")
            if len(head) >= size:  # all of the file
                return _parse(path, head, size, wanted_tags, state=state)
            header = _from_head(path, head, size, wanted_tags, state)
            if header is not None:
                return header
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
                return _parse(path, buffer, size, wanted_tags, state=state)  # maps what it reads
    except OSError as error:
        raise HeaderError(f"cannot read the file: {error.strerror or error}") from error


def _from_head(
    path: Path, head: bytes, size: int, wanted: frozenset[int], state: str
) -> Header | None:
    """The header of a ``size``-byte file read from its first bytes alone when they hold all
    of it (not deflated, the walk ending at a pixel data of defined length inside them: a
    read of a few kilobytes instead of a map of the file); None when more must be read. The
    walk never reads past an element without reading the next one's header, so a value cut
    off by the end of ``head`` fails the walk, which the whole file then does again."""
    try:
        meta = read_meta(head, size)
        if (
            meta[0].get(0x00020010, b"").decode("ascii", "replace").strip("\0 ")
            in DEFLATED_SYNTAXES
        ):
            return None
        header = _parse(path, head, size, wanted, meta, state=state)
    except (HeaderError, struct.error):
        return None
    pixels = header.pixel_data
    if pixels is None or pixels.length is None or pixels.value_offset > len(head):
        return None
    return header


def dataset_offset(path: Path) -> int:
    """Where the data set of a Part 10 file starts, from the head of the file alone (what a
    send needs; ``read_header`` walks the whole header)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(HEAD_LENGTH)
    except OSError as error:
        raise HeaderError(f"cannot read the file: {error.strerror or error}") from error
    if head[PREAMBLE_LENGTH : PREAMBLE_LENGTH + 4] != DICOM_PREFIX:
        raise NotDicomError("not a DICOM file (no 'DICM' marker after the preamble)")
    try:
        _, pos = read_meta(head, len(head))
    except HeaderError:
        if len(head) < HEAD_LENGTH:
            raise
        return read_header(path, ()).dataset_offset  # a file meta longer than the head
    return pos


def is_sealed(head: bytes) -> bool:
    """Whether a file (its first ``SEALED_HEAD`` bytes) starts as a DER CMS ContentInfo of
    EnvelopedData (PS3.10 §7.4): a SEQUENCE, its length in short or long form (a file over
    16 MB takes four length bytes), then that content type."""
    if head[:1] != b"\x30" or len(head) < 2:
        return False
    start = 2 + (head[1] & 0x7F if head[1] & 0x80 else 0)
    return head[start : start + len(ENVELOPED_DATA)] == ENVELOPED_DATA


def _parse(
    path: Path,
    buffer: bytes | mmap.mmap,
    size: int,
    wanted: frozenset[int],
    meta: tuple[dict[int, bytes], int] | None = None,
    *,
    state: str = "",
) -> Header:
    """The header in ``buffer`` (``meta``: its file meta and end, when already read) of a
    file in ``state``."""
    elements_meta, pos = meta or read_meta(buffer, size)
    syntax, media_class, media_instance = (
        elements_meta.get(tag, b"").decode("ascii", "replace").strip("\0 ")
        for tag in (0x00020010, 0x00020002, 0x00020003)
    )
    if syntax in DEFLATED_SYNTAXES:
        cursor, elements, pixel_data = _walk_deflated(buffer, pos, wanted)
    else:
        cursor = open_cursor(buffer, pos, size, syntax)
        elements, pixel_data = _walk(cursor, pos, size, wanted)
    values = RawValues(elements, cursor.little)
    return Header(path, size, syntax, media_class, media_instance, values, pixel_data, pos, state)


def _walk(
    cursor: ElementCursor, pos: int, size: int, wanted: frozenset[int]
) -> tuple[dict[int, RawElement], PixelDataLocation | None]:
    """The wanted elements of the data set from pos to size, and where its pixel data lies."""
    elements: dict[int, RawElement] = {}
    end = cursor.collect(pos, size, wanted, elements, PIXEL_DATA_TAGS)
    if end >= size:
        return elements, None
    try:
        tag, _, length, value = cursor.element_header(end)
    except struct.error as error:
        raise TruncatedHeaderError(
            "truncated: the file ends inside the pixel data's header"
        ) from error
    return elements, _locate_pixel_data(cursor, tag, length, value)


def _walk_deflated(
    buffer: bytes | mmap.mmap, pos: int, wanted: frozenset[int]
) -> tuple[ElementCursor, dict[int, RawElement], PixelDataLocation | None]:
    """Walk a deflated data set, inflating only as far as its pixel data, in bounded memory.

    The stream is inflated in growing steps (never wholly: a 1 MB file may expand to gigabytes)
    and the walk is repeated on each longer prefix until it reaches the pixel data or the end.
    """
    stream = InflatedStream(buffer, pos)
    target = INFLATE_STEP
    while True:
        stream.inflate_to(target)
        cursor = ElementCursor(stream.data, False, True)
        try:
            elements, pixel_data = _walk(cursor, 0, len(stream.data), wanted)
        except TruncatedHeaderError:
            if stream.finished:
                raise
        else:
            if pixel_data is not None or stream.finished:
                if pixel_data is not None:
                    pixel_data = PixelDataLocation(pixel_data.tag, -1, pixel_data.length, None)
                return cursor, elements, pixel_data
        if target >= MAX_INFLATED_HEADER:
            raise HeaderError(
                f"the deflated data set expands past {MAX_INFLATED_HEADER >> 20} MB before "
                "its pixel data: not read (a header is never that large)"
            )
        target = min(target * 4, MAX_INFLATED_HEADER)


def inflate_dataset(header: Header, limit: int) -> bytes:
    """The whole inflated data set of a deflated file; HeaderError past ``limit`` bytes."""
    try:
        with (
            header.path.open("rb") as handle,
            mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer,
        ):
            stream = InflatedStream(buffer, header.dataset_offset)
            stream.inflate_to(limit + 1)
    except (OSError, ValueError) as error:
        raise HeaderError(f"cannot read the file: {error}") from error
    if len(stream.data) > limit:
        raise HeaderError(
            f"the deflated data set expands past {limit >> 20} MB, more than its image needs"
        )
    return bytes(stream.data)


class InflatedStream:
    """The inflated bytes of the raw deflate stream from ``start`` to the end of ``source``,
    produced on demand up to a target length."""

    def __init__(self, source: Any, start: int) -> None:
        self.data = bytearray()
        self.finished = False  # the stream ended (or its compressed bytes ran out)
        self._source, self._next = source, start
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)

    def inflate_to(self, target: int) -> None:
        """Inflate until ``data`` holds ``target`` bytes or the stream ends."""
        try:
            while len(self.data) < target and not self.finished:
                chunk = self._inflater.unconsumed_tail
                if not chunk:
                    chunk = self._source[self._next : self._next + INFLATE_INPUT]
                    self._next += len(chunk)
                if not chunk:
                    self.finished = True
                    break
                self.data += self._inflater.decompress(chunk, target - len(self.data))
                self.finished = self._inflater.eof
        except zlib.error as error:
            raise HeaderError(f"the deflated data set is corrupt: {error}") from error


def open_cursor(buffer: Any, pos: int, size: int, syntax: str) -> ElementCursor:
    """A cursor for the data set that starts at pos, in the given transfer syntax."""
    little = syntax != EXPLICIT_VR_BIG_ENDIAN
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


def _encoded_implicit(buffer: bytes | mmap.mmap, pos: int, size: int, syntax: str) -> bool:
    """Whether the data set is implicit VR, trusting its bytes over a transfer syntax that lies."""
    if pos + 6 > size:
        return syntax == IMPLICIT_VR_LITTLE_ENDIAN
    vr = bytes(buffer[pos + 4 : pos + 6])
    return not (vr.isalpha() and vr.isupper())


def read_meta(buffer: Any, size: int) -> tuple[dict[int, bytes], int]:
    """The raw file meta elements (group 0002, explicit VR little endian) and where they end."""
    cursor = ElementCursor(buffer, False, True)
    pos = PREAMBLE_LENGTH + 4
    values: dict[int, bytes] = {}
    try:
        while pos + 8 <= size:
            group, element, vr, length = EXPLICIT_LITTLE.unpack_from(buffer, pos)
            if group != 0x0002:
                break  # the data set, in its own transfer syntax, starts here
            if vr in SHORT_VRS:
                value = pos + 8
            elif vr in LONG_VRS:
                (length,), value = LONG_LENGTH.unpack_from(buffer, pos + 8), pos + 12
            else:  # an invalid VR: its reason
                _, _, length, value = cursor.element_header(pos)
            values[group << 16 | element] = bytes(buffer[value : value + length])
            pos = value + length
    except struct.error as error:
        raise HeaderError("truncated: the file ends inside its file meta information") from error
    if not values:
        raise HeaderError("the file has a 'DICM' marker but no file meta information")
    return values, pos
