"""Hostile or broken clients of the same user: malformed frames (with or without
descriptors), a client that connects and says nothing or drips its request byte by byte.
The single-threaded service must keep serving the others at once and leak nothing."""

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from desktop.warm.server import WAITING
from desktop.warm.wire import PROTOCOL, RUN, STATUS, Lines, frame
from tests.service.conftest import Home

#: Malformed requests, each sent with descriptors that the service must close.
MALFORMED = {
    "a huge length": b"\xff\xff\xff\xff",
    "a truncated payload": b"\x00\x00\x00\x10ab",
    "another protocol": frame([b"nope", RUN]),
    "an unknown request": frame([PROTOCOL, b"zz"]),
    "a run without its fields": frame([PROTOCOL, RUN]),
    "a status with descriptors": frame([PROTOCOL, STATUS]),
}


def open_descriptors(pid: int) -> int:
    return sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())


def at_rest(pid: int) -> int:
    """The service's descriptors once the connection that just asked it is closed there
    (it answers before it closes it): the fewest of a few counts."""
    counts = []
    for _ in range(5):
        counts.append(open_descriptors(pid))
        time.sleep(0.05)
    return min(counts)


def settles(value: Callable[[], int], expected: int) -> int:
    """``value()`` once it equals ``expected``, or after 3 s."""
    deadline = time.monotonic() + 3
    while (now := value()) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return now


def test_malformed_requests_leak_no_descriptor(home: Home) -> None:
    home.start()
    pid = home.status()["pid"]
    before = at_rest(pid)
    reader, writer = os.pipe()
    try:
        for name, data in MALFORMED.items():
            for count in (2, 200):  # more than 3: the kernel drops the rest
                with socket.socket(socket.AF_UNIX) as client:
                    client.connect(str(home.socket))
                    socket.send_fds(client, [data], [reader, writer] * (count // 2))
                    client.shutdown(socket.SHUT_WR)
                    client.settimeout(5)
                    Lines(client).next()  # the service's answer, or its closing
                assert settles(lambda: open_descriptors(pid), before) == before, name
    finally:
        os.close(reader)
        os.close(writer)
    listed = home.run("node", "list")
    assert listed.returncode == 0 and "no nodes yet" in listed.stdout
    log = home.log()
    assert "could not be read" in log
    assert "dicom-courier: warning:" not in log  # each line once, the service's own


def test_a_silent_or_slow_client_holds_up_no_other(home: Home, tmp_path: Path) -> None:
    home.start()
    with socket.socket(socket.AF_UNIX) as silent, socket.socket(socket.AF_UNIX) as slow:
        silent.connect(str(home.socket))
        slow.connect(str(home.socket))
        slow.sendall(b"\x00\x00\x01\x00")  # 256 bytes announced, never sent
        began = time.monotonic()
        home.status()
        listed = home.run("node", "list")
        assert listed.returncode == 0 and "no nodes yet" in listed.stdout
        assert time.monotonic() - began < 4  # the service waits 5 s for a request
        silent.settimeout(10)
        assert silent.recv(10) == b""  # dropped once its time is out


def test_many_silent_clients_cost_a_bounded_number_of_descriptors(home: Home) -> None:
    home.start()
    pid = home.status()["pid"]
    before = at_rest(pid)
    silent = [socket.socket(socket.AF_UNIX) for _ in range(WAITING + 10)]
    try:
        for client in silent:
            client.connect(str(home.socket))
        home.status()  # served: the oldest silent ones were dropped to make room
        assert open_descriptors(pid) <= before + WAITING
        silent[0].settimeout(1)
        assert silent[0].recv(10) == b""
    finally:
        for client in silent:
            client.close()
    assert settles(lambda: open_descriptors(pid), before) == before


def test_a_desktop_package_in_the_current_folder_is_not_run(home: Home, tmp_path: Path) -> None:
    """`service start` in a folder holding a package named like ours (a download, a checkout)
    runs our code, not that folder's: its code would run as the user, and every command
    would then run without the service."""
    planted = tmp_path / "here" / "desktop"
    planted.mkdir(parents=True)
    marker = tmp_path / "planted code ran"
    (planted / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    home.start(cwd=planted.parent)
    assert home.run("node", "list").returncode == 0
    assert home.status()["served"] == 1  # handed over: the service's code is the client's
    assert not marker.exists()
