"""The options that keep what the Basic Profile removes, cleaned as PS3.15 E.3 defines them:
Retain Safe Private (Table E.3.10-1, per private creator), Clean Structured Content (SR
content items kept, their identifying values cleaned) and Clean Graphics (annotations kept,
their text cleaned; overlay bitmaps still removed), each recorded with its CID 7050 code."""

from io import BytesIO

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ImplicitVRLittleEndian

from desktop.core.deid.mapping import KeyedMapping
from desktop.core.deid.passthrough import encode, split
from desktop.core.deid.profile import Profile
from desktop.core.deid.table import Option

pytestmark = pytest.mark.homeless  # the profile reads and writes no file under the home
KEY = bytes(32)
NAME = "Secretname^Jane"
SECRET = "Seen by Secretname, MRN 98765432, stable"
CLEANED = "Seen by *, MRN *, stable"


def _patient() -> Dataset:
    dataset = Dataset()
    dataset.PatientName, dataset.PatientID = NAME, "PID-31337"
    dataset.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    return dataset


def _codes(dataset: Dataset) -> list[str]:
    return [c.CodeValue for c in dataset.DeidentificationMethodCodeSequence]


def _with_private_blocks() -> Dataset:
    dataset = _patient()
    dataset.add_new(0x00190010, "LO", "GEMS_ACQU_01")
    dataset.add_new(0x00191023, "DS", "12.5")  # Table Speed: safe
    dataset.add_new(0x00191030, "LO", "Secretname")  # not in the table
    dataset.add_new(0x00190011, "LO", "SOMEONE ELSE")
    dataset.add_new(0x00191123, "DS", "99")  # the same byte under another creator
    dataset.add_new(0x20010010, "LO", "Philips Imaging DD 001")
    dataset.add_new(0x20011003, "FL", 1000.0)  # Diffusion B-Factor: safe
    dataset.add_new(0x0009000F, "LO", "odd")  # no block: never safe
    dataset.add_new(0x00990010, "LO", "NQHeader")
    dataset.add_new(0x00991002, "UI", "1.2.826.0.1.3680043.8.498.5")  # safe, but a UID
    return dataset


def test_retain_safe_private_keeps_only_what_table_e3_10_1_lists() -> None:
    dataset = _with_private_blocks()
    Profile(KeyedMapping(KEY), frozenset({Option.RETAIN_SAFE_PRIVATE})).deidentify(dataset)
    private = {e.tag: e.value for e in dataset if e.tag.is_private}
    assert private == {
        0x00190010: "GEMS_ACQU_01",
        0x00191023: "12.5",
        0x20010010: "Philips Imaging DD 001",
        0x20011003: 1000.0,
        0x00990010: "NQHeader",
        0x00991002: KeyedMapping(KEY).uid("1.2.826.0.1.3680043.8.498.5"),  # mapped as all
    }
    assert "113111" in _codes(dataset)

    basic = _with_private_blocks()
    Profile(KeyedMapping(KEY)).deidentify(basic)
    assert not [e for e in basic if e.tag.is_private]


def test_safe_private_found_in_implicit_vr_files_too() -> None:
    dataset = _with_private_blocks()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    dataset.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    buffer = BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    source = split(buffer.getvalue())
    assert source is not None
    options = frozenset({Option.RETAIN_SAFE_PRIVATE})
    Profile(KeyedMapping(KEY), options).deidentify(source.dataset)
    copy = encode(source)
    assert b"12.5" in copy and b"GEMS_ACQU_01" in copy and b"Secretname" not in copy


def _report() -> Dataset:
    dataset = _patient()
    text, person, date, code = Dataset(), Dataset(), Dataset(), Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "121071", "DCM", "Finding"
    text.RelationshipType, text.ValueType, text.TextValue = "CONTAINS", "TEXT", SECRET
    text.ConceptNameCodeSequence = Sequence([code])
    person.RelationshipType, person.ValueType, person.PersonName = "HAS OBS CONTEXT", "PNAME", NAME
    date.RelationshipType, date.ValueType, date.Date = "CONTAINS", "DATE", "20240315"
    dataset.ContentSequence = Sequence([text, person, date])
    return dataset


def test_clean_structured_content_keeps_the_report_without_identity() -> None:
    dataset = _report()
    Profile(KeyedMapping(KEY), frozenset({Option.CLEAN_STRUCTURED_CONTENT})).deidentify(dataset)
    text, person, date = dataset.ContentSequence
    assert text.TextValue == CLEANED
    assert text.ConceptNameCodeSequence[0].CodeMeaning == "Finding"
    assert person.ValueType == "PNAME" and "Secretname" not in str(person.PersonName)
    assert date.Date != "20240315"
    assert "113104" in _codes(dataset)

    basic = _report()
    Profile(KeyedMapping(KEY)).deidentify(basic)
    assert len(basic.ContentSequence) == 1 and len(basic.ContentSequence[0]) == 0  # D


def _annotated() -> Dataset:
    dataset = _patient()
    text, graphic, annotation = Dataset(), Dataset(), Dataset()
    text.UnformattedTextValue = SECRET
    text.AnchorPointAnnotationUnits = "PIXEL"
    graphic.GraphicType, graphic.NumberOfGraphicPoints = "POINT", 1
    graphic.GraphicData = [10.0, 20.0]
    annotation.GraphicLayer = "LAYER1"
    annotation.TextObjectSequence = Sequence([text])
    annotation.GraphicObjectSequence = Sequence([graphic])
    dataset.GraphicAnnotationSequence = Sequence([annotation])
    dataset.add_new(0x60000010, "US", 2)  # Overlay Rows
    dataset.add_new(0x60003000, "OW", b"\xff\x00" * 2)  # Overlay Data: could hold text
    dataset.add_new(0x60004000, "LT", SECRET)  # Overlay Comments
    return dataset


def test_clean_graphics_keeps_annotations_with_their_text_cleaned() -> None:
    dataset = _annotated()
    Profile(KeyedMapping(KEY), frozenset({Option.CLEAN_GRAPHICS})).deidentify(dataset)
    [annotation] = dataset.GraphicAnnotationSequence
    assert annotation.TextObjectSequence[0].UnformattedTextValue == CLEANED
    assert annotation.GraphicObjectSequence[0].GraphicData == [10.0, 20.0]
    assert dataset[0x60004000].value == CLEANED
    assert 0x60003000 not in dataset  # a bitmap's text cannot be read from the header
    assert "113103" in _codes(dataset)

    basic = _annotated()
    Profile(KeyedMapping(KEY)).deidentify(basic)
    assert len(basic.GraphicAnnotationSequence[0]) == 0  # D: an empty item
    assert 0x60004000 not in basic
