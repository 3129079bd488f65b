"""The keystore through the warm service: unlocked, commands ask for nothing until ``--for``
runs out or ``service lock``; locked, a command asks on the client's terminal, without echo."""

import os
import pty
import select
import subprocess
import time

from tests.helpers import node_add
from tests.peers import free_port
from tests.pki import Pki
from tests.service.conftest import COURIER, PASSWORD, Home, with_identity

NO_TERMINAL = "there is no terminal to ask on"


def _tls_node(home: Home, pki: Pki, port: int) -> None:
    with_identity(home, pki)
    added = home.run(*node_add("dcmtk", "DCMTK_SCP", port, "--tls", "--identity", "courier"))
    assert added.returncode == 0, added.stderr


def _on_a_terminal(home: Home, *arguments: str, answer: str) -> tuple[int, str]:
    """Run ``dicom-courier ARGUMENTS`` on a pseudo-terminal, typing ``answer`` at the
    password prompt; its exit status and everything the terminal showed."""
    master, slave = pty.openpty()
    client = subprocess.Popen(
        [str(COURIER), *arguments],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=home.env,
        start_new_session=True,
    )
    os.close(slave)
    shown, typed = b"", False
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the terminal's last holder has gone
                break
            if not chunk:
                break
            shown += chunk
        if not typed and b"Keystore password: " in shown:
            os.write(master, answer.encode() + b"\n")
            typed = True
        if client.poll() is not None and not ready:
            break
    os.close(master)
    return client.wait(timeout=10), shown.decode(errors="replace")


def test_a_locked_service_asks_on_the_client_terminal_without_echo(
    home: Home, pki: Pki, storescp: int
) -> None:
    _tls_node(home, pki, storescp)
    assert "keystore locked" in home.start()
    status, shown = _on_a_terminal(home, "echo", "dcmtk", answer=PASSWORD)
    assert "Keystore password: " in shown
    assert PASSWORD not in shown  # not echoed
    assert status == 0 and "success (0x0000)" in shown, shown
    assert home.status()["served"] == 1
    plain = home.run("echo", "dcmtk", stdin=subprocess.DEVNULL)  # no terminal: said plainly
    assert plain.returncode == 1 and NO_TERMINAL in plain.stderr


def test_an_unlocked_service_forgets_when_its_time_runs_out(home: Home, pki: Pki) -> None:
    _tls_node(home, pki, free_port())  # never reached: the password is asked for first
    said = home.start("--unlock", "--for", "2s", env={"DICOM_COURIER_KEYSTORE_PASSWORD": PASSWORD})
    assert "keystore unlocked until" in said
    until = home.status()["unlocked_until"]
    assert until is not None
    time.sleep(max(0.0, until + 0.5 - time.time()))
    assert home.status()["unlocked_until"] is None
    forgotten = home.run("echo", "dcmtk", stdin=subprocess.DEVNULL)
    assert forgotten.returncode == 1 and NO_TERMINAL in forgotten.stderr
    assert "locked (its time ran out)" in home.log()


def test_a_wrong_password_starts_no_service(home: Home, pki: Pki) -> None:
    with_identity(home, pki)
    result = home.run(
        "service", "start", "--unlock", env={"DICOM_COURIER_KEYSTORE_PASSWORD": "not the one"}
    )
    assert result.returncode == 1 and "wrong keystore password" in result.stderr
    assert not (home.path / "service.sock").exists()


def test_the_service_and_its_commands_are_audited(home: Home) -> None:
    """The service's start and stop are audited with its pid; a command with its child's
    pid, as the client's user."""
    import getpass
    import json
    import re

    home.start()
    assert home.run(*node_add("audited", "AUDITED", 104)).returncode == 0
    service = home.status()["pid"]
    home.run("service", "stop")
    listed = home.run("audit", "--json", local=True)
    entries = {
        (e["summary"], int(re.findall(r'AlternativeUserID="(\d+)"', e["xml"])[0])): e
        for e in json.loads(listed.stdout)
    }
    assert ("Application Activity (Application Start)", service) in entries
    assert ("Application Activity (Application Stop)", service) in entries
    [(_, child)] = [key for key in entries if "node audited added" in key[0]]
    assert child != service
    started = entries["Application Activity (Application Start)", child]["xml"]
    assert f'UserID="{getpass.getuser()}"' in started


def test_commands_using_what_an_unlocked_service_holds_record_no_login_of_their_own(
    home: Home, pki: Pki, storescp: int
) -> None:
    """The unlock at the service's start is the login (110114, audited then); a command that
    opens an identity from what the service holds authenticated nobody, so it records none
    (a local command, which unlocks, still does)."""
    import json

    _tls_node(home, pki, storescp)
    home.start("--unlock", env={"DICOM_COURIER_KEYSTORE_PASSWORD": PASSWORD})
    for _ in range(2):
        assert home.run("echo", "dcmtk").returncode == 0
    assert home.status()["served"] == 2

    def logins() -> list[str]:
        listed = home.run("audit", "--json", local=True)
        return [e["summary"] for e in json.loads(listed.stdout) if "Login" in e["summary"]]

    assert logins() == ["User Authentication (Login): unlocked keystore (warm service)"]
    local = home.run("echo", "dcmtk", local=True, env={"DICOM_COURIER_KEYSTORE_PASSWORD": PASSWORD})
    assert local.returncode == 0, local.stderr
    assert logins()[1:] == ["User Authentication (Login): unlocked keystore identity courier"]
