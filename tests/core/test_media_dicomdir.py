"""Opening DICOMDIR media: every variant pydicom ships and every defect real media has."""

import shutil
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid

from desktop.core.media import LoadProgress, load_media, open_media
from desktop.core.model import InstanceStatus, MediaTree
from tests.helpers import DICOMDIR_TESTS

MakeMedia = Callable[[str], Path]
# The 31 images of pydicom's dicomdirtests, by patient: (name, studies, instances).
EXPECTED = [("Doe^Archibald", 2, 7), ("Doe^Peter", 4, 24)]


def summary(tree: MediaTree) -> list[tuple[str, int, int]]:
    return [
        (p.patient_name, len(p.studies), sum(s.instance_count for s in p.studies))
        for p in tree.patients
    ]


def reasons(tree: MediaTree) -> list[str]:
    return [problem.reason for problem in tree.problems]


@pytest.mark.parametrize(
    "variant",
    ["DICOMDIR", "DICOMDIR-bigEnd", "DICOMDIR-implicit", "DICOMDIR-nooffset", "DICOMDIR-reordered"],
)
def test_every_encoding_gives_the_same_tree(dicomdir_media: MakeMedia, variant: str) -> None:
    tree = open_media(dicomdir_media(variant))
    assert tree.source == "dicomdir"
    assert summary(tree) == EXPECTED
    # pydicom's offset-less variant had elements cut out without fixing the sequence length.
    expected = ["the Directory Record Sequence runs past the end of the file"]
    assert reasons(tree) == (expected if variant == "DICOMDIR-nooffset" else [])
    assert all(i.status is InstanceStatus.OK and i.rows and i.frames == 1 for i in tree.instances())


def test_invalid_record_type_is_reported_and_its_children_kept(dicomdir_media: MakeMedia) -> None:
    tree = open_media(dicomdir_media("DICOMDIR-nopatient"))
    assert summary(tree) == EXPECTED
    assert any("unknown type 'UNKNOWN'" in reason for reason in reasons(tree))


def test_tree_is_sorted_as_a_reader_expects(dicomdir_media: MakeMedia) -> None:
    tree = open_media(dicomdir_media("DICOMDIR"))
    for patient in tree.patients:
        dates = [s.study_date for s in patient.studies]
        assert dates == sorted(dates, reverse=True)
        for study in patient.studies:
            numbers = [s.series_number for s in study.series]
            assert numbers == sorted(numbers)  # type: ignore[type-var]
            for series in study.series:
                instances = [i.instance_number for i in series.instances]
                assert instances == sorted(instances)  # type: ignore[type-var]


def test_browser_columns_are_filled(dicomdir_media: MakeMedia) -> None:
    tree = open_media(dicomdir_media("DICOMDIR"))
    peter = tree.patients[1]
    assert (peter.patient_id, peter.sex) == ("98890234", "M")
    study = peter.studies[0]
    assert study.study_instance_uid and study.study_date == "20030505"
    assert study.modalities == ["MR"]
    instance = study.series[0].instances[0]
    assert instance.sop_class_name == "MR Image Storage"
    assert instance.transfer_syntax_uid and instance.size and instance.path
    assert instance.path.stat().st_size == instance.size


def test_folder_holding_a_dicomdir_below_it(dicomdir_media: MakeMedia, tmp_path: Path) -> None:
    media = dicomdir_media("DICOMDIR")
    tree = open_media(media.parent)
    assert tree.source == "dicomdir"
    assert summary(tree) == EXPECTED


def test_dicomdir_file_given_directly(dicomdir_media: MakeMedia) -> None:
    tree = open_media(dicomdir_media("DICOMDIR") / "DICOMDIR")
    assert summary(tree) == EXPECTED


def test_missing_file_is_listed_and_reported(dicomdir_media: MakeMedia) -> None:
    media = dicomdir_media("DICOMDIR")
    victim = media / "98892003" / "MR700" / "4648"
    victim.unlink()
    tree = open_media(media)
    missing = [i for i in tree.instances() if i.status is InstanceStatus.MISSING]
    assert len(missing) == 1 and missing[0].path is None
    assert sum(1 for _ in tree.instances()) == 31
    assert any(p.path == victim and "missing" in p.reason for p in tree.problems)


