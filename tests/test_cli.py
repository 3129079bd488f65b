"""The command line: names and JSON shape that scripts rely on, one-line errors, exit codes."""

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from desktop.cli import main
from tests.helpers import node_add, sample_file

INSTANCE_KEYS = {
    "sop_instance_uid",
    "sop_class_uid",
    "instance_number",
    "transfer_syntax_uid",
    "frames",
    "rows",
    "columns",
    "path",
}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_tree_json_shape(capsys: pytest.CaptureFixture[str], dicomdir_media) -> None:  # type: ignore[no-untyped-def]
    status, out, _ = run(capsys, "tree", str(dicomdir_media("DICOMDIR")), "--json")
    assert status == 0
    tree = json.loads(out)
    assert tree["source"] == "dicomdir" and tree["problems"] == []
    patient = tree["patients"][0]
    assert {"patient_id", "patient_name", "studies"} <= patient.keys()
    study = patient["studies"][0]
    assert {
        "study_instance_uid",
        "study_date",
        "study_description",
        "accession_number",
        "series",
    } <= study.keys()
    series = study["series"][0]
    assert {
        "series_instance_uid",
        "modality",
        "series_number",
        "series_description",
        "instances",
    } <= series.keys()
    assert series["instances"][0].keys() >= INSTANCE_KEYS
    assert (
        sum(
            len(s["instances"])
            for p in tree["patients"]
            for st in p["studies"]
            for s in st["series"]
        )
        == 31
    )


def test_tree_text_with_problems_exits_zero(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "ct.dcm").write_bytes(sample_file("CT_small.dcm").read_bytes())
    (tmp_path / "junk.bin").write_bytes(b"junk" * 100)
    status, out, _ = run(capsys, "tree", str(tmp_path))
    assert status == 0
    assert "Folder scan of" in out and "CompressedSamples^CT1" in out
    assert "Problems (1):" in out and "junk.bin: not a DICOM file" in out


