"""Copies made from the header's bytes (core/deid/raw.py) read back exactly as the data set
path's copies of the same files (pydicom's data set model, core/deid/profile.py), in every
transfer syntax of pydicom's sample files and under several options; what the bytes path does
not read plainly is left to the data set path; DCMTK reads its copies."""

import subprocess
from io import BytesIO
from pathlib import Path

import pydicom
import pytest

from desktop.core.deid.mapping import KeyedMapping
from desktop.core.deid.passthrough import encode, split
from desktop.core.deid.profile import UNSEARCHED_METHOD, Profile
from desktop.core.deid.raw import deidentify_header
from desktop.core.deid.table import Option
from tests.helpers import pydicom_samples, require_tool

KEY = bytes(range(32))
OPTION_SETS = {
    "basic": frozenset(),
    "modified-dates": frozenset({Option.RETAIN_LONGITUDINAL_MODIFIED_DATES}),
    "uids-private-descriptors": frozenset(
        {Option.RETAIN_UIDS, Option.RETAIN_SAFE_PRIVATE, Option.CLEAN_DESCRIPTORS}
    ),
    "all-but-full-dates": frozenset(Option) - {Option.RETAIN_LONGITUDINAL_FULL_DATES},
}
SAMPLES = pydicom_samples(lambda path: "SOPInstanceUID" in pydicom.dcmread(path))


def _by_data_set(data: bytes, profile: Profile) -> pydicom.Dataset:
    source = split(data)
    if source is None:
        dataset = pydicom.dcmread(BytesIO(data))
        profile.deidentify(dataset)
        stored = BytesIO()
        dataset.save_as(stored, enforce_file_format=True)
        return pydicom.dcmread(BytesIO(stored.getvalue()))
    profile.deidentify(source.dataset)
    return pydicom.dcmread(BytesIO(encode(source)))


@pytest.mark.parametrize("unsearched", [False, True], ids=["", "pixels-unsearched"])
@pytest.mark.parametrize("options", OPTION_SETS.values(), ids=OPTION_SETS.keys())
def test_bytes_copy_reads_as_the_data_set_copy(
    options: frozenset[Option], unsearched: bool
) -> None:
    """Both paths make the same copy; for one whose pixels may show text and were not
    searched too (Burned In Annotation YES and the method saying so, from both)."""
    profile = Profile(KeyedMapping(KEY), options, pixels_unsearched=unsearched)
    by_bytes = 0
    for path in SAMPLES:
        data = path.read_bytes()
        copy = deidentify_header(data, profile)
        if copy is None:
            continue
        by_bytes += 1
        copied = pydicom.dcmread(BytesIO(copy.header + data[copy.pixels :]))
        expected = _by_data_set(data, profile)
        assert copied.file_meta == expected.file_meta, path.name
        assert [e.tag for e in copied] == [e.tag for e in expected], path.name
        for element in expected:
            assert copied[element.tag] == element, (path.name, element.keyword)
        assert copy.sop_instance_uid == expected.SOPInstanceUID
        assert copy.series_instance_uid == expected.get("SeriesInstanceUID")
        if unsearched:
            assert copied.BurnedInAnnotation == "YES", path.name
            assert copied.DeidentificationMethod[-1] == UNSEARCHED_METHOD
    assert by_bytes >= 25


def test_what_the_bytes_path_does_not_read_goes_to_the_data_set_path() -> None:
    profile = Profile(KeyedMapping(KEY))
    for path in SAMPLES:
        syntax = pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
        if syntax in ("1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"):
            assert deidentify_header(path.read_bytes(), profile) is None, path.name
    assert deidentify_header(b"not DICOM" * 100, profile) is None


def test_dcmtk_reads_the_bytes_copies(tmp_path: Path) -> None:
    dump = require_tool("dcmdump")
    profile = Profile(KeyedMapping(KEY), OPTION_SETS["all-but-full-dates"])
    checked = 0
    for number, path in enumerate(SAMPLES):
        data = path.read_bytes()
        copy = deidentify_header(data, profile)
        if copy is None:
            continue
        target = tmp_path / f"{number}.dcm"
        target.write_bytes(copy.header + data[copy.pixels :])
        done = subprocess.run([dump, "-q", target], capture_output=True, text=True, check=False)
        assert done.returncode == 0 and "E:" not in done.stderr, (path.name, done.stderr)
        checked += 1
    assert checked >= 25


def test_dictionary_facts_kept_here_match_pydicoms() -> None:
    """The bytes path reads no pydicom: the class, syntax and scheme UID attributes it keeps,
    the identifying attributes and the standard's UIDs are the dictionary's."""
    from pydicom._dicom_dict import DicomDictionary
    from pydicom._uid_dict import UID_dictionary

    from desktop.core.deid.profile import DICOM_ROOT, IDENTIFYING, KEPT_UID_TAGS

    suffixes = ("ClassUID", "SyntaxUID", "SchemeUID")
    assert {t for t, entry in DicomDictionary.items() if entry[4].endswith(suffixes)} == set(
        KEPT_UID_TAGS
    )
    assert all(uid.startswith(DICOM_ROOT) for uid in UID_dictionary)
    keywords = {pydicom.datadict.keyword_for_tag(tag) for tag in IDENTIFYING}
    assert "PatientID" in keywords and "InstitutionName" in keywords and len(keywords) == 12


def test_elements_out_of_order_or_repeated_go_to_the_data_set_path() -> None:
    """pydicom sorts a data set and keeps one of two equal tags: the copy from the stored bytes
    would not, so it leaves such a file to the data set path."""
    profile = Profile(KeyedMapping(KEY))
    dataset = pydicom.Dataset()
    dataset.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    dataset.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.5"
    dataset.PatientName = "Doe^John"
    dataset.file_meta = pydicom.dataset.FileMetaDataset()
    dataset.file_meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    stored = BytesIO()
    dataset.save_as(stored, enforce_file_format=True)
    data = stored.getvalue()
    assert deidentify_header(data, profile) is not None
    name = data.index(b"\x10\x00\x10\x00PN")  # (0010,0010) Patient's Name, the last element
    element = data[name:]
    sop = data.index(b"\x08\x00\x18\x00UI")
    swapped = data[:sop] + element + data[sop:name]
    assert deidentify_header(swapped, profile) is None
    assert deidentify_header(data + element, profile) is None
