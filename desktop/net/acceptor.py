"""The acceptor's side of association negotiation (PS3.8 section 9.3): decoding an
A-ASSOCIATE-RQ with every length checked, and encoding the AC, RJ and ABORT we answer with.

The answers are encoded by ``pdu.py``'s items, as the requestor's side is: one encoder of
the standard's byte layouts.
"""

import struct
from dataclasses import dataclass, field

from desktop.net import pdu
from desktop.net.pdu import A_ASSOCIATE_AC, IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION

HEADER_LENGTH = 68  # protocol version, reserved, called, calling, 32 reserved bytes
MAX_PROPOSED_CONTEXTS = 128  # context IDs are odd numbers 1 to 255

# A-ASSOCIATE-RJ (result, source, reason), PS3.8 9.3.4.
REJECT_CALLED_AE = (1, 1, 7)
REJECT_CALLING_AE = (1, 1, 3)
REJECT_APPLICATION_CONTEXT = (1, 1, 2)
REJECT_NO_REASON = (1, 1, 1)
REJECT_PROTOCOL_VERSION = (1, 2, 2)
REJECT_LOCAL_LIMIT = (2, 3, 2)

# A-ABORT reasons when we (the service provider) abort, PS3.8 9.3.8.
ABORT_UNEXPECTED_PDU = 2
ABORT_INVALID_PARAMETER = 6
ABORT_NOT_SPECIFIED = 0

# Presentation context results, PS3.8 9.3.3.2.
ACCEPTED, ABSTRACT_NOT_SUPPORTED, TRANSFER_NOT_SUPPORTED = 0, 3, 4


class AssociationRequestError(ValueError):
    """An A-ASSOCIATE-RQ that does not follow PS3.8; the message says where."""


@dataclass(frozen=True, slots=True)
class Proposal:
    context_id: int
    abstract_syntax: str
    transfer_syntaxes: tuple[str, ...]


@dataclass(slots=True)
class AssociationRequest:
    """What a requestor asked for."""

    protocol_version: int
    called: str
    calling: str
    application_context: str
    proposals: list[Proposal] = field(default_factory=list)
    max_pdu_length: int = 0
    implementation_class_uid: str = ""
    implementation_version: str = ""
    # SCP/SCU role selection (PS3.7 D.3.3.4): SOP class → (requestor may be SCU, ... SCP)
    roles: dict[str, tuple[int, int]] = field(default_factory=dict)

    def may_act_as_scp(self, sop_class: str) -> bool:
        """Whether the requestor proposed to take the SCP role for ``sop_class`` (C-GET's
        storage sub-operations come to it)."""
        return self.roles.get(sop_class, (1, 0))[1] == 1


@dataclass(frozen=True, slots=True)
class ContextAnswer:
    context_id: int
    result: int
    transfer_syntax: str


def _text(raw: bytes) -> str:
    try:
        return raw.decode("ascii").strip("\0 ")
    except UnicodeDecodeError as error:
        raise AssociationRequestError(
            f"a UID or AE title holds non-ASCII bytes: {raw!r}"
        ) from error


def _items(data: bytes, where: str) -> list[tuple[int, bytes]]:
    """Type-length-value items; an item longer than what holds it is an error."""
    items, pos = [], 0
    while pos < len(data):
        if pos + 4 > len(data):
            raise AssociationRequestError(f"{where}: an item header is cut short")
        kind, length = data[pos], struct.unpack_from(">H", data, pos + 2)[0]
        if pos + 4 + length > len(data):
            raise AssociationRequestError(
                f"{where}: item 0x{kind:02X} claims {length} bytes, only "
                f"{len(data) - pos - 4} follow"
            )
        items.append((kind, data[pos + 4 : pos + 4 + length]))
        pos += 4 + length
    return items


