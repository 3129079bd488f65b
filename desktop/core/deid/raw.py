"""De-identified copies made from the header's bytes as stored: the profile's table and value
rules (``profile``) applied element by element, without pydicom's data set model.

Elements kept as they are, and the pixels, are copied as stored; only those that change are
encoded (sequences with undefined length, as ``writer`` does). What this does not read plainly
gives None and the caller takes the data set path (``passthrough``, ``profile``): any transfer
syntax but little endian (implicit or explicit VR, native or encapsulated; pydicom's
dictionary gives the VRs in implicit VR, as on the data set path), ISO 2022 character sets, a
value to change or read that is not ASCII, a standard attribute stored as UN and not
removed, elements after the pixels, a file meta group without its length or an element
pydicom's writer would add.
"""

import mmap
import re
import struct
from collections.abc import MutableSequence
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

from desktop.core.deid.mapping import KeyedMapping
from desktop.core.deid.profile import (
    CLEANED_TEXT,
    TEXT_VRS,
    Profile,
    Values,
    identifying,
)
from desktop.core.deid.safe_private import creator_is_listed, is_safe
from desktop.core.deid.signs import BURNED_IN
from desktop.core.deid.table import Action, Option
from desktop.core.header import MAX_NESTING

PREAMBLE = bytes(128) + b"DICM"
#: Explicit VR little endian, native and encapsulated (deflate, big endian, implicit VR: not).
SYNTAXES = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.98", "1.2.840.10008.1.2.5")
ENCAPSULATED = "1.2.840.10008.1.2.4."
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
PIXEL_DATA = 0x7FE00010
UNDEFINED = 0xFFFFFFFF
SOP_INSTANCE_UID, SERIES_INSTANCE_UID = 0x00080018, 0x0020000E
PATIENT_ID = 0x00100020
CHARACTER_SET = 0x00080005
MEDIA_STORAGE_SOP_INSTANCE_UID = 0x00020003
#: What pydicom's writer would add to the file meta if it were missing.
REQUIRED_META = frozenset({0x00020001, 0x00020002, 0x00020003, 0x00020010, 0x00020012})
#: File meta elements naming the writer's AE titles: dropped, as the data set path does.
WRITER_AE_TITLES = frozenset({0x00020016, 0x00020017, 0x00020018})
#: Text whose value is one string (a backslash is text, not a separator).
SINGLE_VALUED = frozenset({"LT", "ST", "UT", "UR"})
NUMBER_SIZES = {"AT": 4, "FL": 4, "FD": 8, "SL": 4, "SS": 2, "SV": 8, "UL": 4, "US": 2, "UV": 8}
VR_PATTERN = re.compile(rb"[A-Z]{2}")
TAG = struct.Struct("<HH")
SHORT = struct.Struct("<HH2sH")
LONG = struct.Struct("<HH2s2xL")
PLAIN = struct.Struct("<HHL")
LENGTH_32 = struct.Struct("<L")
SEQUENCE_START = LONG.pack(0, 0, b"SQ", UNDEFINED)[4:]
IMPLICIT_SEQUENCE_START = LENGTH_32.pack(UNDEFINED)
IMPLICIT = "1.2.840.10008.1.2"
ITEM_START = PLAIN.pack(0xFFFE, 0xE000, UNDEFINED)
ITEM_STOP = PLAIN.pack(0xFFFE, 0xE00D, 0)
SEQUENCE_STOP = PLAIN.pack(0xFFFE, 0xE0DD, 0)

#: VRs whose explicit header is 12 bytes (2 reserved, a 32-bit length).
LONG_HEADER_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR",
                             "UT", "UV"})  # fmt: skip
Piece = bytes | memoryview


class UnsupportedError(Exception):
    """The file needs the data set path."""


class Element(NamedTuple):
    tag: int
    vr: str
    start: int  #: where its header starts
    value: int  #: where its value starts
    end: int  #: where it ends
    items: list[list["Element"]] | None = None  #: a sequence's items


