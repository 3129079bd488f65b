"""`node edit`: one reading of the configuration, under its lock."""

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import cli, node_add

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
