"""Names read from raw header bytes in each character set: ASCII takes the fast path without
pydicom; Latin-1, UTF-8 and ISO 2022 (escape sequences in 7-bit bytes) go through pydicom."""

from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from desktop.core.attributes import TEXT_FIELDS
from desktop.core.header import read_header

NAMES = [
    ("", "Doe^John"),
    ("ISO_IR 100", "Müller^Jürgen"),
    ("ISO_IR 192", "Wang^XiaoDong=王^小東"),
    (["", "ISO 2022 IR 87"], "Yamada^Tarou=山田^太郎=やまだ^たろう"),
]


def write(path: Path, charset: str | list[str], name: str) -> Path:
    dataset = Dataset()
    if charset:
        dataset.SpecificCharacterSet = charset
    dataset.PatientName = name
    dataset.SOPClassUID = SecondaryCaptureImageStorage
    dataset.SOPInstanceUID = generate_uid()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.file_meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize(("charset", "name"), NAMES)
def test_a_name_reads_back_in_its_character_set(
    tmp_path: Path, charset: str | list[str], name: str
) -> None:
    values = read_header(write(tmp_path / "name.dcm", charset, name)).values
    assert values.text(TEXT_FIELDS["patient_name"]) == name


def test_iso_2022_bytes_are_ascii_yet_decoded_as_iso_2022(tmp_path: Path) -> None:
    path = write(tmp_path / "jis.dcm", ["", "ISO 2022 IR 87"], NAMES[3][1])
    assert b"\x1b$B" in path.read_bytes()  # 7-bit: the escape switches to JIS X 0208


def test_bytes_the_character_set_cannot_decode_are_a_note_not_a_warning(
    tmp_path: Path, recwarn: pytest.WarningsRecorder
) -> None:
    path = write(tmp_path / "latin.dcm", "ISO_IR 100", "Müller^Jürgen")
    path.write_bytes(path.read_bytes().replace(b"ISO_IR 100", b"ISO_IR 192"))  # Latin-1 as UTF-8
    values = read_header(path).values
    assert values.text(TEXT_FIELDS["patient_name"]) == "M\ufffdller^J\ufffdrgen"
    assert values.notes == ["text that is not valid ISO_IR 192 (shown with replacement characters)"]
    assert list(recwarn) == []
