"""DICOM upper layer PDUs and items (PS3.8 section 9.3): encoded and decoded with every length
checked, so a malformed PDU becomes one ProtocolError in plain words, never an IndexError."""

import os
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from io import BufferedIOBase
from typing import Protocol

from desktop.net.link import ProtocolError

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.10.1467.1"
IMPLEMENTATION_VERSION = "COURIER_010"
A_ASSOCIATE_RQ, A_ASSOCIATE_AC, A_ASSOCIATE_RJ = 0x01, 0x02, 0x03
P_DATA_TF, A_RELEASE_RQ, A_RELEASE_RP, A_ABORT = 0x04, 0x05, 0x06, 0x07
MAX_CONTEXTS = 128
PDV_LENGTH = struct.Struct(">I")
PDU_NAMES = {
    A_ASSOCIATE_RQ: "A-ASSOCIATE-RQ",
    A_ASSOCIATE_AC: "A-ASSOCIATE-AC",
    A_ASSOCIATE_RJ: "A-ASSOCIATE-RJ",
    P_DATA_TF: "P-DATA-TF",
    A_RELEASE_RQ: "A-RELEASE-RQ",
    A_RELEASE_RP: "A-RELEASE-RP",
    A_ABORT: "A-ABORT",
}
# A-ABORT reasons (PS3.8 table 9-26) we give when the peer breaks the protocol.
UNRECOGNISED_PDU, UNEXPECTED_PDU = 1, 2
UNRECOGNISED_PARAMETER, UNEXPECTED_PARAMETER, INVALID_PARAMETER = 4, 5, 6

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


