"""Encrypted Attributes Sequence (0400,0500): original values only their recipient restores."""

import io
import subprocess
from pathlib import Path

import pydicom
import pytest
from pydicom import Dataset
from pydicom.filereader import read_dataset
from pydicom.sequence import Sequence

from desktop.core.errors import CourierError
from desktop.reidentify import encrypt_originals, reidentify
from tests.helpers import cli, require_tool, sample_file
from tests.pki import KEY_PASSWORD, Pki

IDENTIFYING = ("PatientName", "PatientID", "PatientBirthDate", "StudyInstanceUID")


def _deidentified(pki: Pki, *recipients: str) -> tuple[Dataset, Dataset]:
    """CT_small and a de-identified copy whose originals are encrypted for ``recipients``."""
    original = pydicom.dcmread(sample_file("CT_small.dcm"))
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "T-D1100", "SRT", "Head"
    original.AnatomicRegionSequence = Sequence([code])
    originals = Dataset()
    for keyword in (*IDENTIFYING, "AnatomicRegionSequence"):
        setattr(originals, keyword, original[keyword].value)
    copy = pydicom.dcmread(sample_file("CT_small.dcm"))
    copy.PatientName, copy.PatientID, copy.StudyInstanceUID = "ANON", "0001", "2.25.1234"
    del copy.PatientBirthDate
    copy.EncryptedAttributesSequence = Sequence(
        [encrypt_originals(originals, getattr(pki, r).certificate) for r in recipients]
    )
    return original, copy


def _saved_and_read(dataset: Dataset, path: Path) -> Dataset:
    dataset.save_as(path)
    return pydicom.dcmread(path)


def test_the_recipient_restores_every_original_value(tmp_path: Path, pki: Pki) -> None:
    original, copy = _deidentified(pki, "client")
    path = tmp_path / "deid.dcm"
    copy = _saved_and_read(copy, path)
    assert b"CompressedSamples^CT1" not in path.read_bytes()  # the name is nowhere in clear
    assert reidentify(copy, pki.unlocked(pki.client)) == 5
    for keyword in IDENTIFYING:
        assert copy[keyword].value == original[keyword].value, keyword
    assert copy.AnatomicRegionSequence[0].CodeMeaning == "Head"


def test_an_odd_length_envelope_padded_in_the_file_still_opens(tmp_path: Path, pki: Pki) -> None:
    """A DICOM file pads an odd-length value with one byte (PS3.5 §7.1.1), which DER does not
    allow after its end: it made half the copies de-identified with a recipient unopenable."""
    _, copy = _deidentified(pki, "client")
    item = copy.EncryptedAttributesSequence[0]
    content = bytes(item.EncryptedContent)
    grown = 0
    while len(content) % 2 == 0:  # longer comments, until the envelope's length is odd
        grown += 1
        originals = Dataset()
        originals.PatientComments = "X" * (16 * grown)  # until a TLV needs one more length byte
        content = bytes(encrypt_originals(originals, pki.client.certificate).EncryptedContent)
        assert grown < 40, "no odd-length envelope"
    item.EncryptedContent = content
    reread = _saved_and_read(copy, tmp_path / "odd.dcm")
    assert len(bytes(reread.EncryptedAttributesSequence[0].EncryptedContent)) == len(content) + 1
    # it opens (the copy's own envelope, 5 values, when it was odd already)
    assert reidentify(reread, pki.unlocked(pki.client)) == (1 if grown else len(IDENTIFYING) + 1)


def test_each_of_two_recipients_opens_its_own_item(tmp_path: Path, pki: Pki) -> None:
    original, copy = _deidentified(pki, "server", "client")
    for recipient in (pki.server, pki.client):
        reread = _saved_and_read(copy, tmp_path / "deid.dcm")
        reidentify(reread, pki.unlocked(recipient))
        assert reread.PatientName == original.PatientName


def test_anyone_else_is_refused_in_plain_words(pki: Pki) -> None:
    _, copy = _deidentified(pki, "server")
    with pytest.raises(CourierError, match=r"cannot re-identify: not sealed for identity test"):
        reidentify(copy, pki.unlocked(pki.client))
    assert copy.PatientName == "ANON"
    with pytest.raises(CourierError, match="no Encrypted Attributes Sequence"):
        reidentify(pydicom.dcmread(sample_file("CT_small.dcm")), pki.unlocked(pki.client))


def test_the_encrypted_content_opens_with_openssl(tmp_path: Path, pki: Pki) -> None:
    original, copy = _deidentified(pki, "client")
    content = tmp_path / "content.der"
    content.write_bytes(copy.EncryptedAttributesSequence[0].EncryptedContent)
    assert (
        copy.EncryptedAttributesSequence[0].EncryptedContentTransferSyntaxUID
        == "1.2.840.10008.1.2.1"
    )
    done = subprocess.run(
        [
            require_tool("openssl"), "cms", "-decrypt", "-inform", "DER", "-in", content,
            "-recip", pki.path("client"), "-inkey", pki.path("client", ".key"),
            "-passin", f"pass:{KEY_PASSWORD}", "-binary",
        ],
        capture_output=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    holder = read_dataset(io.BytesIO(done.stdout), is_implicit_VR=False, is_little_endian=True)
    [item] = holder.ModifiedAttributesSequence
    assert item.PatientName == original.PatientName
    assert item.PatientBirthDate == original.PatientBirthDate
    assert done.stdout[:6] == b"\x00\x04\x50\x05SQ"  # (0400,0550) first, Explicit VR


def test_reid_command_restores_the_recipient_files_and_refuses_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    original, copy = _deidentified(pki, "client")
    copy.PatientIdentityRemoved = "YES"
    media = tmp_path / "media"
    media.mkdir()
    copy.save_as(media / "mine.dcm")
    _deidentified(pki, "server")[1].save_as(media / "theirs.dcm")
    status, out, err = cli(capsys, "reid", media, "--identity", "courier", "--out", tmp_path / "o")
    assert status == 1
    assert f"re-identified {media / 'mine.dcm'} -> {tmp_path / 'o' / 'mine.dcm'}: 5 original" in out
    assert f"{media / 'theirs.dcm'}: not re-identified: cannot re-identify: not sealed for" in err
    restored = pydicom.dcmread(tmp_path / "o" / "mine.dcm")
    assert restored.PatientName == original.PatientName
    assert restored.PatientIdentityRemoved == "NO"
    assert not (tmp_path / "o" / "theirs.dcm").exists()
    assert pydicom.dcmread(media / "mine.dcm").PatientName == "ANON"  # the source untouched
