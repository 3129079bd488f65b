"""Does a port speak plain DICOM, or TLS? Asked only to explain a failure, never to send data."""

import socket
import ssl
import struct

VERIFICATION_SOP_CLASS = b"1.2.840.10008.1.1"
IMPLICIT_VR_LITTLE_ENDIAN = b"1.2.840.10008.1.2"
APPLICATION_CONTEXT = b"1.2.840.10008.3.1.1.1"
ASSOCIATE_REPLIES = {0x02: "accepted", 0x03: "rejected", 0x07: "aborted"}
A_ABORT = bytes([0x07, 0, 0, 0, 0, 4, 0, 0, 0, 0])


def _item(kind: int, value: bytes) -> bytes:
    return struct.pack(">BBH", kind, 0, len(value)) + value


def associate_request(called: str = "ANY-SCP", calling: str = "COURIER-PROBE") -> bytes:
    """A minimal A-ASSOCIATE-RQ proposing Verification (C-ECHO) in implicit VR little endian."""
    context = (
        bytes([1, 0, 0, 0])
        + _item(0x30, VERIFICATION_SOP_CLASS)
        + _item(0x40, IMPLICIT_VR_LITTLE_ENDIAN)
    )
    body = (
        struct.pack(">HH", 1, 0)
        + called.encode("ascii").ljust(16)[:16]
        + calling.encode("ascii").ljust(16)[:16]
        + bytes(32)
        + _item(0x10, APPLICATION_CONTEXT)
        + _item(0x20, context)
        + _item(0x50, _item(0x51, struct.pack(">I", 16384)))
    )
    return struct.pack(">BBI", 0x01, 0, len(body)) + body


def speaks_plain_dicom(host: str, port: int, timeout: float) -> bool:
    """Whether the port answers an A-ASSOCIATE-RQ in the clear (accept, reject or abort)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            connection.sendall(associate_request())
            reply = connection.recv(1)
            if reply and reply[0] in ASSOCIATE_REPLIES:
                connection.sendall(A_ABORT)
                return True
    except OSError:
        return False
    return False


def speaks_tls(host: str, port: int, timeout: float) -> bool:
    """Whether the port answers a TLS ClientHello with a TLS record (any version, any outcome)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as connection,
            context.wrap_socket(connection, do_handshake_on_connect=False) as tls,
        ):
            tls.do_handshake()
            return True
    except ssl.SSLError as error:
        # An alert (e.g. "certificate required") is a TLS answer; garbage or silence is not.
        return "alert" in str(error).lower()
    except OSError:
        return False
