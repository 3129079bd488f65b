"""``dicom-courier deid``: copies written and listed, the key file made, sources untouched,
clear one-line errors for what is not available yet; burned-in text reviewed through a file."""

import json
import stat
from collections import Counter
from pathlib import Path

import pytest
from pydicom import dcmread

from desktop.cli import main
from desktop.core.synthetic import SeriesSpec, StudySpec, write_files

STUDY = StudySpec("PID-9", "Doe^Jane", "20240101", "CT", (SeriesSpec("CT", "a", count=3),))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_deid_writes_copies_with_the_key_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sources = write_files(tmp_path / "in", (STUDY,))
    key = tmp_path / "project.key"
    out = tmp_path / "out"
    status, printed, _ = run(
        capsys,
        "deid",
        str(tmp_path / "in"),
        "--out",
        str(out),
        "--key-file",
        str(key),
        "--option",
        "retain-longitudinal-modified-dates",
    )
    assert status == 0
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes()) == 32
    copies = sorted(out.rglob("*.dcm"))
    assert len(copies) == len(sources) == printed.count("de-identified ")
    copy = dcmread(copies[0])
    assert copy.PatientIdentityRemoved == "YES" and not copy.PatientName
    assert copy.LongitudinalTemporalInformationModified == "MODIFIED"
    assert dcmread(sources[0]).PatientName == "Doe^Jane"

    again = tmp_path / "again"
    assert (
        run(capsys, "deid", str(tmp_path / "in"), "--out", str(again), "--key-file", str(key))[0]
        == 0
    )
    assert sorted(p.name for p in again.rglob("*.dcm")) == sorted(p.name for p in copies)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--pixels", "review"], "--pixels review needs --boxes FILE on the command line"),
        (["--boxes", "b.json"], "--boxes goes with --pixels review"),
        (["--option", "clean-pixel-data"], "is chosen with --pixels auto"),
        (["--option", "clean-recognizable-visual-features"], "is not available yet"),
        (
            [
                "--option",
                "retain-longitudinal-full-dates",
                "--option",
                "retain-longitudinal-modified-dates",
            ],
            "choose one of",
        ),
    ],
)
def test_unavailable_choices_refused_before_anything_is_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, extra: list[str], message: str
) -> None:
    write_files(tmp_path / "in", (STUDY,))
    status, _, error = run(
        capsys, "deid", str(tmp_path / "in"), "--out", str(tmp_path / "o"), *extra
    )
    assert status == 1
    assert message in error and error.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_missing_source_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, error = run(capsys, "deid", str(tmp_path / "nope"), "--out", str(tmp_path / "o"))
    assert status == 1 and "nope does not exist" in error
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("path", ["bytes", "data set"])
def test_each_patient_keeps_one_pseudonym_and_two_patients_never_merge(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, path: str
) -> None:
    """Patient ID becomes its keyed pseudonym (a fixed dummy filed every patient of a
    research export under one 'ANONYMIZED')."""
    other = StudySpec("PID-7", "Roe^Richard", "20240102", "MR", (SeriesSpec("MR", "b", count=2),))
    again = StudySpec("PID-9", "Doe^Jane", "20240305", "CT 2", (SeriesSpec("CT", "c", count=1),))
    write_files(tmp_path / "in", (STUDY, other, again))
    key = tmp_path / "project.key"
    # a recipient makes every copy go through pydicom's data set; without one, the bytes path
    extra = (
        ["--recipient", str(_recipient(tmp_path)), "--untrusted-recipient"]
        if path == "data set"
        else []
    )
    status, _, err = run(
        capsys, "deid", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
        "--key-file", str(key), *extra,
    )  # fmt: skip
    assert status == 0, err
    copies = [dcmread(copy) for copy in (tmp_path / "out").rglob("*.dcm")]
    patients = Counter(str(c.PatientID) for c in copies)
    assert sorted(patients.values()) == [2, 4]  # Jane's two studies (3 + 1), Richard's (2)
    assert all(pid.startswith("ANON-") and len(pid) == 21 for pid in patients)
    assert {str(c.PatientName) for c in copies} == {""}  # Z: zero length


