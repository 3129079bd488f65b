"""Small wrong or misleading command-line messages (F14): listener events in the history
named 'None', an empty --rename taken for no rename, node names differing only in case and
AE titles shared by two nodes, export-media's --study taking one UID, and counts and frame
rates printed as '1 frames', '1 instances', '30.0003 fps'."""

import logging
from pathlib import Path

import pytest

from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from desktop.net.history import History
from tests.helpers import cli, node_add


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    monkeypatch.setenv("DICOM_COURIER_HOME", str(folder))
    return folder


def test_history_names_the_peer_of_a_listener_event(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = History(home / "history.jsonl")
    log.append({"event": "access-refused", "calling": "WS", "peer": "127.0.0.1:4711"})
    log.append({"event": "association-aborted", "peer": "127.0.0.1:4712"})  # before associating
    status, out, _ = cli(capsys, "history")
    assert status == 0 and "None" not in out
    refused, aborted = out.splitlines()
    assert "  WS  access-refused  " in refused
    assert "  127.0.0.1:4712  association-aborted  " in aborted


def test_an_empty_new_name_is_refused(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, *node_add("PACS", "PACS", 104))[0] == 0
    with pytest.raises(SystemExit) as ended:
        cli(capsys, "node", "edit", "PACS", "--rename", "")
    assert ended.value.code == 2
    assert "a node name is 1 to 64 characters, not empty" in capsys.readouterr().err


def test_names_differing_in_case_are_refused_and_shared_ae_titles_warned_of(
    home: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    assert cli(capsys, *node_add("Main PACS", "MAIN", 104))[0] == 0
    assert cli(capsys, *node_add("Other", "OTHER", 105))[0] == 0
    status, _, err = cli(capsys, *node_add("main pacs", "COPY", 106))
    assert status != 0
    assert "a node named 'Main PACS' exists already: 'main pacs' differs only in case" in err
    status, _, err = cli(capsys, "node", "edit", "Other", "--rename", "MAIN PACS")
    assert status != 0 and "differs only in case" in err
    assert cli(capsys, "node", "edit", "Main PACS", "--rename", "MAIN PACS")[0] == 0  # itself
    status, _, err = cli(capsys, "echo", "main pacs")
    assert (
        status != 0 and "no node named 'main pacs' (names are case-sensitive: 'MAIN PACS'?)" in err
    )

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert cli(capsys, *node_add("Main copy", "MAIN", 107))[0] == 0
    assert "node 'Main copy' has the AE title MAIN of node 'MAIN PACS'" in caplog.text
    assert "only one of them can be a move destination" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert cli(capsys, "node", "edit", "Main copy", "--port", "108")[0] == 0
    assert caplog.text == ""  # said when the title is given, not at every change


def test_export_media_takes_several_studies_after_one_study_option(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = StudySpec("P1", "One^Study", "20240101", "ct", (SeriesSpec("CT", "axial", count=1),))
    two = StudySpec("P2", "Two^Study", "20240102", "mr", (SeriesSpec("MR", "t1", count=2),))
    write_files(tmp_path / "media", (one, two))
    import pydicom

    by_modality = {
        str(d.Modality): str(d.StudyInstanceUID)
        for d in map(pydicom.dcmread, (tmp_path / "media").rglob("*.dcm"))
    }
    studies = [by_modality["CT"], by_modality["MR"]]
    assert len(studies) == 2
    status, out, err = cli(capsys, "export-media", "--study", *studies,
                           "--from", tmp_path / "media", "--out", tmp_path / "cd")  # fmt: skip
    assert status == 0, err
    assert "wrote 3 instances with a DICOMDIR" in out
    status, out, err = cli(capsys, "export-media", "--study", studies[0],
                           "--from", tmp_path / "media", "--out", tmp_path / "cd1")  # fmt: skip
    assert status == 0, err
    assert "wrote 1 instance with a DICOMDIR" in out


def test_a_cine_export_says_its_frames_and_rate_plainly(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cine = SeriesSpec("US", "cine", rows=32, columns=32, frames=3, color=True, fps=30.0)
    [path] = write_files(
        tmp_path / "cine", (StudySpec("C", "Cine^Loop", "20240101", "us", (cine,)),)
    )
    import pydicom

    dataset = pydicom.dcmread(path)
    dataset.FrameTime = "33.33"  # as devices round it: 30.003 frames a second
    dataset.save_as(path)
    status, out, err = cli(capsys, "export", path, "--mp4", tmp_path / "c.mp4")
    assert status == 0, err
    assert "wrote 3 frames at 30 fps" in out
    single = StudySpec("S", "One^Frame", "20240101", "ct", (SeriesSpec("CT", "axial", count=1),))
    [frame] = write_files(tmp_path / "single", (single,))
    status, out, err = cli(capsys, "export", frame, "--mp4", tmp_path / "s.mp4")
    assert status == 0, err
    assert "wrote 1 frame at 10 fps" in out


def test_a_node_name_in_use_is_said_for_the_cli_and_the_gui_alike(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not a CLI command as advice in the GUI's dialog (tester's G12, 5)."""
    assert cli(capsys, *node_add("night pacs", "NIGHT", 104))[0] == 0
    status, _, err = cli(capsys, *node_add("night pacs", "NIGHT", 105))
    assert (status, err) == (
        1,
        "dicom-courier: a node named 'night pacs' exists already: choose another name, or edit "
        "that node instead\n",
    )
