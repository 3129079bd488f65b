"""Does a port speak TLS? Asked only to explain a failure, never to send data. (Whether it
speaks plain DICOM is net's question: the composition root passes ``net.probe`` in.)"""

import socket
import ssl


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
