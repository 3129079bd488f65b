"""The element tree of a DICOM Part 10 file, read from its raw bytes.

Nothing is decoded: every element keeps the offsets of its bytes in the file, so a digest can be
computed over exactly what is on disk and a file can be rewritten without touching one byte of
what it does not change.
"""

import struct
from dataclasses import dataclass, field

from pydicom.datadict import dictionary_VR, keyword_for_tag

from desktop.core.errors import HeaderError

EXPLICIT_LITTLE = "1.2.840.10008.1.2.1"
IMPLICIT_LITTLE = "1.2.840.10008.1.2"
NATIVE_UNREADABLE = {
    "1.2.840.10008.1.2.2": "Explicit VR Big Endian",
    "1.2.840.10008.1.2.1.99": "Deflated Explicit VR Little Endian",
}
LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"})
UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
PIXEL_REPRESENTATION = 0x00280103
_TAG = struct.Struct("<HH")
_SHORT = struct.Struct("<HH2sH")
_LONG = struct.Struct("<HH2s2xI")
_IMPLICIT = struct.Struct("<HHI")


@dataclass(slots=True)
class Element:
    """One data element: where its bytes are, and its items or fragments if it has any."""

    tag: int
    vr: str
    start: int  # the first byte of the tag
    value_start: int
    length: int  # the value length as stored (UNDEFINED for delimited values)
    end: int  # after the value (and after its sequence delimiter)
    items: list["Item"] | None = None  # a sequence, or UN with undefined length
    fragments: list[tuple[int, int]] | None = None  # encapsulated pixel data: (start, length)

    @property
    def keyword(self) -> str:
        return tag_name(self.tag)


@dataclass(slots=True)
class Item:
    """One sequence item: its elements and the span of its bytes (header and delimiter included)."""

    start: int
    end: int
    elements: list[Element] = field(default_factory=list)

    def find(self, tag: int) -> Element | None:
        return next((e for e in self.elements if e.tag == tag), None)


@dataclass(slots=True)
class Part10:
    """A parsed file: its bytes, the transfer syntax and the data set (as one ``Item``)."""

    data: bytes
    transfer_syntax: str
    dataset_start: int
    dataset: Item

    @property
    def explicit(self) -> bool:
        return self.transfer_syntax != IMPLICIT_LITTLE


