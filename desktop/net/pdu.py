"""DICOM upper layer PDUs (PS3.8 section 9): encoding what we send, decoding what we receive."""

import struct
from dataclasses import dataclass, field

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.10.1467.1"
IMPLEMENTATION_VERSION = "COURIER_010"
A_ASSOCIATE_RQ, A_ASSOCIATE_AC, A_ASSOCIATE_RJ = 0x01, 0x02, 0x03
P_DATA_TF, A_RELEASE_RQ, A_RELEASE_RP, A_ABORT = 0x04, 0x05, 0x06, 0x07
MAX_CONTEXTS = 128

CONTEXT_RESULTS = {
    0: "accepted",
    1: "user rejection",
    2: "no reason given",
    3: "abstract syntax not supported",
    4: "transfer syntaxes not supported",
}
REJECT_REASONS = {
    (1, 1): "no reason given",
    (1, 2): "application context name not supported",
    (1, 3): "calling AE title not recognised",
    (1, 7): "called AE title not recognised",
    (2, 1): "no reason given",
    (2, 2): "protocol version not supported",
    (3, 1): "temporary congestion",
    (3, 2): "local limit exceeded",
}
ABORT_REASONS = {
    0: "reason not specified",
    1: "unrecognised PDU",
    2: "unexpected PDU",
    4: "unrecognised PDU parameter",
    5: "unexpected PDU parameter",
    6: "invalid PDU parameter value",
}


@dataclass(frozen=True, slots=True)
class ProposedContext:
    context_id: int
    abstract_syntax: str
    transfer_syntaxes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ContextResult:
    context_id: int
    result: int
    transfer_syntax: str

    @property
    def accepted(self) -> bool:
        return self.result == 0


@dataclass(slots=True)
class Acceptance:
    """What an A-ASSOCIATE-AC says: the contexts' fate and the peer's maximum PDU length."""

    contexts: dict[int, ContextResult] = field(default_factory=dict)
    max_pdu_length: int = 0
    implementation_class_uid: str = ""


@dataclass(frozen=True, slots=True)
class Rejection:
    """An A-ASSOCIATE-RJ: result 1 is permanent, 2 transient."""

    result: int
    source: int
    reason: int

    @property
    def transient(self) -> bool:
        return self.result == 2

    def describe(self) -> str:
        cause = REJECT_REASONS.get((self.source, self.reason), f"reason {self.reason}")
        by = {1: "the peer", 2: "the peer's upper layer (ACSE)", 3: "the peer's presentation layer"}
        kind = "temporarily" if self.transient else "permanently"
        return f"association rejected {kind} by {by.get(self.source, 'the peer')}: {cause}"


def _item(kind: int, value: bytes) -> bytes:
    return struct.pack(">BBH", kind, 0, len(value)) + value


def _uid(value: str) -> bytes:
    return value.encode("ascii")


def associate_request(
    called: str, calling: str, contexts: list[ProposedContext], max_pdu_length: int
) -> bytes:
    """An A-ASSOCIATE-RQ PDU."""
    items = [_item(0x10, _uid(APPLICATION_CONTEXT))]
    for context in contexts:
        body = bytes([context.context_id, 0, 0, 0]) + _item(0x30, _uid(context.abstract_syntax))
        body += b"".join(_item(0x40, _uid(ts)) for ts in context.transfer_syntaxes)
        items.append(_item(0x20, body))
    user = (
        _item(0x51, struct.pack(">I", max_pdu_length))
        + _item(0x52, _uid(IMPLEMENTATION_CLASS_UID))
        + _item(0x55, IMPLEMENTATION_VERSION.encode("ascii"))
    )
    items.append(_item(0x50, user))
    variable = (
        struct.pack(">HH", 1, 0)
        + called.encode("ascii").ljust(16)[:16]
        + calling.encode("ascii").ljust(16)[:16]
        + bytes(32)
        + b"".join(items)
    )
    return struct.pack(">BBI", A_ASSOCIATE_RQ, 0, len(variable)) + variable


def parse_acceptance(body: bytes) -> Acceptance:
    """Decode an A-ASSOCIATE-AC's variable part (after the 6-byte PDU header)."""
    acceptance = Acceptance()
    for kind, value in _items(body[68:]):
        if kind == 0x21:
            context_id, result = value[0], value[2]
            syntax = ""
            for sub_kind, sub_value in _items(value[4:]):
                if sub_kind == 0x40:
                    syntax = sub_value.decode("ascii").rstrip("\0 ")
            acceptance.contexts[context_id] = ContextResult(context_id, result, syntax)
        elif kind == 0x50:
            for sub_kind, sub_value in _items(value):
                if sub_kind == 0x51 and len(sub_value) == 4:
                    acceptance.max_pdu_length = struct.unpack(">I", sub_value)[0]
                elif sub_kind == 0x52:
                    acceptance.implementation_class_uid = sub_value.decode("ascii").rstrip("\0")
    return acceptance


def parse_rejection(body: bytes) -> Rejection:
    return Rejection(body[1], body[2], body[3])


def _items(data: bytes) -> list[tuple[int, bytes]]:
    items, pos = [], 0
    while pos + 4 <= len(data):
        kind, length = data[pos], struct.unpack_from(">H", data, pos + 2)[0]
        items.append((kind, data[pos + 4 : pos + 4 + length]))
        pos += 4 + length
    return items


def pdv_header(length: int, context_id: int, command: bool, last: bool) -> bytes:
    """The P-DATA-TF PDU header and PDV item header for one PDV of ``length`` data bytes."""
    control = (1 if command else 0) | (2 if last else 0)
    return struct.pack(">BBIIBB", P_DATA_TF, 0, length + 6, length + 2, context_id, control)


def release_request() -> bytes:
    return struct.pack(">BBII", A_RELEASE_RQ, 0, 4, 0)


def release_reply() -> bytes:
    return struct.pack(">BBII", A_RELEASE_RP, 0, 4, 0)


def abort() -> bytes:
    return struct.pack(">BBIBBBB", A_ABORT, 0, 4, 0, 0, 0, 0)


def describe_abort(body: bytes) -> str:
    source, reason = (body[2], body[3]) if len(body) >= 4 else (0, 0)
    if source == 2:
        return f"the peer aborted the association: {ABORT_REASONS.get(reason, reason)}"
    return "the peer aborted the association"
