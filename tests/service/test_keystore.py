"""The keystore through the warm service: unlocked, commands ask for nothing until ``--for``
runs out or ``service lock``; locked, a command asks on the client's terminal, without echo."""

import os
import pty
import select
import subprocess
import time
from pathlib import Path

from tests.helpers import node_add
from tests.peers import free_port
from tests.pki import Pki
from tests.service.conftest import COURIER, PASSWORD, Home, tls_node, with_identity

NO_TERMINAL = "there is no terminal to ask on"


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
    tls_node(home, pki, storescp)
    assert "keystore locked" in home.start()
    status, shown = _on_a_terminal(home, "echo", "dcmtk", answer=PASSWORD)
    assert "Keystore password: " in shown
    assert PASSWORD not in shown  # not echoed
    assert status == 0 and "success (0x0000)" in shown, shown
    assert home.status()["served"] == 1
    plain = home.run("echo", "dcmtk", stdin=subprocess.DEVNULL)  # no terminal: said plainly
    assert plain.returncode == 1 and NO_TERMINAL in plain.stderr


def test_an_unlocked_service_forgets_when_its_time_runs_out(home: Home, pki: Pki) -> None:
    tls_node(home, pki, free_port())  # never reached: the password is asked for first
    said = home.start("--unlock", "--for", "2s", env={"DICOM_COURIER_KEYSTORE_PASSWORD": PASSWORD})
    assert "keystore unlocked until" in said
    until = home.status()["unlocked_until"]
    assert until is not None
    time.sleep(max(0.0, until + 0.5 - time.time()))
    assert home.status()["unlocked_until"] is None
    forgotten = home.run("echo", "dcmtk", stdin=subprocess.DEVNULL)
    assert forgotten.returncode == 1 and NO_TERMINAL in forgotten.stderr
    assert "locked (its time ran out)" in home.log()


def test_a_wrong_password_starts_no_service_and_is_audited(home: Home, pki: Pki) -> None:
    """Refused as any command refuses it, and audited likewise (tester's G13: the warm
    service's start was an unaudited password-guessing door)."""
    import json

    with_identity(home, pki)
    result = home.run(
        "service", "start", "--unlock", env={"DICOM_COURIER_KEYSTORE_PASSWORD": "not the one"}
    )
    assert result.returncode == 1 and "wrong keystore password" in result.stderr
    assert not (home.path / "service.sock").exists()
    listed = json.loads(home.run("audit", "--json", local=True).stdout)
    refused = [e for e in listed if e["summary"].startswith("User Authentication")]
    assert [e["summary"] for e in refused] == [
        "User Authentication (Login): wrong keystore password"
    ]
    assert 'EventOutcomeIndicator="4"' in refused[0]["xml"]  # minor failure


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


def test_locking_the_service_is_audited(home: Home, pki: Pki) -> None:
    """``service lock``, and ``--for`` running out, leave a 110114 Logout in the trail saying
    what was locked (the service's pid, the identities) and why."""
    import json

    with_identity(home, pki)
    password = {"DICOM_COURIER_KEYSTORE_PASSWORD": PASSWORD}
    home.start("--unlock", env=password)
    service = home.status()["pid"]
    assert home.run("service", "lock").returncode == 0
    home.run("service", "stop")
    home.start("--unlock", "--for", "1s", env=password)
    deadline = time.monotonic() + 10
    while home.status()["unlocked_until"] is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert home.status()["unlocked_until"] is None
    listed = json.loads(home.run("audit", "--json", local=True).stdout)
    logouts = [
        e["summary"] for e in listed if e["summary"].startswith("User Authentication (Logout)")
    ]
    assert logouts == [
        f"User Authentication (Logout): the warm service (pid {service}) locked the keystore "
        "(asked to by 'service lock'): the secrets it held unlocked are forgotten "
        "(identities: courier)",
        f"User Authentication (Logout): the warm service (pid {home.status()['pid']}) locked "
        "the keystore (its time ran out): the secrets it held unlocked are forgotten "
        "(identities: courier)",
    ]
    assert all('csd-code="110123"' in e["xml"] for e in listed if "Logout" in e["summary"])


