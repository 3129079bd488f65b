"""Only the service's own user is served: another uid that reaches the socket (a home left
open by mistake) is refused, and the refusal logged."""

import os
import subprocess
import tempfile
from pathlib import Path

from desktop.warm.server import serves
from desktop.warm.wire import PROTOCOL, RUN, frame
from tests.service.conftest import Home

NOBODY = 65534
#: A client as nobody: the system's Python (nobody cannot read the test's venv under /root)
#: speaking the protocol, the request made by the test.
SYSTEM_PYTHON = "/usr/bin/python3"
CONNECT = """
import socket, sys
connection = socket.socket(socket.AF_UNIX)
connection.connect(sys.argv[1])
try:
    socket.send_fds(connection, [bytes.fromhex(sys.argv[2])], [0, 1, 2])
except BrokenPipeError:  # refused before the request was read
    pass
print(connection.recv(100))
"""


def test_only_the_same_uid_is_served() -> None:
    assert serves(os.getuid())
    assert not serves(os.getuid() + 1)
    assert not serves(NOBODY if os.getuid() != NOBODY else 0)


def test_another_user_is_refused_even_where_the_socket_is_open() -> None:
    """As root (CI), a client running as nobody connects to a socket left world-writable:
    the service refuses it (SO_PEERCRED), logs it, and runs nothing; the client falls back
    to its own local run. Not as root: a process of another uid cannot be made, and the
    decision is tested above."""
    if os.getuid() != 0:
        assert not serves(os.getuid() + 1)
        return
    reachable = next(d for d in ("/var/tmp", "/dev/shm") if Path(d).stat().st_mode & 0o001)
    with tempfile.TemporaryDirectory(prefix="warm-uid-", dir=reachable) as temporary:
        Path(temporary).chmod(0o711)
        home = Home(Path(temporary) / "home")
        try:
            home.start()
            home.path.chmod(0o711)  # left open by mistake
            home.socket.chmod(0o666)
            request = frame([PROTOCOL, RUN, b"0", b"/", b"/", b"22", b"2", b"node", b"list"])
            answer = subprocess.run(
                [SYSTEM_PYTHON, "-c", CONNECT, str(home.socket), request.hex()],
                user=NOBODY,
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert answer.returncode == 0, answer.stderr
            assert answer.stdout == "b'refused\\n'\n"
            assert f"refused a request from uid {NOBODY}" in home.log()
            assert home.status()["served"] == 0
        finally:
            home.stop_all()