@dataclass(frozen=True, slots=True)
class RawCopy:
    """A de-identified header and where the source's pixels start."""

    header: bytes
    pixels: int
    sop_instance_uid: str
    series_instance_uid: str | None
    #: The original top-level elements asked for (``keep``): tag → (VR, None in implicit VR;
    #: value as stored), as ``header.read_header`` gives them.
    originals: dict[int, tuple[str | None, bytes]]


def deidentify_header(
    data: bytes | mmap.mmap, profile: Profile, *, keep: frozenset[int] = frozenset()
) -> RawCopy | None:
    """The de-identified header of the Part 10 file ``data`` (the pixels, from ``pixels`` on,
    are copied unchanged), with the original values of the ``keep`` tags; None when the file
    needs the data set path."""
    view = memoryview(data)
    try:
        return _Copy(view, profile).run(keep)
    except (UnsupportedError, struct.error, UnicodeDecodeError, IndexError):
        return None
    finally:
        view.release()


class _Copy:
    def __init__(self, data: memoryview, profile: Profile) -> None:
        self.data = data
        self.profile = profile
        self.values: Values
        self.new_uids: dict[int, str] = {}
        self.implicit = False

    def run(self, keep: frozenset[int]) -> RawCopy | None:
        data = self.data
        if bytes(data[128:132]) != b"DICM":
            raise UnsupportedError  # the copy gets a zero preamble, as on the data set path
        meta, start = self._meta()
        syntax = self._text(meta.get(0x00020010)).rstrip("\x00 ")
        self.implicit = syntax == IMPLICIT
        if syntax not in SYNTAXES and not syntax.startswith(ENCAPSULATED) and not self.implicit:
            raise UnsupportedError
        top, pixels = _dataset(data, start, len(data), top=True, implicit=self.implicit)
        found = {e.tag: e for e in top}
        if SOP_INSTANCE_UID not in found:
            raise UnsupportedError  # the data set path says why
        if "2022" in self._text(found.get(CHARACTER_SET)):
            raise UnsupportedError
        self.values = self._values(top, found)
        body: list[Piece] = []
        self._elements(top, body, top_level=True)
        sop = self.new_uids.get(SOP_INSTANCE_UID)
        if sop is None:
            sop = self._text(found[SOP_INSTANCE_UID]).strip("\x00 ")
        series = self.new_uids.get(SERIES_INSTANCE_UID)
        if series is None and SERIES_INSTANCE_UID in found:
            series = self._text(found[SERIES_INSTANCE_UID]).strip("\x00 ")
        head = self._meta_out(meta, sop)
        originals = {
            tag: (None if self.implicit else element.vr, bytes(data[element.value : element.end]))
            for tag in keep
            if (element := found.get(tag)) is not None
        }
        return RawCopy(b"".join([PREAMBLE, head, *body]), pixels, sop, series, originals)

    def _meta(self) -> tuple[dict[int, Element], int]:
        """The file meta elements, and where the data set starts."""
        first = _element(self.data, 132, implicit=False)
        if first.tag != 0x00020000 or first.vr != "UL":
            raise UnsupportedError
        end = first.end + LENGTH_32.unpack_from(self.data, first.value)[0]
        meta, _ = _dataset(self.data, first.end, end, top=False, implicit=False)
        found = {e.tag: e for e in meta}
        if not found.keys() >= REQUIRED_META or any(e.tag >> 16 != 2 for e in meta):
            raise UnsupportedError
        return found, end

    def _meta_out(self, meta: dict[int, Element], sop: str) -> bytes:
        pieces: list[Piece] = []
        for tag in sorted(meta):
            if tag == MEDIA_STORAGE_SOP_INSTANCE_UID:
                pieces.append(_encode(tag, "UI", _ascii(sop, "UI"), implicit=False))
            elif tag & 0xFFFF and tag not in WRITER_AE_TITLES:
                pieces.append(self.data[meta[tag].start : meta[tag].end])
        body = b"".join(pieces)
        length = LENGTH_32.pack(len(body))
        return _encode(0x00020000, "UL", length, implicit=False) + body

    def _values(self, top: list[Element], found: dict[int, Element]) -> Values:
        if not self.profile.options:
            return Values(self.profile, "", ())
        words = [
            word
            for e in top
            if identifying(e.tag, e.vr) and e.vr != "SQ"
            for word in self._strings(e)
            if word
        ]
        patient = found.get(PATIENT_ID)
        if "\\" in self._text(patient):
            raise UnsupportedError  # the data set path's shift of several IDs
        return Values(self.profile, self._text(patient).strip("\x00 "), words)

    def _elements(self, elements: list[Element], out: list[Piece], *, top_level: bool) -> None:
        """Apply the table to one data set's elements, writing the result to ``out``."""
        profile = self.profile
        unsearched = profile.pixels_unsearched
        made = _records(profile.options, unsearched, self.implicit) if top_level else ()
        records = iter(made)
        record = next(records, None)
        ours = RECORD_TAGS | {BURNED_IN} if unsearched else RECORD_TAGS
        creators: dict[int, str] = {}
        for element in elements:
            tag = element.tag
            while record is not None and record[0] <= tag:
                out.append(record[1])
                record = next(records, None)
            if not tag & 0xFFFF or (top_level and tag in ours):
                continue  # group lengths (retired) would be wrong; the record is ours
            action = profile.action(tag)
            if element.vr == "UN" and action is not Action.REMOVE and not tag >> 16 & 1:
                raise UnsupportedError  # the data set path reads it with its dictionary VR
            written = len(out)
            if action is None:
                self._unlisted(element, out)
            elif action is Action.CLEAN and tag >> 16 & 1:
                self._private(element, out, creators)
            else:
                self._apply(element, action, out)
            if top_level and tag in (SOP_INSTANCE_UID, SERIES_INSTANCE_UID) and len(out) > written:
                self._remember(tag, element.vr, out[-1])
        while record is not None:
            out.append(record[1])
            record = next(records, None)

    def _remember(self, tag: int, vr: str, piece: Piece) -> None:
        header = 12 if vr in LONG_HEADER_VRS and not self.implicit else 8
        self.new_uids[tag] = bytes(piece[header:]).decode("ascii").strip("\x00 ")

    def _unlisted(self, element: Element, out: list[Piece]) -> None:
        vr = element.vr
        if vr == "SQ":
            self._sequence(element, out)
        elif CLEANED_TEXT.get(element.tag) in self.profile.options:
            self._put(element, self.values.clean(vr, self._value(element)), out)
        elif vr == "UI" and self.profile.maps_unlisted_uid(element.tag):
            self._put(element, self.values.uids(self._uids(element), unless_known=True), out)
        else:
            out.append(self.data[element.start : element.end])

    def _apply(self, element: Element, action: Action, out: list[Piece]) -> None:
        vr = element.vr
        if action is Action.REMOVE:
            return
        if action is Action.EMPTY:
            if vr == "SQ":
                out.append(_sequence_bytes(element.tag, [], implicit=self.implicit))
            else:
                out.append(_encode(element.tag, vr, b"", implicit=self.implicit))
        elif action is Action.DUMMY:
            if vr == "SQ":
                out.append(_sequence_bytes(element.tag, [b""], implicit=self.implicit))
            elif vr == "UI":
                uids = self.values.uids(self._uids(element), unless_known=False)
                self._put(element, uids or self.profile.mapping.uid(""), out)
            else:
                original = self._text(element) if element.tag == PATIENT_ID else ""
                self._put(element, self.values.dummy(element.tag, vr, original), out)
        elif vr == "SQ":
            self._sequence(element, out)
        elif action is Action.NEW_UID:
            self._put(element, self.values.uids(self._uids(element), unless_known=False), out)
        elif action is Action.CLEAN:
            if vr in ("DA", "DT") or vr in TEXT_VRS:
                self._put(element, self.values.clean(vr, self._value(element)), out)
            else:
                out.append(self.data[element.start : element.end])
        else:
            out.append(self.data[element.start : element.end])

    def _private(self, element: Element, out: list[Piece], creators: dict[int, str]) -> None:
        """Retain Safe Private: as ``profile._Pass._private``, the creators of this level
        read as they are met (a creator precedes its block)."""
        tag, vr = element.tag, element.vr
        if vr == "UN":
            raise UnsupportedError
        group, number = tag >> 16, tag & 0xFFFF
        if 0x10 <= number <= 0xFF:
            creator = self._text(element).rstrip("\x00 ")
            keep = creator_is_listed(creator, group)
            if keep:
                creators[group << 8 | number] = creator
        elif number >= 0x1000:
            creator_of = creators.get(group << 8 | number >> 8)
            keep = creator_of is not None and is_safe(creator_of, tag)
        else:
            keep = False
        if not keep:
            return
        if vr == "SQ":
            self._sequence(element, out)
        elif vr == "UI" and Option.RETAIN_UIDS not in self.profile.options:
            self._put(element, self.values.uids(self._uids(element), unless_known=True), out)
        else:
            out.append(self.data[element.start : element.end])

    def _sequence(self, element: Element, out: list[Piece]) -> None:
        out.append(_sequence_header(element.tag, implicit=self.implicit))
        for item in element.items or ():
            out.append(ITEM_START)
            self._elements(item, out, top_level=False)
            out.append(ITEM_STOP)
        out.append(SEQUENCE_STOP)

    def _put(self, element: Element, value: object, out: list[Piece]) -> None:
        value_bytes = _value_bytes(element.vr, value)
        out.append(_encode(element.tag, element.vr, value_bytes, implicit=self.implicit))

    def _text(self, element: Element | None) -> str:
        """An element's value as ASCII text (UnicodeDecodeError otherwise)."""
        if element is None:
            return ""
        return bytes(self.data[element.value : element.end]).decode("ascii")

    def _strings(self, element: Element) -> list[str]:
        text = self._text(element)
        if element.vr in SINGLE_VALUED:
            return [text.rstrip("\x00 ")]
        return [v.strip() if element.vr == "AE" else v.rstrip("\x00 ") for v in text.split("\\")]

    def _value(self, element: Element) -> object:
        """A text value as pydicom gives it: None when empty, a list when several."""
        if element.end == element.value:
            return None
        values = self._strings(element)
        return values if len(values) > 1 else values[0]

    def _uids(self, element: Element) -> object:
        """A UI value read as ``profile._uid_value`` reads it."""
        text = bytes(self.data[element.value : element.end]).decode("ascii", "replace")
        uids = [part.strip("\x00 ") for part in text.strip("\x00 ").split("\\")]
        return uids if len(uids) > 1 else uids[0] or None


