"""A study whose instances refer to each other, de-identified file by file: still one study with
its links intact, no original UID nor name left anywhere in the files, sources untouched,
the same result for the same key in another run, another result for another key."""

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, ImplicitVRLittleEndian

from desktop.core.deid.batch import deidentify_files
from desktop.core.deid.mapping import KeyedMapping
from desktop.core.deid.profile import Profile
from desktop.core.deid.table import Option
from desktop.core.synthetic import SeriesSpec, StudySpec, cross_referenced_datasets

STUDY = StudySpec(
    "PID-31337",
    "Secretname^Jane",
    "20240315",
    "CT for Secretname",
    (SeriesSpec("CT", "axial", count=4), SeriesSpec("CT", "derived", count=4)),
    birth_date="19610203",
    accession_number="ACC777001",
)
KEY = bytes(range(32))


def write_study(folder: Path, count: int) -> Path:
    """The first ``count`` images of STUDY written as ``folder``/0.dcm, 1.dcm, …; the folder."""
    folder.mkdir()
    for number, dataset in enumerate(cross_referenced_datasets(STUDY)[:count]):
        dataset.save_as(folder / f"{number}.dcm", enforce_file_format=True)
    return folder


@pytest.fixture
def sources(tmp_path: Path) -> list[Path]:
    paths = []
    for dataset in cross_referenced_datasets(STUDY):
        path = tmp_path / "in" / f"{dataset.SeriesNumber}-{dataset.InstanceNumber}.dcm"
        path.parent.mkdir(exist_ok=True)
        dataset.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _deidentify(sources: list[Path], out: Path, key: bytes = KEY, *options: Option) -> list[Path]:
    profile = Profile(KeyedMapping(key), frozenset(options))
    done = list(deidentify_files([sources[0].parent], out, profile))
    assert all(d.copy is not None for d in done), [d.error for d in done]
    return sorted(d.copy for d in done if d.copy is not None)


def _uids(dataset: Dataset) -> set[str]:
    """Every instance UID anywhere in a data set (file meta and sequences included)."""
    found = set()
    for element in [*dataset.file_meta, *dataset.iterall()]:
        if element.VR == "UI" and not element.keyword.endswith(("ClassUID", "SyntaxUID")):
            found.update(str(v) for v in (element.value if element.VM > 1 else [element.value]))
    return found - {dataset.file_meta.ImplementationClassUID}


def test_links_intact_and_no_original_left(sources: list[Path], tmp_path: Path) -> None:
    before = {p: hashlib.sha256(p.read_bytes()).digest() for p in sources}
    originals = [dcmread(p) for p in sources]
    original_uids = set().union(*(_uids(d) for d in originals))
    copies = _deidentify(sources, tmp_path / "out")

    assert {p: hashlib.sha256(p.read_bytes()).digest() for p in sources} == before
    assert len(copies) == len(sources) == 8
    outputs = [dcmread(p) for p in copies]
    for path in copies:
        raw = path.read_bytes()
        leaked = [uid for uid in original_uids if uid.encode() in raw]
        assert not leaked, f"{path.name} still holds {leaked}"
        for identifying in (b"Secretname", b"PID-31337", b"ACC777001", b"19610203", b"20240315"):
            assert identifying not in raw, f"{path.name} still holds {identifying!r}"

    instances = {d.SOPInstanceUID: d for d in outputs}
    assert len({d.StudyInstanceUID for d in outputs}) == 1
    assert len({d.SeriesInstanceUID for d in outputs}) == 2
    assert len({d.FrameOfReferenceUID for d in outputs}) == 1
    links = 0
    for dataset in outputs:
        assert dataset.file_meta.MediaStorageSOPInstanceUID == dataset.SOPInstanceUID
        assert copies[outputs.index(dataset)].name == f"{dataset.SOPInstanceUID}.dcm"
        assert copies[outputs.index(dataset)].parent.name == dataset.SeriesInstanceUID
        for sequence in ("ReferencedImageSequence", "SourceImageSequence"):
            for item in dataset.get(sequence, []):
                assert item.ReferencedSOPInstanceUID in instances
                links += 1
        for series in dataset.get("ReferencedSeriesSequence", []):
            (item,) = series.ReferencedInstanceSequence
            assert instances[item.ReferencedSOPInstanceUID].SeriesInstanceUID == (
                series.SeriesInstanceUID
            )
        assert "RequestAttributesSequence" not in dataset  # X, with the accession number in it
        assert dataset.PatientIdentityRemoved == "YES"
        assert dataset.LongitudinalTemporalInformationModified == "REMOVED"
        assert [c.CodeValue for c in dataset.DeidentificationMethodCodeSequence] == ["113100"]
        assert "BurnedInAnnotation" not in dataset
        assert not any(element.tag.is_private for element in dataset)
    assert links == 6 + 4  # 3 + 3 previous-image links, 4 source images


