"""The byte stream a DICOM signature's MAC is computed over, as DCMTK's dcmsign writes it.

The signed elements in Explicit VR Little Endian as on the wire, except that a sequence is its
tag, ``SQ`` and two reserved bytes with no length, each item is its tag alone (no length, no
delimiter) followed by its signable elements only, and the sequence ends with the sequence
delimiter tag alone; encapsulated fragments are
item tags without length. Then the signature item's own elements, except Certificate of Signer,
Signature and the Certified Timestamp elements.
"""

import hashlib
import struct
from collections.abc import Iterable, Iterator

from desktop.core.signatures.elements import (
    LONG_VRS,
    SEQUENCE_END,
    Element,
    Item,
    Part10,
)

ALGORITHMS = {"SHA256": "sha256", "SHA384": "sha384", "SHA512": "sha512"}
WEAK_ALGORITHMS = {"MD5": "md5", "SHA1": "sha1", "RIPEMD160": "ripemd160"}
NOT_IN_STREAM = frozenset({0x04000115, 0x04000120, 0x04000305, 0x04000310})
_ITEM_TAG = b"\xfe\xff\x00\xe0"
_SEQUENCE_END_TAG = struct.pack("<HH", SEQUENCE_END >> 16, SEQUENCE_END & 0xFFFF)
_TAG = struct.Struct("<HH")


def signable_tag(tag: int) -> bool:
    """PS3.15 C.12.1.1.3.1.1 / DCMTK: what may ever be listed in Data Elements Signed."""
    group, number = tag >> 16, tag & 0xFFFF
    return not (
        number == 0
        or tag == 0x00080001
        or group < 0x0008
        or group == 0xFFFA
        or tag in (0x4FFE0001, 0xFFFCFFFC)
        or group == 0xFFFE
    )


def signable(element: Element) -> bool:
    """A signable tag whose value is not UN, nor a sequence holding UN anywhere."""
    return signable_tag(element.tag) and not _holds_unknown(element)


def _holds_unknown(element: Element) -> bool:
    if element.vr == "UN":
        return True
    return any(_holds_unknown(e) for item in element.items or () for e in item.elements)


def default_tags(level: Item) -> list[int]:
    """Every signable element of a level, in order: what is signed without an explicit list."""
    return [e.tag for e in level.elements if signable(e)]


def chunks(part10: Part10, elements: Iterable[Element]) -> Iterator[bytes | memoryview]:
    """The stream of ``elements`` (memoryviews into the file wherever the bytes are as on disk)."""
    view = memoryview(part10.data)
    for element in elements:
        yield from _element(view, element, part10.explicit)


def _element(view: memoryview, element: Element, explicit: bool) -> Iterator[bytes | memoryview]:
    if element.items is not None:
        yield _TAG.pack(element.tag >> 16, element.tag & 0xFFFF) + b"SQ\0\0"
        for item in element.items:
            yield _ITEM_TAG
            for inner in item.elements:
                if signable(inner):  # as dcmsign: nested signatures, group lengths ... left out
                    yield from _element(view, inner, explicit)
        yield _SEQUENCE_END_TAG
    elif element.fragments is not None:
        yield _TAG.pack(element.tag >> 16, element.tag & 0xFFFF) + element.vr.encode() + b"\0\0"
        for start, length in element.fragments:
            yield _ITEM_TAG
            yield view[start : start + length]
        yield _SEQUENCE_END_TAG
    elif explicit:
        yield view[element.start : element.end]
    else:
        yield _header(element)
        yield view[element.value_start : element.end]


def _header(element: Element) -> bytes:
    tag = _TAG.pack(element.tag >> 16, element.tag & 0xFFFF)
    if element.vr in LONG_VRS:
        return tag + element.vr.encode() + struct.pack("<2xI", element.length)
    return tag + element.vr.encode() + struct.pack("<H", element.length)


def stream(
    part10: Part10,
    level: Item,
    signed_tags: Iterable[int],
    signature: tuple[Part10, Item],
) -> Iterator[bytes | memoryview]:
    """The MAC input: ``signed_tags`` of ``level``, then the elements of the ``signature`` item
    (given with the file or encoding holding it) but those never in the stream."""
    wanted = set(signed_tags)
    yield from chunks(part10, (e for e in level.elements if e.tag in wanted))
    holder, item = signature
    yield from chunks(holder, (e for e in item.elements if e.tag not in NOT_IN_STREAM))


def digest(
    algorithm: str,
    part10: Part10,
    level: Item,
    signed_tags: Iterable[int],
    signature: tuple[Part10, Item],
) -> bytes:
    """The MAC (``stream``'s hash by the named algorithm); ValueError for an unknown one."""
    name = ALGORITHMS.get(algorithm) or WEAK_ALGORITHMS.get(algorithm)
    if name is None:
        raise ValueError(f"unknown MAC algorithm {algorithm!r}")
    hashed = hashlib.new(name)
    for piece in stream(part10, level, signed_tags, signature):
        hashed.update(piece)
    return hashed.digest()
