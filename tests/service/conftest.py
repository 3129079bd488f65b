"""A real warm service in a temporary home, and ``dicom-courier`` run as a user runs it (the
console script: the client), handed to the service or, for comparison, run locally."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from desktop.warm.client import connect
from desktop.warm.wire import PROTOCOL, STATUS, STOP, Lines, frame
from tests.helpers import node_add
from tests.peers import free_port, running, storescp_tls_command
from tests.pki import Pki, build_pki, trusting_keystore

COURIER = Path(sys.executable).with_name("dicom-courier")
PASSWORD = "service test password"
TIMEOUT = 60


class Home:
    """A Courier home, the commands run in it, and the service that may serve it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.env = {**os.environ, "DICOM_COURIER_HOME": str(path)}
        self.env.pop("DICOM_COURIER_KEYSTORE_PASSWORD", None)
        self.env.pop("DICOM_COURIER_NO_SERVICE", None)
        self.pids: list[int] = []

    @property
    def socket(self) -> Path:
        return self.path / "service.sock"

    def run(
        self, *arguments: object, local: bool = False, **options: Any
    ) -> subprocess.CompletedProcess[str]:
        """``dicom-courier ARGUMENTS``: handed to the service, or run here when ``local``."""
        env = {**self.env, **options.pop("env", {})}
        if local:
            env["DICOM_COURIER_NO_SERVICE"] = "1"
        return subprocess.run(
            [str(COURIER), *map(str, arguments)],
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            **options,
        )

    def start(
        self, *options: object, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> str:
        """``service start OPTIONS`` (in ``cwd``; stopped by the fixture); what it printed."""
        result = self.run("service", "start", "--idle", "120", *options, env=env or {}, cwd=cwd)
        assert result.returncode == 0, result.stdout + result.stderr
        self.pids.append(self.status()["pid"])
        return result.stdout

    def status(self) -> dict[str, Any]:
        """The service's own status (served, running, unlocked_until...)."""
        answer = self.ask(STATUS)
        assert answer is not None, "no service answers"
        status: dict[str, Any] = json.loads(answer)
        return status

    def ask(self, kind: bytes) -> bytes | None:
        """The service's answer to a status, stop or lock request (None: nobody answers)."""
        connection = connect(str(self.socket))
        if connection is None:
            return None
        with closing(connection):  # a bare _socket.socket
            connection.sendall(frame([PROTOCOL, kind]))
            return Lines(connection).next()

    def commands(self, *, zombies: bool = False) -> list[int]:
        """The processes the service runs commands in: its children but its spare one
        (asked before and after looking: a new spare is forked as the last command ends)."""
        before = self.status()
        found = children(before["pid"], zombies=zombies)
        spares = {before["spare"], self.status()["spare"]}
        return [pid for pid in found if pid not in spares]

    def log(self) -> str:
        log = self.path / "service.log"
        return log.read_text() if log.exists() else ""

    def stop_all(self) -> None:
        """Stop the service (asked as ``service stop`` asks, without a process for it)."""
        if self.socket.exists():
            self.ask(STOP)
        for pid in self.pids:
            deadline = time.monotonic() + 10
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def children(pid: int, *, zombies: bool = False) -> list[int]:
    """The processes ``pid`` forked (Linux's /proc says), ended ones not yet reaped only
    when ``zombies``."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and (zombies or fields[0] != "Z"):
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (the test's own child) counts as ended
    with open(f"/proc/{pid}/stat") as stat:  # noqa: PTH123
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    warm = Home(tmp_path / "home")
    try:
        yield warm
    finally:
        warm.stop_all()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return build_pki(tmp_path_factory.mktemp("pki"))


def with_identity(home: Home, pki: Pki) -> None:
    """The home's keystore trusts the tests' root and holds identity "courier"."""
    trusting_keystore(home.path, pki, PASSWORD, {"courier": "server"})


def tls_node(home: Home, pki: Pki, port: int) -> None:
    """Node "dcmtk" at ``port``, over TLS with identity "courier" (``with_identity``)."""
    with_identity(home, pki)
    added = home.run(*node_add("dcmtk", "DCMTK_SCP", port, "--tls", "--identity", "courier"))
    assert added.returncode == 0, added.stderr


@pytest.fixture
def storescp(pki: Pki, tmp_path: Path) -> Iterator[int]:
    """DCMTK's storescp over mutual TLS; its port."""
    port = free_port()
    (tmp_path / "stored").mkdir()
    command = storescp_tls_command(pki, tmp_path / "stored", port)
    with running(command, port, tmp_path / "storescp.log"):
        yield port
