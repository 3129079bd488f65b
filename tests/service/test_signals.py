"""Signals through the warm service: Ctrl-C and SIGTERM at the client reach the command as in
a local run, Ctrl-Z stops it and ``fg`` continues it; a killed client ends its command (a
stopped one too); a dead service never leaves a client hanging."""

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import node_add
from tests.service.conftest import COURIER, Home


@pytest.fixture
def silent(home: Home) -> Iterator[str]:
    """A node that accepts TCP connections and never answers: an echo to it waits."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        home.run(*node_add("silent", "SILENT", server.getsockname()[1]), local=True)
        yield "silent"


def _echo(home: Home, node: str, *, local: bool = False) -> subprocess.Popen[str]:
    env = {**home.env, **({"DICOM_COURIER_NO_SERVICE": "1"} if local else {})}
    return subprocess.Popen(
        [str(COURIER), "echo", node],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        process_group=0,  # a job of its own, as a shell starts it: Ctrl-Z may stop it
    )


def _state(pid: int) -> str:
    """The process's state letter (R, S, T for stopped ...), "" once it has gone."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""


def _until(condition: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.05)
    return False


def _running_command(home: Home, node: str) -> subprocess.Popen[str]:
    client = _echo(home, node)
    assert _until(lambda: home.status()["running"] == 1), "the command never started"
    time.sleep(0.5)  # it waits on the peer now
    return client


def test_a_signal_at_the_client_does_what_it_does_locally(home: Home, silent: str) -> None:
    home.start()
    for number in (signal.SIGINT, signal.SIGTERM):
        local = _echo(home, silent, local=True)
        time.sleep(1.5)
        local.send_signal(number)
        local_out, local_err = local.communicate(timeout=20)
        warm = _running_command(home, silent)
        warm.send_signal(number)
        out, err = warm.communicate(timeout=20)
        assert (warm.returncode, out, err) == (local.returncode, local_out, local_err), number
        if number == signal.SIGINT:
            assert warm.returncode == 130 and err == "dicom-courier: interrupted\n"
        else:
            assert warm.returncode == -signal.SIGTERM
        assert _until(lambda: home.status()["running"] == 0)


def test_a_killed_client_ends_its_command_and_a_dead_service_leaves_none_hanging(
    home: Home, silent: str
) -> None:
    home.start()
    service = home.status()["pid"]
    client = _running_command(home, silent)
    [child] = home.commands()
    client.kill()
    client.wait()
    assert _until(lambda: not home.commands()), "the command outlived its client"
    assert _until(lambda: home.status()["running"] == 0)  # reaped: all its threads ended
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)

    client = _running_command(home, silent)
    [child] = home.commands()
    os.kill(service, signal.SIGKILL)
    os.kill(child, signal.SIGKILL)
    _, err = client.communicate(timeout=10)
    assert client.returncode == 1
    assert "the warm service stopped before the command ended" in err


def test_ctrl_z_stops_the_command_and_fg_continues_it(home: Home, silent: str) -> None:
    """SIGTSTP at the client (Ctrl-Z) stops the command's process with it, SIGCONT (``fg``)
    continues both, and the command then ends as it would have; a client killed while
    stopped does not leave its command stopped for ever."""
    home.start()
    service = home.status()["pid"]
    client = _running_command(home, silent)
    [child] = home.commands()
    client.send_signal(signal.SIGTSTP)
    assert _until(lambda: _state(client.pid) == "T" and _state(child) == "T"), (
        _state(client.pid),
        _state(child),
    )
    time.sleep(0.5)
    assert _state(child) == "T"  # stays stopped
    assert _state(service) not in ("T", "")  # only the command: the service serves on
    assert home.status()["running"] == 1
    client.send_signal(signal.SIGCONT)
    assert _until(lambda: _state(client.pid) not in ("T", "") and _state(child) not in ("T", ""))
    client.send_signal(signal.SIGINT)
    _, err = client.communicate(timeout=20)
    assert client.returncode == 130 and err == "dicom-courier: interrupted\n"

    client = _running_command(home, silent)
    [child] = home.commands()
    client.send_signal(signal.SIGTSTP)
    assert _until(lambda: _state(child) == "T")
    client.kill()
    client.wait()
    assert _until(lambda: not home.commands()), "a stopped command outlived its client"
    assert _until(lambda: home.status()["running"] == 0)  # reaped: all its threads ended


def test_stop_says_the_truth_while_a_command_runs_and_now_interrupts_it(
    home: Home, silent: str
) -> None:
    """``service stop`` while a command waits on a silent peer: it says the service is
    stopping, not stopped (exit 1), as ``status`` and a new ``start`` do; ``stop --now``
    interrupts the command as Ctrl-C would, then the service ends (tester's G8: "stopped"
    after 30 s while it ran on, its unlocked identity with it)."""
    home.start()
    service = home.status()["pid"]
    client = _running_command(home, silent)
    [child] = home.commands()
    stopping = home.run("service", "stop", "--wait", "1")
    assert (stopping.returncode, stopping.stdout) == (
        1,
        f"warm service stopping (pid {service}): it takes no new commands, and ends once its 1 "
        f"running command(s) (pid {child}) have ended; 'dicom-courier service stop --now' "
        "interrupts them\n",
    )
    status = home.run("service", "status")
    assert (status.returncode, status.stdout) == (
        1,
        f"warm service stopping (pid {service}): it takes no new commands and ends once its "
        "1 running command(s) have ended\n",
    )
    start = home.run("service", "start")
    assert start.returncode == 1
    assert f"(pid {service}) is still stopping: it ends once its 1 running" in start.stderr
    now = home.run("service", "stop", "--now")
    assert (now.returncode, now.stdout) == (0, f"warm service stopped (pid {service})\n")
    _, err = client.communicate(timeout=20)
    assert client.returncode == 130 and err == "dicom-courier: interrupted\n"
