"""Tags by keyword, without loading pydicom's data dictionary for the ones we read most.

Importing pydicom costs ~0.4 s (it loads numpy and its pixel handlers); a media scan or a
``send`` needs only these few tags, so they are listed here (a test checks each against
pydicom's dictionary) and any other keyword is looked up in pydicom on first use.
"""

from functools import lru_cache

#: The keywords the media reader, the DICOMDIR reader and the frame checks use.
COMMON: dict[str, int] = {
    "OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity": 0x00041200,
    "DirectoryRecordSequence": 0x00041220,
    "OffsetOfTheNextDirectoryRecord": 0x00041400,
    "RecordInUseFlag": 0x00041410,
    "OffsetOfReferencedLowerLevelDirectoryEntity": 0x00041420,
    "DirectoryRecordType": 0x00041430,
    "ReferencedFileID": 0x00041500,
    "ReferencedSOPClassUIDInFile": 0x00041510,
    "ReferencedSOPInstanceUIDInFile": 0x00041511,
    "ReferencedTransferSyntaxUIDInFile": 0x00041512,
    "SpecificCharacterSet": 0x00080005,
    "SOPClassUID": 0x00080016,
    "SOPInstanceUID": 0x00080018,
    "StudyDate": 0x00080020,
    "StudyTime": 0x00080030,
    "AccessionNumber": 0x00080050,
    "Modality": 0x00080060,
    "StudyDescription": 0x00081030,
    "SeriesDescription": 0x0008103E,
    "PatientName": 0x00100010,
    "PatientID": 0x00100020,
    "PatientBirthDate": 0x00100030,
    "PatientSex": 0x00100040,
    "StudyInstanceUID": 0x0020000D,
    "SeriesInstanceUID": 0x0020000E,
    "SeriesNumber": 0x00200011,
    "InstanceNumber": 0x00200013,
    "ImagePositionPatient": 0x00200032,
    "ImageOrientationPatient": 0x00200037,
    "SamplesPerPixel": 0x00280002,
    "NumberOfFrames": 0x00280008,
    "Rows": 0x00280010,
    "Columns": 0x00280011,
    "BitsAllocated": 0x00280100,
}


@lru_cache(maxsize=256)
def tag(keyword: str) -> int:
    """The tag of a DICOM keyword (KeyError for a typo)."""
    if keyword in COMMON:
        return COMMON[keyword]
    from pydicom.datadict import tag_for_keyword

    found = tag_for_keyword(keyword)
    if found is None:
        raise KeyError(keyword)
    return int(found)