class Reader:
    """Bytes consumed front to back; asking for more than is left raises ProtocolError."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    @property
    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, count: int, part: str) -> bytes:
        if count > self.left:
            raise ProtocolError(
                f"{part} in the {self.what} is cut short: it needs {count} bytes, "
                f"only {self.left} remain",
                INVALID_PARAMETER,
            )
        value = self.data[self.pos : self.pos + count]
        self.pos += count
        return value

    def unpack(self, layout: str, part: str) -> tuple[int, ...]:
        return struct.unpack(layout, self.take(struct.calcsize(layout), part))

    def items(self) -> list[tuple[int, bytes]]:
        """The rest as items: type (1 byte), reserved (1), length (2), value."""
        found = []
        while self.left:
            kind, _, length = self.unpack(">BBH", "an item header")
            found.append((kind, self.take(length, f"item 0x{kind:02X}")))
        return found


def text(value: bytes, part: str, what: str) -> str:
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError(
            f"the {part} in the {what} is not ASCII text", INVALID_PARAMETER
        ) from None


def uid(value: str) -> str:
    """A UID as compared: without its padding."""
    return value.rstrip("\0 ")


def _item(kind: int, value: bytes) -> bytes:
    if len(value) > 0xFFFF:
        raise ValueError(f"item 0x{kind:02X} holds {len(value)} bytes, more than 65,535")
    return struct.pack(">BBH", kind, 0, len(value)) + value


def _short(value: bytes) -> bytes:
    """A value preceded by its 2-byte length, as inside several user information sub-items."""
    return struct.pack(">H", len(value)) + value


def _read_short(reader: Reader, part: str) -> bytes:
    (length,) = reader.unpack(">H", f"the length of {part}")
    return reader.take(length, part)


def _done(reader: Reader, part: str) -> None:
    if reader.left:
        raise ProtocolError(
            f"{part} in the {reader.what} has {reader.left} unexpected bytes at its end",
            INVALID_PARAMETER,
        )


# User information sub-items (PS3.7 annex D.3.3, PS3.8 annex D)


@dataclass(frozen=True, slots=True)
class MaximumLength:
    value: int
    kind = 0x51

    def encode(self) -> bytes:
        return _item(self.kind, struct.pack(">I", self.value))


@dataclass(frozen=True, slots=True)
class ImplementationClass:
    uid: str
    kind = 0x52

    def encode(self) -> bytes:
        return _item(self.kind, self.uid.encode("ascii"))


@dataclass(frozen=True, slots=True)
class AsyncWindow:
    invoked: int
    performed: int
    kind = 0x53

    def encode(self) -> bytes:
        return _item(self.kind, struct.pack(">HH", self.invoked, self.performed))


@dataclass(frozen=True, slots=True)
class RoleSelection:
    sop_class: str
    scu: int
    scp: int
    kind = 0x54

    def encode(self) -> bytes:
        value = _short(self.sop_class.encode("ascii")) + bytes([self.scu, self.scp])
        return _item(self.kind, value)


@dataclass(frozen=True, slots=True)
class ImplementationVersion:
    name: str
    kind = 0x55

    def encode(self) -> bytes:
        return _item(self.kind, self.name.encode("ascii"))


@dataclass(frozen=True, slots=True)
class ExtendedNegotiation:
    sop_class: str
    information: bytes
    kind = 0x56

    def encode(self) -> bytes:
        return _item(self.kind, _short(self.sop_class.encode("ascii")) + self.information)


@dataclass(frozen=True, slots=True)
class CommonExtendedNegotiation:
    sop_class: str
    service_class: str
    related: tuple[str, ...]
    kind = 0x57

    def encode(self) -> bytes:
        related = b"".join(_short(r.encode("ascii")) for r in self.related)
        value = (
            _short(self.sop_class.encode("ascii"))
            + _short(self.service_class.encode("ascii"))
            + _short(related)
        )
        return _item(self.kind, value)


@dataclass(frozen=True, slots=True)
class UserIdentityRequest:
    identity_type: int
    response_requested: int
    primary: bytes
    secondary: bytes
    kind = 0x58

    def encode(self) -> bytes:
        value = bytes([self.identity_type, self.response_requested])
        return _item(self.kind, value + _short(self.primary) + _short(self.secondary))


@dataclass(frozen=True, slots=True)
class UserIdentityResponse:
    response: bytes
    kind = 0x59

    def encode(self) -> bytes:
        return _item(self.kind, _short(self.response))


@dataclass(frozen=True, slots=True)
class UnknownSubItem:
    """A user information sub-item we do not know: kept (PS3.7 D.3.3 lets peers add them)."""

    kind: int
    value: bytes

    def encode(self) -> bytes:
        return _item(self.kind, self.value)


SubItem = (
    MaximumLength
    | ImplementationClass
    | AsyncWindow
    | RoleSelection
    | ImplementationVersion
    | ExtendedNegotiation
    | CommonExtendedNegotiation
    | UserIdentityRequest
    | UserIdentityResponse
    | UnknownSubItem
)


#: Sub-items an acceptor may ignore (PS3.7 D.3.3.3, D.3.3.5-6, PS3.8 D.3.3.7): decoded
#: leniently, one that is malformed is kept undecoded rather than refused.
OPTIONAL_SUB_ITEMS = frozenset({0x53, 0x56, 0x57, 0x58, 0x59})


def _sub_item(kind: int, value: bytes, what: str, *, lenient: bool = False) -> SubItem:
    if lenient and kind in OPTIONAL_SUB_ITEMS:
        try:
            return _sub_item(kind, value, what)
        except ProtocolError:
            return UnknownSubItem(kind, value)
    reader = Reader(value, what)
    name = f"user information sub-item 0x{kind:02X}"
    result: SubItem
    if kind == 0x51:
        result = MaximumLength(*reader.unpack(">I", "the maximum length sub-item"))
    elif kind == 0x52:
        result = ImplementationClass(text(value, "implementation class UID", what))
        reader.pos = reader.left
    elif kind == 0x53:
        result = AsyncWindow(*reader.unpack(">HH", "the asynchronous operations window"))
    elif kind == 0x54:
        sop_class = text(_read_short(reader, "the role selection's SOP class"), name, what)
        result = RoleSelection(sop_class, *reader.unpack(">BB", "the role selection's roles"))
    elif kind == 0x55:
        result = ImplementationVersion(text(value, "implementation version name", what))
        reader.pos = reader.left
    elif kind == 0x56:
        sop_class = text(_read_short(reader, "the extended negotiation's SOP class"), name, what)
        result = ExtendedNegotiation(sop_class, reader.take(reader.left, name))
    elif kind == 0x57:
        result = _common_extended(reader, name, what)
    elif kind == 0x58:
        identity_type, requested = reader.unpack(">BB", "the user identity's type")
        primary = _read_short(reader, "the user identity's primary field")
        secondary = _read_short(reader, "the user identity's secondary field")
        result = UserIdentityRequest(identity_type, requested, primary, secondary)
    elif kind == 0x59:
        result = UserIdentityResponse(_read_short(reader, "the user identity response"))
    else:
        return UnknownSubItem(kind, value)
    _done(reader, name)
    return result


def _common_extended(reader: Reader, name: str, what: str) -> CommonExtendedNegotiation:
    sop_class = text(_read_short(reader, "the SOP class"), name, what)
    service_class = text(_read_short(reader, "the service class"), name, what)
    related = Reader(_read_short(reader, "the related SOP classes"), what)
    uids = []
    while related.left:
        uids.append(text(_read_short(related, "a related SOP class"), name, what))
    return CommonExtendedNegotiation(sop_class, service_class, tuple(uids))


# Variable items of A-ASSOCIATE-RQ and -AC (PS3.8 9.3.2 and 9.3.3)


@dataclass(frozen=True, slots=True)
class ApplicationContext:
    name: str = APPLICATION_CONTEXT
    kind = 0x10

    def encode(self) -> bytes:
        return _item(self.kind, self.name.encode("ascii"))


@dataclass(frozen=True, slots=True)
class ProposedContext:
    """A presentation context item of an A-ASSOCIATE-RQ (0x20)."""

    context_id: int
    abstract_syntax: str
    transfer_syntaxes: tuple[str, ...]
    kind = 0x20

    def encode(self) -> bytes:
        body = bytes([self.context_id, 0, 0, 0]) + _item(0x30, self.abstract_syntax.encode("ascii"))
        body += b"".join(_item(0x40, ts.encode("ascii")) for ts in self.transfer_syntaxes)
        return _item(self.kind, body)


@dataclass(frozen=True, slots=True)
class ContextResult:
    """A presentation context item of an A-ASSOCIATE-AC (0x21); ``transfer_syntax`` is None
    when the item has no transfer syntax sub-item."""

    context_id: int
    result: int
    transfer_syntax: str | None
    kind = 0x21

    @property
    def accepted(self) -> bool:
        return self.result == 0

    def encode(self) -> bytes:
        body = bytes([self.context_id, 0, self.result, 0])
        if self.transfer_syntax is not None:
            body += _item(0x40, self.transfer_syntax.encode("ascii"))
        return _item(self.kind, body)


@dataclass(frozen=True, slots=True)
class UserInformation:
    sub_items: tuple[SubItem, ...]
    kind = 0x50

    def encode(self) -> bytes:
        return _item(self.kind, b"".join(s.encode() for s in self.sub_items))

    def find(self, kind: type[SubItem]) -> SubItem | None:
        return next((s for s in self.sub_items if isinstance(s, kind)), None)


Item = ApplicationContext | ProposedContext | ContextResult | UserInformation


def _proposed(value: bytes, what: str, lenient: bool) -> ProposedContext:
    reader = Reader(value, what)
    context_id, _, _, _ = reader.unpack(">BBBB", "a presentation context item")
    abstract, syntaxes = "", []
    for kind, sub in reader.items():
        if kind == 0x30:
            abstract = text(sub, "abstract syntax", what)
        elif kind == 0x40:
            syntaxes.append(text(sub, "transfer syntax", what))
        elif not lenient:
            raise _unknown(kind, f"presentation context {context_id}", what)
    return ProposedContext(context_id, abstract, tuple(syntaxes))


def _result(value: bytes, what: str, lenient: bool) -> ContextResult:
    reader = Reader(value, what)
    context_id, _, result, _ = reader.unpack(">BBBB", "a presentation context item")
    syntax = None
    for kind, sub in reader.items():
        if kind != 0x40 or syntax is not None:
            raise _unknown(kind, f"presentation context {context_id}", what)
        syntax = text(sub, "transfer syntax", what)
    return ContextResult(context_id, result, syntax)


def _unknown(kind: int, where: str, what: str) -> ProtocolError:
    return ProtocolError(
        f"unexpected item type 0x{kind:02X} in {where} of the {what}", UNRECOGNISED_PARAMETER
    )


def _user_information(value: bytes, what: str, lenient: bool) -> UserInformation:
    items = Reader(value, what).items()
    return UserInformation(tuple(_sub_item(k, v, what, lenient=lenient) for k, v in items))


ITEM_DECODERS: dict[int, Callable[[bytes, str, bool], Item]] = {
    0x10: lambda value, what, _: ApplicationContext(text(value, "application context", what)),
    0x20: _proposed,
    0x21: _result,
    0x50: _user_information,
}
#: The variable items each PDU has (a lenient decoding skips the others).
PDU_ITEMS = {A_ASSOCIATE_RQ: (0x10, 0x20, 0x50), A_ASSOCIATE_AC: (0x10, 0x21, 0x50)}


def decode_item(kind: int, value: bytes, what: str, *, lenient: bool = False) -> Item:
    """One variable item of an A-ASSOCIATE-RQ/-AC (``what`` names the PDU in errors);
    ``lenient``: see ``decode``."""
    decoder = ITEM_DECODERS.get(kind)
    if decoder is None:
        raise _unknown(kind, "the variable items", what)
    return decoder(value, what, lenient)


# PDUs


def _header(kind: int, body: bytes) -> bytes:
    return struct.pack(">BBI", kind, 0, len(body)) + body


@dataclass(frozen=True, slots=True)
class Associate:
    """An A-ASSOCIATE-RQ (``kind`` 1) or -AC (2): the fixed fields and the variable items."""

    kind: int
    called: str
    calling: str
    items: tuple[Item, ...]
    version: int = 1

    def encode(self) -> bytes:
        fixed = struct.pack(">HH", self.version, 0) + _ae(self.called) + _ae(self.calling)
        return _header(self.kind, fixed + bytes(32) + b"".join(i.encode() for i in self.items))

    @property
    def user_information(self) -> UserInformation:
        found = [i for i in self.items if isinstance(i, UserInformation)]
        return found[0] if found else UserInformation(())

    @property
    def results(self) -> list[ContextResult]:
        return [i for i in self.items if isinstance(i, ContextResult)]

    @property
    def max_pdu_length(self) -> int:
        """The peer's maximum P-DATA-TF length; 0 means no limit (and no sub-item)."""
        found = self.user_information.find(MaximumLength)
        return found.value if isinstance(found, MaximumLength) else 0


