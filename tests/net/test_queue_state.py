"""The queue's state: a damaged database is moved aside, every file under the home is private."""

import stat
from pathlib import Path

import pytest

from tests.helpers import cli, node_add
from tests.net.conftest import Scp, make_study

pytestmark = pytest.mark.dcmtk


def test_damaged_queue_database_is_moved_aside(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    database = home / "queue.sqlite"
    garbage = b"this is not an SQLite database " * 200
    database.write_bytes(garbage)
    status, out, err = cli(capsys, "queue")
    assert status == 0 and "the queue is empty" in out
    assert f"the queue database {database} is damaged" in err and "moved it aside to" in err
    [aside] = home.glob("queue.sqlite.corrupt-*")
    assert aside.read_bytes() == garbage
    assert cli(capsys, "queue", "--json") == (0, "[]\n", "")  # the fresh one is used quietly


def test_every_file_under_the_home_is_private_after_a_send(
    capsys: pytest.CaptureFixture[str], home: Path, storescp: Scp, tmp_path: Path
) -> None:
    make_study(tmp_path / "study", count=2)
    cli(capsys, *node_add("dcmtk", "DCMTK_SCP", storescp.port, "--tls", "--identity", "courier"))
    assert cli(capsys, "send", "dcmtk", tmp_path / "study")[0] == 0
    modes = {
        path.relative_to(home.parent): stat.S_IMODE(path.stat().st_mode)
        for path in [home, *home.rglob("*")]
    }
    assert Path("home/queue.sqlite-wal") in modes and Path("home/keystore/trusted") in modes
    wrong = {
        path: oct(mode)
        for path, mode in modes.items()
        if mode != (0o700 if (home.parent / path).is_dir() else 0o600)
    }
    assert wrong == {}

