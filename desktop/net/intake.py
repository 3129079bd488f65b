"""Checking a received data set before our storage SCP answers Success.

The data set (as written to the incoming file, deflated or not) is walked element by element
without loading values: every declared length must fit in what arrived, nesting is bounded,
deflated data is inflated as a bounded stream; then the identifying attributes must match the
C-STORE command and native Pixel Data must be as long as its image attributes say. A failed
check raises ``IntakeError`` with the PS3.4 C-STORE status and a reason in plain words.
"""

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from desktop.net.catalogue import DEFLATED, EXPLICIT_BIG, IMPLICIT, NATIVE

OUT_OF_RESOURCES, DOES_NOT_MATCH, CANNOT_UNDERSTAND = 0xA700, 0xA900, 0xC000
ITEM, ITEM_DELIMITER, SEQUENCE_DELIMITER = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
UNDEFINED = 0xFFFFFFFF
PIXEL_DATA = 0x7FE00010
LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT"})
MAX_DEPTH = 32
MAX_VALUE = 1024  # longest identifying value we read; longer ones are skipped
CHUNK = 1 << 20  # inflated bytes held at a time

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
    def read(self, count: int) -> bytes: ...
    def skip(self, count: int) -> None: ...
    def at_end(self) -> bool: ...


class FileSource:
    """The data set as stored: reads and skips checked against the file's end."""

    def __init__(self, stream: BinaryIO, start: int, size: int) -> None:
        self.stream, self.position, self.size = stream, start, size
        stream.seek(start)

    def read(self, count: int) -> bytes:
        data = self.stream.read(count)
        self.position += len(data)
        if len(data) < count:
            raise _truncated(count, len(data))
        return data

    def skip(self, count: int) -> None:
        if self.position + count > self.size:
            raise _truncated(count, self.size - self.position)
        self.position += count
        self.stream.seek(self.position)

    def at_end(self) -> bool:
        return self.position >= self.size


class InflatingSource:
    """A deflated data set inflated chunk by chunk, never more than ``limit`` bytes in all."""

    def __init__(self, stream: BinaryIO, start: int, limit: int) -> None:
        stream.seek(start)
        self.stream, self.limit = stream, limit
        self.inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        self.buffer = bytearray()
        self.inflated = 0
        self.finished = False

    def _inflate(self) -> bytes | None:
        """The next piece of inflated data (at most ``CHUNK``), None at the end."""
        while not self.finished:
            pending = self.inflater.unconsumed_tail or self.stream.read(CHUNK)
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

    def read(self, count: int) -> bytes:
        while len(self.buffer) < count:
            chunk = self._inflate()
            if chunk is None:
                raise _truncated(count, len(self.buffer))
            self.buffer += chunk
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data

    def skip(self, count: int) -> None:
        taken = min(count, len(self.buffer))
        del self.buffer[:taken]
        count -= taken
        while count:
            chunk = self._inflate()
            if chunk is None:
                raise _truncated(count, 0)
            if len(chunk) > count:
                self.buffer = bytearray(chunk[count:])
                return
            count -= len(chunk)

    def at_end(self) -> bool:
        if self.buffer:
            return False
        chunk = self._inflate()
        if chunk is None:
            return True
        self.buffer = bytearray(chunk)
        return False


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
        self.implicit = syntax in IMPLICIT
        self.order = ">" if syntax == EXPLICIT_BIG else "<"

    def header(self, implicit: bool) -> tuple[int, bytes, int]:
        group, element = struct.unpack(self.order + "HH", self.source.read(4))
        tag = group << 16 | element
        if implicit or group == 0xFFFE:
            return tag, b"", struct.unpack(self.order + "I", self.source.read(4))[0]
        vr = self.source.read(2)
        if not (vr.isalpha() and vr.isupper()):
            raise IntakeError(CANNOT_UNDERSTAND, f"element {_tag(tag)} has an invalid VR {vr!r}")
        if vr in LONG_VRS:
            return tag, vr, struct.unpack(self.order + "2xI", self.source.read(6))[0]
        return tag, vr, struct.unpack(self.order + "H", self.source.read(2))[0]

    def top_level(self) -> tuple[dict[int, bytes], int | None, int]:
        """The identifying values, the Pixel Data length (None if absent or encapsulated)
        and the number of top-level elements."""
        values: dict[int, bytes] = {}
        pixel_length, count = None, 0
        while not self.source.at_end():
            tag, vr, length = self.header(self.implicit)
            if tag >> 16 == 0xFFFE:
                raise IntakeError(CANNOT_UNDERSTAND, f"{_tag(tag)} found outside any sequence")
            count += 1
            if length == UNDEFINED:
                self.nested(tag, vr, self.implicit, 1)
            elif tag in WANTED and length <= MAX_VALUE:
                values[tag] = self.source.read(length)
            else:
                self.source.skip(length)
                pixel_length = length if tag == PIXEL_DATA else pixel_length
        return values, pixel_length, count

    def nested(self, tag: int, vr: bytes, implicit: bool, depth: int) -> None:
        """Skip an undefined-length value: a sequence, or encapsulated pixel data."""
        if vr not in (b"", b"SQ", b"UN") and tag != PIXEL_DATA:
            raise IntakeError(
                CANNOT_UNDERSTAND, f"element {_tag(tag)} ({vr.decode()}) has no length"
            )
        if depth > MAX_DEPTH:
            raise IntakeError(CANNOT_UNDERSTAND, f"sequences are nested deeper than {MAX_DEPTH}")
        implicit = implicit or vr == b"UN"  # UN of undefined length is implicit VR inside
        while True:
            item, _, length = self.header(True)
            if item == SEQUENCE_DELIMITER:
                return
            if item != ITEM:
                raise IntakeError(
                    CANNOT_UNDERSTAND, f"{_tag(item)} found where an item of {_tag(tag)} belongs"
                )
            if length != UNDEFINED:
                self.source.skip(length)
                continue
            while True:
                inner, inner_vr, inner_length = self.header(implicit)
                if inner == ITEM_DELIMITER:
                    break
                if inner >> 16 == 0xFFFE:
                    raise IntakeError(CANNOT_UNDERSTAND, f"{_tag(inner)} found inside an item")
                if inner_length == UNDEFINED:
                    self.nested(inner, inner_vr, implicit, depth + 1)
                else:
                    self.source.skip(inner_length)


def _tag(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def check(
    path: Path,
    *,
    dataset_offset: int,
    syntax: str,
    sop_class: str,
    sop_instance: str,
    max_inflated: int,
) -> Received:
    """Check the data set stored in ``path`` from ``dataset_offset`` against its command."""
    with path.open("rb") as stream:
        size = stream.seek(0, 2)
        if size <= dataset_offset:
            raise IntakeError(DOES_NOT_MATCH, "the data set is empty")
        source: Source = (
            InflatingSource(stream, dataset_offset, max_inflated)
            if syntax in DEFLATED
            else FileSource(stream, dataset_offset, size)
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
