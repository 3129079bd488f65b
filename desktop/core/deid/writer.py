"""Encoding elements without pydicom's per-element machinery for what de-identification
writes most: raw elements as read, sequences, and ASCII text values (UIDs, codes, dates,
dummies). Anything else goes through pydicom's ``write_data_element``.

Sequences and their items are written with undefined length (PS3.5 7.5.1), so nothing needs
measuring before it is written.
"""

import struct
from collections.abc import Iterable

from pydicom import Dataset
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.tag import BaseTag

from desktop.core.deid.raw import LONG_HEADER_VRS, ascii_text

UNDEFINED = 0xFFFFFFFF
#: Text VRs that are ASCII whatever the character set, padded with a space (UI: a NUL).
ASCII_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "TM", "UI"})
#: Text VRs in the data set's character set: written here when ASCII (the same bytes in
#: every character set DICOM allows).
TEXT_VRS = frozenset({"LO", "LT", "SH", "ST", "UC", "UT"})
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD


class ElementWriter:
    """Writes elements into ``out`` in one transfer syntax's encoding."""

    def __init__(self, out: DicomBytesIO, encodings: list[str]) -> None:
        self.out = out
        self.encodings = encodings
        self.implicit = bool(out.is_implicit_VR)
        order = "<" if out.is_little_endian else ">"
        self.short = struct.Struct(order + "HH2sH")
        self.long = struct.Struct(order + "HH2s2xL")
        self.plain = struct.Struct(order + "HHL")

    def dataset(self, dataset: Dataset, tags: Iterable[BaseTag] | None = None) -> None:
        get = dataset.get_item
        for tag in sorted(dataset.keys()) if tags is None else tags:
            if tag & 0xFFFF:  # group lengths (retired) would be wrong after the changes
                self.element(get(tag))

    def element(self, element: DataElement | RawDataElement) -> None:
        vr = element.VR
        if isinstance(element, RawDataElement):
            if element.length != UNDEFINED and isinstance(element.value, bytes):
                return self._header(element.tag, vr, element.value)
        elif vr == "SQ":
            return self._sequence(element)
        elif (vr in ASCII_VRS or vr in TEXT_VRS) and (
            encoded := ascii_text(element.value, b"\x00" if vr == "UI" else b" ")
        ) is not None:
            return self._header(element.tag, vr, encoded)
        write_data_element(self.out, element, self.encodings)
        return None

    def _header(self, tag: int, vr: str | None, value: bytes, length: int | None = None) -> None:
        size = len(value) if length is None else length
        group, number = tag >> 16, tag & 0xFFFF
        if self.implicit:
            self.out.write(self.plain.pack(group, number, size))
        elif vr in LONG_HEADER_VRS:
            self.out.write(self.long.pack(group, number, str(vr).encode(), size))
        else:
            self.out.write(self.short.pack(group, number, str(vr).encode(), size))
        self.out.write(value)

    def _sequence(self, element: DataElement) -> None:
        self._header(element.tag, "SQ", b"", UNDEFINED)
        for item in element.value or ():
            self.out.write(self.plain.pack(0xFFFE, 0xE000, UNDEFINED))
            self.dataset(item)
            self.out.write(self.plain.pack(0xFFFE, 0xE00D, 0))
        self.out.write(self.plain.pack(0xFFFE, 0xE0DD, 0))
