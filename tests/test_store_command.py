"""``import``, ``store reindex`` and ``store list``, and ``listen`` indexing what it files: the
Inbox as an indexed local store, driven from the command line."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydicom import Dataset, dcmread

from desktop.core.store import Store
from tests.core.store.making import dataset, write
from tests.helpers import cli, require_tool, sample_file
from tests.peers import free_port, running


def media(root: Path, count: int = 3, **attributes: object) -> list[Path]:
    """``count`` instances of one series under ``root/DATA`` with 8-character file IDs."""
    keys = {
        "StudyInstanceUID": "1.2.826.0.1.1",
        "SeriesInstanceUID": "1.2.826.0.1.1.1",
        "PatientID": "MUE1",
        "PatientName": "Müller^Jörg",
        "SpecificCharacterSet": "ISO_IR 100",
        "StudyDate": "20240101",
        "StudyTime": "1200",
        "StudyID": "1",
        "AccessionNumber": "A1",
        "SeriesNumber": 1,
        **attributes,
    }
    return [
        write(root / "DATA" / f"IM{n:06d}", dataset(**keys, InstanceNumber=n + 1))
        for n in range(count)
    ]


def listed(capsys: pytest.CaptureFixture[str], store: Path, level: str = "study") -> str:
    status, out, err = cli(capsys, "store", "list", "--level", level, "--store", store)
    assert status == 0, err
    return out


def test_import_a_dicomdir_made_by_dcmmkdir(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cd = tmp_path / "cd"
    files = media(cd)
    made = subprocess.run(
        [require_tool("dcmmkdir"), "--recurse", "+I", "DATA"],
        cwd=cd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0 and (cd / "DICOMDIR").is_file(), made.stderr
    store = tmp_path / "store"
    status, out, err = cli(capsys, "import", cd / "DICOMDIR", "--store", store)
    assert status == 0, err
    assert out.splitlines()[-1].startswith("3 copied, 0 already there, 0 kept beside, 0 failed")
    copies = sorted(store.rglob("*.dcm"))
    assert sorted(p.read_bytes() for p in copies) == sorted(f.read_bytes() for f in files)
    assert not (store / "DICOMDIR").exists()  # the media's index is not an instance
    study = listed(capsys, store)
    assert "PatientName=Müller^Jörg" in study and "NumberOfStudyRelatedInstances=3" in study
    assert study.splitlines()[-1] == "1 study"


def test_a_malformed_file_fails_alone_with_its_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = tmp_path / "folder"
    media(folder, count=2)
    good = sample_file("CT_small.dcm").read_bytes()
    (folder / "DATA" / "CUT").write_bytes(good[: len(good) // 3])  # cut inside its header
    (folder / "notes.txt").write_text("the referring letter")
    store = tmp_path / "store"
    status, out, _ = cli(capsys, "import", folder, "--store", store)
    assert status == 1
    failures = [line for line in out.splitlines() if line.startswith("failed: ")]
    assert len(failures) == 2, out
    assert any("notes.txt" in line and "not a DICOM file" in line for line in failures)
    assert any("CUT" in line for line in failures)
    assert "2 copied" in out.splitlines()[-1]
    assert len(list(store.rglob("*.dcm"))) == 2


def test_an_instance_is_not_copied_twice_and_a_different_one_is_kept_beside(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder, store = tmp_path / "folder", tmp_path / "store"
    [first] = media(folder, count=1)
    assert cli(capsys, "import", folder, "--store", store)[0] == 0
    status, out, _ = cli(capsys, "import", folder, "--store", store)
    assert status == 0 and out.splitlines()[-1].startswith("0 copied, 1 already there")
    changed = dcmread(first)
    changed.StudyDescription = "same UID, other content"
    changed.save_as(tmp_path / "other.dcm")
    status, out, _ = cli(capsys, "import", tmp_path / "other.dcm", "--store", store)
    assert status == 0 and "kept beside: " in out
    kept = sorted(store.rglob("*.dcm"))
    assert [p.name.endswith("~2.dcm") for p in kept] == [False, True]
    assert kept[0].read_bytes() == first.read_bytes()  # never overwritten
    assert listed(capsys, store, "image").splitlines()[-1] == "1 image"


def test_reindex_reports_what_it_found_after_a_hand_edit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder, store = tmp_path / "folder", tmp_path / "store"
    media(folder, count=3)
    assert cli(capsys, "import", folder, "--store", store)[0] == 0
    next(store.rglob("*.dcm")).unlink()
    write(store / "by-hand" / "x.dcm", dataset(StudyInstanceUID="1.2.826.0.1.9"))
    (store / "stray.txt").write_text("a note someone left here")
    status, out, err = cli(capsys, "store", "reindex", "--store", store)
    assert status == 0, err
    assert "not indexed: " in out and "stray.txt" in out
    assert out.splitlines()[-1] == (
        "read 2 of 4 file(s), dropped 1 entry of files gone, 1 file(s) not indexed; "
        f"{store} holds 3 instance(s) of 2 series, 2 studies, 2 patient(s)"
    )
    assert listed(capsys, store).splitlines()[-1] == "2 studies"
    status, out, _ = cli(capsys, "store", "reindex", "--full", "--store", store)
    assert status == 0 and out.splitlines()[-1].startswith("read 4 of 4 file(s), dropped 0")
    for file in (store / ".store").iterdir():
        file.unlink()  # the index deleted by hand: built again, every file read
    status, out, _ = cli(capsys, "store", "reindex", "--store", store)
    assert status == 0 and out.splitlines()[-1].startswith("read 4 of 4 file(s), dropped 0")
    assert out.count("not indexed: ") == 1


def test_listen_indexes_what_it_receives(tmp_path: Path) -> None:
    inbox, port = tmp_path / "inbox", free_port()
    command = [sys.executable, "-m", "desktop.cli", "listen", "--port", str(port)]
    command += ["--out", str(inbox)]
    env = {**os.environ, "DICOM_COURIER_HOME": str(tmp_path / "home")}
    sample = sample_file("CT_small.dcm")
    with running(command, port, tmp_path / "listen.log", env=env):
        sent = subprocess.run(
            [require_tool("storescu"), "-aec", "COURIER", "127.0.0.1", str(port), sample],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sent.returncode == 0, sent.stderr
        query = Dataset()
        query.SOPInstanceUID = ""
        query.PatientName = ""
        found: list[Dataset] = []
        deadline = time.monotonic() + 10  # the listener's indexer commits within moments
        with Store(inbox) as store:
            while not found and time.monotonic() < deadline:
                found = list(store.find(model="STUDY", level="IMAGE", identifier=query))
                time.sleep(0.05)
    assert [r.SOPInstanceUID for r in found] == [dcmread(sample).SOPInstanceUID]


@pytest.mark.parametrize("action", ["list", "reindex"])
def test_a_reader_refuses_a_store_that_does_not_exist_and_makes_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], action: str
) -> None:
    """Tester's finding 46: ``store list --store /nonexistent`` made it and said 0 studies."""
    missing = tmp_path / "nonexistent"
    status, out, err = cli(capsys, "store", action, "--store", missing)
    assert status == 1 and f"no store at {missing}" in err and "0 studies" not in out
    assert not missing.exists()


