"""C-FIND against the store: both information models, every level, the rules of PS3.4 C.2.2.2
through the index, return keys, refusals and character sets."""

from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from pydicom import Dataset, dcmread
from pydicom.dataelem import RawDataElement
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.tag import Tag
from pydicom.uid import ImplicitVRLittleEndian

from desktop.core.archive import InvalidQueryError, Level, Model
from desktop.core.store import Store
from tests.core.store.conftest import STUDY_A, STUDY_B, STUDY_C
from tests.core.store.making import dataset, filed, write

PYDICOM_CHARSETS = Path(pydicom.__file__).parent / "data" / "charset_files"

# Hostile identifiers are built on purpose: pydicom warns about their values.
pytestmark = pytest.mark.filterwarnings(
    "ignore:(The value length|Invalid value for VR):UserWarning"
)


def identifier(**keys: object) -> Dataset:
    ds = Dataset()
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


def find(store: Store, model: Model, level: Level, **keys: object) -> list[Dataset]:
    return list(store.find(model=model, level=level, identifier=identifier(**keys)))


def uids(responses: list[Dataset], keyword: str) -> list[str]:
    return sorted(str(r.get(keyword, "")) for r in responses)


def wire(ds: Dataset) -> Dataset:
    """``ds`` encoded as a C-FIND identifier travels (implicit VR little endian) and decoded
    again as a provider receives it: text still bytes in the identifier's character set."""
    buffer = DicomBytesIO()
    buffer.is_implicit_VR, buffer.is_little_endian = True, True
    write_dataset(buffer, ds)
    return read_dataset(BytesIO(buffer.getvalue()), is_implicit_VR=True, is_little_endian=True)


def test_study_root_study_level_returns_the_keys_asked_for_filled(store: Store) -> None:
    responses = find(
        store,
        "STUDY",
        "STUDY",
        StudyInstanceUID=STUDY_A,
        PatientName="",
        PatientID="",
        StudyDate="",
        AccessionNumber="",
        ModalitiesInStudy="",
        NumberOfStudyRelatedSeries="",
        NumberOfStudyRelatedInstances="",
        StudyID="",
    )
    assert len(responses) == 1
    study = responses[0]
    assert study.QueryRetrieveLevel == "STUDY"
    assert "SpecificCharacterSet" in study
    assert str(study.PatientName) == "Doe^John" and study.PatientID == "P1"
    assert study.StudyDate == "20200105" and study.AccessionNumber == "ACC_1"
    assert study.ModalitiesInStudy == "CT"
    assert study.NumberOfStudyRelatedSeries == 2 and study.NumberOfStudyRelatedInstances == 3
    assert study["StudyID"].is_empty  # asked for, not known: zero length
    assert "StudyDescription" not in study  # not asked for


def test_the_unique_key_of_the_level_is_always_returned(store: Store) -> None:
    responses = find(store, "STUDY", "SERIES", StudyInstanceUID=STUDY_A, Modality="CT")
    assert uids(responses, "SeriesInstanceUID") == [f"{STUDY_A}.0", f"{STUDY_A}.1"]


def test_patient_root_at_every_level(store: Store) -> None:
    patients = find(store, "PATIENT", "PATIENT", PatientID="", NumberOfPatientRelatedStudies="")
    assert {(p.PatientID, p.NumberOfPatientRelatedStudies) for p in patients} == {
        ("P1", 2),
        ("P2%", 1),
    }
    studies = find(store, "PATIENT", "STUDY", PatientID="P1", StudyInstanceUID="")
    assert uids(studies, "StudyInstanceUID") == [STUDY_A, STUDY_B]
    series = find(
        store, "PATIENT", "SERIES", PatientID="P1", StudyInstanceUID=STUDY_A, SeriesNumber="2"
    )
    assert uids(series, "SeriesInstanceUID") == [f"{STUDY_A}.1"]
    images = find(
        store,
        "PATIENT",
        "IMAGE",
        PatientID="P1",
        StudyInstanceUID=STUDY_A,
        SeriesInstanceUID=f"{STUDY_A}.0",
        SOPInstanceUID="",
        InstanceNumber="",
    )
    assert sorted(int(i.InstanceNumber) for i in images) == [1, 3]


def test_hierarchical_unique_keys_narrow_the_lower_levels(store: Store) -> None:
    assert find(store, "PATIENT", "STUDY", PatientID="P2%", StudyInstanceUID=STUDY_A) == []
    images = find(store, "STUDY", "IMAGE", StudyInstanceUID=STUDY_B, SeriesInstanceUID="")
    assert uids(images, "SOPInstanceUID") == [f"{STUDY_B}.1.1"]


