"""The spare child: forked ahead of the next command (off its path), it takes that command;
it holds what the service holds, so it ends when the service forgets it (lock, ``--for``
running out, stop); one that dies is replaced, and the command goes to a fresh fork."""

import os
import signal
import time
from collections.abc import Callable
from contextlib import closing

from desktop.warm.client import _request, connect
from desktop.warm.wire import Lines, frame, send_with_fds
from tests.pki import Pki
from tests.service.conftest import PASSWORD, Home, alive, children, with_identity


def _until(condition: Callable[[], object], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _spare(home: Home) -> int:
    """The service's spare child, once it has one."""
    assert _until(lambda: home.status()["spare"] is not None), "no spare child"
    spare: int = home.status()["spare"]
    return spare


def _started_in(home: Home, *arguments: str) -> tuple[int, bytes]:
    """Run ``arguments`` as the client does (on /dev/null): the process the service said it
    started the command in, and how the command ended."""
    connection = connect(str(home.socket))
    assert connection is not None
    null = os.open(os.devnull, os.O_RDWR)
    env = os.environ.copy()
    try:
        os.environ.clear()
        os.environ.update(home.env)  # the request carries this environment
        request = frame(_request(list(arguments)))
    finally:
        os.environ.clear()
        os.environ.update(env)
    with closing(connection):
        send_with_fds(connection, request, [null, null, null])
        os.close(null)
        lines = Lines(connection)
        word, _, pid = lines.next().partition(b" ")
        assert word == b"started", word
        return int(pid), lines.next()


def test_each_command_goes_to_the_spare_forked_ahead(home: Home) -> None:
    home.start()
    for _ in range(3):
        spare = _spare(home)
        pid, ended = _started_in(home, "node", "list")
        assert (pid, ended) == (spare, b"done 0")
        assert _until(lambda ended=pid: not alive(ended)), "the command's process did not end"
        assert _spare(home) != spare  # a new one, once the command has ended
    assert home.status()["served"] == 3
    assert "could not take a command" not in home.log()


def test_forgetting_the_secrets_ends_the_spare_that_holds_them(home: Home, pki: Pki) -> None:
    """``service lock``, ``service unlock`` and ``--for`` running out each end the spare
    forked with what the service held (killed and reaped: no zombie), and fork one anew."""
    with_identity(home, pki)
    password = {"DICOM_COURIER_KEYSTORE_PASSWORD": PASSWORD}
    home.start("--unlock", env=password)
    holding = _spare(home)
    assert home.run("service", "lock").returncode == 0
    assert holding not in children(home.status()["pid"], zombies=True)
    locked = _spare(home)
    assert locked != holding
    assert home.run("service", "unlock", "--for", "2s", env=password).returncode == 0
    assert not alive(locked)
    unlocked = _spare(home)
    assert unlocked != locked
    assert _until(lambda: home.status()["unlocked_until"] is None)  # its time ran out
    assert not alive(unlocked)
    assert _spare(home) != unlocked
    home.stop_all()
    assert not alive(home.pids[0]) and not children(home.pids[0], zombies=True)


def test_a_dead_spare_is_replaced_and_the_command_forked_anew(home: Home) -> None:
    home.start()
    spare = _spare(home)
    os.kill(spare, signal.SIGKILL)
    assert _until(lambda: home.status()["spare"] != spare)  # reaped, replaced
    pid, ended = _started_in(home, "node", "list")
    assert ended == b"done 0" and pid != spare
    assert home.status()["served"] == 1