def _dataset(
    data: memoryview, position: int, limit: int, *, top: bool, implicit: bool, depth: int = 0
) -> tuple[list[Element], int]:
    """The elements from ``position`` to ``limit`` (or an item's delimiter); at the top level,
    up to the Pixel Data element, which must end the file. Returns them and where they end.
    Elements out of order, repeated, or of the file meta group in the data set: the data set
    path (pydicom sorts them, keeps one, moves them)."""
    elements: list[Element] = []
    previous = -1
    while position < limit:
        (group, number) = TAG.unpack_from(data, position)
        tag = group << 16 | number
        if tag <= previous or (top and group == 2):
            raise UnsupportedError
        previous = tag
        if tag == ITEM_END and not top:
            return elements, position + 8
        if top and tag == PIXEL_DATA:
            if _pixels_end(data, position, implicit=implicit) != len(data):
                raise UnsupportedError
            return elements, position
        element = _element(data, position, implicit=implicit, depth=depth)
        if element.end > limit:
            raise UnsupportedError
        elements.append(element)
        position = element.end
    if position != limit:
        raise UnsupportedError
    return elements, len(data) if top else position


def _element(data: memoryview, position: int, *, implicit: bool, depth: int = 0) -> Element:
    if implicit:
        return _implicit_element(data, position, depth)
    group, number, raw_vr, length = SHORT.unpack_from(data, position)
    tag = group << 16 | number
    if group == 0xFFFE or not VR_PATTERN.fullmatch(raw_vr):
        raise UnsupportedError
    vr = raw_vr.decode()
    if vr in LONG_HEADER_VRS:
        length = LENGTH_32.unpack_from(data, position + 8)[0]
        value = position + 12
    else:
        value = position + 8
    if vr == "SQ":
        items, end = _items(data, value, length, implicit=False, depth=depth + 1)
        return Element(tag, vr, position, value, end, items)
    if length == UNDEFINED:
        raise UnsupportedError
    return Element(tag, vr, position, value, value + length)


