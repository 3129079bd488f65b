"""Checking a received data set before our storage SCP answers Success.

The data set (as written to the incoming file, deflated or not) is walked element by element
without loading values: every declared length must fit in what arrived, nesting is bounded
(sequences of undefined length, and of defined length in explicit VR, are walked into),
deflated data is inflated as a bounded stream; then the identifying attributes must match the
C-STORE command and native Pixel Data must be as long as its image attributes say. A failed
check raises ``IntakeError`` with the PS3.4 C-STORE status and a reason in plain words.
"""

import os
import struct
import zlib
from dataclasses import dataclass
from typing import Protocol

from desktop.core.uids import is_uid
from desktop.net.catalogue import DEFLATED, EXPLICIT_BIG, IMPLICIT, NATIVE

OUT_OF_RESOURCES, DOES_NOT_MATCH, CANNOT_UNDERSTAND = 0xA700, 0xA900, 0xC000
ITEM, ITEM_DELIMITER, SEQUENCE_DELIMITER = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
UNDEFINED = 0xFFFFFFFF
PIXEL_DATA = 0x7FE00010
LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT"})
MAX_DEPTH = 32
MAX_VALUE = 1024  # longest identifying value we read; longer ones are skipped
CHUNK = 1 << 20  # inflated bytes held at a time
WINDOW = 1 << 16

SOP_CLASS, SOP_INSTANCE, PATIENT_ID = 0x00080016, 0x00080018, 0x00100020
STUDY, SERIES = 0x0020000D, 0x0020000E
SAMPLES, FRAMES, ROWS, COLUMNS, BITS_ALLOCATED = (
    0x00280002,
    0x00280008,
    0x00280010,
    0x00280011,
    0x00280100,
)
WANTED = frozenset(
    {SOP_CLASS, SOP_INSTANCE, PATIENT_ID, STUDY, SERIES, SAMPLES, FRAMES, ROWS, COLUMNS}
    | {BITS_ALLOCATED}
)


class IntakeError(Exception):
    """A received data set we must not answer Success to: its status and why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Received:
    """What identifies a checked instance (and where it is filed)."""

    sop_class: str
    sop_instance: str
    patient_id: str
    study: str
    series: str


class Source(Protocol):
    def chunk(self) -> bytes:
        """The next bytes of the data set; empty at its end."""

    def skip(self, count: int) -> bytes:
        """Pass over ``count`` bytes; returns what was read past them, if anything."""


class FileSource:
    """The data set as stored: read a window at a time, skips checked against the file's end."""

    def __init__(self, descriptor: int, start: int, size: int) -> None:
        self.descriptor, self.position, self.size = descriptor, start, size

    def chunk(self) -> bytes:
        data = os.pread(self.descriptor, WINDOW, self.position)
        self.position += len(data)
        return data

    def skip(self, count: int) -> bytes:
        if self.position + count > self.size:
            raise _truncated(count, self.size - self.position)
        self.position += count
        return b""


class InflatingSource:
    """A deflated data set inflated chunk by chunk, never more than ``limit`` bytes in all."""

    def __init__(self, descriptor: int, start: int, limit: int) -> None:
        self.descriptor, self.position, self.limit = descriptor, start, limit
        self.inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        self.inflated = 0
        self.finished = False

    def _read(self) -> bytes:
        data = os.pread(self.descriptor, CHUNK, self.position)
        self.position += len(data)
        return data

    def _inflate(self) -> bytes | None:
        """The next piece of inflated data (at most ``CHUNK``), None at the end."""
        while not self.finished:
            pending = self.inflater.unconsumed_tail or self._read()
            if not pending or self.inflater.eof:
                self.finished = True
                break
            try:
                chunk = self.inflater.decompress(pending, CHUNK)
            except zlib.error as error:
                raise IntakeError(
                    CANNOT_UNDERSTAND, f"the deflated data set is corrupt ({error})"
                ) from None
            self.inflated += len(chunk)
            if self.inflated > self.limit:
                raise IntakeError(
                    OUT_OF_RESOURCES,
                    f"the deflated data set inflates to more than {self.limit // 2**20} MB, "
                    "our limit for one instance",
                )
            if chunk:
                return chunk
        return None

    def chunk(self) -> bytes:
        return self._inflate() or b""

    def skip(self, count: int) -> bytes:
        while True:
            chunk = self._inflate()
            if chunk is None:
                raise _truncated(count, 0)
            if len(chunk) >= count:
                return chunk[count:]
            count -= len(chunk)