def _recipient(folder: Path) -> Path:
    from cryptography.hazmat.primitives.serialization import Encoding

    from tests.pki import make_ca, make_leaf

    certificate = folder / "recipient.pem"
    leaf = make_leaf("recipient.test", make_ca("Recipient CA"), server=False)
    certificate.write_bytes(leaf.certificate.public_bytes(Encoding.PEM))
    return certificate


def test_a_duplicate_or_a_damaged_file_never_replaces_a_good_copy(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Media often hold two files of one instance; a damaged one must not win, and a copy must
    never hide damage (pydicom reads a truncated file without a word)."""
    [good, *_] = write_files(tmp_path / "made", (STUDY,))
    media = tmp_path / "media"
    media.mkdir()
    data = good.read_bytes()
    (media / "a truncated.dcm").write_bytes(data[: len(data) - 1000])  # pixel data cut short
    (media / "b header only.dcm").write_bytes(data[:400])  # cut inside the header
    (media / "c good ü 日本.dcm").write_bytes(data)
    (media / "d same instance.dcm").write_bytes(data)
    status, out, err = run(capsys, "deid", str(media), "--out", str(tmp_path / "out"))
    assert status == 1
    [copy] = (tmp_path / "out").rglob("*.dcm")
    assert dcmread(copy).PixelData == dcmread(good).PixelData  # the good one's copy
    assert out.count("de-identified ") == 1 and "c good ü 日本.dcm" in out
    assert "a truncated.dcm is damaged (truncated" in err
    assert err.count(str(media / "a truncated.dcm")) == 1  # named once (E11 of findings8)
    assert "b header only.dcm is damaged (" in err
    assert f"d same instance.dcm holds the same instance (SOP Instance UID) as {media}" in err


def test_a_file_nested_beyond_the_recursion_limit_is_refused_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Tester's F10: 3,000 nested sequences ended deid in a RecursionError, no file copied."""
    from tests.core.crafted import identity, nested_sequences, part10
    from tests.core.test_hostile_media import IMAGE

    write_files(tmp_path / "media", (STUDY,))
    deep = tmp_path / "media" / "deep.dcm"
    nested = nested_sequences(3000, tag=0x0040A730)  # Content Sequence, after the identity
    deep.write_bytes(part10(identity("2.25.7") + nested + IMAGE, uid="2.25.7", full_meta=True))
    status, out, err = run(capsys, "deid", str(tmp_path / "media"), "--out", str(tmp_path / "out"))
    assert status == 1 and "Traceback" not in err
    assert f"{deep} is damaged (sequences nested deeper than 64 levels" in err
    assert out.count("de-identified ") == 3 and len(list((tmp_path / "out").rglob("*.dcm"))) == 3


def test_an_output_inside_the_sources_or_a_file_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    [first, *_] = write_files(tmp_path / "in", (STUDY,))
    before = sorted(p for p in (tmp_path / "in").rglob("*"))
    for out, message in (
        (tmp_path / "in" / "copies", "is inside"),
        (tmp_path / "in", "is inside"),
        (first, "is a file: --out names the folder"),
    ):
        status, _, error = run(capsys, "deid", str(tmp_path / "in"), "--out", str(out))
        assert status == 1 and message in error and error.count("\n") == 1, error
    assert sorted(p for p in (tmp_path / "in").rglob("*")) == before  # nothing written


def test_pixels_review_writes_the_boxes_then_masks_the_edited_ones(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """First run: the boxes found are written, no copy is made. The person replaces them by
    one box of their own; the second run masks that box and nothing else."""
    from pydicom.pixels.utils import pixel_array

    from tests.burned_in import write_samples

    [(source, sample)] = write_samples(tmp_path / "in", 1, seed=3)
    review, out = tmp_path / "boxes.json", tmp_path / "out"
    command = ("deid", str(source), "--out", str(out), "--pixels", "review", "--boxes", str(review))
    status, printed, _ = run(capsys, *command, "--key-file", str(tmp_path / "k"))
    assert status == 0 and "edit their 'boxes'" in printed
    assert not out.exists()
    document = json.loads(review.read_text())
    [image] = document["images"]
    assert image["sop_instance_uid"] == sample.dataset.SOPInstanceUID
    assert "modality US" in image["flagged_because"]
    found = {line["text"] for line in image["text_read"]}
    assert any(text.identifying and text.words in found for text in sample.texts)
    assert len(image["boxes"]) >= 3

    image["boxes"] = [[0, 0, 100, 40]]
    review.write_text(json.dumps(document))
    status, printed, _ = run(capsys, *command, "--key-file", str(tmp_path / "k"))
    assert status == 0 and "de-identified" in printed
    [copy] = out.rglob("*.dcm")
    before, after = pixel_array(str(source)), pixel_array(str(copy))
    changed = (before != after).any(axis=-1)
    assert not after[..., :40, :100, :].any()  # in each of the cine's frames
    assert changed.sum() == changed[..., :40, :100].sum() > 0


def test_header_only_copies_import_no_dicom_or_pixel_library(tmp_path: Path) -> None:
    """Copies of explicit VR files, pixels left as they are, are made from the headers' bytes:
    importing pydicom (with numpy and its pixel handlers, 0.5 s of CPU) or the recipient's CMS
    code would be most of a small run's time."""
    import os
    import subprocess
    import sys

    from tests.test_cli import IMPORTS_AFTER

    write_files(tmp_path / "in", (STUDY,))
    key = tmp_path / "project.key"
    arguments = (
        "deid",
        str(tmp_path / "in"),
        "--out",
        str(tmp_path / "out"),
        "--key-file",
        str(key),
    )
    result = subprocess.run(
        [sys.executable, "-c", IMPORTS_AFTER, "numpy,pydicom,PIL,PySide6,cryptography", *arguments],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DICOM_COURIER_HOME": str(tmp_path / "home")},
    )
    assert result.stdout.count("de-identified ") == 3
    assert result.stdout.splitlines()[-1] == ""  # none of them imported


def test_pixels_left_unsearched_are_warned_of_for_each_flagged_image(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An ultrasound or a secondary capture de-identified with ``--pixels off`` (the default)
    still shows the name burned into it: each such copy is named, with a summary saying what
    to do, and says so itself (Burned In Annotation YES, its method); a CT study is not
    warned of, nor marked."""
    from tests.burned_in import write_samples

    burned = tmp_path / "burned"
    write_samples(burned, 3, seed=1)
    write_files(tmp_path / "ct", (STUDY,))
    status, printed, warned = run(
        capsys, "deid", str(burned), str(tmp_path / "ct"), "--out", str(tmp_path / "out")
    )
    assert status == 0 and printed.count("de-identified ") == 6
    lines = warned.splitlines()
    for sample in burned.iterdir():
        [line] = [line for line in lines if str(sample) in line]
        assert "may hold burned-in text" in line and "not searched (--pixels off)" in line
    assert not [line for line in lines if str(tmp_path / "ct") in line]
    assert "3 of 6 copies may hold burned-in text" in lines[-1]
    assert "--pixels auto" in lines[-1]
    copies = [dcmread(p, stop_before_pixels=True) for p in (tmp_path / "out").rglob("*.dcm")]
    flagged = [c for c in copies if c.Modality != "CT"]
    assert len(flagged) == 3 and len(copies) == 6
    for copy in copies:  # the copy itself says so, for whoever receives it (tester's G9)
        assert copy.PatientIdentityRemoved == "YES"
        said = copy in flagged
        assert (copy.get("BurnedInAnnotation") == "YES") is said, copy.Modality
        method = list(copy.DeidentificationMethod)
        assert (method[-1] == "Pixel data not searched for burned-in text") is said
        codes = [item.CodeValue for item in copy.DeidentificationMethodCodeSequence]
        assert "113101" not in codes  # no Clean Pixel Data Option claimed


def test_the_signs_of_text_come_from_the_bytes_the_copy_is_made_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Left over: ``deid --pixels off`` read each source's header a second time for its signs
    of burned-in text; they now come from the bytes its copy is made from, the same signs."""
    from desktop.core import header
    from desktop.core.deid.signs import unsearched
    from desktop.deidentify import copies, with_signs
    from tests.burned_in import write_samples

    write_samples(tmp_path / "burned", 3, seed=1)
    write_files(tmp_path / "ct", (STUDY,))
    sources = [tmp_path / "burned", tmp_path / "ct"]
    expected = {p: unsearched(p) for folder in sources for p in folder.rglob("*") if p.is_file()}
    assert sum(bool(signs) for signs in expected.values()) == 3
    reads: list[Path] = []
    read_header = header.read_header
    monkeypatch.setattr(
        header, "read_header", lambda path, *more: reads.append(path) or read_header(path, *more)
    )
    made = list(with_signs(copies(sources, tmp_path / "out", options=frozenset()), searched=False))
    assert reads == []  # no source read again
    assert {done.source: signs for done, signs in made} == expected
    assert all(done.copy is not None for done, _ in made)


def test_a_file_whose_transfer_syntax_lies_is_refused_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """pydicom's SC_rgb_jpeg.dcm says explicit VR (JPEG Baseline) but holds an implicit VR
    data set: its copy could not be written, and the TypeError ended the whole run, every
    later file left without a copy or a word (E4 of findings8)."""
    from tests.helpers import sample_file

    write_files(tmp_path / "media", (STUDY,))
    lying = tmp_path / "media" / "a lying.dcm"  # first: the run goes on after it
    lying.write_bytes(sample_file("SC_rgb_jpeg.dcm").read_bytes())
    status, out, err = run(capsys, "deid", str(tmp_path / "media"), "--out", str(tmp_path / "out"))
    assert status == 1 and "Traceback" not in err
    assert f"{lying}: its de-identified copy cannot be written (" in err
    assert out.count("de-identified ") == 3 and len(list((tmp_path / "out").rglob("*.dcm"))) == 3


def test_uids_kept_never_lead_a_copy_out_of_the_output_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """With retain-uids the copy is named by the file's own UIDs: a series UID
    '../../escaped' or an absolute one wrote the copy outside --out, wherever the file said
    (E6 of findings8). Each name is made safe, as the Inbox files received instances."""
    [source] = write_files(tmp_path / "made", (StudySpec("P", "Doe^J", "20240101", "CT", (
        SeriesSpec("CT", "a"),)),))  # fmt: skip
    media = tmp_path / "media"
    media.mkdir()
    dataset = dcmread(source)
    for name, series, instance in (
        ("a.dcm", "../../escaped", "1.2.3.1"),
        ("b.dcm", str(tmp_path / "absolute"), "1.2.3.2"),
        ("c.dcm", "1.2.3", "../../../instance"),
    ):
        with pytest.warns(UserWarning, match="Invalid value for VR UI"):  # a hostile file
            dataset.SeriesInstanceUID, dataset.SOPInstanceUID = series, instance
            dataset.file_meta.MediaStorageSOPInstanceUID = instance
            dataset.save_as(media / name, enforce_file_format=True)
    out = tmp_path / "out" / "deep"
    status, printed, err = run(
        capsys, "deid", str(media), "--out", str(out), "--option", "retain-uids"
    )
    assert status == 0, err
    copies = sorted(p for p in tmp_path.rglob("*.dcm") if not p.is_relative_to(media))
    copies = [p for p in copies if p != source]
    assert len(copies) == 3 and all(p.is_relative_to(out) for p in copies), copies
    assert printed.count("de-identified ") == 3