def _implicit_element(data: memoryview, position: int, depth: int) -> Element:
    """An element in implicit VR, its VR the one the data set path gives it (the dictionary's
    first; UN for a private or unknown attribute)."""
    group, number, length = PLAIN.unpack_from(data, position)
    tag = group << 16 | number
    if group == 0xFFFE:
        raise UnsupportedError
    vr = "UN" if group & 1 else dictionary_vr(tag)
    value = position + 8
    if vr == "SQ" or length == UNDEFINED:
        if vr not in ("SQ", "UN"):
            raise UnsupportedError
        items, end = _items(data, value, length, implicit=True, depth=depth + 1)
        return Element(tag, "SQ" if vr == "SQ" else "UN", position, value, end, items)
    return Element(tag, vr, position, value, value + length)


@cache
def dictionary_vr(tag: int) -> str:
    """The VR pydicom's dictionary gives ``tag`` (its first of several), UN if unknown; pydicom
    is imported only for files in implicit VR."""
    from pydicom.datadict import dictionary_VR

    try:
        return str(dictionary_VR(tag)).split(" or ")[0]
    except KeyError:
        return "UN"


def _items(
    data: memoryview, position: int, length: int, *, implicit: bool, depth: int
) -> tuple[list[list[Element]], int]:
    """A sequence's items, and where the sequence ends; a sequence nested deeper than real
    data sets nest (``MAX_NESTING``) goes to the data set path, which refuses it as damaged
    (the recursion here would end in a RecursionError)."""
    if depth > MAX_NESTING:
        raise UnsupportedError
    limit = len(data) if length == UNDEFINED else position + length
    items: list[list[Element]] = []
    while position < limit:
        tag_group, tag_number, size = PLAIN.unpack_from(data, position)
        tag = tag_group << 16 | tag_number
        if tag == SEQUENCE_END and length == UNDEFINED:
            return items, position + 8
        if tag != ITEM:
            raise UnsupportedError
        if size == UNDEFINED:
            item, position = _dataset(
                data, position + 8, limit, top=False, implicit=implicit, depth=depth
            )
        else:
            end_of_item = position + 8 + size
            item, end = _dataset(
                data, position + 8, end_of_item, top=False, implicit=implicit, depth=depth
            )
            position = position + 8 + size
            if end != position:
                raise UnsupportedError
        items.append(item)
    if length == UNDEFINED or position != limit:
        raise UnsupportedError
    return items, limit