def tag_text(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def tag_name(tag: int) -> str:
    return keyword_for_tag(tag) or ("private" if (tag >> 16) & 1 else "unknown")


def read_part10(data: bytes, name: str = "file") -> Part10:
    """Parse a Part 10 file (preamble, meta, data set); HeaderError says why it cannot."""
    if len(data) < 132 or data[128:132] != b"DICM":
        raise HeaderError(f"{name} is not a DICOM Part 10 file (no 'DICM' after the preamble)")
    try:
        meta = _Reader(data, explicit=True).elements(132, len(data), stop_group=0x0002)
        syntax_element = next((e for e in meta if e.tag == 0x00020010), None)
        if syntax_element is None:
            raise HeaderError(f"{name} has no Transfer Syntax UID in its meta header")
        syntax = _text(data, syntax_element)
        if syntax in NATIVE_UNREADABLE:
            raise HeaderError(
                f"{name} is encoded in {NATIVE_UNREADABLE[syntax]}: signatures need a little "
                "endian, non-deflated encoding (convert it first, e.g. with dcmconv +te)"
            )
        start = meta[-1].end if meta else 132
        reader = _Reader(data, explicit=syntax != IMPLICIT_LITTLE)
        dataset = Item(start, len(data), reader.elements(start, len(data)))
    except (struct.error, IndexError, _DamagedError) as error:
        raise HeaderError(f"{name} is truncated or damaged: {error}") from error
    except RecursionError:
        raise HeaderError(f"{name} nests sequences too deeply to be a real instance") from None
    return Part10(data, syntax, start, dataset)


def standalone(data: bytes) -> Part10:
    """Elements encoded on their own (Explicit VR Little Endian, no header) as a data set."""
    elements = _Reader(data, explicit=True).elements(0, len(data))
    return Part10(data, EXPLICIT_LITTLE, 0, Item(0, len(data), elements))


def value(data: bytes, element: Element) -> bytes:
    return data[element.value_start : element.value_start + element.length]


def _text(data: bytes, element: Element) -> str:
    return value(data, element).decode("ascii", "replace").rstrip("\0 ")


class _DamagedError(Exception):
    """Raised inside the reader; ``read_part10`` names the file."""


class _Reader:
    def __init__(self, data: bytes, *, explicit: bool) -> None:
        self.data = data
        self.explicit = explicit
        self.signed_pixels = False  # Pixel Representation 1, for implicit 'US or SS' values

    def elements(self, start: int, end: int, stop_group: int | None = None) -> list[Element]:
        """Elements from ``start`` up to ``end`` or an item delimiter (which ends the list)."""
        found: list[Element] = []
        position = start
        while position + 8 <= end:
            group, number = _TAG.unpack_from(self.data, position)
            tag = group << 16 | number
            if stop_group is not None and group != stop_group:
                break
            if tag == ITEM_END:
                break
            element = self.element(position, tag)
            found.append(element)
            position = element.end
        return found

    def element(self, position: int, tag: int) -> Element:
        data = self.data
        if self.explicit and tag >> 16 != 0xFFFE:
            _, _, raw_vr, short = _SHORT.unpack_from(data, position)
            vr = raw_vr.decode("ascii", "replace")
            if vr in LONG_VRS or not vr.isalpha():
                length = _LONG.unpack_from(data, position)[3]
                value_start = position + 12
            else:
                length, value_start = short, position + 8
        else:
            length = _IMPLICIT.unpack_from(data, position)[2]
            value_start = position + 8
            vr = _dictionary_vr(tag, signed=self.signed_pixels)
            if length == UNDEFINED and vr not in ("SQ", "OB", "OW"):
                vr = "SQ"
        element = Element(tag, vr, position, value_start, length, value_start)
        if tag == PIXEL_REPRESENTATION and length == 2:
            self.signed_pixels = data[value_start : value_start + 2] == b"\x01\x00"
        if length != UNDEFINED:
            element.end = value_start + length
            if element.end > len(data):
                raise _DamagedError(f"element {tag_text(tag)} runs past the end of the file")
            if vr == "SQ":
                element.items = self.items(value_start, element.end)
            return element
        if vr in ("OB", "OW"):
            element.fragments, element.end = self.fragments(value_start)
        elif vr == "UN":
            element.items, element.end = _Reader(data, explicit=False).delimited_items(value_start)
        else:
            element.items, element.end = self.delimited_items(value_start)
        return element

    def items(self, start: int, end: int) -> list[Item]:
        found: list[Item] = []
        position = start
        while position + 8 <= end:
            item, position = self.item(position)
            if item is None:
                break
            found.append(item)
        return found

    def delimited_items(self, start: int) -> tuple[list[Item], int]:
        found: list[Item] = []
        position = start
        while True:
            item, position = self.item(position)
            if item is None:
                return found, position
            found.append(item)

    def item(self, position: int) -> tuple[Item | None, int]:
        """The item at ``position`` (or None at a sequence delimiter) and the offset after it."""
        group, number, length = _IMPLICIT.unpack_from(self.data, position)
        tag = group << 16 | number
        if tag == SEQUENCE_END:
            return None, position + 8
        if tag != ITEM:
            raise _DamagedError(f"expected an item at byte {position}, found {tag_text(tag)}")
        body = position + 8
        if length != UNDEFINED:
            return Item(position, body + length, self.elements(body, body + length)), body + length
        elements = self.elements(body, len(self.data))
        after = (elements[-1].end if elements else body) + 8  # the item delimiter
        return Item(position, after, elements), after

    def fragments(self, start: int) -> tuple[list[tuple[int, int]], int]:
        found: list[tuple[int, int]] = []
        position = start
        while True:
            group, number, length = _IMPLICIT.unpack_from(self.data, position)
            if group << 16 | number == SEQUENCE_END:
                return found, position + 8
            found.append((position + 8, length))
            position += 8 + length


def _dictionary_vr(tag: int, *, signed: bool) -> str:
    """An implicit VR element's VR as DCMTK resolves it (dcmsign hashes with it): US or SS by
    Pixel Representation, OW for OB-or-OW and for lookup table data."""
    try:
        vr = dictionary_VR(tag)
    except KeyError:
        return "UN"
    if vr == "US or SS":
        return "SS" if signed else "US"
    if "OW" in vr:
        return "OW"
    return vr.split(" or ")[0]
