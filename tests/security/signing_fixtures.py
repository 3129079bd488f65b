"""What the signature tests share: the signing home's password and identities (its fixtures are
in conftest.py), sample files, dcmsign, tampering."""

import json
import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from desktop.security.keystore import Keystore
from tests.helpers import cli, require_tool, sample_file
from tests.pki import KEY_PASSWORD, Pki

PASSWORD = "correct horse battery"
PATIENT_NAME = b"CompressedSamples^CT1"


def add_identity(home: Path, name: str, pki: Pki, stem: str) -> None:
    """Import the PKI's ``stem`` certificate and key as identity ``name`` of ``home``."""
    Keystore(home, lambda new: PASSWORD).import_identity(
        name, pki.path(stem, ".p12"), file_password=KEY_PASSWORD
    )


def ct_copy(folder: Path, name: str = "ct.dcm") -> Path:
    """pydicom's CT_small (Explicit VR Little Endian, private tags, trailing padding)."""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(sample_file("CT_small.dcm"), folder / name))


def with_sequence(folder: Path) -> Path:
    """CT_small with a two-item Referenced Image Sequence, the second item nesting a code."""
    dataset = pydicom.dcmread(sample_file("CT_small.dcm"))
    first, second, code = Dataset(), Dataset(), Dataset()
    first.ReferencedSOPClassUID, first.ReferencedSOPInstanceUID = "1.2.3", "1.2.3.4"
    second.ReferencedSOPClassUID, second.ReferencedSOPInstanceUID = "1.2.3", "1.2.3.5"
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "121311", "DCM", "Localizer"
    second.PurposeOfReferenceCodeSequence = Sequence([code])
    dataset.ReferencedImageSequence = Sequence([first, second])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "sequence.dcm"
    dataset.save_as(path)
    return path


def dcmsign_sign(
    pki: Pki, stem: str, source: Path, target: Path, *options: str, item: str = ""
) -> subprocess.CompletedProcess[str]:
    """Sign with DCMTK's dcmsign and the PKI's encrypted PEM key (in ``item`` if given)."""
    command = [
        require_tool("dcmsign"),
        "+si" if item else "+s",
        str(pki.path(stem, ".key")),
        str(pki.path(stem)),
        *([item] if item else []),
        "+pw",
        KEY_PASSWORD,
        *options,
        str(source),
        str(target),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done


def dcmsign_verify(pki: Pki, path: Path) -> subprocess.CompletedProcess[str]:
    """dcmsign --verify trusting the test root, the intermediate as untrusted helper."""
    command = [
        require_tool("dcmsign"),
        "--verify",
        "+cf",
        str(pki.path("root-only")),
        "+uf",
        str(pki.path("intermediate-only")),
        str(path),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def tamper(path: Path, what: str) -> Path:
    """A copy with one pixel byte or the Patient Name changed (same length: still readable)."""
    data = bytearray(path.read_bytes())
    if what == "pixel":
        data[data.index(b"\xe0\x7f\x10\x00OW") + 12 + 1000] ^= 0x01
    elif what == "patient-name":
        at = data.index(PATIENT_NAME)
        data[at : at + len(PATIENT_NAME)] = PATIENT_NAME[:-1] + b"2"
    target = path.with_name(f"{path.stem}-{what}.dcm")
    target.write_bytes(bytes(data))
    return target


def verify_json(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, dict]:  # type: ignore[type-arg]
    status, out, err = cli(capsys, "verify", "--json", *args)
    assert out, err
    return status, json.loads(out)
