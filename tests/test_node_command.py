"""`node edit`: one reading of the configuration, under its lock."""

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import cli, node_add
from tests.peers import free_port, storescp_plain

OPENED: list[str] = []


def _record_opens(event: str, arguments: tuple[Any, ...]) -> None:
    if event == "open" and isinstance(arguments[0], str | Path):
        OPENED.append(str(arguments[0]))


sys.addaudithook(_record_opens)  # audit hooks cannot be removed: it only appends paths


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DICOM_COURIER_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_node_edit_reads_the_configuration_once(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, *node_add("pacs", "PACS", 104))[0] == 0
    OPENED.clear()
    status, out, _ = cli(capsys, "node", "edit", "pacs", "--port", "105")
    assert status == 0 and out.startswith("changed node pacs: PACS@127.0.0.1:105")
    assert [p for p in OPENED if p.endswith("config.json")] == [str(home / "config.json")]
    OPENED.clear()
    status, out, _ = cli(capsys, "node", "edit", "pacs", "--port", "105")
    assert status == 0 and out.startswith("unchanged node pacs")
    assert [p for p in OPENED if p.endswith("config.json")] == [str(home / "config.json")]


def test_a_renamed_node_takes_its_jobs_with_it(
    home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A send fails as the node is set up wrong; IT fixes and renames it; Retry sends."""
    from desktop.core.synthetic import SeriesSpec, StudySpec, write_files

    study = StudySpec("R", "Rename^Me", "20240101", "r", (SeriesSpec("CT", "ax", count=2),))
    write_files(tmp_path / "study", (study,))
    assert cli(capsys, *node_add("Other", "X", free_port()))[0] == 0
    status, _, err = cli(capsys, "send", "Other", tmp_path / "study", "--attempts", "1")
    assert status == 1 and "Connection refused" in err
    port = free_port()
    with storescp_plain(tmp_path / "stored", port):
        command = ("node", "edit", "Other", "--rename", "Fixed", "--ae", "DCMTK_SCP")
        assert cli(capsys, *command, "--port", port)[0] == 0
        status, out, _ = cli(capsys, "queue", "retry", "1")
        assert status == 0 and "2 instance(s) pending again" in out
        status, out, err = cli(capsys, "queue", "run")
        assert status == 0, err
    assert len(list((tmp_path / "stored").iterdir())) == 2
    status, out, _ = cli(capsys, "queue")
    assert "Fixed  done" in out and "Other" not in out


def test_a_job_of_a_removed_node_is_not_said_pending_again(
    home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from desktop.core.synthetic import SeriesSpec, StudySpec, write_files

    study = StudySpec("G", "Gone^Node", "20240101", "g", (SeriesSpec("CT", "ax", count=1),))
    write_files(tmp_path / "study", (study,))
    assert cli(capsys, *node_add("Gone", "X", free_port()))[0] == 0
    assert cli(capsys, "send", "Gone", tmp_path / "study", "--attempts", "1")[0] == 1
    assert cli(capsys, "node", "remove", "Gone")[0] == 0
    status, out, err = cli(capsys, "queue", "retry", "1")
    assert status == 1 and "pending again" not in out
    assert "job 1 cannot be retried: its node 'Gone' is no longer configured" in err
