"""The tags and UIDs the core keeps to start without pydicom agree with pydicom's dictionary."""

import pytest
from pydicom.datadict import tag_for_keyword
from pydicom.uid import UID

from desktop.core import uids
from desktop.core.tags import COMMON, tag


@pytest.mark.parametrize(("keyword", "number"), sorted(COMMON.items()))
def test_each_common_tag_is_pydicoms(keyword: str, number: int) -> None:
    assert tag_for_keyword(keyword) == number


def test_other_keywords_come_from_pydicom_and_typos_fail() -> None:
    assert tag("PixelSpacing") == 0x00280030
    with pytest.raises(KeyError):
        tag("PatientNme")


def test_the_uids_are_the_transfer_syntaxes_and_class_they_name() -> None:
    assert UID(uids.IMPLICIT_VR_LITTLE_ENDIAN).keyword == "ImplicitVRLittleEndian"
    assert UID(uids.EXPLICIT_VR_LITTLE_ENDIAN).keyword == "ExplicitVRLittleEndian"
    assert UID(uids.EXPLICIT_VR_BIG_ENDIAN).keyword == "ExplicitVRBigEndian"
    assert UID(uids.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN).keyword == "DeflatedExplicitVRLittleEndian"
    assert UID(uids.MEDIA_STORAGE_DIRECTORY).keyword == "MediaStorageDirectoryStorage"
    assert all(not UID(u).is_compressed for u in uids.NATIVE_SYNTAXES)
