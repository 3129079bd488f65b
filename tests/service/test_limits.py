"""A command handed to the warm service runs as the client asked it to run: with the client's
niceness, CPU affinity and resource limits (``nice``, ``taskset``, ``ulimit``), not the
service's (E5 of findings8)."""

import os
import resource
import signal
import socket
import subprocess

from tests.service.conftest import COURIER, Home
from tests.service.test_hostile import settles

NICE = 7
OPEN_FILES = (200, 300)


def _as_a_script_runs_it() -> None:  # preexec_fn: in the client's process, before exec
    os.nice(NICE)
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    resource.setrlimit(resource.RLIMIT_NOFILE, OPEN_FILES)


def _the_command(home: Home, silent: socket.socket) -> int:
    """The service's child running the echo, once it has connected to the silent peer: it
    has become the client's process by then (a child's sockets alone do not tell: the spare
    child holds its channel and the client's connection for a moment as it takes them)."""
    silent.settimeout(20)
    connection, _ = silent.accept()
    connection.close()
    [command] = home.commands()
    return command


def _niceness(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:  # noqa: PTH123
        return int(stat.read().rsplit(")", 1)[1].split()[16])


def test_a_handed_command_keeps_the_clients_niceness_affinity_and_limits(home: Home) -> None:
    home.start()
    with socket.create_server(("127.0.0.1", 0)) as silent:  # connects, never answers
        port = silent.getsockname()[1]
        added = home.run("node", "add", "silent", "--ae", "SILENT", "--host", "127.0.0.1",
                         "--port", port)  # fmt: skip
        assert added.returncode == 0, added.stderr
        assert settles(lambda: home.status()["running"], 0) == 0  # node add's child has ended
        client = subprocess.Popen(
            [str(COURIER), "echo", "silent"],
            env=home.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_as_a_script_runs_it,
        )
        try:
            child = _the_command(home, silent)
            assert _niceness(child) == NICE
            assert os.sched_getaffinity(child) == os.sched_getaffinity(client.pid)
            assert len(os.sched_getaffinity(child)) == 1
            assert resource.prlimit(child, resource.RLIMIT_NOFILE) == OPEN_FILES
        finally:
            client.send_signal(signal.SIGINT)
            client.wait(20)
