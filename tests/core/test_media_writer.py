"""export-media writes PS3.10/PS3.11 media that pydicom's FileSet and our reader read back."""

import hashlib
import re
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.fileset import FileSet
from pydicom.uid import BasicTextSRStorage, ExplicitVRBigEndian, ImplicitVRLittleEndian

from desktop.core.audit.store import AuditLog
from desktop.core.errors import OutputError
from desktop.core.media import open_media
from desktop.core.media_writer import file_set_id, write_media
from desktop.core.model import MediaTree
from desktop.core.synthetic import SeriesSpec, StudySpec, study_datasets
from tests.helpers import cli

STUDIES = (
    StudySpec(
        "P1",
        "Media^One",
        "20240101",
        "Chest",
        (SeriesSpec("CT", "axial", count=3), SeriesSpec("MR", "cine", count=2, frames=3)),
        accession_number="A1",
    ),
    StudySpec("P2", "Media^Two", "20230101", "Angio", (SeriesSpec("XA", "run", frames=2),)),
)
FILE_ID = re.compile(r"^[A-Z0-9_]{1,8}$")


def _sources(folder: Path) -> dict[str, Path]:
    """The studies as plain files with awkward names, the first CT in Implicit VR."""
    files = {}
    for number, dataset in enumerate((d for s in STUDIES for d in study_datasets(s)), start=1):
        if number == 1:
            dataset.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        path = folder / f"source file {number}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        dataset.save_as(path, enforce_file_format=True)
        files[str(dataset.SOPInstanceUID)] = path
    return files


def _write(files: list[Path], out: Path) -> list[tuple[Path, str]]:
    loader = write_media(files, out, fileset="P1_20240101")
    while True:
        try:
            next(loader)
        except StopIteration as finished:
            return [(p.path, p.reason) for p in finished.value.skipped]


def _shape(tree: MediaTree) -> dict[str, tuple[str, str, str]]:
    return {
        instance.sop_instance_uid: (patient.patient_id, study.study_instance_uid, series.modality)
        for patient in tree.patients
        for study in patient.studies
        for series in study.series
        for instance in series.instances
    }


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_media_reads_back_with_pydicom_fileset_and_our_reader(tmp_path: Path) -> None:
    sources = _sources(tmp_path / "in")
    before = {uid: _digest(path) for uid, path in sources.items()}

    assert _write(list(sources.values()), tmp_path / "out") == []

    file_set = FileSet(dcmread(tmp_path / "out" / "DICOMDIR"))
    assert file_set.ID == "P1_20240101"
    assert {i.SOPInstanceUID for i in file_set} == set(sources)
    for instance in file_set:
        components = Path(instance.FileID).parts
        assert len(components) <= 8 and all(FILE_ID.match(c) for c in components)
        source = sources[instance.SOPInstanceUID]
        assert _digest(Path(instance.path)) == before[instance.SOPInstanceUID]  # bytes kept
        assert (
            instance.ReferencedTransferSyntaxUIDInFile
            == dcmread(source).file_meta["TransferSyntaxUID"].value
        )
    assert {r.DirectoryRecordType for r in file_set._ds.DirectoryRecordSequence} == {
        "PATIENT",
        "STUDY",
        "SERIES",
        "IMAGE",
    }
    written = open_media(tmp_path / "out")
    assert written.source == "dicomdir" and written.problems == []
    assert _shape(written) == _shape(open_media(tmp_path / "in"))
    assert {uid: _digest(path) for uid, path in sources.items()} == before  # sources untouched


def test_dicomdir_is_explicit_vr_little_endian_even_for_big_endian_files(tmp_path: Path) -> None:
    [dataset] = study_datasets(STUDIES[1])
    dataset.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    source = tmp_path / "big.dcm"
    dataset.save_as(source, enforce_file_format=True)

    assert _write([source], tmp_path / "out") == []

    dicomdir = dcmread(tmp_path / "out" / "DICOMDIR")
    assert dicomdir.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    [image] = [r for r in dicomdir.DirectoryRecordSequence if r.DirectoryRecordType == "IMAGE"]
    assert image.ReferencedTransferSyntaxUIDInFile == ExplicitVRBigEndian