def test_a_list_of_uids(store: Store) -> None:
    responses = find(store, "STUDY", "STUDY", StudyInstanceUID=f"{STUDY_A}\\{STUDY_C}\\9.9")
    assert uids(responses, "StudyInstanceUID") == [STUDY_A, STUDY_C]


def test_wildcards_on_names_ignore_case(store: Store) -> None:
    responses = find(store, "STUDY", "STUDY", PatientName="doe*")
    assert uids(responses, "StudyInstanceUID") == [STUDY_A, STUDY_B]
    assert find(store, "STUDY", "STUDY", PatientName="D?e^J*") != []
    assert find(store, "STUDY", "STUDY", PatientName="Doe") == []


def test_date_range_and_combined_date_time_range(store: Store) -> None:
    responses = find(store, "STUDY", "STUDY", StudyDate="20210101-")
    assert uids(responses, "StudyInstanceUID") == [STUDY_B, STUDY_C]
    both = find(store, "STUDY", "STUDY", StudyDate="20210310-20210311", StudyTime="2200-0900")
    assert uids(both, "StudyInstanceUID") == [STUDY_B, STUDY_C]
    late = find(store, "STUDY", "STUDY", StudyDate="20210310-20210311", StudyTime="2330-0900")
    assert uids(late, "StudyInstanceUID") == [STUDY_C]


def test_matching_on_derived_keys(store: Store) -> None:
    assert uids(find(store, "STUDY", "STUDY", ModalitiesInStudy="MR\\US"), "StudyInstanceUID") == [
        STUDY_B,
        STUDY_C,
    ]
    assert uids(
        find(store, "STUDY", "STUDY", NumberOfStudyRelatedInstances="3"), "StudyInstanceUID"
    ) == [STUDY_A]


def test_sql_wildcard_characters_in_values_are_literal(store: Store) -> None:
    assert uids(find(store, "STUDY", "STUDY", AccessionNumber="ACC_1"), "StudyInstanceUID") == [
        STUDY_A
    ]
    assert uids(find(store, "STUDY", "STUDY", AccessionNumber="ACC%1"), "StudyInstanceUID") == [
        STUDY_B
    ]
    assert find(store, "STUDY", "STUDY", AccessionNumber="ACC%") == []
    assert find(store, "PATIENT", "PATIENT", PatientID="P%") == []
    assert len(find(store, "PATIENT", "PATIENT", PatientID="P2%")) == 1
    assert find(store, "STUDY", "STUDY", PatientName="'; DROP TABLE studies; --") == []
    assert len(find(store, "STUDY", "STUDY")) == 3


def test_a_64_kb_value_is_indexed_matched_and_returned_whole(store: Store) -> None:
    huge = "X" * 65536
    # Implicit VR: an explicit LO cannot be longer than 65,535 bytes.
    path = filed(
        store.folder,
        dataset(StudyInstanceUID="1.9", StudyDescription=huge),
        syntax=ImplicitVRLittleEndian,
    )
    store.add(path)
    found = find(store, "STUDY", "STUDY", StudyDescription=huge)
    assert [str(r.StudyDescription) for r in found] == [huge]
    assert find(store, "STUDY", "STUDY", StudyDescription=huge + "X") == []


def test_study_root_has_no_patient_level(store: Store) -> None:
    with pytest.raises(InvalidQueryError, match=r"Study Root.*no 'PATIENT' level"):
        find(store, "STUDY", "PATIENT", PatientID="")


@pytest.mark.parametrize(
    ("keys", "named"),
    [
        ({"SeriesDescription": ""}, "SeriesDescription is a series-level key, below"),
        ({"StudyInstanceUID": "1.2.*"}, "StudyInstanceUID: a UID cannot hold wildcards"),
        ({"StudyDate": "2020"}, "StudyDate: '2020' is not a DA"),
        ({"QueryRetrieveLevel": "IMAGE"}, "QueryRetrieveLevel says 'IMAGE'"),
    ],
)
def test_a_key_that_cannot_be_answered_is_refused_by_name(
    store: Store, keys: dict[str, str], named: str
) -> None:
    with pytest.raises(InvalidQueryError, match=named) as refused:
        store.find(model="STUDY", level="STUDY", identifier=identifier(**keys))
    assert refused.value.status == 0xA900


def test_a_number_key_that_is_not_a_number_is_refused(store: Store) -> None:
    ds = Dataset()
    ds[0x00201208] = RawDataElement(Tag(0x00201208), "IS", 2, b"x ", 0, True, True)
    with pytest.raises(InvalidQueryError, match="NumberOfStudyRelatedInstances: 'x' is not"):
        store.find(model="STUDY", level="STUDY", identifier=ds)


