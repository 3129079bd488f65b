"""The store's index over its files: permissions, retrieve and commitment look-ups, a damaged
index rebuilt, a hand-edited folder re-indexed, the browser's tree."""

import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest
from pydicom import Dataset

from desktop.core.archive import InvalidQueryError, PatientConflictError
from desktop.core.store import Store, StoreError
from desktop.core.store.index import SharedStudy
from desktop.core.store.keys import UNIQUE
from tests.core.store.conftest import STUDY_A, STUDY_B, STUDY_C
from tests.core.store.making import CT, MR, dataset, filed, write


def keys(**values: str) -> Dataset:
    ds = Dataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def studies(store: Store) -> list[str]:
    found = store.find(model="STUDY", level="STUDY", identifier=keys(StudyInstanceUID=""))
    return sorted(r.StudyInstanceUID for r in found)


def test_the_folder_is_private_and_the_index_too(store: Store) -> None:
    assert stat.S_IMODE(store.folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.index_path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.index_path.stat().st_mode) == 0o600
    for sidecar in store.index_path.parent.glob("*-wal"):
        assert stat.S_IMODE(sidecar.stat().st_mode) == 0o600


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI:UserWarning")
def test_locate_at_every_level(store: Store) -> None:
    def located(model: str, level: str, **values: str) -> list[str]:
        paths = store.locate(model=model, level=level, identifier=keys(**values))  # type: ignore[arg-type]
        assert all(p.is_file() for p in paths)
        return sorted(p.stem for p in paths)

    assert located("PATIENT", "PATIENT", PatientID="P1") == sorted(
        [f"{STUDY_A}.0.0", f"{STUDY_A}.1.1", f"{STUDY_A}.0.2", f"{STUDY_B}.1.1"]
    )
    assert located("STUDY", "STUDY", StudyInstanceUID=f"{STUDY_B}\\{STUDY_C}") == [
        f"{STUDY_B}.1.1",
        f"{STUDY_C}.1.1",
    ]
    assert located(
        "STUDY", "SERIES", StudyInstanceUID=STUDY_A, SeriesInstanceUID=f"{STUDY_A}.1"
    ) == [f"{STUDY_A}.1.1"]
    assert located("PATIENT", "IMAGE", SOPInstanceUID=f"{STUDY_A}.0.2") == [f"{STUDY_A}.0.2"]
    assert located("STUDY", "STUDY", StudyInstanceUID="9.9.9") == []
    # An upper key that disagrees selects nothing.
    assert located("PATIENT", "STUDY", PatientID="P2%", StudyInstanceUID=STUDY_A) == []


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI:UserWarning")
@pytest.mark.parametrize(
    ("level", "values", "reason"),
    [
        ("SERIES", {"StudyInstanceUID": STUDY_A}, "needs SeriesInstanceUID"),
        ("STUDY", {"StudyInstanceUID": "1.2.*"}, "no wildcards"),
        ("STUDY", {"StudyInstanceUID": "not-a-uid"}, "not a UID"),
    ],
)
def test_locate_refuses_what_is_not_a_retrieve(
    store: Store, level: str, values: dict[str, str], reason: str
) -> None:
    with pytest.raises(InvalidQueryError, match=reason):
        store.locate(model="STUDY", level=level, identifier=keys(**values))  # type: ignore[arg-type]


def test_holds_only_what_is_on_disk(store: Store) -> None:
    uid = f"{STUDY_B}.1.1"
    path = store.holds(sop_class_uid=MR, sop_instance_uid=uid)
    assert path is not None and path.is_file()
    assert store.holds(sop_class_uid=CT, sop_instance_uid=uid) is None  # another class
    assert store.holds(sop_class_uid=MR, sop_instance_uid="9.9") is None
    path.unlink()
    assert store.holds(sop_class_uid=MR, sop_instance_uid=uid) is None


