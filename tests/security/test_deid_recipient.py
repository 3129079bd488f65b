"""``deid --recipient``: every original value the profile changed or removed kept encrypted for
one certificate; ``reid`` by its holder gives back the original data set, ``openssl cms``
opens the envelope, anyone else sees only the de-identified copy."""

import io
import subprocess
from pathlib import Path

import pydicom
import pytest
from pydicom.filereader import read_dataset

from tests.core.deid.test_study import write_study
from tests.helpers import cli, require_tool
from tests.pki import KEY_PASSWORD, Pki
from tests.security.signing_fixtures import add_identity

#: What de-identification adds, and reid leaves (Patient Identity Removed then says NO).
ADDED = {"PatientIdentityRemoved", "DeidentificationMethod", "DeidentificationMethodCodeSequence",
         "LongitudinalTemporalInformationModified", "EncryptedAttributesSequence"}  # fmt: skip


def test_reid_restores_every_original_and_openssl_opens_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    sources = write_study(tmp_path / "in", 3)
    status, _, err = cli(capsys, "deid", sources, "--out", tmp_path / "deid",
                         "--recipient", pki.path("client"))  # fmt: skip
    assert status == 0, err
    copies = sorted((tmp_path / "deid").rglob("*.dcm"))
    assert len(copies) == 3
    for copy in copies:
        assert b"Secretname" not in copy.read_bytes()  # the originals are nowhere in clear
        assert not pydicom.dcmread(copy).PatientName

    [item] = pydicom.dcmread(copies[0]).EncryptedAttributesSequence
    assert item.EncryptedContentTransferSyntaxUID == "1.2.840.10008.1.2.1"
    (tmp_path / "content.der").write_bytes(item.EncryptedContent)
    opened = subprocess.run(
        [
            require_tool("openssl"), "cms", "-decrypt", "-inform", "DER",
            "-in", tmp_path / "content.der", "-recip", pki.path("client"),
            "-inkey", pki.path("client", ".key"), "-passin", f"pass:{KEY_PASSWORD}", "-binary",
        ],
        capture_output=True, check=False,
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    holder = read_dataset(io.BytesIO(opened.stdout), is_implicit_VR=False, is_little_endian=True)
    [modified] = holder.ModifiedAttributesSequence
    assert modified.PatientName == "Secretname^Jane" and modified.PatientID == "PID-31337"

    status, out, err = cli(capsys, "reid", tmp_path / "deid", "--identity", "courier",
                           "--out", tmp_path / "reid")  # fmt: skip
    assert status == 0, err
    assert out.count("re-identified") == 3
    originals = {pydicom.dcmread(p).SOPInstanceUID: pydicom.dcmread(p) for p in sources.iterdir()}
    for path in sorted((tmp_path / "reid").rglob("*.dcm")):
        restored = pydicom.dcmread(path)
        original = originals.pop(restored.SOPInstanceUID)
        assert restored.file_meta.MediaStorageSOPInstanceUID == original.SOPInstanceUID
        for element in original:
            assert restored[element.tag] == element, element.keyword
        extra = {e.keyword for e in restored} - {e.keyword for e in original}
        assert extra == ADDED
        assert restored.PatientIdentityRemoved == "NO"
    assert not originals


def test_reid_with_the_wrong_identity_names_the_one_that_opens_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    signing_home_copy: Path,
    pki: Pki,
) -> None:
    """Left over of F9: unseal named the keystore identity a file is sealed for, reid did not."""
    add_identity(signing_home_copy, "recip", pki, "server")
    sources = write_study(tmp_path / "in", 1)
    status, _, err = cli(capsys, "deid", sources, "--out", tmp_path / "deid",
                         "--recipient", pki.path("server"), "--untrusted-recipient")  # fmt: skip
    assert status == 0, err
    reid = ("reid", tmp_path / "deid", "--out", tmp_path / "reid", "--identity")
    status, _, err = cli(capsys, *reid, "courier")
    assert status == 1
    assert (
        "cannot re-identify: not sealed for identity courier (CN=client.test,O=DICOM Courier): "
        f"it is sealed for the certificate with serial {pki.server.certificate.serial_number:X}"
        " issued by Test Intermediate CA; that is your identity 'recip': re-identify it with "
        "--identity recip" in err
    ), err
    status, out, err = cli(capsys, *reid, "recip")
    assert status == 0 and "original values restored" in out, err


def test_a_missing_certificate_is_named_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in").mkdir()
    status, _, err = cli(capsys, "deid", tmp_path / "in", "--out", tmp_path / "o",
                         "--recipient", tmp_path / "nobody.pem")  # fmt: skip
    assert status == 1 and f"{tmp_path / 'nobody.pem'}: no such certificate file" in err
    assert not (tmp_path / "o").exists()


def test_a_copy_of_a_copy_keeps_no_earlier_recipients_originals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signing_home: Path, pki: Pki
) -> None:
    """F8 of findings9: de-identifying copies made with --recipient again (for publication,
    for another project) kept their Encrypted Attributes Sequence: the "anonymous" copies
    still held the patient's name for the first recipient, and reid gave it back. Now only
    this run's recipient gets originals, and those include the earlier sequence whole."""
    sources = write_study(tmp_path / "in", 1)
    status, _, err = cli(capsys, "deid", sources, "--out", tmp_path / "first",
                         "--recipient", pki.path("client"))  # fmt: skip
    assert status == 0, err
    [first] = (tmp_path / "first").rglob("*.dcm")
    status, _, err = cli(capsys, "deid", first, "--out", tmp_path / "public")
    assert status == 0, err
    [public] = (tmp_path / "public").rglob("*.dcm")
    assert "EncryptedAttributesSequence" not in pydicom.dcmread(public)
    status, _, _ = cli(capsys, "reid", public, "--identity", "courier", "--out", tmp_path / "r1")
    assert status == 1 and not (tmp_path / "r1").exists()

    status, _, err = cli(capsys, "deid", first, "--out", tmp_path / "second",
                         "--recipient", pki.path("client"))  # fmt: skip
    assert status == 0, err
    [second] = (tmp_path / "second").rglob("*.dcm")
    assert len(pydicom.dcmread(second).EncryptedAttributesSequence) == 1
    status, _, err = cli(capsys, "reid", second, "--identity", "courier", "--out", tmp_path / "r2")
    assert status == 0, err
    [restored] = (tmp_path / "r2").rglob("*.dcm")
    assert pydicom.dcmread(restored).EncryptedAttributesSequence == (
        pydicom.dcmread(first).EncryptedAttributesSequence
    )  # the first copy as it was: its own recipient can go on from there