def _ae(title: str) -> bytes:
    return title.encode("ascii").ljust(16)[:16]


@dataclass(frozen=True, slots=True)
class Rejection:
    """An A-ASSOCIATE-RJ: result 1 is permanent, 2 transient."""

    result: int
    source: int
    reason: int
    kind = A_ASSOCIATE_RJ

    @property
    def transient(self) -> bool:
        return self.result == 2

    def encode(self) -> bytes:
        return _header(self.kind, bytes([0, self.result, self.source, self.reason]))

    def describe(self) -> str:
        cause = REJECT_REASONS.get((self.source, self.reason), f"reason {self.reason}")
        by = {1: "the peer", 2: "the peer's upper layer (ACSE)", 3: "the peer's presentation layer"}
        kind = "temporarily" if self.transient else "permanently"
        return f"association rejected {kind} by {by.get(self.source, 'the peer')}: {cause}"


@dataclass(frozen=True, slots=True)
class Pdv:
    """A presentation data value: its context, message control header and fragment."""

    context_id: int
    control: int
    data: bytes

    @property
    def command(self) -> bool:
        return bool(self.control & 1)

    @property
    def last(self) -> bool:
        return bool(self.control & 2)


@dataclass(frozen=True, slots=True)
class PData:
    pdvs: tuple[Pdv, ...]
    kind = P_DATA_TF

    def encode(self) -> bytes:
        return _header(
            self.kind,
            b"".join(
                struct.pack(">IBB", len(p.data) + 2, p.context_id, p.control) + p.data
                for p in self.pdvs
            ),
        )


