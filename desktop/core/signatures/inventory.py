"""Every signature a file holds, at every level, with the values needed to check it."""

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from desktop.core.signatures.elements import Item, Part10, value
from desktop.core.signatures.location import Location

MAC_PARAMETERS, DIGITAL_SIGNATURES = 0x4FFE0001, 0xFFFAFFFA
MAC_ID, MAC_SYNTAX, MAC_ALGORITHM, ELEMENTS_SIGNED = 0x04000005, 0x04000010, 0x04000015, 0x04000020
SIGNATURE_UID, SIGNATURE_DATETIME, CERTIFICATE_TYPE = 0x04000100, 0x04000105, 0x04000110
CERTIFICATE, SIGNATURE, PURPOSES = 0x04000115, 0x04000120, 0x04000401
CODE_VALUE, CODE_MEANING = 0x00080100, 0x00080104


@dataclass(frozen=True, slots=True)
class FoundSignature:
    """One Digital Signatures Sequence item with its MAC Parameters item (if any)."""

    location: Location
    level: Item
    item: Item
    mac_id: int | None
    uid: str
    datetime: str
    certificate_type: str
    certificate: bytes
    signature: bytes
    algorithm: str  # MAC Algorithm, "" when the MAC Parameters item is missing
    transfer_syntax: str
    signed_tags: tuple[int, ...]
    purpose_code: str
    purpose_meaning: str
    has_mac_parameters: bool


def signatures(part10: Part10) -> list[FoundSignature]:
    """All signatures, the main data set's first, then those inside items in file order."""
    return list(_walk(part10, part10.dataset, ()))


def mac_ids(level: Item, data: bytes) -> set[int]:
    """The MAC ID Numbers used at a level (by MAC Parameters or Digital Signatures items)."""
    used = set()
    for tag in (MAC_PARAMETERS, DIGITAL_SIGNATURES):
        sequence = level.find(tag)
        for item in sequence.items or () if sequence else ():
            number = _us(data, item, MAC_ID)
            if number is not None:
                used.add(number)
    return used


def _walk(part10: Part10, level: Item, location: Location) -> Iterator[FoundSignature]:
    data = part10.data
    sequence = level.find(DIGITAL_SIGNATURES)
    parameters = level.find(MAC_PARAMETERS)
    by_id = {_us(data, i, MAC_ID): i for i in (parameters.items or [])} if parameters else {}
    for item in sequence.items or () if sequence else ():
        number = _us(data, item, MAC_ID)
        mac = by_id.get(number)
        purpose = item.find(PURPOSES)
        code_item = purpose.items[0] if purpose and purpose.items else None
        yield FoundSignature(
            location=location,
            level=level,
            item=item,
            mac_id=number,
            uid=_text(data, item, SIGNATURE_UID),
            datetime=_text(data, item, SIGNATURE_DATETIME),
            certificate_type=_text(data, item, CERTIFICATE_TYPE),
            certificate=_bytes(data, item, CERTIFICATE),
            signature=_bytes(data, item, SIGNATURE),
            algorithm=_text(data, mac, MAC_ALGORITHM) if mac else "",
            transfer_syntax=_text(data, mac, MAC_SYNTAX) if mac else "",
            signed_tags=_tags(data, mac) if mac else (),
            purpose_code=_text(data, code_item, CODE_VALUE) if code_item else "",
            purpose_meaning=_text(data, code_item, CODE_MEANING) if code_item else "",
            has_mac_parameters=mac is not None,
        )
    for element in level.elements:
        if element.tag in (MAC_PARAMETERS, DIGITAL_SIGNATURES):
            continue
        for index, inner in enumerate(element.items or ()):
            yield from _walk(part10, inner, (*location, (element.tag, index)))


def _bytes(data: bytes, item: Item, tag: int) -> bytes:
    element = item.find(tag)
    return value(data, element) if element else b""


def _text(data: bytes, item: Item, tag: int) -> str:
    return _bytes(data, item, tag).decode("ascii", "replace").rstrip("\0 ")


def _us(data: bytes, item: Item, tag: int) -> int | None:
    raw = _bytes(data, item, tag)
    return int(struct.unpack_from("<H", raw)[0]) if len(raw) >= 2 else None


def _tags(data: bytes, item: Item) -> tuple[int, ...]:
    raw = _bytes(data, item, ELEMENTS_SIGNED)
    pairs = struct.iter_unpack("<HH", raw[: len(raw) // 4 * 4])
    return tuple(group << 16 | number for group, number in pairs)
