"""Lossy compression for the wire, only when the user picks it (issue #14): DCMTK's storescp
told to prefer JPEG-LS lossy (+xu) or JPEG 2000 lossy (+xw) receives copies whose decoded
pixels stay within the stated tolerance, marked as PS3.3 C.7.6.1.1.5 asks, under new SOP
Instance UIDs that name their originals; auto never goes lossy."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import JPEG2000, ExplicitVRLittleEndian, JPEGLSNearLossless

from desktop.core.config import LOSSY_COMPRESSIONS
from desktop.net.compression import CODECS, J2K_RATIO, LOSSY, NEAR, codecs_for, pack
from tests.helpers import cli, node_add
from tests.net.conftest import Scp
from tests.net.test_send_compressed import send, storescp_accepting, varied_instances
from tests.pki import Pki

pytestmark = pytest.mark.dcmtk
MAMMOGRAM = "1.2.840.10008.5.1.4.1.1.1.2"


@pytest.fixture
def storescp_jls_lossy(pki: Pki, tmp_path: Path) -> Iterator[Scp]:
    yield from storescp_accepting(pki, tmp_path, "+xu")


@pytest.fixture
def storescp_j2k_lossy(pki: Pki, tmp_path: Path) -> Iterator[Scp]:
    yield from storescp_accepting(pki, tmp_path, "+xw")


def received_copies(
    sources: list[Path], folder: Path
) -> list[tuple[pydicom.Dataset, pydicom.Dataset]]:
    """(source, copy) pairs, matched by the copy's Source Image Sequence."""
    copies = [pydicom.dcmread(p) for p in folder.rglob("*") if p.is_file()]
    by_source = {str(c.SourceImageSequence[0].ReferencedSOPInstanceUID): c for c in copies}
    assert len(by_source) == len(sources)
    return [(s, by_source[str(s.SOPInstanceUID)]) for s in map(pydicom.dcmread, sources)]


def assert_marked_lossy(source: pydicom.Dataset, copy: pydicom.Dataset, method: str) -> float:
    """The attributes of a lossy copy; its ratio."""
    assert copy.SOPInstanceUID != source.SOPInstanceUID
    assert copy.LossyImageCompression == "01"
    assert copy.LossyImageCompressionMethod == method
    reference = copy.SourceImageSequence[0]
    assert reference.ReferencedSOPClassUID == source.SOPClassUID
    assert reference.PurposeOfReferenceCodeSequence[0].CodeValue == "121320"
    assert copy.DerivationCodeSequence[0].CodeValue == "113040"
    assert str(source.SOPInstanceUID) in copy.DerivationDescription
    return float(copy.LossyImageCompressionRatio)


def test_near_lossless_stays_within_near_and_is_marked(
    capsys: pytest.CaptureFixture[str], home: Path, storescp_jls_lossy: Scp, tmp_path: Path
) -> None:
    sources = varied_instances(tmp_path / "study")
    node = node_add("peer", "DCMTK_SCP", storescp_jls_lossy.port, "--tls", "--identity", "courier")
    assert cli(capsys, *node)[0] == 0
    study = tmp_path / "study"
    status, out, err = cli(capsys, "send", "peer", study, "--compress", "jpeg-ls-near-lossless")
    assert status == 0, out + err
    assert "warning: LOSSY: uncompressed images compressed LOSSILY as JPEG-LS near-lossless" in err
    assert "note:" not in err  # the summary says it once, not a line per instance
    assert f"compressed {len(sources)} instance(s) with JPEG-LS near-lossless" in out
    assert f"LOSSY (every pixel within ±{NEAR} of the original)" in out
    assert "new instance UIDs" in out
    for source, copy in received_copies(sources, storescp_jls_lossy.out):
        assert copy.file_meta.TransferSyntaxUID == JPEGLSNearLossless
        assert assert_marked_lossy(source, copy, "ISO_14495_1") > 1.0
        difference = copy.pixel_array.astype(np.int64) - source.pixel_array.astype(np.int64)
        assert np.abs(difference).max() <= NEAR, source.SeriesDescription


