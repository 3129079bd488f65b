"""Many commands, eight clients at once: each gets its own output and exit status, and the
service's descriptors, children and home stay as they were."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from tests.pki import Pki
from tests.service.conftest import PASSWORD, Home, children, with_identity
from tests.service.test_hostile import at_rest, open_descriptors, settles

CLIENTS = 8
ROUNDS = 2


def test_eight_clients_at_once_leave_nothing_behind(home: Home, tmp_path: Path) -> None:
    study = StudySpec("S", "Soak^Tree", "20240101", "soak", (SeriesSpec("CT", "ax", count=1),))
    write_files(tmp_path / "study", (study,))
    home.start()
    pid = home.status()["pid"]
    descriptors, files = at_rest(pid), sorted(home.path.iterdir())
    commands: list[tuple[list[object], int, str]] = [
        (["tree", tmp_path / "study"], 0, "Soak^Tree"),
        (["node", "list"], 0, "no nodes yet"),
        (["echo", "nobody"], 1, "nobody"),  # an unknown node: an error, exit 1
        (["nodez"], 2, "invalid choice"),  # a usage error: exit 2
    ]

    def one(index: int) -> tuple[int, int, str]:
        result = home.run(*commands[index % len(commands)][0])
        return index, result.returncode, result.stdout + result.stderr

    with ThreadPoolExecutor(CLIENTS) as pool:
        outcomes = list(pool.map(one, range(CLIENTS * ROUNDS)))
    for index, status, output in outcomes:
        _, expected, said = commands[index % len(commands)]
        assert (status, said in output, "Traceback" in output) == (expected, True, False), output
    assert home.status()["served"] == CLIENTS * ROUNDS
    assert settles(lambda: len(home.commands(zombies=True)), 0) == 0  # reaped: no zombie
    assert settles(lambda: open_descriptors(pid), descriptors) == descriptors
    assert sorted(home.path.iterdir()) == files


def test_locking_and_unlocking_between_commands_leaves_one_spare(home: Home, pki: Pki) -> None:
    """Commands, locks and unlocks in turn (each one ending the spare child and forking a new
    one): every command is served, and afterwards the service has the descriptors it had,
    one spare child and nothing else (no zombie, no spare left over)."""
    with_identity(home, pki)
    password = {"DICOM_COURIER_KEYSTORE_PASSWORD": PASSWORD}
    home.start("--unlock", env=password)
    pid = home.status()["pid"]
    assert settles(lambda: int(home.status()["spare_ready"]), 1) == 1
    descriptors = at_rest(pid)
    for _ in range(6):
        for action in (["node", "list"], ["service", "lock"], ["node", "list"]):
            assert home.run(*action).returncode == 0
        assert home.run("service", "unlock", "--for", "1h", env=password).returncode == 0
    assert home.status()["served"] == 12
    assert settles(lambda: len(children(pid, zombies=True)), 1) == 1  # the spare alone
    assert children(pid) == [home.status()["spare"]]
    assert settles(lambda: open_descriptors(pid), descriptors) == descriptors
