"""DIMSE command sets (PS3.7): always implicit VR little endian, group 0000 only."""

import struct

from desktop.core.shown import shown
from desktop.net.link import ProtocolError
from desktop.net.status import ECHO, FIND, GET, MOVE, N_ACTION, N_EVENT_REPORT, STORE

VERIFICATION = "1.2.840.10008.1.1"  # the SOP class of C-ECHO
C_STORE_RQ, C_STORE_RSP = 0x0001, 0x8001
C_ECHO_RQ, C_ECHO_RSP = 0x0030, 0x8030
C_FIND_RQ, C_FIND_RSP = 0x0020, 0x8020
C_MOVE_RQ, C_MOVE_RSP = 0x0021, 0x8021
C_GET_RQ, C_GET_RSP = 0x0010, 0x8010
C_CANCEL_RQ = 0x0FFF
N_EVENT_REPORT_RQ, N_EVENT_REPORT_RSP = 0x0100, 0x8100
N_ACTION_RQ, N_ACTION_RSP = 0x0130, 0x8130
RESPONSES = {
    C_STORE_RQ: C_STORE_RSP,
    C_ECHO_RQ: C_ECHO_RSP,
    C_FIND_RQ: C_FIND_RSP,
    C_MOVE_RQ: C_MOVE_RSP,
    C_GET_RQ: C_GET_RSP,
    N_ACTION_RQ: N_ACTION_RSP,
    N_EVENT_REPORT_RQ: N_EVENT_REPORT_RSP,
}
SERVICES = {
    C_STORE_RQ: STORE,
    C_ECHO_RQ: ECHO,
    C_FIND_RQ: FIND,
    C_MOVE_RQ: MOVE,
    C_GET_RQ: GET,
    N_ACTION_RQ: N_ACTION,
    N_EVENT_REPORT_RQ: N_EVENT_REPORT,
}
NO_DATASET, DATASET_PRESENT = 0x0101, 0x0000

AFFECTED_SOP_CLASS = 0x00000002
REQUESTED_SOP_CLASS = 0x00000003
COMMAND_FIELD = 0x00000100
MESSAGE_ID = 0x00000110
MESSAGE_ID_RESPONDED = 0x00000120
PRIORITY = 0x00000700
DATASET_TYPE = 0x00000800
STATUS = 0x00000900
ERROR_COMMENT = 0x00000902
AFFECTED_SOP_INSTANCE = 0x00001000
REQUESTED_SOP_INSTANCE = 0x00001001
EVENT_TYPE_ID = 0x00001002
ACTION_TYPE_ID = 0x00001008
MOVE_DESTINATION = 0x00000600
MOVE_ORIGINATOR_AE, MOVE_ORIGINATOR_ID = 0x00001030, 0x00001031
REMAINING, COMPLETED, FAILED_COUNT, WARNING_COUNT = 0x00001020, 0x00001021, 0x00001022, 0x00001023

UID_TAGS = frozenset(
    {AFFECTED_SOP_CLASS, AFFECTED_SOP_INSTANCE, REQUESTED_SOP_CLASS, REQUESTED_SOP_INSTANCE}
)
TEXT_TAGS = frozenset({ERROR_COMMENT, MOVE_DESTINATION, MOVE_ORIGINATOR_AE})


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


US_TAGS = frozenset(
    {COMMAND_FIELD, MESSAGE_ID, MESSAGE_ID_RESPONDED, PRIORITY, DATASET_TYPE, STATUS}
    | {MOVE_ORIGINATOR_ID}
    | {REMAINING, COMPLETED, FAILED_COUNT, WARNING_COUNT, EVENT_TYPE_ID, ACTION_TYPE_ID}
)


ELEMENT_HEADER = struct.Struct("<HHI")