def test_imported_files_are_their_users_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Tester's F8: imported files were 0644 in 0755 folders (the README says 0600, 0700)."""
    from tests.core.store.modes import loose_modes

    media(tmp_path / "media")
    assert cli(capsys, "import", tmp_path / "media", "--store", tmp_path / "store")[0] == 0
    assert len(list((tmp_path / "store").rglob("*.dcm"))) == 3
    assert loose_modes(tmp_path / "store") == []


def test_files_an_earlier_version_left_readable_are_made_private_once(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Left over of F8: files received or imported before the 0600 change kept 0644 (folders
    0755); the first start of the store makes them private, once, and says how many."""
    from tests.core.store.modes import loose_modes

    home = tmp_path / "home"
    monkeypatch.setenv("DICOM_COURIER_HOME", str(home))
    old = media(home / "inbox" / "RECEIVED")  # as an earlier version left them
    (home / "queue.sqlite").write_bytes(b"")
    outside = tmp_path / "not-ours-to-change.txt"
    outside.write_text("a link's target")
    (home / "inbox" / "link").symlink_to(outside)
    for path in [home, *home.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)
    outside.chmod(0o644)
    assert len(loose_modes(home)) == len(old) + 5  # queue, inbox, RECEIVED, DATA, link
    loose = len(old) + 5  # the files, the queue, home, inbox, RECEIVED, DATA: not the link

    media(tmp_path / "new")
    with caplog.at_level("WARNING"):
        assert cli(capsys, "import", tmp_path / "new", "--store", home / "inbox")[0] == 0
    assert f"{loose} files and folders under {home} were readable by other users" in caplog.text
    assert [line for line in loose_modes(home) if "link" not in line] == []
    assert oct(outside.stat().st_mode & 0o777) == "0o644"
    caplog.clear()
    (home / "queue.sqlite").chmod(0o644)  # once: a later start walks nothing
    with caplog.at_level("WARNING"):
        assert cli(capsys, "store", "list", "--store", home / "inbox")[0] == 0
    assert "readable by other users" not in caplog.text


def test_import_warns_of_a_study_uid_of_two_patients_and_keeps_them_apart(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = tmp_path / "folder"
    media(folder, count=2)
    write(
        folder / "DATA" / "OTHER",
        dataset(
            StudyInstanceUID="1.2.826.0.1.1",
            SeriesInstanceUID="1.2.826.0.1.1.1",
            PatientID="OTHER-42",
            PatientName="Other^Patient",
        ),
    )
    store = tmp_path / "store"
    status, out, err = cli(capsys, "import", folder, "--store", store)
    assert status == 0 and "3 copied" in out.splitlines()[-1]
    shared = "warning: study 1.2.826.0.1.1 holds instances of 2 patients: MUE1 (2), OTHER-42 (1)"
    assert shared in err
    with Store(store) as opened:
        patients = {p.patient_id: p.studies[0].instance_count for p in opened.tree().patients}
    assert patients == {"MUE1": 2, "OTHER-42": 1}