@dataclass(frozen=True, slots=True)
class Release:
    """An A-RELEASE-RQ (``kind`` 5) or -RP (6)."""

    kind: int

    def encode(self) -> bytes:
        return _header(self.kind, bytes(4))


@dataclass(frozen=True, slots=True)
class Abort:
    """An A-ABORT: source 0 the service user, 2 the service provider (with a reason)."""

    source: int = 0
    reason: int = 0
    kind = A_ABORT

    def encode(self) -> bytes:
        return _header(self.kind, bytes([0, 0, self.source, self.reason]))

    def describe(self) -> str:
        if self.source == 2:
            why = ABORT_REASONS.get(self.reason, f"reason {self.reason}")
            return f"the peer aborted the association: {why}"
        return "the peer aborted the association"


Pdu = Associate | Rejection | PData | Release | Abort


def decode(kind: int, body: bytes, *, lenient: bool = False) -> Pdu:
    """A PDU from its type and the bytes after its 6-byte header. ``lenient`` (an acceptor
    reading an A-ASSOCIATE-RQ, as PS3.8 9.3.1 lets it) skips the items the PDU does not
    have and the unknown sub-items of a presentation context, and keeps a malformed
    optional user information sub-item undecoded; every length is still checked."""
    what = PDU_NAMES.get(kind)
    if what is None:
        raise ProtocolError(f"unknown PDU type 0x{kind:02X}", UNRECOGNISED_PDU)
    reader = Reader(body, what)
    if kind in (A_ASSOCIATE_RQ, A_ASSOCIATE_AC):
        version, _ = reader.unpack(">HH", "the protocol version")
        called = reader.take(16, "the called AE title").decode("latin-1")
        calling = reader.take(16, "the calling AE title").decode("latin-1")
        reader.take(32, "the reserved field")
        items = tuple(
            decode_item(k, v, what, lenient=lenient)
            for k, v in reader.items()
            if not lenient or k in PDU_ITEMS[kind]
        )
        return Associate(kind, called, calling, items, version)
    if kind == P_DATA_TF:
        return _presentation_data(body)
    fields = reader.unpack(">BBBB", f"the {what}'s 4 bytes")
    _done(reader, "the PDU")
    if kind == A_ASSOCIATE_RJ:
        return Rejection(fields[1], fields[2], fields[3])
    if kind == A_ABORT:
        return Abort(fields[2], fields[3])
    return Release(kind)