def _truncated(wanted: int, left: int) -> IntakeError:
    return IntakeError(
        CANNOT_UNDERSTAND,
        f"an element declares {wanted} bytes but only {left} arrived (declared lengths "
        "do not fit the data set)",
    )


class Walker:
    """Element headers in one encoding; values are skipped, except the identifying ones."""

    def __init__(self, source: Source, syntax: str) -> None:
        self.source = source
        self.buffer, self.offset = b"", 0
        self.position = 0  # bytes of the data set read or skipped so far
        self.implicit = syntax in IMPLICIT
        order = ">" if syntax == EXPLICIT_BIG else "<"
        self.tag = struct.Struct(order + "HH")
        self.long = struct.Struct(order + "I")
        self.short = struct.Struct(order + "H")

    def need(self, count: int) -> int:
        """Where the next ``count`` bytes start in ``buffer`` (read in if needed)."""
        if self.offset + count > len(self.buffer):
            data = self.buffer[self.offset :]
            while len(data) < count:
                piece = self.source.chunk()
                if not piece:
                    raise _truncated(count, len(data))
                data += piece
            self.buffer, self.offset = data, 0
        start = self.offset
        self.offset += count
        self.position += count
        return start

    def skip(self, count: int) -> None:
        self.position += count
        available = len(self.buffer) - self.offset
        if count <= available:
            self.offset += count
        else:
            self.buffer, self.offset = self.source.skip(count - available), 0

    def at_end(self) -> bool:
        if self.offset < len(self.buffer):
            return False
        self.buffer, self.offset = self.source.chunk(), 0
        return not self.buffer

    def header(self, implicit: bool) -> tuple[int, bytes, int]:
        """The next element's tag, VR (b"" when implicit) and value length."""
        start = self.need(8)
        buffer = self.buffer
        group, element = self.tag.unpack_from(buffer, start)
        tag = group << 16 | element
        if implicit or group == 0xFFFE:
            return tag, b"", self.long.unpack_from(buffer, start + 4)[0]
        vr = buffer[start + 4 : start + 6]
        if not (vr.isalpha() and vr.isupper()):
            raise IntakeError(CANNOT_UNDERSTAND, f"element {_tag(tag)} has an invalid VR {vr!r}")
        if vr in LONG_VRS:
            start = self.need(4)  # may read on: use the buffer as it is after
            return tag, vr, self.long.unpack_from(self.buffer, start)[0]
        return tag, vr, self.short.unpack_from(buffer, start + 6)[0]

    def top_level(self) -> tuple[dict[int, bytes], int | None, int]:
        """The identifying values, the Pixel Data length (None if absent or encapsulated)
        and the number of top-level elements."""
        values: dict[int, bytes] = {}
        pixel_length, count = None, 0
        while not self.at_end():
            tag, vr, length = self.header(self.implicit)
            if tag >> 16 == 0xFFFE:
                raise IntakeError(CANNOT_UNDERSTAND, f"{_tag(tag)} found outside any sequence")
            count += 1
            if length == UNDEFINED or vr == b"SQ":
                self.nested(tag, vr, self.implicit, 1, length)
            elif tag in WANTED and length <= MAX_VALUE:
                start = self.need(length)
                values[tag] = self.buffer[start : start + length]
            else:
                self.skip(length)
                pixel_length = length if tag == PIXEL_DATA else pixel_length
        return values, pixel_length, count

    def nested(
        self, tag: int, vr: bytes, implicit: bool, depth: int, length: int = UNDEFINED
    ) -> None:
        """Walk a sequence of undefined or (explicit VR) defined length, each item's elements
        and the sequences in them, at most MAX_DEPTH deep; skip encapsulated pixel data."""
        if length == UNDEFINED and vr not in (b"", b"SQ", b"UN") and tag != PIXEL_DATA:
            raise IntakeError(
                CANNOT_UNDERSTAND, f"element {_tag(tag)} ({vr.decode()}) has no length"
            )
        if depth > MAX_DEPTH:
            raise IntakeError(CANNOT_UNDERSTAND, f"sequences are nested deeper than {MAX_DEPTH}")
        implicit = implicit or vr == b"UN"  # UN of undefined length is implicit VR inside
        end = None if length == UNDEFINED else self.position + length
        while end is None or self.position < end:
            item, _, item_length = self.header(True)
            if item == SEQUENCE_DELIMITER and end is None:
                return
            if item != ITEM:
                raise IntakeError(
                    CANNOT_UNDERSTAND, f"{_tag(item)} found where an item of {_tag(tag)} belongs"
                )
            if tag == PIXEL_DATA:
                self.skip(item_length)  # a fragment
                continue
            item_end = None if item_length == UNDEFINED else self.position + item_length
            self.elements(implicit, depth, item_end)
        if self.position != end:
            raise IntakeError(CANNOT_UNDERSTAND, f"an item runs past the end of {_tag(tag)}")

    def elements(self, implicit: bool, depth: int, end: int | None) -> None:
        """Walk an item's elements, to its delimiter (``end`` None) or to ``end``."""
        while end is None or self.position < end:
            inner, inner_vr, inner_length = self.header(implicit)
            if inner == ITEM_DELIMITER and end is None:
                return
            if inner >> 16 == 0xFFFE:
                raise IntakeError(CANNOT_UNDERSTAND, f"{_tag(inner)} found inside an item")
            if inner_length == UNDEFINED or inner_vr == b"SQ":
                self.nested(inner, inner_vr, implicit, depth + 1, inner_length)
            else:
                self.skip(inner_length)
        if self.position != end:
            raise IntakeError(CANNOT_UNDERSTAND, "an element runs past the end of its item")