def test_damaged_and_foreign_files_are_skipped_and_reported(tmp_path: Path) -> None:
    sources = list(_sources(tmp_path / "in").values())
    damaged = sources[0]
    damaged.write_bytes(damaged.read_bytes()[:200])  # cut inside the header
    text = tmp_path / "in" / "notes.txt"
    text.write_text("not DICOM")

    skipped = dict(_write([*sources, text], tmp_path / "out"))

    assert set(skipped) == {damaged, text}
    assert "not a readable DICOM file" in skipped[text]
    file_set = FileSet(dcmread(tmp_path / "out" / "DICOMDIR"))
    assert len(file_set) == len(sources) - 1


def test_an_output_folder_that_is_not_empty_is_refused_and_left_alone(tmp_path: Path) -> None:
    sources = list(_sources(tmp_path / "in").values())
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")

    with pytest.raises(OutputError, match="is not empty"):
        _write(sources, out)

    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_failed_write_leaves_no_partial_media(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not DICOM")

    with pytest.raises(OutputError, match="every file was skipped"):
        _write([text], tmp_path / "out")

    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_file_set_id_fits_ps3_10() -> None:
    assert file_set_id("demo-001_20260314x") == "DEMO_001_2026031"


def test_export_media_command_takes_the_study_from_the_inbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DICOM_COURIER_HOME", str(tmp_path / "home"))
    sources = _sources(tmp_path / "home" / "inbox")
    study = str(dcmread(next(iter(sources.values()))).StudyInstanceUID)

    status, out, _ = cli(capsys, "export-media", "--study", study, "--out", tmp_path / "cd")

    assert status == 0 and "wrote 5 instances" in out
    assert FileSet(dcmread(tmp_path / "cd" / "DICOMDIR")).ID == "P1_20240101"
    [export] = [e for e in AuditLog(tmp_path / "home" / "audit").entries() if e.event == "110106"]
    assert export.outcome == 0 and study in export.xml
    assert (tmp_path / "cd").as_uri() in export.xml


def test_export_media_names_the_available_studies_when_one_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _sources(tmp_path / "in")

    status, _, err = cli(
        capsys,
        "export-media",
        "--study",
        "1.2.3",
        "--from",
        tmp_path / "in",
        "--out",
        tmp_path / "cd",
    )

    assert status == 1
    assert "study 1.2.3 not found" in err and "Media^One, 20240101, Chest" in err
    assert not (tmp_path / "cd").exists()


def test_a_missing_xorriso_is_named_with_its_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop.core.iso_image import write_iso

    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(OutputError, match=r"xorriso is not installed.*apt-get install xorriso"):
        write_iso(tmp_path, tmp_path / "cd.iso", volume_id="X")

    assert not (tmp_path / "cd.iso").exists()


def test_records_keep_the_character_set_and_describe_reports(tmp_path: Path) -> None:
    image, report = list(study_datasets(STUDIES[0]))[:2]
    for dataset in (image, report):
        dataset.SpecificCharacterSet = "ISO_IR 192"
        dataset.PatientName = "Müller^Zoë"
    report.SOPClassUID = report.file_meta.MediaStorageSOPClassUID = BasicTextSRStorage
    report.Modality = "SR"
    report.SeriesInstanceUID = "1.2.3.4"
    report.CompletionFlag, report.VerificationFlag = "COMPLETE", "UNVERIFIED"
    report.ContentDate, report.ContentTime = "20240101", "120000"
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "18748-4", "LN", "Report"
    report.ConceptNameCodeSequence = [code]
    del report.PixelData
    sources = []
    for number, dataset in enumerate((image, report)):
        sources.append(tmp_path / f"{number}.dcm")
        dataset.save_as(sources[-1], enforce_file_format=True)

    assert _write(sources, tmp_path / "out") == []

    records = dcmread(tmp_path / "out" / "DICOMDIR").DirectoryRecordSequence
    [patient] = [r for r in records if r.DirectoryRecordType == "PATIENT"]
    assert patient.PatientName == "Müller^Zoë"
    [document] = [r for r in records if r.DirectoryRecordType == "SR DOCUMENT"]
    assert document.ConceptNameCodeSequence[0].CodeValue == "18748-4"
    assert document.ReferencedSOPClassUIDInFile == BasicTextSRStorage
    assert open_media(tmp_path / "out").patients[0].patient_name == "Müller^Zoë"


def test_a_file_without_a_type_1_record_attribute_is_skipped_by_name(tmp_path: Path) -> None:
    sources = list(_sources(tmp_path / "in").values())
    dataset = dcmread(sources[0])
    del dataset.StudyDate  # StudyID would be invented: see below
    dataset.save_as(sources[0])

    skipped = dict(_write(sources, tmp_path / "out"))

    assert skipped == {sources[0]: "cannot be listed in a DICOMDIR: StudyDate missing or empty"}


def test_empty_type_2_identifiers_are_invented_for_the_records_and_said(tmp_path: Path) -> None:
    """Study ID, Series Number and Instance Number may be empty in a file (type 2) but not in
    a record (type 1): as dcmmkdir --invent, the record gets an ordinal, the file is copied as
    it is, and each is said (F2 of findings9: the study could not be put on media at all)."""
    sources = list(_sources(tmp_path / "in").values())
    for path in sources[:3]:  # the CT series of the first study
        dataset = dcmread(path)
        dataset.StudyID, dataset.SeriesNumber, dataset.InstanceNumber = "", None, None
        dataset.save_as(path)

    loader = write_media(sources, tmp_path / "out")
    while True:
        try:
            next(loader)
        except StopIteration as finished:
            media = finished.value
            break

    assert media.skipped == [] and media.instances == len(sources)
    said = {(p.path, p.reason) for p in media.invented}
    assert (sources[0], "StudyID empty: 1 in the DICOMDIR") in said
    assert (sources[0], "SeriesNumber empty: 1 in the DICOMDIR") in said
    assert {
        (s, f"InstanceNumber empty: {n} in the DICOMDIR") for n, s in enumerate(sources[:3], 1)
    } <= said
    records = dcmread(tmp_path / "out" / "DICOMDIR").DirectoryRecordSequence
    studies = [r.StudyID for r in records if r.DirectoryRecordType == "STUDY"]
    assert studies == ["1", dcmread(sources[-1]).StudyID]
    copies = {_digest(Path(i.path)) for i in FileSet(dcmread(tmp_path / "out" / "DICOMDIR"))}
    assert {_digest(s) for s in sources} == copies  # byte for byte


def test_when_every_file_is_skipped_the_error_says_why(tmp_path: Path) -> None:
    sources = list(_sources(tmp_path / "in").values())
    for path in sources:
        dataset = dcmread(path)
        del dataset.StudyDate
        dataset.save_as(path)

    with pytest.raises(OutputError) as raised:
        _write(sources, tmp_path / "out")

    assert str(raised.value) == (
        f"no instance could be written to {tmp_path / 'out'}: every file was skipped "
        f"({sources[0].name}: cannot be listed in a DICOMDIR: StudyDate missing or empty; "
        f"{sources[1].name}: cannot be listed in a DICOMDIR: StudyDate missing or empty; "
        f"{sources[2].name}: cannot be listed in a DICOMDIR: StudyDate missing or empty; "
        f"and {len(sources) - 3} more)"
    )


def test_a_value_too_long_for_a_record_is_skipped_not_a_crash(tmp_path: Path) -> None:
    sources = list(_sources(tmp_path / "in").values())  # the first is Implicit VR: 4-byte lengths
    dataset = dcmread(sources[0])
    dataset.PatientName = "A" * 70_000
    dataset.save_as(sources[0])

    skipped = dict(_write(sources, tmp_path / "out"))

    assert skipped == {sources[0]: "cannot be listed in a DICOMDIR: PatientName too long"}


def test_a_cancelled_write_leaves_nothing(tmp_path: Path) -> None:
    sources = list(_sources(tmp_path / "in").values())
    loader = write_media(sources, tmp_path / "out")
    next(loader)
    next(loader)

    loader.close()  # the progress dialog's Cancel

    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]