def test_a_running_service_is_unlocked_by_service_unlock(home: Home, pki: Pki) -> None:
    """A service started locked (as the systemd unit starts it), or locked since, is
    unlocked by ``service unlock`` (and by ``service start --unlock``, as at login): the
    password is checked by the service, a wrong one refused; both audited (tester's G1:
    "a warm service runs already", and no way to unlock it)."""
    import json

    tls_node(home, pki, free_port())  # never reached: the password is asked for first
    assert "keystore locked" in home.start()
    wrong = home.run("service", "unlock", env={"DICOM_COURIER_KEYSTORE_PASSWORD": "not it!!"})
    assert (wrong.returncode, wrong.stderr) == (1, "dicom-courier: wrong keystore password\n")
    assert home.status()["unlocked_until"] is None
    password = {"DICOM_COURIER_KEYSTORE_PASSWORD": PASSWORD}
    unlocked = home.run("service", "unlock", "--for", "1h", env=password)
    assert unlocked.returncode == 0 and unlocked.stdout.startswith("keystore unlocked until ")
    until = home.status()["unlocked_until"]
    assert until is not None and 3590 < until - time.time() <= 3600
    echo = home.run("echo", "dcmtk", stdin=subprocess.DEVNULL)  # the identity opens unasked
    assert echo.returncode == 1 and NO_TERMINAL not in echo.stderr and "refused" in echo.stderr
    assert home.run("service", "lock").returncode == 0
    again = home.run("service", "start", "--unlock", env=password)  # "at login"
    assert again.returncode == 0 and again.stdout.startswith("keystore unlocked until ")
    assert home.status()["unlocked_until"] is not None
    service = home.status()["pid"]
    listed = json.loads(home.run("audit", "--json", local=True).stdout)
    by_service = [e for e in listed if f'AlternativeUserID="{service}"' in e["xml"]]
    assert [e["summary"] for e in by_service if "Login" in e["summary"]] == [
        "User Authentication (Login): wrong keystore password",
        "User Authentication (Login): unlocked keystore (warm service)",
        "User Authentication (Login): unlocked keystore (warm service)",
    ]


def test_an_unlock_that_would_end_at_once_or_last_for_years_is_refused(home: Home) -> None:
    """``--for 0`` said "unlocked until" a time already past, ``--for 1000d`` held the keys
    of patients' data for years (tester's G12, 1)."""
    for lasting in ("0", "1000d", "8d"):
        for action in (["start", "--unlock"], ["unlock"]):
            refused = home.run("service", *action, "--for", lasting)
            assert refused.returncode == 2, (action, lasting, refused.stdout)
            assert (
                f"an unlock lasts from 1s to 7d (then 'service unlock' again), not '{lasting}'"
            ) in refused.stderr
    assert not home.socket.exists()


def test_commands_using_what_an_unlocked_service_holds_record_no_login_of_their_own(
    home: Home, pki: Pki, storescp: int
) -> None:
    """The unlock at the service's start is the login (110114, audited then); a command that
    opens an identity from what the service holds authenticated nobody, so it records none
    (a local command, which unlocks, still does)."""
    import json

    tls_node(home, pki, storescp)
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


def test_changing_the_keystore_password_has_the_service_forget_its_secrets(
    home: Home, pki: Pki, tmp_path: Path
) -> None:
    """``keystore password`` while an unlocked service runs: the secrets it holds are the old
    password's, so it forgets them (a 110114 Logout says why) and the spare child forked with
    them ends; commands then ask for the new password until ``service unlock`` (E1 of
    findings8: they failed with advice to remove an identity that was not damaged)."""
    import json

    with_identity(home, pki)
    home.start("--unlock", env={"DICOM_COURIER_KEYSTORE_PASSWORD": PASSWORD})
    (tmp_path / "old").write_text(PASSWORD + "\n")
    (tmp_path / "new").write_text("the new keystore password\n")
    changed = home.run(
        "keystore",
        "password",
        "--password-file",
        tmp_path / "old",
        "--new-password-file",
        tmp_path / "new",
    )
    assert changed.returncode == 0, changed.stderr
    assert "the warm service has forgotten the old secrets" in changed.stdout
    assert home.status()["unlocked_until"] is None
    listed = json.loads(home.run("audit", "--json", local=True).stdout)
    assert any(
        e["summary"].startswith("User Authentication (Logout)")
        and "(asked to by a change of the keystore password)" in e["summary"]
        for e in listed
    )