def _tag(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def check(
    descriptor: int,
    size: int,
    *,
    dataset_offset: int,
    syntax: str,
    sop_class: str,
    sop_instance: str,
    max_inflated: int,
) -> Received:
    """Check the data set in the open file ``descriptor`` (``size`` bytes), which starts at
    ``dataset_offset``, against its command."""
    if size <= dataset_offset:
        raise IntakeError(DOES_NOT_MATCH, "the data set is empty")
    source: Source = (
        InflatingSource(descriptor, dataset_offset, max_inflated)
        if syntax in DEFLATED
        else FileSource(descriptor, dataset_offset, size)
    )
    values, pixel_length, count = Walker(source, syntax).top_level()
    if not count:
        raise IntakeError(DOES_NOT_MATCH, "the data set is empty")
    order = ">" if syntax == EXPLICIT_BIG else "<"
    received = Received(
        _text(values, SOP_CLASS),
        _text(values, SOP_INSTANCE),
        _text(values, PATIENT_ID),
        _text(values, STUDY),
        _text(values, SERIES),
    )
    if received.sop_instance != sop_instance:
        raise IntakeError(
            DOES_NOT_MATCH,
            f"the command stores instance {sop_instance} but the data set holds "
            f"{received.sop_instance or 'no SOP Instance UID'}",
        )
    for what, uid in (
        ("SOP Instance UID", received.sop_instance),
        ("Study Instance UID", received.study),
        ("Series Instance UID", received.series),
    ):
        if uid and not is_uid(uid):
            shown = uid if len(uid) <= 70 else uid[:64] + "…"
            raise IntakeError(
                CANNOT_UNDERSTAND,
                f"the {what} {shown!r} is not a valid UID (digits and dots, at most 64)",
            )
    if received.sop_class != sop_class:
        raise IntakeError(
            DOES_NOT_MATCH,
            f"the command stores SOP class {sop_class} but the data set is "
            f"{received.sop_class or 'without a SOP Class UID'}",
        )
    if pixel_length is not None and syntax in NATIVE:
        _check_pixels(values, pixel_length, order)
    return received


def _check_pixels(values: dict[int, bytes], length: int, order: str) -> None:
    rows, columns, samples, bits = (
        _number(values, tag, order) for tag in (ROWS, COLUMNS, SAMPLES, BITS_ALLOCATED)
    )
    if not (rows and columns and bits):
        raise IntakeError(DOES_NOT_MATCH, "the data set has Pixel Data but no Rows/Columns/Bits")
    try:
        frames = int(_text(values, FRAMES) or 1)
    except ValueError:
        raise IntakeError(CANNOT_UNDERSTAND, "Number of Frames is not a number") from None
    expected = (rows * columns * (samples or 1) * bits * max(frames, 1) + 7) // 8
    if not expected <= length <= expected + 1:
        raise IntakeError(
            DOES_NOT_MATCH,
            f"Pixel Data has {length} bytes; {rows}x{columns}x{samples or 1}x{bits} bits "
            f"x{max(frames, 1)} frames need {expected}",
        )


def _text(values: dict[int, bytes], tag: int) -> str:
    return values.get(tag, b"").decode("latin-1").strip("\0 ")


def _number(values: dict[int, bytes], tag: int, order: str) -> int:
    raw = values.get(tag, b"")
    return int(struct.unpack(order + "H", raw)[0]) if len(raw) == 2 else 0
