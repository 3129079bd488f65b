"""What the ``dicom-courier`` client and the warm service say to each other over the Unix
socket in the Courier home, and where that socket is.

Light on purpose (the client imports it on every command): ``os``, ``sys`` and ``socket`` only.

A request is one frame (a 4-byte length, then fields separated by NUL: no argument, path or
environment entry can hold one) carrying the client's stdin, stdout and stderr (SCM_RIGHTS).
Then the service speaks in lines (``started``, then the child's ``done N`` or the service's
``exit N`` or ``killed SIGNAL``; or ``stale``, ``elsewhere``, ``refused``; or a status as
JSON) and the client in lines (``signal N``).
"""

import os
import socket
import sys

SOCKET_NAME = "service.sock"
HOME_ENV = "DICOM_COURIER_HOME"
MAX_FRAME = 4 * 2**20  # an environment and argv together; more is refused
PROTOCOL = b"courier-warm-1"
RUN, STATUS, STOP, LOCK = b"run", b"status", b"stop", b"lock"
#: The answers that send the client back to a local run (the service's code changed, or it
#: belongs to another installation of DICOM Courier, or it will not serve this user).
LOCAL = frozenset({b"stale", b"elsewhere", b"refused"})


def home() -> str:
    """The Courier home, as ``desktop.core.paths.courier_home`` finds it, without platformdirs
    on Linux (the client's start-up is what the service saves)."""
    override = os.environ.get(HOME_ENV)
    if override:
        return os.path.expanduser(override)
    if sys.platform.startswith("linux"):
        data = os.environ.get("XDG_DATA_HOME", "").strip() or os.path.expanduser("~/.local/share")
        return os.path.join(data, "dicom-courier")
    from desktop.core.paths import courier_home

    return str(courier_home())


def socket_path(courier_home: str) -> str:
    return os.path.join(courier_home, SOCKET_NAME)


def connectable(path: str) -> tuple[str, int]:
    """An address for ``path`` that fits a Unix socket's 107 bytes (a long home is reached
    through its open folder), and that folder's descriptor to close afterwards (-1 if none)."""
    if len(os.fsencode(path)) < 100:
        return path, -1
    folder = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
    return f"/proc/self/fd/{folder}/{os.path.basename(path)}", folder


def frame(fields: list[bytes]) -> bytes:
    payload = b"\0".join(fields)
    return len(payload).to_bytes(4, "big") + payload


class Request:
    """A request frame read as it arrives, without waiting for the rest (the service reads
    many at once): its bytes so far and the descriptors that came with them (``FDS`` at most).

    Only the frame's own bytes are read: what the client sends after it (a forwarded signal)
    stays on the connection for the child."""

    FDS = 3

    def __init__(self, connection: socket.socket) -> None:
        self.connection = connection
        self.fds: list[int] = []
        self._data = bytearray()
        self._size = -1  # the payload's length, once its 4 bytes have come

    def read(self) -> list[bytes] | None:
        """Read what has arrived; the frame's fields once it is whole (None: not yet).
        ValueError for a frame too long or too many descriptors, ConnectionError when the
        client closed the connection before the end."""
        wanted = 4 - len(self._data) if self._size < 0 else self._size - len(self._data)
        if wanted > 0:
            try:
                chunk, fds, _, _ = socket.recv_fds(self.connection, min(wanted, 2**16), self.FDS)
            except BlockingIOError:
                return None
            self.fds += fds
            if len(self.fds) > self.FDS:
                raise ValueError(f"{len(self.fds)} file descriptors with a request")
            if not chunk:
                raise ConnectionError("the client closed the connection before its request's end")
            self._data += chunk
        if self._size < 0 and len(self._data) == 4:
            self._size = int.from_bytes(self._data, "big")
            if self._size > MAX_FRAME:
                raise ValueError(f"a request of {self._size} bytes")
            self._data.clear()
        if self._size < 0 or len(self._data) < self._size:
            return None
        return bytes(self._data).split(b"\0")

    def close(self) -> None:
        """Drop the request: its descriptors and its connection."""
        for fd in self.fds:
            os.close(fd)
        self.fds.clear()
        self.connection.close()


class Lines:
    """The lines arriving on a connection, one at a time; b"" at its end."""

    def __init__(self, connection: socket.socket) -> None:
        self._connection = connection
        self._pending = b""

    def next(self) -> bytes:
        while b"\n" not in self._pending:
            chunk = self._connection.recv(4096)
            if not chunk:
                return b""
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        return line