def _pixels_end(data: memoryview, position: int, *, implicit: bool) -> int:
    """Where the Pixel Data element at ``position`` ends (encapsulated: after its delimiter)."""
    if implicit:
        length = LENGTH_32.unpack_from(data, position + 4)[0]
        if length == UNDEFINED:
            raise UnsupportedError
        return int(position + 8 + length)
    element_vr = bytes(data[position + 4 : position + 6])
    if element_vr not in (b"OB", b"OW"):
        raise UnsupportedError
    length = LENGTH_32.unpack_from(data, position + 8)[0]
    position += 12
    if length != UNDEFINED:
        return int(position + length)
    while position + 8 <= len(data):
        group, number, size = PLAIN.unpack_from(data, position)
        position += 8
        if (group << 16 | number) == SEQUENCE_END:
            return position
        if (group << 16 | number) != ITEM:
            break
        position += size
    return -1


def _encode(tag: int, vr: str, value: bytes, *, implicit: bool) -> bytes:
    group, number = tag >> 16, tag & 0xFFFF
    if implicit:
        return PLAIN.pack(group, number, len(value)) + value
    if vr in LONG_HEADER_VRS:
        return LONG.pack(group, number, vr.encode(), len(value)) + value
    if len(value) > 0xFFFF:
        raise UnsupportedError
    return SHORT.pack(group, number, vr.encode(), len(value)) + value


