"""What the ``dicom-courier`` client and the warm service say to each other over the Unix
socket in the Courier home, and where that socket is.

Light on purpose (the client imports it on every command): ``os``, ``sys`` and ``_socket`` (the
C half of ``socket``: the module pulls in ``enum`` and ``selectors``) only.

A request is one frame (a 4-byte length, then fields separated by NUL: no argument, path or
environment entry can hold one) carrying the client's stdin, stdout and stderr (SCM_RIGHTS).
Then the service speaks in lines (``started``, then the child's ``done N`` or the service's
``exit N`` or ``killed SIGNAL``; or ``stale``, ``elsewhere``, ``refused``; or a status as
JSON) and the client in lines (``signal N``).
"""

import _socket
import os
import sys

SOCKET_NAME = "service.sock"
HOME_ENV = "DICOM_COURIER_HOME"
PROTOCOL = b"courier-warm-1"
RUN, STATUS, STOP, LOCK = b"run", b"status", b"stop", b"lock"
UNLOCK = b"unlock"  # then the seconds it lasts and the keystore password
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


def peer(connection: _socket.socket) -> tuple[int, int]:
    """The uid and pid of the process at the other end (SO_PEERCRED: what the kernel says,
    not what the peer claims)."""
    raw = connection.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)  # pid, uid, gid
    pid, uid = (int.from_bytes(raw[at : at + 4], sys.byteorder, signed=True) for at in (0, 4))
    return uid, pid


def frame(fields: list[bytes]) -> bytes:
    payload = b"\0".join(fields)
    return len(payload).to_bytes(4, "big") + payload


def send_with_fds(connection: _socket.socket, data: bytes, fds: list[int]) -> None:
    """``data``, its first bytes with ``fds`` (SCM_RIGHTS), as ``socket.send_fds`` sends."""
    rights = b"".join(fd.to_bytes(4, sys.byteorder) for fd in fds)  # C ints
    sent = connection.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
    if sent < len(data):  # nothing more to send to a reader that may have closed already
        connection.sendall(data[sent:])


class Lines:
    """The lines arriving on a connection, one at a time; b"" at its end."""

    def __init__(self, connection: _socket.socket) -> None:
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
