"""The fast copy (header re-encoded by our writer, unchanged elements and pixels copied as
stored) reads back exactly as pydicom's own writing of the same de-identified data set, in
every transfer syntax of pydicom's sample files, and DCMTK reads it."""

import subprocess
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import DeflatedExplicitVRLittleEndian

from desktop.core.deid.mapping import KeyedMapping
from desktop.core.deid.passthrough import encode, split
from desktop.core.deid.profile import Profile
from desktop.core.deid.table import Option
from tests.helpers import pydicom_samples, require_tool

PROFILE = Profile(KeyedMapping(bytes(32)), frozenset({Option.RETAIN_LONGITUDINAL_MODIFIED_DATES}))


def _readable(path: Path) -> bool:
    dataset = pydicom.dcmread(path)
    syntax = dataset.file_meta.TransferSyntaxUID
    return "SOPInstanceUID" in dataset and syntax != DeflatedExplicitVRLittleEndian


SAMPLES = pydicom_samples(_readable)


def test_the_samples_cover_every_kind_of_encoding() -> None:
    syntaxes = {pydicom.dcmread(p).file_meta.TransferSyntaxUID for p in SAMPLES}
    assert {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"} <= syntaxes
    assert any(s.is_compressed for s in syntaxes) and len(SAMPLES) > 40


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_fast_copy_reads_as_pydicom_writes_it(path: Path, tmp_path: Path) -> None:
    source = split(path.read_bytes())
    if source is None:  # elements after the pixels: copied the slow way, nothing to compare
        return
    PROFILE.deidentify(source.dataset)
    fast = tmp_path / "fast.dcm"
    fast.write_bytes(encode(source))
    by_pydicom = pydicom.dcmread(path)
    PROFILE.deidentify(by_pydicom)
    by_pydicom.save_as(tmp_path / "pydicom.dcm", enforce_file_format=True)
    expected = pydicom.dcmread(tmp_path / "pydicom.dcm")
    copied = pydicom.dcmread(fast)
    assert copied.file_meta.TransferSyntaxUID == expected.file_meta.TransferSyntaxUID
    assert copied.file_meta.MediaStorageSOPInstanceUID == expected.SOPInstanceUID
    assert [e.tag for e in copied] == [e.tag for e in expected]
    for element in expected:
        assert copied[element.tag] == element, element.keyword


def test_dcmtk_reads_the_fast_copies(tmp_path: Path) -> None:
    dump = require_tool("dcmdump")
    for number, path in enumerate(SAMPLES[::5]):
        source = split(path.read_bytes())
        if source is None:
            continue
        PROFILE.deidentify(source.dataset)
        copy = tmp_path / f"{number}.dcm"
        copy.write_bytes(encode(source))
        done = subprocess.run([dump, "-q", copy], capture_output=True, text=True, check=False)
        assert done.returncode == 0 and "E:" not in done.stderr, (path.name, done.stderr)