def _presentation_data(body: bytes) -> PData:
    """A P-DATA-TF's PDVs (checked inline rather than through Reader: this is the hot path)."""
    pdvs, pos, end = [], 0, len(body)
    while pos < end:
        if end - pos < 4:
            raise _cut_short("a presentation data value's length", 4, end - pos)
        (length,) = PDV_LENGTH.unpack_from(body, pos)
        if length < 2:
            raise ProtocolError(
                f"a presentation data value in the P-DATA-TF declares {length} bytes, "
                "less than its 2-byte header",
                INVALID_PARAMETER,
            )
        if end - pos < 6:
            raise _cut_short("a presentation data value's header", 6, end - pos)
        if length - 2 > end - pos - 6:
            raise _cut_short("a fragment", length - 2, end - pos - 6)
        pdvs.append(Pdv(body[pos + 4], body[pos + 5], body[pos + 6 : pos + 4 + length]))
        pos += 4 + length
    if not pdvs:
        raise ProtocolError("the P-DATA-TF holds no presentation data value", INVALID_PARAMETER)
    return PData(tuple(pdvs))


def _cut_short(part: str, needed: int, left: int) -> ProtocolError:
    return ProtocolError(
        f"{part} in the P-DATA-TF is cut short: it needs {needed} bytes, only {left} remain",
        INVALID_PARAMETER,
    )


