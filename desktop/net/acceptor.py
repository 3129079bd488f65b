"""The acceptor's side of association negotiation (PS3.8 section 9.3): what an
A-ASSOCIATE-RQ asks for, and the AC, RJ and ABORT we answer with.

The request is decoded and the answers encoded by ``pdu.py``, as the requestor's side does:
one decoder and one encoder of the standard's byte layouts.
"""

from dataclasses import dataclass, field
from typing import cast

from desktop.net import pdu
from desktop.net.link import ProtocolError
from desktop.net.pdu import (
    A_ASSOCIATE_AC,
    A_ASSOCIATE_RQ,
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION,
)

MAX_PROPOSED_CONTEXTS = pdu.MAX_CONTEXTS  # context IDs are odd numbers 1 to 255

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


@dataclass(slots=True)
class AssociationRequest:
    """What a requestor asked for."""

    protocol_version: int
    called: str
    calling: str
    application_context: str
    proposals: list[pdu.ProposedContext] = field(default_factory=list)
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


def _text(value: str) -> str:
    """A UID or AE title as compared: ASCII, without its padding at either end."""
    stripped = value.strip("\0 ")
    if not stripped.isascii():
        raise AssociationRequestError(f"a UID or AE title holds non-ASCII bytes: {stripped!r}")
    return stripped


def parse_request(body: bytes) -> AssociationRequest:
    """Decode an A-ASSOCIATE-RQ's variable part (the bytes after its 6-byte PDU header) with
    ``pdu.decode``, leniently (what an acceptor may ignore is ignored), then check what the
    listener relies on: AE titles in ASCII, 1 to 128 presentation contexts each with an
    abstract syntax and transfer syntaxes, roles of 0 or 1."""
    try:
        associate = cast(pdu.Associate, pdu.decode(A_ASSOCIATE_RQ, body, lenient=True))
    except ProtocolError as error:
        raise AssociationRequestError(error.detail) from error
    request = AssociationRequest(
        associate.version, _text(associate.called), _text(associate.calling), ""
    )
    for item in associate.items:
        if isinstance(item, pdu.ApplicationContext):
            request.application_context = _text(item.name)
        elif isinstance(item, pdu.ProposedContext):
            request.proposals.append(_proposal(item))
        elif isinstance(item, pdu.UserInformation):
            _user_information(item, request)
    if not request.proposals:
        raise AssociationRequestError("no presentation context proposed")
    if len(request.proposals) > MAX_PROPOSED_CONTEXTS:
        raise AssociationRequestError("more than 128 presentation contexts proposed")
    return request


def _proposal(item: pdu.ProposedContext) -> pdu.ProposedContext:
    abstract = _text(item.abstract_syntax)
    if not abstract or not item.transfer_syntaxes:
        raise AssociationRequestError(
            f"presentation context {item.context_id} lacks an abstract syntax or transfer syntaxes"
        )
    syntaxes = tuple(_text(s) for s in item.transfer_syntaxes)
    return pdu.ProposedContext(item.context_id, abstract, syntaxes)


def _user_information(item: pdu.UserInformation, request: AssociationRequest) -> None:
    for sub in item.sub_items:
        if isinstance(sub, pdu.MaximumLength):
            request.max_pdu_length = sub.value
        elif isinstance(sub, pdu.ImplementationClass):
            request.implementation_class_uid = _text(sub.uid)
        elif isinstance(sub, pdu.ImplementationVersion):
            request.implementation_version = _text(sub.name)
        elif isinstance(sub, pdu.RoleSelection):
            if sub.scu > 1 or sub.scp > 1:
                raise AssociationRequestError(
                    f"a role selection item with roles {sub.scu} and {sub.scp}"
                )
            request.roles[_text(sub.sop_class)] = (sub.scu, sub.scp)


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
