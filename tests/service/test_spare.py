"""The spare child: forked ahead of the next command (off its path), it takes that command;
it holds what the service holds, so it ends when the service forgets it (lock, ``--for``
running out, stop); one that dies is replaced, and the command goes to a fresh fork."""

import os
import signal
import socket
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from desktop.warm.client import _request, connect
from desktop.warm.wire import Lines, frame, send_with_fds
from tests.helpers import node_add
from tests.pki import Pki, revocation_list
from tests.service.conftest import PASSWORD, Home, alive, children, tls_node, with_identity


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


def _started_in(home: Home, *arguments: str, output: str = os.devnull) -> tuple[int, bytes]:
    """Run ``arguments`` as the client does (on /dev/null, or writing to ``output``): the
    process the service said it started the command in, and how the command ended."""
    connection = connect(str(home.socket))
    assert connection is not None
    null = os.open(output, os.O_RDWR | os.O_CREAT, 0o600)
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


def test_what_a_command_leaves_to_do_after_its_answer_takes_only_an_idle_processor(
    home: Home,
) -> None:
    """Once the client has the status, the command's process collects and exits (60-80 ms
    of CPU after a send) at the idle scheduling policy: not on the client's processor, nor
    on the next command's."""
    home.start()
    pid, ended = _started_in(home, "node", "list")
    assert ended == b"done 0"
    policies = set()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            policies.add(os.sched_getscheduler(pid))
        except OSError:  # it has ended
            break
    assert os.SCHED_IDLE in policies


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


def test_the_spare_warms_up_unlocked_without_connecting_or_recording(home: Home, pki: Pki) -> None:
    """Unlocked, the spare makes a connector to a node whose identity is held, ahead of the
    command: it connects to nothing, and records and writes nothing in the home."""
    with_identity(home, pki)
    with socket.socket() as node:
        node.bind(("127.0.0.1", 0))
        node.listen(8)
        node.setblocking(False)
        added = home.run(
            *node_add("pacs", "PACS", node.getsockname()[1], "--tls", "--identity", "courier"),
            local=True,
        )
        assert added.returncode == 0, added.stderr
        home.start("--unlock", env={"DICOM_COURIER_KEYSTORE_PASSWORD": PASSWORD})
        assert _until(lambda: home.status()["spare_ready"])
        before = _contents(home.path)
        for _ in range(2):  # a new spare warms up again
            spare = _spare(home)
            os.kill(spare, signal.SIGKILL)
            assert _until(lambda ended=spare: home.status()["spare"] not in (None, ended))
            assert _until(lambda: home.status()["spare_ready"])
        assert _contents(home.path) == before
        with pytest.raises(BlockingIOError):
            node.accept()
    assert "warming up" not in home.log()


def test_a_crl_imported_after_the_spare_made_its_context_is_applied(
    home: Home, pki: Pki, storescp: int, tmp_path: Path
) -> None:
    """The spare makes the node's TLS context ahead; a CRL revoking the node's certificate,
    imported meanwhile by another process, refuses the command's handshake all the same
    (the context made ahead, made without it, is not used)."""
    tls_node(home, pki, storescp)
    home.start("--unlock", env={"DICOM_COURIER_KEYSTORE_PASSWORD": PASSWORD})
    assert home.run("echo", "dcmtk").returncode == 0  # what the spare made works
    assert _until(lambda: home.status()["spare_ready"])  # the next one, made again
    crl = tmp_path / "server.crl"
    crl.write_bytes(revocation_list(pki.intermediate, pki.server).public_bytes(Encoding.PEM))
    imported = home.run("keystore", "import-crl", str(crl), local=True)
    assert imported.returncode == 0, imported.stderr
    spare, said = home.status()["spare"], tmp_path / "said.txt"
    assert _started_in(home, "echo", "dcmtk", output=str(said)) == (spare, b"done 1")
    assert "revoked" in said.read_text(), said.read_text()


def _contents(home: Path) -> dict[str, bytes]:
    """Every file under ``home`` but the service's own (its socket, lock and log)."""
    own = {"service.sock", "service.lock", "service.log"}
    return {
        str(path): path.read_bytes()
        for path in sorted(home.rglob("*"))
        if path.is_file() and path.name not in own
    }
