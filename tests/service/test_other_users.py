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


FAKE_SERVICE = """
import os, socket, sys
listening = socket.socket(socket.AF_UNIX)
listening.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
listening.listen(1)
print("listening", flush=True)
connection, _ = listening.accept()
connection.settimeout(10)
try:
    data, fds, _, _ = socket.recv_fds(connection, 1 << 20, 3)
    connection.sendall(b"started 1\\njob 1 to pacs: done, sent 48 of 48\\ndone 0\\n")
except OSError:
    data = b""
with open(sys.argv[2], "wb") as stolen:
    stolen.write(data)
"""


def test_the_client_hands_nothing_to_another_users_socket(tmp_path: Path) -> None:
    """A socket in the home that another user listens on (a home of theirs, or one they can
    write): the client checks who listens (SO_PEERCRED) before sending a byte, says so, and
    runs the command here; the home not being the user's is said too (tester's G5: the
    environment, the keystore password in it, and the terminal went to the impostor, which
    answered 'sent 48 of 48'). Not as root, another user cannot be made: the home's check
    is tested alone."""
    from desktop.core.paths import unsafe_home

    tmp_path.chmod(0o755)
    open_home = tmp_path / "open"
    open_home.mkdir(mode=0o777)
    open_home.chmod(0o777)
    assert unsafe_home(open_home).startswith(f"the Courier home {open_home} is writable by ")
    assert unsafe_home(tmp_path / "missing") == ""
    if os.getuid() != 0:
        return
    reachable = next(d for d in ("/var/tmp", "/dev/shm") if Path(d).stat().st_mode & 0o001)
    with tempfile.TemporaryDirectory(prefix="warm-impostor-", dir=reachable) as temporary:
        Path(temporary).chmod(0o711)
        home = Home(Path(temporary) / "home")
        home.path.mkdir(mode=0o755)
        os.chown(home.path, NOBODY, NOBODY)
        stolen = Path(temporary) / "stolen"
        stolen.touch()
        os.chown(stolen, NOBODY, NOBODY)
        with subprocess.Popen(
            [SYSTEM_PYTHON, "-c", FAKE_SERVICE, str(home.socket), str(stolen)],
            user=NOBODY,
            stdout=subprocess.PIPE,
            text=True,
        ) as impostor:
            assert impostor.stdout is not None and impostor.stdout.readline() == "listening\n"
            result = home.run(
                "node", "list", env={"DICOM_COURIER_KEYSTORE_PASSWORD": "secret password"}
            )
            impostor.wait(timeout=30)
        assert result.returncode == 0 and "no nodes yet" in result.stdout  # run here
        assert "sent 48" not in result.stdout
        assert (
            f"dicom-courier: warning: {home.socket} is not your warm service (another user, "
            f"uid {NOBODY}, listens on it): not used; check who can write to {home.path}\n"
        ) in result.stderr
        assert (
            f"dicom-courier: warning: the Courier home {home.path} belongs to another user "
            f"(uid {NOBODY})"
        ) in result.stderr
        assert stolen.read_bytes() == b""  # not a byte: no environment, no descriptors