def test_same_key_same_copies_other_key_other_copies(sources: list[Path], tmp_path: Path) -> None:
    first = _deidentify(sources, tmp_path / "a")
    again = _deidentify(sources, tmp_path / "b")
    other = _deidentify(sources, tmp_path / "c", b"\x01" * 32)
    assert [p.relative_to(tmp_path / "a") for p in first] == [
        p.relative_to(tmp_path / "b") for p in again
    ]
    assert {p.name for p in first}.isdisjoint(p.name for p in other)


def test_modified_dates_shift_every_date_of_a_patient_alike(
    sources: list[Path], tmp_path: Path
) -> None:
    options = (Option.RETAIN_LONGITUDINAL_MODIFIED_DATES,)
    outputs = [dcmread(p) for p in _deidentify(sources, tmp_path / "out", KEY, *options)]
    shift = KeyedMapping(KEY).shift_days(STUDY.patient_id)
    assert shift < 0
    moved = dt.date(2024, 3, 15) + dt.timedelta(days=shift)
    assert {d.StudyDate for d in outputs} == {moved.strftime("%Y%m%d")}
    assert {d.LongitudinalTemporalInformationModified for d in outputs} == {"MODIFIED"}
    assert [c.CodeValue for c in outputs[0].DeidentificationMethodCodeSequence] == [
        "113100",
        "113107",
    ]


def test_retain_uids_keeps_them(sources: list[Path], tmp_path: Path) -> None:
    originals = {dcmread(p).SOPInstanceUID for p in sources}
    outputs = _deidentify(sources, tmp_path / "out", KEY, Option.RETAIN_UIDS)
    assert {dcmread(p).SOPInstanceUID for p in outputs} == originals


def test_unreadable_file_is_reported_and_the_others_copied(
    sources: list[Path], tmp_path: Path
) -> None:
    (sources[0].parent / "notes.txt").write_text("not DICOM")
    (sources[0].parent / "empty.dcm").write_bytes(b"")
    profile = Profile(KeyedMapping(KEY))
    done = list(deidentify_files([sources[0].parent], tmp_path / "out", profile))
    failed = [d for d in done if d.copy is None]
    assert [d.source.name for d in failed] == ["empty.dcm", "notes.txt"]
    assert "not a readable DICOM file (it is empty)" in failed[0].error
    assert "not a readable DICOM file" in failed[1].error
    assert len(done) - len(failed) == len(sources)


def test_every_option_recorded_with_its_cid_7050_code(sources: list[Path], tmp_path: Path) -> None:
    options = [o for o in Option if o is not Option.RETAIN_LONGITUDINAL_FULL_DATES]
    (copy, *_) = _deidentify(sources, tmp_path / "out", KEY, *options)
    dataset = dcmread(copy)
    codes = dataset.DeidentificationMethodCodeSequence
    assert [c.CodeValue for c in codes] == [
        "113100",  # Basic Application Confidentiality Profile
        "113103",  # Clean Graphics
        "113104",  # Clean Structured Content
        "113105",  # Clean Descriptors
        "113107",  # Retain Longitudinal Temporal Information Modified Dates
        "113108",  # Retain Patient Characteristics
        "113109",  # Retain Device Identity
        "113110",  # Retain UIDs
        "113111",  # Retain Safe Private
        "113112",  # Retain Institution Identity
    ]
    assert {c.CodingSchemeDesignator for c in codes} == {"DCM"}
    method = dataset.DeidentificationMethod
    assert method[0].startswith("DICOM Courier ") and len(method) == len(codes) + 1
    assert list(method[1:]) == [c.CodeMeaning for c in codes]
    assert all(len(value) <= 64 for value in method)  # LO


def test_implicit_vr_file_and_class_uids(tmp_path: Path) -> None:
    """Without VRs in the file the dictionary's are used; SOP Class UIDs are never remapped."""
    (dataset, second, *_) = cross_referenced_datasets(STUDY)
    second.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    source = tmp_path / "in" / "implicit.dcm"
    source.parent.mkdir()
    second.save_as(source, enforce_file_format=True)
    copy = _deidentify([source], tmp_path / "out")[0]
    assert b"Secretname" not in copy.read_bytes()
    result = dcmread(copy)
    assert result.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    assert result.SOPClassUID == second.SOPClassUID == CTImageStorage
    (reference,) = result.ReferencedImageSequence
    assert reference.ReferencedSOPClassUID == CTImageStorage
    assert reference.ReferencedSOPInstanceUID == KeyedMapping(KEY).uid(dataset.SOPInstanceUID)
    assert result.FrameOfReferenceUID == KeyedMapping(KEY).uid(dataset.FrameOfReferenceUID)