def test_j2k_lossy_is_about_its_ratio_and_close(
    capsys: pytest.CaptureFixture[str], home: Path, storescp_j2k_lossy: Scp, tmp_path: Path
) -> None:
    sources = varied_instances(tmp_path / "study")
    out = send(
        capsys, storescp_j2k_lossy.port, "DCMTK_SCP", tmp_path / "study", "--compress", "j2k-lossy"
    )
    assert "with JPEG 2000 lossy" in out and "LOSSY" in out
    for source, copy in received_copies(sources, storescp_j2k_lossy.out):
        assert copy.file_meta.TransferSyntaxUID == JPEG2000
        ratio = assert_marked_lossy(source, copy, "ISO_15444_1")
        assert J2K_RATIO / 2 < ratio < J2K_RATIO * 2, source.SeriesDescription
        original = source.pixel_array.astype(np.float64)
        error = np.sqrt(np.mean((copy.pixel_array - original) ** 2))
        assert error < 0.05 * np.ptp(original), source.SeriesDescription


def test_auto_never_compresses_with_loss(
    capsys: pytest.CaptureFixture[str], home: Path, storescp_jls_lossy: Scp, tmp_path: Path
) -> None:
    """A peer that takes JPEG-LS lossy but no lossless codec gets exact copies from auto."""
    assert set(LOSSY) == set(LOSSY_COMPRESSIONS)
    assert not set(codecs_for("auto")) & set(LOSSY.values())
    assert set(codecs_for("auto")) == set(CODECS.values())
    sources = varied_instances(tmp_path / "study")
    out = send(
        capsys, storescp_jls_lossy.port, "DCMTK_SCP", tmp_path / "study", "--compress", "auto"
    )
    assert "LOSSY" not in out
    received = {
        str(d.SOPInstanceUID): d
        for d in map(pydicom.dcmread, storescp_jls_lossy.received().values())
    }
    for source in map(pydicom.dcmread, sources):
        copy = received[str(source.SOPInstanceUID)]
        assert copy.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert "LossyImageCompression" not in copy
        assert np.array_equal(copy.pixel_array, source.pixel_array)


def test_a_mammogram_is_never_compressed_with_loss(tmp_path: Path) -> None:
    [path, *_] = varied_instances(tmp_path)
    dataset = pydicom.dcmread(path)
    dataset.SOPClassUID = dataset.file_meta.MediaStorageSOPClassUID = MAMMOGRAM
    dataset.save_as(path)
    packed = pack(str(path), 0, "", JPEGLSNearLossless)
    assert packed.data is None and "mammograms" in packed.note


def test_earlier_lossy_values_are_kept_and_the_copy_is_the_same_on_a_retry(tmp_path: Path) -> None:
    [path, *_] = varied_instances(tmp_path)
    dataset = pydicom.dcmread(path)
    dataset.LossyImageCompression = "01"
    dataset.LossyImageCompressionRatio = "6"
    dataset.LossyImageCompressionMethod = "ISO_10918_1"
    dataset.save_as(path)
    first, again = (pack(str(path), 0, "", JPEGLSNearLossless) for _ in range(2))
    assert first.data == again.data and first.instance_uid == again.instance_uid
    assert first.instance_uid and first.instance_uid != dataset.SOPInstanceUID
    from io import BytesIO

    copy = pydicom.dcmread(BytesIO(first.data or b""), force=True)
    assert copy.LossyImageCompressionRatio[0] == 6
    assert copy.LossyImageCompressionMethod == ["ISO_10918_1", "ISO_14495_1"]
    assert copy.SourceImageSequence[0].PurposeOfReferenceCodeSequence[0].CodeValue == "121321"


def test_lossy_refuses_storage_commitment_and_signing(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    status, _, err = cli(
        capsys, *node_add("peer", "PEER", 104, "--compress", "j2k-lossy", "--commit")
    )
    assert status != 0 and "lossy compression cannot be combined with storage commitment" in err
    status, _, err = cli(capsys, *node_add("peer", "PEER", 104, "--commit"))
    assert status == 0, err
    varied_instances(tmp_path / "study")
    status, _, err = cli(
        capsys, "send", "peer", tmp_path / "study", "--compress", "jpeg-ls-near-lossless"
    )
    assert status != 0 and "storage commitment" in err and "--no-commit" in err
