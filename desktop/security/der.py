"""A few lines of DER walking: elements, their values and object identifiers, read without
asn1crypto or cryptography (a TLS command's first byte and its success path import neither)."""

from __future__ import annotations

from typing import NamedTuple


class Element(NamedTuple):
    """One DER element: where it begins, and where its value starts and ends."""

    at: int
    start: int
    end: int


def tlv(data: bytes, at: int, tag: int | None = None) -> Element:
    """The DER element at ``at`` (of tag ``tag`` when given)."""
    if at + 2 > len(data):
        raise ValueError("it ends within a DER element")
    if tag is not None and data[at] != tag:
        raise ValueError(f"DER tag {data[at]:#04x} where {tag:#04x} belongs")
    length = data[at + 1]
    start = at + 2
    if length & 0x80:
        if not 1 <= length & 0x7F <= 4:
            raise ValueError("not DER: an indefinite or oversized length")
        start += length & 0x7F
        length = int.from_bytes(data[at + 2 : start], "big")
    if start + length > len(data):
        raise ValueError("a DER element runs past the end")
    return Element(at, start, start + length)


def elements(data: bytes, container: Element) -> list[Element]:
    """The elements one after the other in ``container``'s value."""
    found = []
    at = container.start
    while at < container.end:
        found.append(tlv(data, at))
        at = found[-1].end
    if at != container.end:
        raise ValueError("DER elements overrun their container")
    return found


def value(data: bytes, element: Element) -> bytes:
    return data[element.start : element.end]


def dotted(encoded: bytes) -> str:
    """An OBJECT IDENTIFIER's value as its dotted string ("2.5.4.3")."""
    arcs, arc = [], 0
    for byte in encoded:
        arc = arc << 7 | byte & 0x7F
        if not byte & 0x80:
            arcs.append(arc)
            arc = 0
    if not arcs or encoded[-1] & 0x80:
        raise ValueError("not DER: a truncated object identifier")
    first = min(arcs[0] // 40, 2)
    return ".".join(map(str, (first, arcs[0] - 40 * first, *arcs[1:])))
