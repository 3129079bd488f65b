"""The fast header reader agrees with pydicom and says precisely what is wrong with a file."""

from pathlib import Path

import pydicom
import pytest
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset

from desktop.core.attributes import BROWSER_TAGS, VECTOR_FIELDS
from desktop.core.errors import HeaderError, NotDicomError
from desktop.core.header import ENVELOPED_DATA, SEALED, read_header
from desktop.core.values import integer_value, text_value
from tests.helpers import pydicom_samples, sample_file


class DatasetValues:
    """The reader's interface over a pydicom Dataset: the reference it is checked against."""

    __slots__ = ("_dataset",)

    def __init__(self, dataset: Dataset) -> None:
        self._dataset = dataset

    def __contains__(self, tag: int) -> bool:
        return tag in self._dataset

    def text(self, tag: int) -> str:
        return text_value(self._dataset, keyword_for_tag(tag))

    def integer(self, tag: int) -> int | None:
        return integer_value(self._dataset, keyword_for_tag(tag))


# pydicom reads these although they are damaged; the header reader must refuse them.
DAMAGED = {"rtplan_truncated.dcm"}


def readable_undamaged(path: Path) -> bool:
    pydicom.dcmread(path, stop_before_pixels=True)
    return path.name not in DAMAGED


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("path", pydicom_samples(readable_undamaged), ids=lambda p: p.name)
def test_header_matches_pydicom(path: Path) -> None:
    reference = DatasetValues(pydicom.dcmread(path, stop_before_pixels=True))
    header = read_header(path)
    vectors = {vector_tag for vector_tag, _ in VECTOR_FIELDS.values()}
    for tag in sorted(BROWSER_TAGS):
        assert header.values.text(tag) == reference.text(tag), hex(tag)
        if tag not in vectors:  # decimal vectors are read as text, never as one integer
            assert header.values.integer(tag) == reference.integer(tag), hex(tag)
    syntax = pydicom.dcmread(path).file_meta.get("TransferSyntaxUID", "")
    assert header.transfer_syntax_uid == str(syntax)


def test_pixel_data_location_is_exact() -> None:
    path = sample_file("CT_small.dcm")
    header = read_header(path)
    assert header.pixel_data is not None
    with path.open("rb") as handle:
        handle.seek(header.pixel_data.value_offset)
        stored = handle.read(header.pixel_data.length or 0)
    assert stored == pydicom.dcmread(path).PixelData


def test_encapsulated_pixel_data_end_is_found() -> None:
    header = read_header(sample_file("color3d_jpeg_baseline.dcm"))
    assert header.pixel_data is not None and header.pixel_data.length is None
    assert header.pixel_data.end == header.file_size


def test_text_file_is_not_dicom(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("x" * 500)
    with pytest.raises(NotDicomError, match="no 'DICM' marker"):
        read_header(text)


def test_tiny_file_is_not_dicom(tmp_path: Path) -> None:
    tiny = tmp_path / "tiny"
    tiny.write_bytes(b"DICM")
    with pytest.raises(NotDicomError, match="only 4 bytes"):
        read_header(tiny)


def test_header_cut_inside_an_element(tmp_path: Path) -> None:
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(sample_file("CT_small.dcm").read_bytes()[:1000])
    with pytest.raises(HeaderError, match="truncated"):
        read_header(cut)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(HeaderError, match="cannot read"):
        read_header(tmp_path / "absent.dcm")


@pytest.mark.parametrize(
    "length", [b"\x7f", b"\x81\xff", b"\x83\x01\x00\x00", b"\x84\x03\x4b\xc5\xbf"]
)
def test_a_sealed_file_is_known_whatever_its_length_takes(tmp_path: Path, length: bytes) -> None:
    """Tester's F10 (round 6): a sealed file over 16 MB (four DER length bytes) was called
    "not a DICOM file", so the browser did not offer to open it."""
    path = tmp_path / "IM000000"
    path.write_bytes(b"\x30" + length + ENVELOPED_DATA + b"\xa0\x84" + bytes(200))
    with pytest.raises(HeaderError, match="sealed") as raised:
        read_header(path)
    assert str(raised.value) == SEALED
    path.write_bytes(b"\x30" + length + b"\x06\x09" + bytes(220))  # another DER content
    with pytest.raises(NotDicomError):
        read_header(path)


def _whole_file(path: Path) -> tuple[object, ...]:
    """What the reader finds with all of the file in hand (the reference for reading only
    its first kilobytes): its fields, or the error it raises."""
    from desktop.core import header as header_module

    data = path.read_bytes()
    try:
        found = header_module._parse(path, data, len(data), frozenset(BROWSER_TAGS))
    except HeaderError as error:
        return (type(error), str(error))
    return _fields(found)


def _fields(header: object) -> tuple[object, ...]:
    values = header.values  # type: ignore[attr-defined]
    return (
        header.transfer_syntax_uid,  # type: ignore[attr-defined]
        header.media_sop_instance_uid,  # type: ignore[attr-defined]
        header.dataset_offset,  # type: ignore[attr-defined]
        header.pixel_data,  # type: ignore[attr-defined]
        header.file_size,  # type: ignore[attr-defined]
        values._elements,
        values._little,
    )


def _long_header(folder: Path, padding: int) -> Path:
    """A CT whose header runs ``padding`` bytes of a private element past its first
    kilobytes, the Patient's Name after it (a value the head read would cut off)."""
    dataset = pydicom.dcmread(sample_file("CT_small.dcm"))
    dataset.add_new(0x00090010, "LO", "COURIER TEST")
    dataset.add_new(0x00091001, "OB", b"\0" * padding)
    path = folder / f"long-{padding}.dcm"
    dataset.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_reading_only_the_head_finds_what_the_whole_file_says(tmp_path: Path) -> None:
    """A header is read from the file's first kilobytes when they hold all of it, else from
    the whole file: same values, pixel data and errors either way (every pydicom sample,
    headers longer than the head, a value cut by its end, a file cut short)."""
    from desktop.core.header import HEAD_LENGTH

    paths = pydicom_samples(lambda _: True)
    paths += [_long_header(tmp_path, n) for n in (HEAD_LENGTH - 700, HEAD_LENGTH, 3 * HEAD_LENGTH)]
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(paths[-1].read_bytes()[: HEAD_LENGTH + 100])
    paths.append(cut)
    for path in paths:
        try:
            found: tuple[object, ...] = _fields(read_header(path))
        except NotDicomError:
            continue
        except HeaderError as error:
            found = (type(error), str(error))
        assert found == _whole_file(path), path.name