def test_add_refuses_files_it_cannot_index(store: Store, tmp_path: Path) -> None:
    outside = filed(tmp_path / "elsewhere", dataset())
    with pytest.raises(StoreError, match="not under the store's folder"):
        store.add(outside)
    junk = store.folder / "notes.txt"
    junk.write_text("not DICOM")
    with pytest.raises(StoreError, match=r"notes\.txt"):
        store.add(junk)
    no_series = write(store.folder / "P9" / "no-series.dcm", dataset(SeriesInstanceUID=None))
    with pytest.raises(StoreError, match="no SeriesInstanceUID"):
        store.add(no_series)


def test_adding_a_file_again_replaces_its_entry(store: Store) -> None:
    path = next(store.folder.glob(f"P2/*/*/{STUDY_C}.1.1.dcm"))
    moved = dataset(
        PatientID="P2%", StudyInstanceUID="1.7", SeriesInstanceUID="1.7.1", SOPInstanceUID="1.7.1.1"
    )
    moved.file_meta = Dataset()
    filed(path.parent, moved).replace(path)  # the file at this path now holds another study
    store.add(path)
    assert studies(store) == sorted([STUDY_A, STUDY_B, "1.7"])  # STUDY_C left with no file


def test_a_corrupt_index_is_moved_aside_and_rebuilt(store: Store) -> None:
    index = store.index_path
    store.close()
    index.write_bytes(b"this is not an SQLite database" * 100)
    for sidecar in ("-wal", "-shm"):
        Path(f"{index}{sidecar}").unlink(missing_ok=True)
    reopened = Store(store.folder)
    try:
        assert "cannot be read" in reopened.recovered
        assert "rebuilt from the files" in reopened.recovered
        aside = list(index.parent.glob("index.sqlite.corrupt-*"))
        assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not")
        assert studies(reopened) == [STUDY_A, STUDY_B, STUDY_C]
    finally:
        reopened.close()


def test_a_deleted_index_is_rebuilt(store: Store) -> None:
    store.close()
    for file in store.index_path.parent.iterdir():
        file.unlink()
    with Store(store.folder) as reopened:
        assert reopened.recovered == ""
        assert studies(reopened) == [STUDY_A, STUDY_B, STUDY_C]


def test_reindex_after_files_deleted_and_added_by_hand(store: Store) -> None:
    for file in store.folder.glob(f"P2/{STUDY_C}/*/*.dcm"):
        file.unlink()
    filed(store.folder, dataset(StudyInstanceUID="1.8"))
    (store.folder / "P1" / "README.txt").write_text("a note someone left")
    assert studies(store) == [STUDY_A, STUDY_B, STUDY_C]  # the index does not know yet
    report = store.reindex()
    assert studies(store) == sorted([STUDY_A, STUDY_B, "1.8"])
    assert (report.files, report.read, report.dropped) == (6, 2, 1)  # the new file, the note
    assert (report.instances, report.studies, report.patients) == (5, 3, 1)
    [failed] = report.failed
    assert failed.path.name == "README.txt" and "README.txt" in failed.reason
    assert store.holds(sop_class_uid=CT, sop_instance_uid=f"{STUDY_C}.1.1") is None