def associate_request(
    called: str,
    calling: str,
    contexts: list[ProposedContext],
    max_pdu_length: int,
    roles: tuple[RoleSelection, ...] = (),
) -> bytes:
    """An A-ASSOCIATE-RQ PDU: our application context, contexts and user information (with
    SCP/SCU role selection items, when given)."""
    user = UserInformation(
        (
            MaximumLength(max_pdu_length),
            ImplementationClass(IMPLEMENTATION_CLASS_UID),
            *roles,
            ImplementationVersion(IMPLEMENTATION_VERSION),
        )
    )
    items: tuple[Item, ...] = (ApplicationContext(), *contexts, user)
    return Associate(A_ASSOCIATE_RQ, called, calling, items).encode()


def pdv_header(length: int, context_id: int, command: bool, last: bool) -> bytes:
    """The P-DATA-TF PDU header and PDV item header for one PDV of ``length`` data bytes."""
    control = (1 if command else 0) | (2 if last else 0)
    return struct.pack(">BBIIBB", P_DATA_TF, 0, length + 6, length + 2, context_id, control)


def message_frames(
    context_id: int, command: bytes, dataset: bytes, limit: int, *, batch: int
) -> Iterator[bytes]:
    """A command and its data set, both in memory, as ``frames`` gives them one after the
    other, the command in the first write: the data set's bytes are copied once, into the
    writes (``frames`` copies them three or four times, on the sender's turn)."""
    parts: list[bytes | memoryview] = [
        b"".join(frames(context_id, [command], len(command), limit, command=True, batch=batch))
    ]
    size, view = 0, memoryview(dataset)
    for start in range(0, max(len(dataset), 1), limit):  # an empty one still ends, flagged last
        piece = view[start : start + limit]
        parts += (pdv_header(len(piece), context_id, False, start + limit >= len(dataset)), piece)
        size += len(piece)
        if size >= batch and start + limit < len(dataset):
            yield b"".join(parts)
            parts, size = [], 0
    yield b"".join(parts)


def frames(
    context_id: int, chunks: Iterable[bytes], total: int, limit: int, *, command: bool, batch: int
) -> Iterator[bytes]:
    """``total`` bytes of a command or data set, given in chunks of any size, as P-DATA-TF
    PDUs of one PDV of at most ``limit`` bytes (the one ending at ``total`` flagged last),
    joined into writes of about ``batch`` bytes: fewer system calls and TLS records."""
    sent, buffer, pending, pending_size = 0, bytearray(), [], 0
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= limit and sent + limit < total:
            pending.append(pdv_header(limit, context_id, command, False) + buffer[:limit])
            pending_size += limit
            del buffer[:limit]
            sent += limit
            if pending_size >= batch:
                yield b"".join(pending)
                pending, pending_size = [], 0
    if not buffer and sent == 0:  # an empty value still ends with a last fragment
        pending.append(pdv_header(0, context_id, command, True))
    while buffer:
        piece = buffer[:limit]
        del buffer[:limit]
        pending.append(pdv_header(len(piece), context_id, command, not buffer) + piece)
    yield b"".join(pending)


PDV_HEADER = 12  # P-DATA-TF header (6) and PDV item header (6) before each fragment
PREADV = getattr(os, "preadv", None)  # scatter reads: not on Windows


def _iov_max() -> int:
    """How many buffers one scatter read may fill (POSIX promises at least 16)."""
    try:
        return max(16, os.sysconf("SC_IOV_MAX"))
    except (AttributeError, ValueError, OSError):
        return 16


IOV_MAX = _iov_max()


