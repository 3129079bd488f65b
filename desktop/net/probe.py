"""Does a port speak plain DICOM? Asked only to explain a failed TLS handshake, with the same
A-ASSOCIATE-RQ encoder as every association of ours, and aborted at once."""

import socket

from desktop.net import pdu
from desktop.net.association import OUR_MAX_PDU
from desktop.net.dimse import VERIFICATION

IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
ANSWERS = frozenset({pdu.A_ASSOCIATE_AC, pdu.A_ASSOCIATE_RJ, pdu.A_ABORT})


def speaks_plain_dicom(host: str, port: int, timeout: float) -> bool:
    """Whether the port answers an A-ASSOCIATE-RQ in the clear (accept, reject or abort)."""
    context = pdu.ProposedContext(1, VERIFICATION, (IMPLICIT_VR_LITTLE_ENDIAN,))
    request = pdu.associate_request("ANY-SCP", "COURIER-PROBE", [context], OUR_MAX_PDU)
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            connection.sendall(request)
            reply = connection.recv(1)
            if reply and reply[0] in ANSWERS:
                connection.sendall(pdu.Abort().encode())
                return True
    except OSError:
        return False
    return False