def test_adds_from_many_threads_all_land(store: Store) -> None:
    paths = [filed(store.folder, dataset(StudyInstanceUID=f"1.6.{n}")) for n in range(40)]
    threads = [threading.Thread(target=store.add, args=(p,)) for p in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.counts()[1] == 43


def test_two_store_objects_share_one_index(store: Store) -> None:
    with Store(store.folder) as other:
        other.add(filed(store.folder, dataset(StudyInstanceUID="1.5")))
    assert "1.5" in studies(store)


def test_the_tree_comes_from_the_index(store: Store) -> None:
    tree = store.tree()
    assert [p.patient_id for p in tree.patients] == ["P1", "P2%"]
    john = tree.patients[0]
    assert [s.study_instance_uid for s in john.studies] == [STUDY_B, STUDY_A]  # newest first
    axial = john.studies[1].series[0]
    assert [i.instance_number for i in axial.instances] == [1, 3]
    assert all(i.path is not None and i.path.is_file() for i in tree.instances())
    assert os.path.commonpath([str(i.path) for i in tree.instances()]) == str(store.folder)


def test_files_queued_for_indexing_are_seen_by_the_next_read(store: Store) -> None:
    paths = [filed(store.folder, dataset(StudyInstanceUID=f"1.4.{n}")) for n in range(30)]
    junk = store.folder / "junk.dcm"
    junk.write_bytes(b"not DICOM at all")
    for path in [*paths, junk]:
        store.add_soon(path)  # returns at once; the store's thread indexes them
    assert len(studies(store)) == 33  # a read indexes what is queued first
    store.add_soon(filed(store.folder, dataset(StudyInstanceUID="1.4.99")))
    store.close()  # closing indexes what is still queued
    with Store(store.folder) as reopened:
        assert "1.4.99" in studies(reopened)
    with pytest.raises(StoreError, match="closed"):
        store.add_soon(paths[0])


def test_reindex_reads_only_new_or_changed_files_unless_full(store: Store) -> None:
    path = next(store.folder.glob(f"P2/*/*/{STUDY_C}.1.1.dcm"))
    assert store.reindex().read == 0  # nothing changed since the fixture indexed it
    changed = dataset(
        PatientID="P2%",
        StudyInstanceUID=STUDY_C,
        SeriesInstanceUID=f"{STUDY_C}.1",
        SOPInstanceUID=f"{STUDY_C}.1.1",
        StudyDescription="edited by hand",
    )
    filed(store.folder, changed)  # the same path, another size and time
    assert store.reindex().read == 1
    found = store.find(
        model="STUDY",
        level="STUDY",
        identifier=keys(StudyInstanceUID=STUDY_C, StudyDescription=""),
    )
    assert [r.StudyDescription for r in found] == ["edited by hand"]
    assert path.is_file()
    assert store.reindex(full=True).read == 5


def test_a_file_kept_beside_answers_once_the_first_is_gone(store: Store) -> None:
    original = next(store.folder.glob(f"P2/*/*/{STUDY_C}.1.1.dcm"))
    twin = dataset(
        PatientID="P2%",
        StudyInstanceUID=STUDY_C,
        SeriesInstanceUID=f"{STUDY_C}.1",
        SOPInstanceUID=f"{STUDY_C}.1.1",
        ImageComments="kept beside",
    )
    beside = filed(store.folder / "twin", twin)
    store.add(beside)
    images = keys(StudyInstanceUID=STUDY_C, SeriesInstanceUID="", SOPInstanceUID="")
    assert len(list(store.find(model="STUDY", level="IMAGE", identifier=images))) == 1
    store.reindex(full=True)  # every file read again: still one answer, the first file's
    located = store.locate(
        model="STUDY", level="IMAGE", identifier=keys(SOPInstanceUID=f"{STUDY_C}.1.1")
    )
    assert located == [original]
    original.unlink()
    store.reindex()
    located = store.locate(
        model="STUDY", level="IMAGE", identifier=keys(SOPInstanceUID=f"{STUDY_C}.1.1")
    )
    assert located == [beside]
    assert len(list(store.find(model="STUDY", level="IMAGE", identifier=images))) == 1


def test_a_first_indexing_cut_short_is_done_again_at_the_next_opening(store: Store) -> None:
    store.close()
    with sqlite3.connect(store.index_path) as index:  # as if the process died mid-way
        index.execute("DELETE FROM instances")
        index.execute("PRAGMA user_version = 0")
    with Store(store.folder) as reopened:
        assert reopened.counts() == (2, 3, 4, 5)
    with sqlite3.connect(store.index_path) as index:
        assert index.execute("PRAGMA user_version").fetchone()[0] > 0


def _foreign(store: Store) -> Path:
    """An instance of STUDY_A's first series that names another patient, added."""
    path = filed(
        store.folder,
        dataset(
            PatientID="OTHER-42",
            PatientName="Other^Patient",
            StudyInstanceUID=STUDY_A,
            SeriesInstanceUID=f"{STUDY_A}.0",
            SOPInstanceUID=f"{STUDY_A}.0.99",
        ),
    )
    store.add(path)
    return path


def test_a_study_uid_of_two_patients_stays_apart(store: Store) -> None:
    foreign = _foreign(store)
    tree = store.tree()
    by_id = {p.patient_id: p for p in tree.patients}
    [other] = by_id["OTHER-42"].studies
    john = next(s for s in by_id["P1"].studies if s.study_instance_uid == STUDY_A)
    assert (john.instance_count, other.instance_count) == (3, 1)
    [problem] = tree.problems
    assert problem.path == foreign
    assert problem.reason.startswith(f"study {STUDY_A} holds instances of 2 patients: P1 (3), ")
    found = store.find(
        model="STUDY", level="STUDY", identifier=keys(StudyInstanceUID=STUDY_A, PatientID="")
    )
    assert sorted(r.PatientID for r in found) == ["OTHER-42", "P1"]
    johns = store.locate(
        model="PATIENT", level="STUDY", identifier=keys(PatientID="P1", StudyInstanceUID=STUDY_A)
    )
    assert len(johns) == 3 and foreign not in johns


def test_a_retrieve_of_a_uid_held_for_two_patients_needs_the_patient_named(store: Store) -> None:
    """G19: a study-root retrieve by the study (or its series) UID alone located both
    patients' files; the patient's keys, when given, choose one in either model."""
    foreign = _foreign(store)
    for level, values in (
        ("STUDY", {"StudyInstanceUID": STUDY_A}),
        ("SERIES", {"StudyInstanceUID": STUDY_A, "SeriesInstanceUID": f"{STUDY_A}.0"}),
    ):
        with pytest.raises(PatientConflictError) as refused:
            store.locate(model="STUDY", level=level, identifier=keys(**values))  # type: ignore[arg-type]
        assert (refused.value.status, refused.value.patients) == (0xC000, ["OTHER-42", "P1"])
        assert refused.value.study_uid == STUDY_A
        assert str(refused.value).startswith(f"{level.lower()} {values[UNIQUE[level]]} is held")
        chosen = store.locate(
            model="STUDY",
            level=level,  # type: ignore[arg-type]
            identifier=keys(**values, PatientID="OTHER-42"),
        )
        assert chosen == [foreign]
    with pytest.raises(PatientConflictError):
        store.locate(model="PATIENT", level="STUDY", identifier=keys(StudyInstanceUID=STUDY_A))
    both = store.locate(  # two studies named: each of one patient, both sent
        model="STUDY", level="STUDY", identifier=keys(StudyInstanceUID=f"{STUDY_B}\\{STUDY_C}")
    )
    assert sorted(path.relative_to(store.folder).parts[0] for path in both) == ["P1", "P2"]


def test_an_index_of_the_former_schema_is_rebuilt(store: Store) -> None:
    store.close()
    with sqlite3.connect(store.index_path) as connection:
        connection.execute("PRAGMA user_version = 1")
    connection.close()
    with Store(store.folder) as reopened:
        assert reopened.recovered == ""
        assert not list(reopened.index_path.parent.glob("index.sqlite.corrupt-*"))
        assert studies(reopened) == [STUDY_A, STUDY_B, STUDY_C]
        _foreign(reopened)
        assert len(reopened.tree().patients) == 3


def test_indexing_a_study_uid_of_another_patient_is_logged(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="desktop.core.store.index"):
        _foreign(store)
    [warning] = [r.getMessage() for r in caplog.records if "holds instances" in r.getMessage()]
    assert warning.startswith(f"study {STUDY_A} holds instances of 2 patients: OTHER-42, P1;")


def test_a_queued_file_that_shares_a_study_uid_is_told_once_indexed(store: Store) -> None:
    told: list[SharedStudy] = []
    first = filed(
        store.folder,
        dataset(PatientID="OTHER-42", StudyInstanceUID=STUDY_A, SeriesInstanceUID="1.9.1"),
    )
    second = filed(
        store.folder,
        dataset(PatientID="OTHER-42", StudyInstanceUID=STUDY_A, SeriesInstanceUID="1.9.2"),
    )
    store.add_soon(first, shared=told.append)
    store.counts()  # indexes what is queued
    store.add_soon(second, shared=told.append)  # the conflict is known by now: told once
    store.counts()
    assert told == [SharedStudy(STUDY_A, "OTHER-42", ("P1",))]