def test_unreferenced_dicom_file_is_shown_and_marked(dicomdir_media: MakeMedia) -> None:
    media = dicomdir_media("DICOMDIR")
    extra = pydicom.dcmread(media / "98892003" / "MR700" / "4648")
    extra.SOPInstanceUID = extra.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    extra.save_as(media / "98892003" / "EXTRA")
    (media / "README.TXT").write_text("a viewer's readme: not DICOM, not a problem")
    tree = open_media(media)
    marked = [i for i in tree.instances() if i.status is InstanceStatus.UNREFERENCED]
    assert [i.path for i in marked] == [media / "98892003" / "EXTRA"]
    assert reasons(tree) == ["DICOM file on the media that its DICOMDIR does not list"]


def _rewrite_offset(media: Path, record: int, keyword: str, value: int) -> None:
    dicomdir = pydicom.dcmread(media / "DICOMDIR")
    setattr(dicomdir.DirectoryRecordSequence[record], keyword, value)
    dicomdir.save_as(media / "DICOMDIR")


def test_rewriting_offsets_keeps_the_layout(dicomdir_media: MakeMedia) -> None:
    """The defect tests below rely on pydicom rewriting a DICOMDIR byte-for-byte."""
    media = dicomdir_media("DICOMDIR")
    before = (media / "DICOMDIR").read_bytes()
    _rewrite_offset(media, 0, "OffsetOfTheNextDirectoryRecord", 3126)
    assert (media / "DICOMDIR").read_bytes() == before


def test_offset_loop_is_cut_and_reported(dicomdir_media: MakeMedia) -> None:
    media = dicomdir_media("DICOMDIR")
    first_patient = pydicom.dcmread(media / "DICOMDIR").DirectoryRecordSequence[0]
    # The second patient's "next" points back to the first patient: an endless chain.
    _rewrite_offset(
        media,
        _record_index(media, 3126),
        "OffsetOfTheNextDirectoryRecord",
        first_patient.seq_item_tell,
    )
    tree = open_media(media)
    assert summary(tree) == EXPECTED
    assert any("offset loop" in reason for reason in reasons(tree))


def test_broken_offset_is_reported_and_records_placed_by_order(dicomdir_media: MakeMedia) -> None:
    media = dicomdir_media("DICOMDIR")
    _rewrite_offset(media, 1, "OffsetOfReferencedLowerLevelDirectoryEntity", 12345)
    tree = open_media(media)
    assert summary(tree) == EXPECTED
    assert any("byte 12345 is not the start of a directory record" in r for r in reasons(tree))
    assert any("placed by their order" in r for r in reasons(tree))


def _record_index(media: Path, offset: int) -> int:
    records = pydicom.dcmread(media / "DICOMDIR").DirectoryRecordSequence
    return next(i for i, r in enumerate(records) if r.seq_item_tell == offset)


def test_lowercase_file_ids_are_found_and_reported(dicomdir_media: MakeMedia) -> None:
    media = dicomdir_media("DICOMDIR")
    (media / "98892003" / "MR700").rename(media / "98892003" / "mr700")
    tree = open_media(media)
    assert summary(tree) == EXPECTED
    assert all(i.status is InstanceStatus.OK for i in tree.instances())
    case_notes = [r for r in reasons(tree) if "ignoring case" in r]
    assert len(case_notes) == 7


def test_truncated_referenced_file_is_marked_damaged(dicomdir_media: MakeMedia) -> None:
    media = dicomdir_media("DICOMDIR")
    victim = media / "77654033" / "CR1" / "6154"
    victim.write_bytes(victim.read_bytes()[:-100])
    tree = open_media(media)
    damaged = [i for i in tree.instances() if i.status is InstanceStatus.DAMAGED]
    assert [i.path for i in damaged] == [victim]
    assert any(p.path == victim and "truncated" in p.reason for p in tree.problems)