def _value_bytes(vr: str, value: object) -> bytes:
    """A new value as stored: text (ASCII only), a numeric zero or bytes."""
    if isinstance(value, bytes):
        return value + b"\x00" if len(value) % 2 else value
    if isinstance(value, int) and vr in NUMBER_SIZES and value == 0:
        return bytes(NUMBER_SIZES[vr])
    return _ascii(value, vr)


def _ascii(value: object, vr: str) -> bytes:
    encoded = ascii_text(value, b"\x00" if vr == "UI" else b" ")
    if encoded is None:
        raise UnsupportedError
    return encoded


def _sequence_header(tag: int, *, implicit: bool) -> bytes:
    start = IMPLICIT_SEQUENCE_START if implicit else SEQUENCE_START
    return TAG.pack(tag >> 16, tag & 0xFFFF) + start


def _sequence_bytes(tag: int, items: list[bytes], *, implicit: bool) -> bytes:
    body = b"".join(ITEM_START + item + ITEM_STOP for item in items)
    return _sequence_header(tag, implicit=implicit) + body + SEQUENCE_STOP


#: The elements that record what was done (``Profile._record``), written here from the same
#: values.
RECORD_TAGS = frozenset({0x00120062, 0x00120063, 0x00120064, 0x00280303})


@cache
def _records(
    options: frozenset[Option], unsearched: bool, implicit: bool
) -> tuple[tuple[int, bytes], ...]:
    """The elements ``dataset_pass._record`` adds, encoded once per set of options (and
    whether the pixels were left unsearched)."""
    profile = Profile(KeyedMapping(b""), options, pixels_unsearched=unsearched)

    def text(tag: int, vr: str, value: object) -> bytes:
        return _encode(tag, vr, _ascii(value, vr), implicit=implicit)

    codes = [
        text(0x00080100, "SH", value)  # Code Value
        + text(0x00080102, "SH", "DCM")  # Coding Scheme Designator
        + text(0x00080104, "LO", meaning)  # Code Meaning
        for value, meaning in profile.codes()
    ]
    return (
        (0x00120062, text(0x00120062, "CS", "YES")),
        (0x00120063, text(0x00120063, "LO", profile.method())),
        (0x00120064, _sequence_bytes(0x00120064, codes, implicit=implicit)),
        *([(BURNED_IN, text(BURNED_IN, "CS", "YES"))] if unsearched else []),
        (0x00280303, text(0x00280303, "CS", profile.temporal())),
    )


def ascii_text(value: object, pad: bytes) -> bytes | None:
    """An ASCII text value as stored (None: not plain text)."""
    if value is None or value == "":
        return b""
    if isinstance(value, str):
        parts = [value]
    elif isinstance(value, MutableSequence) and all(isinstance(v, str) for v in value):
        parts = list(value)
    else:
        return None
    try:
        encoded = "\\".join(parts).encode("ascii")
    except UnicodeEncodeError:
        return None
    return encoded + pad if len(encoded) % 2 else encoded
