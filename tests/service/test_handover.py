"""Commands handed to a real warm service: the same output and exit status as a local run,
over mutual TLS to DCMTK's storescp too; and what sends a command back to a local run."""

import os
import stat
import subprocess
import time
from pathlib import Path

from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from desktop.net.history import History
from tests.helpers import node_add
from tests.peers import free_port
from tests.pki import Pki
from tests.service.conftest import COURIER, PASSWORD, Home, alive, with_identity


def test_commands_give_what_a_local_run_gives(home: Home, tmp_path: Path) -> None:
    study = StudySpec("W", "Warm^Tree", "20240101", "warm", (SeriesSpec("CT", "ax", count=2),))
    write_files(tmp_path / "study", (study,))
    home.start()
    commands: list[list[object]] = [
        ["tree", tmp_path / "study"],
        [*node_add("gone", "NOBODY", free_port())],
        ["node", "list"],
        ["echo", "gone"],  # nothing listens: an error line, exit 1
        ["nodez"],  # a usage error: exit 2
    ]
    for arguments in commands:
        if arguments[0] == "node" and arguments[1] == "add":
            warm = home.run(*arguments)
            home.run("node", "remove", "gone", local=True)
            local = home.run(*arguments, local=True)
        else:
            warm, local = home.run(*arguments), home.run(*arguments, local=True)
        assert (warm.returncode, warm.stdout, warm.stderr) == (
            local.returncode,
            local.stdout,
            local.stderr,
        ), arguments
    assert home.status()["served"] == len(commands)  # each went to the service
    relative = home.run("tree", "study", cwd=tmp_path)  # the client's directory
    assert relative.returncode == 0 and "Warm^Tree" in relative.stdout
    assert home.run("--version").stdout.startswith("dicom-courier ")  # run here
    off = home.run("node", "list", env={"DICOM_COURIER_NO_SERVICE": "1"})
    assert off.returncode == 0 and home.status()["served"] == len(commands) + 1

    mode = home.socket.stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    assert stat.S_IMODE(home.path.stat().st_mode) == 0o700
    status = home.run("service", "status")
    assert status.returncode == 0 and "warm service running" in status.stdout
    stopped = home.run("service", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not home.socket.exists()
    assert home.run("service", "status").returncode == 1


def test_a_tls_send_to_dcmtk_through_an_unlocked_service(
    home: Home, pki: Pki, storescp: int, tmp_path: Path
) -> None:
    with_identity(home, pki)
    home.run(*node_add("dcmtk", "DCMTK_SCP", storescp, "--tls", "--identity", "courier"))
    study = StudySpec("S", "Warm^Send", "20240101", "send", (SeriesSpec("CT", "ax", count=3),))
    write_files(tmp_path / "study", (study,))
    said = home.start("--unlock", env={"DICOM_COURIER_KEYSTORE_PASSWORD": PASSWORD})
    assert "keystore unlocked until" in said
    environ = Path(f"/proc/{home.status()['pid']}/environ").read_bytes()
    assert PASSWORD.encode() not in environ  # only in its memory
    sent = home.run("send", "dcmtk", tmp_path / "study", stdin=subprocess.DEVNULL)
    assert sent.returncode == 0, sent.stderr  # no password anywhere: the service's secrets
    assert "sent 3 of 3" in sent.stdout, sent.stdout
    assert len(list((tmp_path / "stored").iterdir())) == 3
    [closed] = [r for r in History(home.path / "history.jsonl").read() if r["event"] == "closed"]
    assert closed["node"] == "dcmtk" and closed["sent"] == 3
    queue = home.run("queue")
    assert queue.returncode == 0 and "done" in queue.stdout, queue.stdout
    failing = home.run("send", "dcmtk", tmp_path / "missing")
    password = {"DICOM_COURIER_KEYSTORE_PASSWORD": PASSWORD}  # a local run asks first
    local = home.run("send", "dcmtk", tmp_path / "missing", local=True, env=password)
    assert failing.returncode == local.returncode == 1
    assert failing.stderr == local.stderr != ""
    assert home.status()["served"] == 3  # send, queue, send
    locked = home.run("service", "lock")
    assert locked.returncode == 0 and "forgotten" in locked.stdout
    assert home.status()["unlocked_until"] is None
    asks = home.run("send", "dcmtk", tmp_path / "study", stdin=subprocess.DEVNULL)
    assert asks.returncode == 1 and "there is no terminal to ask on" in asks.stderr


def test_changed_code_sends_the_command_back_to_a_local_run(home: Home) -> None:
    """A module the service has loaded is not as it was (touched): it answers stale and
    stops; the command runs locally all the same, and says so once."""
    home.start()
    import desktop.core.ae_title as loaded

    path = Path(loaded.__file__)
    before = path.stat()
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))
    try:
        result = home.run("node", "list")
    finally:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert result.returncode == 0 and "no nodes yet" in result.stdout
    assert result.stderr == (  # said once, in one line: not run by the service
        "dicom-courier: the warm service has stopped: DICOM Courier changed on disk since it "
        "started (an upgrade?); this command runs without it ('dicom-courier service start' "
        "starts a new one)\n"
    )
    assert "changed since this service started" in home.log()
    assert home.run("service", "status").returncode == 1  # it stopped
    again = home.run("node", "list")
    assert again.returncode == 0 and again.stderr == ""  # no service: nothing to say