def test_referenced_file_that_is_not_dicom(dicomdir_media: MakeMedia) -> None:
    media = dicomdir_media("DICOMDIR")
    victim = media / "77654033" / "CR1" / "6154"
    victim.write_text("overwritten by something else")
    tree = open_media(media)
    assert [i.path for i in tree.instances() if i.status is InstanceStatus.DAMAGED] == [victim]
    assert any(p.path == victim and "not a DICOM file" in p.reason for p in tree.problems)


def test_a_record_naming_the_dicomdir_itself_is_no_instance(dicomdir_media: MakeMedia) -> None:
    """An image record whose file ID is the DICOMDIR: the index was shown as an 'ok' CT
    image of 0 frames, and send sent it to the PACS, which refused it (E10 of findings8)."""
    media = dicomdir_media("DICOMDIR")
    index = pydicom.dcmread(media / "DICOMDIR")
    images = [r for r in index.DirectoryRecordSequence if r.DirectoryRecordType == "IMAGE"]
    images[0].ReferencedFileID = "DICOMDIR"
    index.save_as(media / "DICOMDIR")
    tree = open_media(media)
    assert summary(tree) == EXPECTED  # the file the record meant, found unlisted, is shown
    assert all(i.path != media / "DICOMDIR" for i in tree.instances())
    assert any(
        p.path == media / "DICOMDIR" and "is a DICOMDIR, not an instance" in p.reason
        for p in tree.problems
    )


def test_garbage_dicomdir_falls_back_to_a_scan(dicomdir_media: MakeMedia) -> None:
    media = dicomdir_media("DICOMDIR")
    (media / "DICOMDIR").write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 64)
    tree = open_media(media)
    assert tree.source == "scan"
    assert summary(tree) == EXPECTED
    assert any(
        p.path == media / "DICOMDIR" and "scanned instead" in p.reason for p in tree.problems
    )


def test_duplicate_sop_instance_uid_keeps_one_and_reports(dicomdir_media: MakeMedia) -> None:
    media = dicomdir_media("DICOMDIR")
    shutil.copy(media / "77654033" / "CR1" / "6154", media / "77654033" / "COPY")
    tree = open_media(media)
    assert sum(1 for _ in tree.instances()) == 31
    assert any("duplicate SOP Instance UID" in r for r in reasons(tree))


def test_empty_dicomdir_is_a_valid_media(tmp_path: Path) -> None:
    shutil.copy(DICOMDIR_TESTS / "DICOMDIR-empty.dcm", tmp_path / "DICOMDIR")
    tree = open_media(tmp_path)
    assert (tree.source, tree.patients) == ("dicomdir", [])


def test_progress_is_reported_and_stopping_cancels(dicomdir_media: MakeMedia) -> None:
    loader = load_media(dicomdir_media("DICOMDIR"))
    records: list[LoadProgress] = []
    for record in loader:
        records.append(record)
        if record.stage == "headers" and record.done == 10:
            loader.close()
            break
    stages = [r.stage for r in records]
    assert stages[0] == "listing" and "index" in stages
    assert records[-1].total == 31


def test_a_readable_copy_wins_over_the_damaged_file_the_dicomdir_lists(
    dicomdir_media: MakeMedia,
) -> None:
    media = dicomdir_media("DICOMDIR")
    listed = media / "77654033" / "CR1" / "6154"
    shutil.copy(listed, media / "77654033" / "COPY")  # the only readable copy: not listed
    listed.write_bytes(listed.read_bytes()[:-1000])
    tree = open_media(media)
    [shown] = [i for i in tree.instances() if i.path in (listed, media / "77654033" / "COPY")]
    assert (shown.path, shown.status) == (media / "77654033" / "COPY", InstanceStatus.UNREFERENCED)
    damaged = [p.reason for p in tree.problems if p.path == listed]
    assert damaged[0].startswith("listed in the DICOMDIR but truncated")
    assert damaged[1].startswith("duplicate SOP Instance UID") and "COPY" in damaged[1]
