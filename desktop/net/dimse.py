"""DIMSE command sets (PS3.7): always implicit VR little endian, group 0000 only."""

import struct
from dataclasses import dataclass

C_STORE_RQ, C_STORE_RSP = 0x0001, 0x8001
C_ECHO_RQ, C_ECHO_RSP = 0x0030, 0x8030
C_FIND_RQ, C_MOVE_RQ = 0x0020, 0x0021
NO_DATASET, DATASET_PRESENT = 0x0101, 0x0000

AFFECTED_SOP_CLASS = 0x00000002
COMMAND_FIELD = 0x00000100
MESSAGE_ID = 0x00000110
MESSAGE_ID_RESPONDED = 0x00000120
PRIORITY = 0x00000700
DATASET_TYPE = 0x00000800
STATUS = 0x00000900
ERROR_COMMENT = 0x00000902
AFFECTED_SOP_INSTANCE = 0x00001000
MOVE_DESTINATION = 0x00000600
REMAINING, COMPLETED, FAILED_COUNT, WARNING_COUNT = 0x00001020, 0x00001021, 0x00001022, 0x00001023

UID_TAGS = frozenset({AFFECTED_SOP_CLASS, AFFECTED_SOP_INSTANCE})
TEXT_TAGS = frozenset({ERROR_COMMENT, MOVE_DESTINATION})


def _element(tag: int, value: bytes) -> bytes:
    return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value


def _text(tag: int, value: str) -> bytes:
    """UIDs pad with NUL, other strings (AE titles) with a space."""
    raw = value.encode("ascii")
    return raw + (b"\0" if tag in UID_TAGS else b" ") if len(raw) % 2 else raw


def encode_command(elements: dict[int, str | int]) -> bytes:
    """A command set with its Command Group Length first; ints are US, strings UI."""
    body = b"".join(
        _element(tag, _text(tag, value) if isinstance(value, str) else struct.pack("<H", value))
        for tag, value in sorted(elements.items())
    )
    return _element(0x00000000, struct.pack("<I", len(body))) + body


def decode_command(data: bytes) -> dict[int, str | int]:
    """The elements of a received command set: US values as int, UIs and text as str."""
    elements: dict[int, str | int] = {}
    pos = 0
    while pos + 8 <= len(data):
        group, element, length = struct.unpack_from("<HHI", data, pos)
        tag = group << 16 | element
        value = data[pos + 8 : pos + 8 + length]
        if tag in UID_TAGS or tag in TEXT_TAGS:
            elements[tag] = value.decode("ascii", "replace").rstrip("\0 ")
        elif length == 2:
            elements[tag] = struct.unpack("<H", value)[0]
        elif length == 4:
            elements[tag] = struct.unpack("<I", value)[0]
        pos += 8 + length
    return elements


def store_request(message_id: int, sop_class: str, sop_instance: str) -> bytes:
    return encode_command(
        {
            AFFECTED_SOP_CLASS: sop_class,
            COMMAND_FIELD: C_STORE_RQ,
            MESSAGE_ID: message_id,
            PRIORITY: 0,
            DATASET_TYPE: DATASET_PRESENT,
            AFFECTED_SOP_INSTANCE: sop_instance,
        }
    )


def query_request(
    command_field: int, message_id: int, sop_class: str, destination: str = ""
) -> bytes:
    """A C-FIND-RQ, or a C-MOVE-RQ when a destination AE title is given."""
    elements: dict[int, str | int] = {
        AFFECTED_SOP_CLASS: sop_class,
        COMMAND_FIELD: command_field,
        MESSAGE_ID: message_id,
        PRIORITY: 0,
        DATASET_TYPE: DATASET_PRESENT,
    }
    if destination:
        elements[MOVE_DESTINATION] = destination
    return encode_command(elements)


def echo_request(message_id: int) -> bytes:
    return encode_command(
        {
            AFFECTED_SOP_CLASS: "1.2.840.10008.1.1",
            COMMAND_FIELD: C_ECHO_RQ,
            MESSAGE_ID: message_id,
            DATASET_TYPE: NO_DATASET,
        }
    )


@dataclass(frozen=True, slots=True)
class Status:
    """A DIMSE status with its meaning and category."""

    code: int
    category: str  # "success", "warning", "failure", "cancel", "pending"
    meaning: str

    @property
    def failed(self) -> bool:
        return self.category in ("failure", "cancel")

    @property
    def transient(self) -> bool:
        """Worth retrying later: the peer is out of resources or busy, not refusing."""
        return (self.code & 0xFF00) == 0xA700 or self.code in (0x0213, 0x0214)

    def describe(self) -> str:
        return f"0x{self.code:04X} {self.category}: {self.meaning}"


KNOWN_STATUSES = {
    0x0000: ("success", "success"),
    0xB000: ("warning", "coercion of data elements"),
    0xB006: ("warning", "elements discarded"),
    0xB007: ("warning", "data set does not match SOP class"),
    0x0117: ("failure", "invalid SOP instance"),
    0x0122: ("failure", "SOP class not supported"),
    0x0124: ("failure", "not authorised"),
    0x0210: ("failure", "duplicate invocation"),
    0x0211: ("failure", "unrecognised operation"),
    0x0212: ("failure", "mistyped argument"),
    0x0213: ("failure", "resource limitation"),
    0xFE00: ("cancel", "cancelled"),
}


def status(code: int) -> Status:
    """The meaning of a C-STORE / C-ECHO status (PS3.4 B.2.3 and PS3.7 C)."""
    if code in KNOWN_STATUSES:
        return Status(code, *KNOWN_STATUSES[code])
    high = code & 0xFF00
    if high == 0xA700:
        return Status(code, "failure", "refused: out of resources")
    if high == 0xA900:
        return Status(code, "failure", "error: data set does not match SOP class")
    if code & 0xF000 == 0xC000:
        return Status(code, "failure", "error: cannot understand")
    if high == 0xB000:
        return Status(code, "warning", "warning")
    if code in (0xFF00, 0xFF01):
        return Status(code, "pending", "pending")
    return Status(code, "failure", "unknown status")