def test_keys_the_store_does_not_index_are_neither_matched_nor_returned(store: Store) -> None:
    """Optional keys we do not support (PS3.4 C.2.2.1.3): a standard one with a value that
    matches nothing, and a private one, are left out; the provider says so with 0xFF01."""
    ds = identifier(AccessionNumber="ACC_1", PixelSpacing="9\\9")
    ds.add_new(0x00091010, "LO", "x")
    [response] = store.find(model="STUDY", level="STUDY", identifier=ds)
    assert response.AccessionNumber == "ACC_1"
    assert "PixelSpacing" not in response and 0x00091010 not in response


def test_a_zero_length_character_set_is_the_default_repertoire(store: Store) -> None:
    [response] = find(store, "STUDY", "STUDY", SpecificCharacterSet="", AccessionNumber="ACC_1")
    assert response["SpecificCharacterSet"].is_empty


def test_an_unknown_character_set_is_refused(store: Store) -> None:
    with pytest.raises(InvalidQueryError, match="SpecificCharacterSet: 'ISO_IR 999'"):
        find(store, "STUDY", "STUDY", SpecificCharacterSet="ISO_IR 999")


def test_latin1_stored_name_found_by_a_utf8_query_and_answered_in_utf8(store: Store) -> None:
    filed(
        store.folder,
        dataset(SpecificCharacterSet="ISO_IR 100", PatientName="Müller^Jörg", PatientID="M"),
    )
    store.reindex()
    query = wire(identifier(SpecificCharacterSet="ISO_IR 192", PatientName="MÜLLER*"))
    [response] = store.find(model="STUDY", level="STUDY", identifier=query)
    assert response.SpecificCharacterSet == "ISO_IR 192"
    assert str(wire(response).PatientName) == "Müller^Jörg"


def test_utf8_stored_names_found_by_a_latin1_query(store: Store) -> None:
    filed(
        store.folder,
        dataset(SpecificCharacterSet="ISO_IR 192", PatientName="Müller^Jörg", PatientID="M"),
    )
    filed(
        store.folder,
        dataset(SpecificCharacterSet="ISO_IR 192", PatientName="Μüller^Ελένη", PatientID="G"),
    )
    store.reindex()
    query = wire(identifier(SpecificCharacterSet="ISO_IR 100", PatientName="?üller*", PatientID=""))
    assert query["PatientName"].VR == "PN"
    responses = {r.PatientID: r for r in store.find(model="STUDY", level="STUDY", identifier=query)}
    assert set(responses) == {"M", "G"}
    # A Latin-1 name goes back in the query's character set, a Greek one cannot: UTF-8.
    assert responses["M"].SpecificCharacterSet == "ISO_IR 100"
    assert responses["G"].SpecificCharacterSet == "ISO_IR 192"
    assert str(wire(responses["M"]).PatientName) == "Müller^Jörg"
    assert str(wire(responses["G"]).PatientName) == "Μüller^Ελένη"


def test_an_instance_kept_beside_another_of_the_same_uid_is_answered_once(store: Store) -> None:
    twin = dataset(
        StudyInstanceUID=STUDY_C,
        SeriesInstanceUID=f"{STUDY_C}.1",
        SOPInstanceUID=f"{STUDY_C}.1.1",
        PatientID="P2%",
        ImageComments="a different file",
    )
    original = next(store.folder.glob(f"P2/*/*/{STUDY_C}.1.1.dcm"))
    beside = filed(store.folder, twin).rename(original.with_name(f"{original.stem}~2.dcm"))
    store.add(beside)
    images = find(store, "STUDY", "IMAGE", StudyInstanceUID=STUDY_C, SeriesInstanceUID="")
    assert len(images) == 1
    located = store.locate(
        model="STUDY", level="STUDY", identifier=identifier(StudyInstanceUID=STUDY_C)
    )
    assert located == [original]


def test_an_iso_2022_japanese_name_found_by_its_ideographic_group(store: Store) -> None:
    japanese = dcmread(PYDICOM_CHARSETS / "chrH31.dcm")  # ISO 2022 IR 87, three groups
    write(store.folder / "jp" / "h31.dcm", japanese)
    store.reindex()
    name = "Yamada^Tarou=山田^太郎=やまだ^たろう"
    utf8 = wire(identifier(SpecificCharacterSet="ISO_IR 192", PatientName="山田*"))
    [response] = store.find(model="STUDY", level="STUDY", identifier=utf8)
    assert response.SpecificCharacterSet == "ISO_IR 192"
    assert str(wire(response).PatientName) == name
    same = identifier(SpecificCharacterSet=["", "ISO 2022 IR 87"], PatientName=name)
    [response] = store.find(model="STUDY", level="STUDY", identifier=wire(same))
    assert str(wire(response).PatientName) == name