class SourceFileError(Exception):
    """The file being sent cannot be read to its end (not a network failure)."""


class Hash(Protocol):
    """A hash being computed (hashlib's)."""

    def update(self, data: memoryview, /) -> None: ...

    def hexdigest(self) -> str: ...


def file_frames(
    context_id: int,
    handle: BufferedIOBase,
    size: int,
    limit: int,
    *,
    batch: int,
    lead: bytes = b"",
    digest: Hash | None = None,
    before_last: Callable[[], None] | None = None,
    spare: bytearray | None = None,
) -> Iterator[memoryview]:
    """The next ``size`` bytes of ``handle`` as a data set in P-DATA-TF PDUs of at most
    ``limit`` bytes each, read straight into framed batches of about ``batch`` bytes (one
    copy on the way to the socket, one read per batch where the system has scatter reads).
    ``lead`` (the command's PDUs) starts the first batch: command and data leave in one
    write. Each batch is a view of one buffer, reused for the next: send it before asking
    for the next. That buffer is ``spare`` when it is large enough (a buffer already sent:
    no new memory to zero and fault in), else a new one. The bytes read update ``digest``
    (the file is read once); ``before_last`` is called once all are read, before the last
    batch is given (it may raise to keep the data set from ever being complete)."""
    per_batch = max(1, min(batch // (limit + PDV_HEADER), -(-size // limit)))
    needed = len(lead) + per_batch * (limit + PDV_HEADER)
    view = memoryview(spare if spare is not None and len(spare) >= needed else bytearray(needed))
    view[: len(lead)] = lead
    used, remaining = len(lead), size
    full = pdv_header(limit, context_id, False, False)
    while True:
        pieces = []
        for _ in range(per_batch):
            take = min(limit, remaining)
            remaining -= take
            header = full if remaining else pdv_header(take, context_id, False, True)
            view[used : used + PDV_HEADER] = header
            used += PDV_HEADER
            pieces.append(view[used : used + take])
            used += take
            if not remaining:
                break
        _fill(handle, pieces)
        if digest is not None:
            for piece in pieces:
                digest.update(piece)
        if not remaining and before_last is not None:
            before_last()
        yield view[:used]
        if not remaining:
            return
        used = 0


def _fill(handle: BufferedIOBase, pieces: list[memoryview]) -> None:
    """Fill ``pieces`` in turn from the file's position on: a scatter read (os.preadv) per
    IOV_MAX of them where the system has it and the handle is a file, else a read each."""
    preadv, position = PREADV, _scatter_position(handle)
    if preadv is None or position is None:
        for piece in pieces:
            _read_into(handle, piece)
        return
    for start in range(0, len(pieces), IOV_MAX):
        group = pieces[start : start + IOV_MAX]
        try:
            count = preadv(handle.fileno(), group, position)
        except OSError as error:
            raise SourceFileError(f"cannot read the file: {error.strerror or error}") from error
        position += count
        if count < sum(map(len, group)):  # short: the rest read in turn, which says why
            handle.seek(position)
            for piece in group:
                if count < len(piece):
                    _read_into(handle, piece[count:])
                count = max(0, count - len(piece))
            position = handle.tell()
    handle.seek(position)


def _scatter_position(handle: BufferedIOBase) -> int | None:
    """Where a scatter read of ``handle`` starts; None when it is not a file."""
    try:
        handle.fileno()
        return handle.tell()
    except (OSError, ValueError):  # io.UnsupportedOperation is both
        return None


def _read_into(handle: BufferedIOBase, view: memoryview) -> None:
    """Fill ``view`` from the file; one that ends early changed since it was checked."""
    filled = 0
    while filled < len(view):
        try:
            count = handle.readinto(view[filled:])
        except OSError as error:
            raise SourceFileError(f"cannot read the file: {error.strerror or error}") from error
        if not count:
            missing = len(view) - filled
            raise SourceFileError(f"the file ended {missing} bytes early: it changed while sent")
        filled += count