def parse_request(body: bytes) -> AssociationRequest:
    """Decode an A-ASSOCIATE-RQ's variable part (the bytes after its 6-byte PDU header)."""
    if len(body) < HEADER_LENGTH:
        raise AssociationRequestError(
            f"the request is {len(body)} bytes, shorter than its fixed {HEADER_LENGTH}"
        )
    request = AssociationRequest(
        protocol_version=struct.unpack_from(">H", body)[0],
        called=_text(body[4:20]),
        calling=_text(body[20:36]),
        application_context="",
    )
    for kind, value in _items(body[HEADER_LENGTH:], "A-ASSOCIATE-RQ"):
        if kind == 0x10:
            request.application_context = _text(value)
        elif kind == 0x20:
            if len(request.proposals) >= MAX_PROPOSED_CONTEXTS:
                raise AssociationRequestError("more than 128 presentation contexts proposed")
            request.proposals.append(_proposal(value))
        elif kind == 0x50:
            _user_information(value, request)
    if not request.proposals:
        raise AssociationRequestError("no presentation context proposed")
    return request


def _proposal(value: bytes) -> Proposal:
    if len(value) < 4:
        raise AssociationRequestError("a presentation context item is cut short")
    abstract, syntaxes = "", []
    for kind, sub in _items(value[4:], f"presentation context {value[0]}"):
        if kind == 0x30:
            abstract = _text(sub)
        elif kind == 0x40:
            syntaxes.append(_text(sub))
    if not abstract or not syntaxes:
        raise AssociationRequestError(
            f"presentation context {value[0]} lacks an abstract syntax or transfer syntaxes"
        )
    return Proposal(value[0], abstract, tuple(syntaxes))


def _user_information(value: bytes, request: AssociationRequest) -> None:
    for kind, sub in _items(value, "user information"):
        if kind == 0x51:
            if len(sub) != 4:
                raise AssociationRequestError("the maximum length item is not 4 bytes")
            request.max_pdu_length = struct.unpack(">I", sub)[0]
        elif kind == 0x52:
            request.implementation_class_uid = _text(sub)
        elif kind == 0x55:
            request.implementation_version = _text(sub)
        elif kind == 0x54:
            request.roles.update([_role_selection(sub)])


def _role_selection(sub: bytes) -> tuple[str, tuple[int, int]]:
    if len(sub) < 2:
        raise AssociationRequestError("a role selection item is cut short")
    length = struct.unpack_from(">H", sub)[0]
    if len(sub) != 2 + length + 2:
        raise AssociationRequestError(
            f"a role selection item of {len(sub)} bytes announces a {length}-byte SOP class"
        )
    scu, scp = sub[2 + length], sub[3 + length]
    if scu > 1 or scp > 1:
        raise AssociationRequestError(f"a role selection item with roles {scu} and {scp}")
    return _text(sub[2 : 2 + length]), (scu, scp)


def associate_accept(
    request: AssociationRequest,
    answers: list[ContextAnswer],
    max_pdu_length: int,
    roles: dict[str, tuple[int, int]] | None = None,
) -> bytes:
    """The A-ASSOCIATE-AC answering ``request`` (AE titles echoed as the standard asks), with
    the role selection answers ``roles`` (SOP class → SCU, SCP role accepted)."""
    user: tuple[pdu.SubItem, ...] = (
        pdu.MaximumLength(max_pdu_length),
        pdu.ImplementationClass(IMPLEMENTATION_CLASS_UID),
        pdu.ImplementationVersion(IMPLEMENTATION_VERSION),
        *(pdu.RoleSelection(uid, scu, scp) for uid, (scu, scp) in (roles or {}).items()),
    )
    items: tuple[pdu.Item, ...] = (
        pdu.ApplicationContext(),
        *(pdu.ContextResult(a.context_id, a.result, a.transfer_syntax) for a in answers),
        pdu.UserInformation(user),
    )
    return pdu.Associate(A_ASSOCIATE_AC, request.called, request.calling, items).encode()


def associate_reject(result: int, source: int, reason: int) -> bytes:
    return pdu.Rejection(result, source, reason).encode()


def provider_abort(reason: int) -> bytes:
    """An A-ABORT from the service provider (source 2) with ``reason``."""
    return pdu.Abort(2, reason).encode()