def decode_command(data: bytes) -> dict[int, str | int]:
    """The elements of a received command set: US values as int, UIDs and text as str, other
    elements skipped; an element that overruns the set or has the wrong size is an error.
    (Checked inline rather than through pdu.Reader: this runs once per C-STORE.)"""
    elements: dict[int, str | int] = {}
    pos, end = 0, len(data)
    while pos < end:
        if end - pos < 8:
            raise ProtocolError(
                "an element header in the command set is cut short: it needs 8 bytes, "
                f"only {end - pos} remain"
            )
        group, element, length = ELEMENT_HEADER.unpack_from(data, pos)
        pos += 8
        if group != 0 or length > end - pos:
            name = f"element ({group:04X},{element:04X})"
            if group != 0:
                raise ProtocolError(f"the command set holds {name}, outside group 0000")
            raise ProtocolError(
                f"{name} in the command set is cut short: it needs {length} bytes, "
                f"only {end - pos} remain"
            )
        value = data[pos : pos + length]
        pos += length
        if element in UID_TAGS:
            elements[element] = value.decode("ascii", "replace").rstrip("\0 ")
        elif element in TEXT_TAGS:  # the peer's words, said on terminals and in the GUI
            elements[element] = shown(value.decode("ascii", "replace").rstrip("\0 "))
        elif element in US_TAGS:
            if length != 2:
                raise ProtocolError(
                    f"the command set's element (0000,{element:04X}) has {length} bytes "
                    "instead of 2"
                )
            elements[element] = value[0] | value[1] << 8
    return elements


Originator = tuple[str, int]  # the AE title and message ID of the C-MOVE a C-STORE serves


def store_request(
    message_id: int, sop_class: str, sop_instance: str, originator: Originator | None = None
) -> bytes:
    """A C-STORE-RQ; a C-MOVE's sub-operation names the move's originator (PS3.7 9.1.1.1)."""
    elements: dict[int, str | int] = {
        AFFECTED_SOP_CLASS: sop_class,
        COMMAND_FIELD: C_STORE_RQ,
        MESSAGE_ID: message_id,
        PRIORITY: 0,
        DATASET_TYPE: DATASET_PRESENT,
        AFFECTED_SOP_INSTANCE: sop_instance,
    }
    if originator is not None:
        elements[MOVE_ORIGINATOR_AE], elements[MOVE_ORIGINATOR_ID] = originator
    return encode_command(elements)


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
            AFFECTED_SOP_CLASS: VERIFICATION,
            COMMAND_FIELD: C_ECHO_RQ,
            MESSAGE_ID: message_id,
            DATASET_TYPE: NO_DATASET,
        }
    )


def cancel_request(message_id: int) -> bytes:
    """A C-CANCEL-RQ for the find or move with ``message_id`` (PS3.7 9.3.2.3)."""
    return encode_command(
        {COMMAND_FIELD: C_CANCEL_RQ, MESSAGE_ID_RESPONDED: message_id, DATASET_TYPE: NO_DATASET}
    )


def action_request(message_id: int, sop_class: str, sop_instance: str, action: int) -> bytes:
    """An N-ACTION-RQ with a data set (the action information)."""
    return encode_command(
        {
            REQUESTED_SOP_CLASS: sop_class,
            COMMAND_FIELD: N_ACTION_RQ,
            MESSAGE_ID: message_id,
            DATASET_TYPE: DATASET_PRESENT,
            REQUESTED_SOP_INSTANCE: sop_instance,
            ACTION_TYPE_ID: action,
        }
    )


def event_report_request(message_id: int, sop_class: str, sop_instance: str, event: int) -> bytes:
    """An N-EVENT-REPORT-RQ with a data set (the event information)."""
    return encode_command(
        {
            AFFECTED_SOP_CLASS: sop_class,
            COMMAND_FIELD: N_EVENT_REPORT_RQ,
            MESSAGE_ID: message_id,
            DATASET_TYPE: DATASET_PRESENT,
            AFFECTED_SOP_INSTANCE: sop_instance,
            EVENT_TYPE_ID: event,
        }
    )


def response(
    command_field: int,
    message_id: int,
    status: int,
    *,
    sop_class: str = "",
    sop_instance: str = "",
    extra: dict[int, str | int] | None = None,
) -> bytes:
    """A response without a data set to message ``message_id``."""
    elements: dict[int, str | int] = {
        COMMAND_FIELD: command_field,
        MESSAGE_ID_RESPONDED: message_id,
        DATASET_TYPE: NO_DATASET,
        STATUS: status,
        **(extra or {}),
    }
    if sop_class:
        elements[AFFECTED_SOP_CLASS] = sop_class
    if sop_instance:
        elements[AFFECTED_SOP_INSTANCE] = sop_instance
    return encode_command(elements)
