"""DIMSE statuses by service (PS3.4 B.2.3, C.4.1.1.4, C.4.2.1.5, C.4.3.1.4; PS3.7 annex C):
the same code means different things to different services (0xB000, 0xA801)."""

from dataclasses import dataclass

ECHO, STORE, FIND, MOVE, GET = "C-ECHO", "C-STORE", "C-FIND", "C-MOVE", "C-GET"
N_ACTION, N_EVENT_REPORT = "N-ACTION", "N-EVENT-REPORT"


@dataclass(frozen=True, slots=True)
class Status:
    """A DIMSE status with its meaning and category for the service that answered it."""

    code: int
    category: str  # "success", "warning", "failure", "cancel", "pending"
    meaning: str

    @property
    def failed(self) -> bool:
        return self.category in ("failure", "cancel")

    @property
    def done(self) -> bool:
        """The operation completed (with or without warnings): the only "stored"/"sent"."""
        return self.category in ("success", "warning")

    @property
    def transient(self) -> bool:
        """Worth retrying later: the peer is out of resources or busy, not refusing."""
        return (self.code & 0xFF00) == 0xA700 or self.code in (0x0213, 0x0214)

    def describe(self) -> str:
        """In words first, then the code: 'success (0x0000)', 'failure: ... (0xA700)'."""
        words = self.meaning
        if words != self.category:
            words = f"{self.category}: {words}"
        return f"{words} (0x{self.code:04X})"


Table = dict[int, tuple[str, str]]

GENERAL: Table = {  # PS3.7 C.1 – C.5: any DIMSE-C service may answer these
    0x0000: ("success", "success"),
    0x0117: ("failure", "invalid SOP instance"),
    0x0122: ("failure", "SOP class not supported"),
    0x0124: ("failure", "not authorised"),
    0x0210: ("failure", "duplicate invocation"),
    0x0211: ("failure", "unrecognised operation"),
    0x0212: ("failure", "mistyped argument"),
    0x0213: ("failure", "resource limitation"),
}
NORMALIZED: Table = {  # PS3.7 C.6 – C.7: what DIMSE-N services add
    0x0110: ("failure", "processing failure"),
    0x0112: ("failure", "no such SOP instance"),
    0x0115: ("failure", "invalid argument value"),
    0x0118: ("failure", "no such SOP class"),
    0x0119: ("failure", "class-instance conflict"),
    0x0123: ("failure", "no such action"),
    0x0113: ("failure", "no such event type"),
}
SERVICES: dict[str, Table] = {
    ECHO: {},
    N_ACTION: NORMALIZED,
    N_EVENT_REPORT: NORMALIZED,
    STORE: {
        0xB000: ("warning", "coercion of data elements"),
        0xB006: ("warning", "elements discarded"),
        0xB007: ("warning", "data set does not match SOP class"),
    },
    FIND: {
        0xA700: ("failure", "refused: out of resources"),
        0xA900: ("failure", "identifier does not match SOP class"),
        0xFE00: ("cancel", "matching terminated due to cancel request"),
        0xFF00: ("pending", "matches are continuing"),
        0xFF01: ("pending", "matches are continuing, one or more optional keys not supported"),
    },
    MOVE: {
        0xA701: ("failure", "refused: out of resources, unable to calculate number of matches"),
        0xA702: ("failure", "refused: out of resources, unable to perform sub-operations"),
        0xA801: ("failure", "refused: move destination unknown"),
        0xA900: ("failure", "identifier does not match SOP class"),
        0xB000: ("warning", "sub-operations complete, one or more failures"),
        0xFE00: ("cancel", "sub-operations terminated due to cancel indication"),
        0xFF00: ("pending", "sub-operations are continuing"),
    },
    GET: {
        0xA701: ("failure", "refused: out of resources, unable to calculate number of matches"),
        0xA702: ("failure", "refused: out of resources, unable to perform sub-operations"),
        0xA900: ("failure", "identifier does not match SOP class"),
        0xB000: ("warning", "sub-operations complete, one or more failures or warnings"),
        0xFE00: ("cancel", "sub-operations terminated due to cancel indication"),
        0xFF00: ("pending", "sub-operations are continuing"),
    },
}
# Ranges a service defines (the low byte is the peer's own detail).
RANGES: dict[str, Table] = {
    STORE: {
        0xA700: ("failure", "refused: out of resources"),
        0xA900: ("failure", "error: data set does not match SOP class"),
        0xC000: ("failure", "error: cannot understand"),
    },
    FIND: {0xC000: ("failure", "unable to process")},
    MOVE: {0xC000: ("failure", "unable to process")},
    GET: {0xC000: ("failure", "unable to process")},
}


def status(service: str, code: int) -> Status:
    """The meaning of ``code`` as an answer to ``service``; a code the service does not define
    (a pending answer to a C-STORE) is a failure, never a success."""
    known = SERVICES[service].get(code) or GENERAL.get(code)
    if known:
        return Status(code, *known)
    for base, found in RANGES.get(service, {}).items():
        if code & (0xF000 if base == 0xC000 else 0xFF00) == base:
            return Status(code, *found)
    if code in (0xFF00, 0xFF01):
        return Status(code, "failure", f"pending, which is not a {service} answer")
    return Status(code, "failure", f"a status {service} does not define")