def test_a_stale_socket_file_is_removed_and_the_command_runs_here(home: Home) -> None:
    import socket

    home.path.mkdir(mode=0o700)
    with socket.socket(socket.AF_UNIX) as nobody:  # bound, never listening
        nobody.bind(str(home.socket))
    result = home.run("node", "list")
    assert result.returncode == 0 and "no nodes yet" in result.stdout
    assert not home.socket.exists()


def test_commands_that_own_their_process_are_not_handed_over() -> None:
    from desktop.warm.client import handed_over

    assert not handed_over(["--version"])
    assert not handed_over([])
    assert not handed_over(["send", "--help"])
    assert not handed_over(["listen", "--port", "1"])
    assert not handed_over(["service", "status"])
    assert not handed_over(["gui"])
    assert handed_over(["send", "node", "folder"])


def test_a_service_ends_by_itself_when_idle_or_when_its_home_is_removed(home: Home) -> None:
    import shutil

    home.start("--idle", "3s")  # the later --idle wins over the fixture's
    pid = home.status()["pid"]
    assert _ends(pid), "an idle service did not stop"
    assert not home.socket.exists()
    home.start()
    pid = home.status()["pid"]
    shutil.rmtree(home.path)
    assert _ends(pid), "the service outlived its home"


def _ends(pid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_two_services_started_at_once_on_one_home_one_is_refused(home: Home) -> None:
    """Both find no service when they look: the home's lock refuses the second plainly
    (before, both said "listening" and the first then stopped, its socket replaced)."""
    command = [str(COURIER), "service", "start", "--idle", "60"]
    starts = [
        subprocess.Popen(command, env=home.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    said = [start.communicate(timeout=60)[0].decode() for start in starts]
    home.pids.append(home.status()["pid"])
    statuses = sorted(start.returncode for start in starts)
    assert statuses == [0, 1], said
    refused = said[[start.returncode for start in starts].index(1)]
    assert "a warm service runs already for" in refused, refused
    listening = said[[start.returncode for start in starts].index(0)]
    assert f"(pid {home.status()['pid']})" in listening


def test_a_command_leaves_the_queue_without_a_log_for_the_next(home: Home) -> None:
    """The queue's write-ahead log is folded into the database once the command's client
    has its answer: the next command opening the queue does not read it all again (the
    service's own read-only check may leave it there, empty)."""
    home.start()
    listed = home.run("queue")
    assert listed.returncode == 0, listed.stderr
    assert (home.path / "queue.sqlite").exists()
    deadline = time.monotonic() + 10
    while home.status()["running"] and time.monotonic() < deadline:
        time.sleep(0.05)
    log = home.path / "queue.sqlite-wal"
    assert (log.stat().st_size if log.exists() else 0) == 0
