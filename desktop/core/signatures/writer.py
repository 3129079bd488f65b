"""Adding a signature: the MAC Parameters and Digital Signatures items, and the file with them.

Only the sequences on the way to the signed level are re-encoded (with undefined lengths, which
the MAC stream ignores, so no other signature changes); every other byte is copied as it is.
"""

import datetime as dt
import struct
from collections.abc import Callable
from dataclasses import dataclass

from pydicom.uid import generate_uid

from desktop.core.signatures import mac
from desktop.core.signatures.elements import (
    LONG_VRS,
    Element,
    Part10,
    standalone,
)
from desktop.core.signatures.inventory import (
    CERTIFICATE,
    CERTIFICATE_TYPE,
    DIGITAL_SIGNATURES,
    ELEMENTS_SIGNED,
    MAC_ALGORITHM,
    MAC_ID,
    MAC_PARAMETERS,
    MAC_SYNTAX,
    PURPOSES,
    SIGNATURE,
    SIGNATURE_DATETIME,
    SIGNATURE_UID,
    mac_ids,
)
from desktop.core.signatures.location import Location, resolve
from desktop.core.signatures.profiles import Purpose

_ITEM_UNDEFINED = b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
_ITEM_END = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
_SEQUENCE_END = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_PAD = {"UI": b"\0", "OB": b"\0"}


@dataclass(frozen=True, slots=True)
class Pending:
    """A signature ready to be made: sign ``digest``, then ``finish`` gives the new file's
    bytes as pieces to write one after the other (most of them views into the original)."""

    digest: bytes
    algorithm: str
    mac_id: int
    uid: str
    signed_tags: tuple[int, ...]
    finish: Callable[[bytes], list[bytes | memoryview]]


def prepare(
    part10: Part10,
    *,
    location: Location,
    algorithm: str,
    certificate_der: bytes,
    purpose: Purpose | None,
    now: dt.datetime,
) -> Pending:
    """Everything up to the private-key operation, for the level at ``location``."""
    if algorithm not in mac.ALGORITHMS:
        raise ValueError(f"{algorithm} is not an allowed MAC algorithm")
    if not part10.explicit:
        raise ValueError("convert an implicit VR file to Explicit VR Little Endian first")
    level = resolve(part10.dataset, location)
    used = mac_ids(level, part10.data)
    number = next(n for n in range(len(used) + 1) if n not in used)
    tags = tuple(mac.default_tags(level))
    uid = generate_uid(prefix=None)
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S.%f+0000")

    def signature_item(signature: bytes) -> bytes:
        return b"".join(
            [
                encode(MAC_ID, "US", struct.pack("<H", number)),
                encode(SIGNATURE_UID, "UI", uid.encode()),
                encode(SIGNATURE_DATETIME, "DT", stamp.encode()),
                encode(CERTIFICATE_TYPE, "CS", b"X509_1993_SIG"),
                encode(CERTIFICATE, "OB", certificate_der),
                encode(SIGNATURE, "OB", signature),
                _purpose(purpose) if purpose else b"",
            ]
        )

    holder = standalone(signature_item(b""))
    digest = mac.digest(algorithm, part10, level, tags, (holder, holder.dataset))
    parameters = b"".join(
        [
            encode(MAC_ID, "US", struct.pack("<H", number)),
            encode(MAC_SYNTAX, "UI", part10.transfer_syntax.encode()),
            encode(MAC_ALGORITHM, "CS", algorithm.encode()),
            encode(
                ELEMENTS_SIGNED,
                "AT",
                b"".join(struct.pack("<HH", t >> 16, t & 0xFFFF) for t in tags),
            ),
        ]
    )

    def finish(signature: bytes) -> list[bytes | memoryview]:
        additions = {MAC_PARAMETERS: parameters, DIGITAL_SIGNATURES: signature_item(signature)}
        view = memoryview(part10.data)
        return [
            view[: part10.dataset_start],
            *_level(view, part10.dataset.elements, location, additions),
        ]

    return Pending(digest, algorithm, number, uid, tags, finish)


def encode(tag: int, vr: str, content: bytes) -> bytes:
    """One element in Explicit VR Little Endian, its value padded to even length."""
    if len(content) % 2:
        content += _PAD.get(vr, b" ")
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr.encode()
    if vr in LONG_VRS:
        return head + struct.pack("<2xI", len(content)) + content
    return head + struct.pack("<H", len(content)) + content


def _purpose(purpose: Purpose) -> bytes:
    code = b"".join(
        [
            encode(0x00080100, "SH", purpose.code.encode()),
            encode(0x00080102, "SH", b"ASTM-sigpurpose"),
            encode(0x00080104, "LO", purpose.meaning.encode()),
        ]
    )
    item = b"\xfe\xff\x00\xe0" + struct.pack("<I", len(code)) + code
    return encode(PURPOSES, "SQ", item)


def _sequence(tag: int, items: list[bytes | memoryview]) -> list[bytes | memoryview]:
    header = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + b"SQ\0\0\xff\xff\xff\xff"
    return [header, *items, _SEQUENCE_END]


def _level(
    view: memoryview,
    elements: list[Element],
    location: Location,
    additions: dict[int, bytes],
) -> list[bytes | memoryview]:
    """The bytes of a level's elements with ``additions`` made at ``location`` below it;
    untouched elements go as one view per run (they are contiguous in the file)."""
    out: list[bytes | memoryview] = []
    pending = dict(additions) if not location else {}
    run = elements[0].start if elements else 0
    for element in elements:
        changed: list[bytes | memoryview] = []
        for tag in sorted(t for t in pending if t < element.tag):
            changed += _sequence(tag, [_new_item(pending.pop(tag))])
        if element.tag in pending:
            kept: list[bytes | memoryview] = [view[i.start : i.end] for i in element.items or []]
            changed += _sequence(element.tag, [*kept, _new_item(pending.pop(element.tag))])
            skip = True
        elif location and element.tag == location[0][0]:
            changed += _sequence(element.tag, _items(view, element, location, additions))
            skip = True
        else:
            skip = False
        if changed:
            out += [view[run : element.start], *changed]
            run = element.end if skip else element.start
    out.append(view[run : elements[-1].end] if elements else b"")
    for tag in sorted(pending):
        out += _sequence(tag, [_new_item(pending[tag])])
    return out


def _items(
    view: memoryview, element: Element, location: Location, additions: dict[int, bytes]
) -> list[bytes | memoryview]:
    out: list[bytes | memoryview] = []
    for index, item in enumerate(element.items or []):
        if index == location[0][1]:
            out += [
                _ITEM_UNDEFINED,
                *_level(view, item.elements, location[1:], additions),
                _ITEM_END,
            ]
        else:
            out.append(view[item.start : item.end])
    return out


def _new_item(content: bytes) -> bytes:
    return b"\xfe\xff\x00\xe0" + struct.pack("<I", len(content)) + content