def test_tree_shows_control_characters_of_a_file_as_escapes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A patient ID holding ESC[31m recoloured the terminal; a line feed in a description
    made a line of its own (E7 of findings8): what a file holds is shown, never obeyed."""
    from pydicom import dcmread

    dataset = dcmread(sample_file("CT_small.dcm"))
    dataset.PatientID = "ID\x1b[31mRED"
    dataset.StudyDescription = "Head\nProblems (0):\x9b2J"
    dataset.save_as(tmp_path / "ct.dcm")
    status, out, _ = run(capsys, "tree", str(tmp_path))
    assert status == 0
    assert "[ID\\x1b[31mRED]" in out and "Head\\nProblems (0):\\x9b2J" in out
    assert not any((ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0 for c in out)
    assert out.count("\n") == 5  # the summary, patient, study, series, instance


@pytest.mark.parametrize("content", [None, "text"])
def test_tree_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str | None
) -> None:
    target = tmp_path / "media"
    if content is not None:
        target.mkdir()
        (target / "a.txt").write_text(content)
    status, out, err = run(capsys, "tree", str(target))
    assert status == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("dicom-courier: ")
    assert ("does not exist" if content is None else "no DICOM files") in err


def test_export_png_and_mp4(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    source = str(sample_file("emri_small.dcm"))
    status, out, _ = run(
        capsys,
        "export",
        source,
        "--png",
        str(tmp_path / "a.png"),
        "--frame",
        "3",
        "--window",
        "500,1000",
    )
    assert status == 0 and Image.open(tmp_path / "a.png").size == (64, 64)
    status, out, _ = run(capsys, "export", source, "--png", str(tmp_path / "b.png"), "--16bit")
    assert status == 0 and Image.open(tmp_path / "b.png").mode == "I;16"
    status, out, _ = run(capsys, "export", source, "--mp4", str(tmp_path / "c.mp4"), "--fps", "8")
    assert status == 0 and "wrote 10 frames at 8 fps" in out


def test_export_frame_counts_from_1_as_dicom_and_the_viewer_do(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """G6 of findings7: --frame 32 was the viewer's Image 33 (the CLI counted from 0)."""
    from desktop.core.export import export_png
    from desktop.core.frames import FrameSource

    source = str(sample_file("emri_small.dcm"))  # 10 frames, each unlike the others
    for frame, index in ((1, 0), (10, 9)):
        export_png(FrameSource(Path(source)), tmp_path / f"index{index}.png", frame=index)
        status, out, _ = run(
            capsys, "export", source, "--png", str(tmp_path / f"{frame}.png"), "--frame", str(frame)
        )
        assert status == 0 and f"wrote image {frame}/10 of {source}" in out
        assert pixels(tmp_path / f"{frame}.png") == pixels(tmp_path / f"index{index}.png")
    assert pixels(tmp_path / "1.png") != pixels(tmp_path / "index9.png")
    refused = tmp_path / "x.png"
    status, _, err = run(capsys, "export", source, "--png", str(refused), "--frame", "11")
    assert status == 1 and f"frame 11 is out of range: {source} has 10 frames (1 to 10)" in err
    with pytest.raises(SystemExit) as usage:
        main(["export", source, "--png", str(refused), "--frame", "0"])
    assert usage.value.code == 2 and "frames count from 1" in capsys.readouterr().err
    assert not refused.exists()


def pixels(png: Path) -> bytes:
    return Image.open(png).tobytes()


def test_a_frame_that_cannot_be_decoded_is_named_from_1_as_asked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """F5 of findings9: ``--frame 10`` of a file whose pixel data stop after frame 3 said
    "frame 9 … cannot be decoded", the MP4 export "frame 3" for the fourth, and a palette
    that cannot be applied "frame 0 … cannot be displayed" for the only one."""
    import pydicom
    from pydicom.datadict import tag_for_keyword

    dataset = pydicom.dcmread(sample_file("emri_small.dcm"))  # 10 frames of 64×64×16 bits
    dataset.PixelData = dataset.PixelData[: 3 * 64 * 64 * 2]
    short = tmp_path / "short.dcm"
    dataset.save_as(short)
    status, _, err = run(
        capsys, "export", str(short), "--png", str(tmp_path / "x.png"), "--frame", "10"
    )
    assert status == 1 and err.startswith("dicom-courier: frame 10 of short.dcm cannot be decoded")
    status, _, err = run(capsys, "export", str(short), "--mp4", str(tmp_path / "x.mp4"))
    assert status == 1 and err.startswith("dicom-courier: frame 4 of short.dcm cannot be decoded")
    palette = pydicom.dcmread(sample_file("CT_small.dcm"))  # a palette whose tables are 10 bytes
    palette.PhotometricInterpretation = "PALETTE COLOR"
    for colour in ("Red", "Green", "Blue"):
        palette.add_new(
            tag_for_keyword(f"{colour}PaletteColorLookupTableDescriptor"), "US", [256, 0, 16]
        )
        setattr(palette, f"{colour}PaletteColorLookupTableData", b"\0" * 10)
    palette.save_as(tmp_path / "palette.dcm")
    status, _, err = run(
        capsys, "export", str(tmp_path / "palette.dcm"), "--png", str(tmp_path / "p.png")
    )
    assert status == 1 and err == (
        "dicom-courier: frame 1 of palette.dcm cannot be displayed: its palette colour lookup "
        "tables are damaged (Red: 10 bytes for 256 entries of 16 bits)\n"
    )  # F9: not NumPy's "Alias 'uint0' was removed in NumPy 2.0"


def test_export_to_a_long_name_works_and_an_impossible_one_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = str(sample_file("CT_small.dcm"))
    long = tmp_path / ("y" * 246 + ".png")  # 250 characters: touch makes it
    status, _, err = run(capsys, "export", source, "--png", str(long))
    assert status == 0 and Image.open(long).size == (128, 128), err
    status, _, err = run(capsys, "export", source, "--png", str(tmp_path / ("z" * 300 + ".png")))
    assert status == 1 and err.count("\n") == 1 and err.endswith(": file name too long\n"), err


def test_export_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = run(
        capsys, "export", str(sample_file("rtplan.dcm")), "--png", str(tmp_path / "x.png")
    )
    assert status == 1 and "has no pixel data" in err
    status, _, err = run(
        capsys,
        "export",
        str(sample_file("CT_small.dcm")),
        "--png",
        str(tmp_path / "x.png"),
        "--frame",
        "5",
    )
    assert status == 1 and "frame 5 is out of range" in err
    with pytest.raises(SystemExit):
        main(["export", str(sample_file("CT_small.dcm")), "--png", "x.png", "--window", "40"])
    assert "CENTER,WIDTH" in capsys.readouterr().err
    for window in ("nan,inf", "40,inf", "inf,400"):  # F4 of findings9: an all-black PNG, rc 0
        with pytest.raises(SystemExit) as usage:
            main(["export", str(sample_file("CT_small.dcm")), "--png", "x.png", "--window", window])
        refusal = f"a window's centre and width are numbers, not '{window}'"
        assert usage.value.code == 2 and refusal in capsys.readouterr().err
    assert not Path("x.png").exists()
    cine = str(sample_file("emri_small.dcm"))
    for target, rate, refusal in (
        ("v.mp4", "100000", "a video plays 0 to 240 frames per second, not 100000"),
        ("v.avi", "8", "v.avi: MP4 files end in .mp4 or .m4v"),
        ("v.jpg", None, "v.jpg: PNG files end in .png"),
    ):
        kind = "--png" if rate is None else "--mp4"
        rates = [] if rate is None else ["--fps", rate]
        status, _, err = run(capsys, "export", cine, kind, str(tmp_path / target), *rates)
        assert status == 1 and refusal in err and not (tmp_path / target).exists()


def test_entry_point_starts_without_qt(tmp_path: Path) -> None:
    code = (
        "import sys, desktop.cli; desktop.cli.main(['demo-media', sys.argv[1]]); "
        "print(sorted(m for m in sys.modules if m.startswith('PySide6')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip().endswith("[]")
    assert (tmp_path / "demo" / "DICOMDIR").is_file()


IMPORTS_AFTER = """
import sys
from desktop.cli import main
try:
    main(sys.argv[2:])
except SystemExit:
    pass
print(",".join(sorted(m for m in sys.argv[1].split(",") if m in sys.modules)))
"""
HEAVY = ("PySide6", "cryptography", "numpy", "pydicom", "pynetdicom")


@pytest.mark.parametrize(
    ("arguments", "forbidden"),
    [
        (["--version"], HEAVY),
        (["node", "list"], HEAVY),
        (["history"], HEAVY),
        (["echo", "no-such-node"], ("PySide6", "numpy", "pydicom", "pynetdicom")),
    ],
)
def test_a_command_imports_only_what_it_needs(
    tmp_path: Path, arguments: list[str], forbidden: tuple[str, ...]
) -> None:
    """Start-up time is mostly import time: --version loads no command, the node and history
    commands no DICOM, TLS or numerics library, echo neither pydicom nor the storage SCP."""
    result = subprocess.run(
        [sys.executable, "-c", IMPORTS_AFTER, ",".join(forbidden), *arguments],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DICOM_COURIER_HOME": str(tmp_path)},
    )
    assert result.stdout.splitlines()[-1] == ""


def test_export_a_series_stack_as_mp4(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from desktop.core.synthetic import SeriesSpec, StudySpec, write_files

    study = StudySpec("E", "Export^Stack", "20240101", "ct", (SeriesSpec("CT", "axial", count=4),))
    files = [str(p) for p in write_files(tmp_path / "series", (study,))]
    status, out, _ = run(capsys, "export", *files, "--mp4", str(tmp_path / "s.mp4"))
    assert status == 0 and "wrote 4 frames at 10 fps" in out
    status, out, _ = run(
        capsys, "export", str(tmp_path / "series"), "--png", str(tmp_path / "s.png"), "--frame", "3"
    )
    assert status == 0 and Image.open(tmp_path / "s.png").size == (64, 64)


def test_send_of_uncompressed_files_imports_no_pixel_library(tmp_path: Path) -> None:
    """A send streams files as they are stored: pydicom (0.4 s to import, with numpy and
    Pillow) is loaded only to convert a syntax the peer refuses or to name a UID in an error,
    the packing pipeline (and multiprocessing) only to compress."""
    from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
    from tests.helpers import node_add
    from tests.peers import free_port, storescp_plain

    study = StudySpec("S", "Send^Imports", "20240101", "send", (SeriesSpec("CT", "ax", count=3),))
    write_files(tmp_path / "study", (study,))
    home = {**os.environ, "DICOM_COURIER_HOME": str(tmp_path / "home")}
    port = free_port()
    with storescp_plain(tmp_path / "stored", port):
        subprocess.run(
            [sys.executable, "-m", "desktop.cli", *map(str, node_add("peer", "SCP", port))],
            check=True,
            env=home,
            capture_output=True,
        )
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                IMPORTS_AFTER,
                "numpy,pydicom,PIL,PySide6,pynetdicom,multiprocessing",
                *("send", "peer", str(tmp_path / "study"), "--compress", "none"),
            ],
            capture_output=True,
            text=True,
            check=True,
            env=home,
        )
    assert "sent 3 of 3" in result.stdout
    assert result.stdout.splitlines()[-1] == ""
    assert len(list((tmp_path / "stored").iterdir())) == 3


def test_demo_media_never_writes_over_other_media(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    existing = tmp_path / "cd"
    existing.mkdir()
    (existing / "DICOMDIR").write_bytes(b"a real export")
    for target, message in (
        (existing, "is not empty: choose a new or empty one"),
        (existing / "DICOMDIR", "is a file, not a folder"),
        (tmp_path / "no" / "such", "the folder " + str(tmp_path / "no") + " does not exist"),
    ):
        status, _, err = run(capsys, "demo-media", str(target))
        assert status == 1 and message in err and err.count("\n") == 1, err
    assert (existing / "DICOMDIR").read_bytes() == b"a real export"


@pytest.mark.parametrize("tries", ["0", "-3", "two"])
def test_send_needs_at_least_one_attempt(capsys: pytest.CaptureFixture[str], tries: str) -> None:
    with pytest.raises(SystemExit):
        main(["send", "pacs", "x", "--attempts", tries])
    assert "--attempts" in capsys.readouterr().err


def test_output_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """``dicom-courier node list | head -0``: the reader has gone before we write."""
    env = {**os.environ, "DICOM_COURIER_HOME": str(tmp_path)}
    courier = str(Path(sys.executable).parent / "dicom-courier")
    for number in range(3):
        add = map(str, node_add(f"n{number}", "PACS", 104 + number))
        subprocess.run([courier, *add], env=env, check=True, capture_output=True)
    reader, writer = os.pipe()
    os.close(reader)  # as head does once it has what it wants
    result = subprocess.run(
        [courier, "node", "list"],
        stdout=writer,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    os.close(writer)
    assert result.stderr == "" and result.returncode == 141


@pytest.mark.parametrize("arguments", [["gui"], []])
def test_no_display_is_one_plain_line_not_qts_abort(tmp_path: Path, arguments: list[str]) -> None:
    """Tester's finding 47: without a display Qt aborted (exit 134) advising a reinstall."""
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    environment["DICOM_COURIER_HOME"] = str(tmp_path / "home")
    result = subprocess.run(
        [sys.executable, "-m", "desktop.cli", *arguments],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "dicom-courier: no display: the desktop application needs a graphical session "
        "(DISPLAY or WAYLAND_DISPLAY); the command line is 'dicom-courier --help'"
    ]


def test_the_process_command_leaves_its_objects_frozen_for_the_exit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run as the process's command, what it leaves is frozen: the exit's collections skip
    it. A caller that passes its own arguments (a test, a script) keeps collecting."""
    monkeypatch.setenv("DICOM_COURIER_HOME", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["dicom-courier", "node", "list"])
    gc.unfreeze()
    try:
        assert main(["node", "list"]) == 0 and gc.get_freeze_count() == 0
        assert main() == 0 and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    assert "no nodes yet" in capsys.readouterr().out


def _two_patients_of_one_study(folder: Path, other: str = "OTHER-42") -> str:
    """A sample CT and a copy of it (same study) naming another patient (Patient ID
    ``other``); the study's UID."""
    import pydicom
    from pydicom.uid import generate_uid

    folder.mkdir()
    source = folder / "ct.dcm"
    source.write_bytes(sample_file("CT_small.dcm").read_bytes())
    foreign = pydicom.dcmread(source)
    foreign.PatientID, foreign.PatientName = other, "Other^Patient"
    foreign.SOPInstanceUID = foreign.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    foreign.save_as(folder / "aa_other.dcm", enforce_file_format=True)
    return str(foreign.StudyInstanceUID)


def test_tree_keeps_a_study_uid_of_two_patients_apart(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    media = tmp_path / "cd1"
    study = _two_patients_of_one_study(media)
    status, out, _ = run(capsys, "tree", str(media), "--json")
    tree = json.loads(out)
    assert status == 0
    studies = {p["patient_id"]: p["studies"] for p in tree["patients"]}
    assert [len(s) for s in studies.values()] == [1, 1]
    assert all(len(s[0]["series"][0]["instances"]) == 1 for s in studies.values())
    [problem] = tree["problems"]
    assert problem["path"] == str(media / "aa_other.dcm")
    assert f"study {study} holds instances of 2 patients: " in problem["reason"]
    assert "OTHER-42 (1)" in problem["reason"]


def test_send_warns_of_a_study_uid_of_two_patients(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.peers import free_port, storescp_plain

    study = _two_patients_of_one_study(tmp_path / "cd1")
    monkeypatch.setenv("DICOM_COURIER_HOME", str(tmp_path / "home"))
    port = free_port()
    with storescp_plain(tmp_path / "stored", port):
        assert run(capsys, *map(str, node_add("peer", "SCP", port)))[0] == 0
        status, out, err = run(capsys, "send", "peer", str(tmp_path / "cd1"), "--study", study)
    assert status == 0 and "sent 2 of 2" in out
    assert f"warning: study {study} holds instances of 2 patients: " in err


def test_the_warning_of_two_patients_shows_their_ids_never_obeyed_by_the_terminal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """send's and export-media's warning names the patients by their IDs, the files' text:
    one holding ESC sequences went raw to the terminal (E7 of findings8)."""
    study = _two_patients_of_one_study(tmp_path / "cd1", other="OTHER\x1b[2J")
    monkeypatch.setenv("DICOM_COURIER_HOME", str(tmp_path / "home"))
    status, _, err = run(
        capsys,
        *("export-media", "--study", study, "--from", str(tmp_path / "cd1")),
        *("--out", str(tmp_path / "out")),
    )
    assert status == 0 and "OTHER\\x1b[2J (1)" in err and "\x1b" not in err


def test_export_media_of_a_study_uid_of_two_patients_warns_and_audits_both(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = _two_patients_of_one_study(tmp_path / "cd1")
    monkeypatch.setenv("DICOM_COURIER_HOME", str(tmp_path / "home"))
    status, out, err = run(
        capsys,
        *("export-media", "--study", study, "--from", str(tmp_path / "cd1")),
        *("--out", str(tmp_path / "out")),
    )
    assert status == 0 and "wrote 2 instances" in out, err
    assert f"warning: study {study} holds instances of 2 patients: " in err
    status, out, _ = run(capsys, "audit", "--json", "--event", "110106")
    exports = json.loads(out)
    assert status == 0 and len(exports) == 2  # one study per patient, each named
    assert sum('ParticipantObjectID="OTHER-42"' in r["xml"] for r in exports) == 1
