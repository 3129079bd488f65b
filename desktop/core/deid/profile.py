"""The Basic Application Level Confidentiality Profile with its options: what happens to each
attribute of Table E.1-1 (and to private attributes and UIDs the table does not name), the new
values (keyed UIDs, shifted dates, cleaned text, dummies), and the record of what was done
(Patient Identity Removed, De-identification Method and its Code Sequence, Longitudinal
Temporal Information Modified).

Plain Python: the two walks that apply it share these rules, over the header's stored bytes
(``raw``) or over a pydicom data set in place (``dataset_pass``, through
``Profile.deidentify``). Pixels are not touched: Burned In Annotation is left as it was.
"""

import re
from collections.abc import Callable, Iterable, MutableSequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import TYPE_CHECKING

from desktop import __version__
from desktop.core.deid.mapping import KeyedMapping, shift_date, shift_date_time
from desktop.core.deid.setting import PROFILE_NAME
from desktop.core.deid.table import Action, Option, load_table

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

#: CID 7050 De-identification Method (DCM codes).
BASIC_PROFILE_CODE = ("113100", PROFILE_NAME)
OPTION_CODES = {
    Option.CLEAN_DESCRIPTORS: ("113105", "Clean Descriptors Option"),
    Option.RETAIN_LONGITUDINAL_FULL_DATES: (
        "113106",
        "Retain Longitudinal Temporal Information Full Dates Option",
    ),
    Option.RETAIN_LONGITUDINAL_MODIFIED_DATES: (
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    Option.RETAIN_PATIENT_CHARACTERISTICS: ("113108", "Retain Patient Characteristics Option"),
    Option.RETAIN_DEVICE_IDENTITY: ("113109", "Retain Device Identity Option"),
    Option.RETAIN_UIDS: ("113110", "Retain UIDs Option"),
    Option.RETAIN_INSTITUTION_IDENTITY: ("113112", "Retain Institution Identity Option"),
    Option.RETAIN_SAFE_PRIVATE: ("113111", "Retain Safe Private Option"),
    Option.CLEAN_GRAPHICS: ("113103", "Clean Graphics Option"),
    Option.CLEAN_STRUCTURED_CONTENT: ("113104", "Clean Structured Content Option"),
}
#: Free text inside the sequences an option keeps (cleaned, 'C'), that the table does not
#: name because without the option its sequence is replaced or removed whole.
CLEANED_TEXT = {
    0x0040A160: Option.CLEAN_STRUCTURED_CONTENT,  # Text Value of an SR content item
    0x00700006: Option.CLEAN_GRAPHICS,  # Unformatted Text Value of a graphic annotation
}
OVERLAY_DATA = 0x3000  #: (60xx,3000): a bitmap whose text cannot be read from the header
ENCRYPTED_ATTRIBUTES = 0x04000500  # (0400,0500) Encrypted Attributes Sequence
DUMMY_TEXT = "ANONYMIZED"
PATIENT_ID = 0x00100020
DUMMIES: dict[str, object] = {
    "AS": "000D",
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "DS": "0",
    "IS": "0",
    "UR": "urn:invalid",
    **dict.fromkeys(("AT", "FL", "FD", "SL", "SS", "SV", "UL", "US", "UV"), 0),
    **dict.fromkeys(("OB", "OD", "OF", "OL", "OV", "OW", "UN"), b"\x00\x00"),
}
MAX_LENGTH = {"AE": 16, "CS": 16, "SH": 16, "LO": 64, "PN": 64}
TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"})
#: UI attributes that name a class, an encoding or a coding scheme, never an instance: never
#: mapped. Those of the data dictionary whose keyword ends with ClassUID, SyntaxUID or
#: SchemeUID (tests/core/deid/test_raw.py checks the list against pydicom's dictionary).
KEPT_UID_TAGS = frozenset(
    {
        0x00000002,  # AffectedSOPClassUID
        0x00000003,  # RequestedSOPClassUID
        0x00020002,  # MediaStorageSOPClassUID
        0x00020010,  # TransferSyntaxUID
        0x00020012,  # ImplementationClassUID
        0x00020032,  # RTVCommunicationSOPClassUID
        0x00080016,  # SOPClassUID
        0x0008001A,  # RelatedGeneralSOPClassUID
        0x0008001B,  # OriginalSpecializedSOPClassUID
        0x0008010C,  # CodingSchemeUID
        0x0008040E,  # StoredInstanceTransferSyntaxUID
        0x00081150,  # ReferencedSOPClassUID
        0x00083002,  # AvailableTransferSyntaxUID
        0x0018100B,  # ManufacturerDeviceClassUID
        0x00340003,  # FlowTransferSyntaxUID
        0x04000010,  # MACCalculationTransferSyntaxUID
        0x04000510,  # EncryptedContentTransferSyntaxUID
    }
)
#: The root of the UIDs the standard defines (every UID of pydicom's UID dictionary).
DICOM_ROOT = "1.2.840.10008."
IDENTIFYING = frozenset(
    {
        0x00100020,  # PatientID
        0x00101000,  # OtherPatientIDs
        0x00100021,  # IssuerOfPatientID
        0x00080050,  # AccessionNumber
        0x00200010,  # StudyID
        0x00100030,  # PatientBirthDate
        0x00101040,  # PatientAddress
        0x00102154,  # PatientTelephoneNumbers
        0x00101090,  # MedicalRecordLocator
        0x00080080,  # InstitutionName
        0x00080081,  # InstitutionAddress
        0x00081040,  # InstitutionalDepartmentName
    }
)
LONG_NUMBER = re.compile(r"\d{6,}")
MIN_TOKEN = 3


#: The method's last value for a copy whose pixels may show text and were not searched.
UNSEARCHED_METHOD = "Pixel data not searched for burned-in text"


@dataclass(frozen=True, slots=True)
class Profile:
    """The Basic Profile with ``options``, under the keyed ``mapping``."""

    mapping: KeyedMapping
    options: frozenset[Option] = frozenset()
    #: The copy's pixels may hold burned-in text and were not searched: the copy says so
    #: (Burned In Annotation YES, and its De-identification Method).
    pixels_unsearched: bool = False
    _actions: dict[int, Action | None] = field(default_factory=dict, compare=False, repr=False)

    def unsearched(self) -> "Profile":
        """This profile for a copy whose pixels may hold text and were not searched."""
        return replace(self, pixels_unsearched=True)

    def maps_unlisted_uid(self, tag: int) -> bool:
        """Whether a UI attribute the table does not name gets a new UID: an instance UID
        (not a class, a transfer syntax or a coding scheme), unless UIDs are retained."""
        if Option.RETAIN_UIDS in self.options:
            return False
        return tag not in KEPT_UID_TAGS

    def action(self, tag: int) -> Action | None:
        """What happens to ``tag`` (None: not in the table), remembered per tag."""
        try:
            return self._actions[tag]
        except KeyError:
            row = load_table().row(tag)
            found = None if row is None else row.action(self.options)
            if found is Action.CLEAN and tag >> 24 == 0x60 and tag & 0xFFFF == OVERLAY_DATA:
                found = Action.REMOVE  # Clean Graphics keeps overlays only if text were read
            if tag == ENCRYPTED_ATTRIBUTES:  # an earlier de-identification's originals: a
                found = Action.REMOVE  # copy keeps none but for this run's --recipient
            self._actions[tag] = found
            return found

    def deidentify(self, dataset: "Dataset", *, originals: "Dataset | None" = None) -> None:
        """Replace ``dataset``'s identifying content (file meta included), then record how.

        ``originals``, when given, receives the original of every top-level attribute this
        changes or removes (a sequence whole when anything inside it changed): what an
        Encrypted Attributes Sequence keeps for re-identification.
        """
        from desktop.core.deid.dataset_pass import deidentify_dataset

        deidentify_dataset(self, dataset, originals)

    def codes(self) -> list[tuple[str, str]]:
        """The CID 7050 codes of the profile and its options, in code order."""
        return [BASIC_PROFILE_CODE, *(OPTION_CODES[o] for o in sorted(self.options, key=_order))]

    def method(self) -> list[str]:
        """De-identification Method (0012,0063): the tool, then the profile and each option
        (one value each, as each fits the 64 characters of an LO), then whether the pixels
        were left unsearched."""
        unsearched = [UNSEARCHED_METHOD] if self.pixels_unsearched else []
        return [f"DICOM Courier {__version__}", *(m for _, m in self.codes()), *unsearched]

    def temporal(self) -> str:
        """Longitudinal Temporal Information Modified (0028,0303) under these options."""
        if Option.RETAIN_LONGITUDINAL_FULL_DATES in self.options:
            return "UNMODIFIED"
        if Option.RETAIN_LONGITUDINAL_MODIFIED_DATES in self.options:
            return "MODIFIED"
        return "REMOVED"


class Values:
    """The new values of one data set: what they need from the original (the patient's date
    shift, the identifying words to clean text of) is read before anything changes."""

    def __init__(self, profile: Profile, patient_id: str, words: Iterable[str]) -> None:
        self.profile = profile
        options = profile.options
        self.shift = 0
        if Option.RETAIN_LONGITUDINAL_MODIFIED_DATES in options:
            self.shift = profile.mapping.shift_days(patient_id)
        self.tokens: list[str] = []
        if options:  # every option but Retain UIDs has a "C" on some text
            self.tokens = sorted(set(_tokens(words)), key=len, reverse=True)

    def dummy(self, tag: int, vr: str, original: object) -> object:
        """The dummy of a VR other than SQ and UI; the Patient ID becomes its keyed pseudonym
        (the same patient stays one patient at the recipient, two patients never merge into
        one 'ANONYMIZED')."""
        if tag == PATIENT_ID:
            return self.profile.mapping.pseudonym(str(original or "").strip("\x00 "))
        return dummy_value(vr)

    def uids(self, value: object, *, unless_known: bool) -> object:
        """``value`` (one UID, several, or None) with each UID mapped; with ``unless_known``,
        UIDs the standard defines are kept."""
        mapping = self.profile.mapping

        def new(uid: str) -> str:
            return uid if not uid or (unless_known and is_known(uid)) else mapping.uid(uid)

        if isinstance(value, MutableSequence):
            return [new(str(v)) for v in value]
        return new(str(value)) if value is not None else None

    def clean(self, vr: str, value: object) -> object:
        """Dates moved by the patient's shift; text stripped of the data set's own identifying
        values (names, IDs, numbers of six digits or more); anything else kept."""
        if vr == "DA":
            return self._each(value, lambda v: shift_date(v, self.shift))
        if vr == "DT":
            return self._each(value, lambda v: shift_date_time(v, self.shift))
        if vr in TEXT_VRS:
            return self._each(value, self.scrub)
        return value

    @staticmethod
    def _each(value: object, change: Callable[[str], str]) -> object:
        if value is None:
            return None
        if isinstance(value, MutableSequence):
            return [change(str(v)) for v in value]
        return change(str(value))

    def scrub(self, text: str) -> str:
        for token in self.tokens:
            text = re.sub(re.escape(token), "*", text, flags=re.IGNORECASE)
        return LONG_NUMBER.sub("*", text)


def dummy_value(vr: str) -> object:
    """The dummy of a VR other than SQ and UI."""
    dummy = DUMMIES.get(vr)
    return DUMMY_TEXT[: MAX_LENGTH.get(vr, 64)] if dummy is None else dummy


def identifying(tag: int, vr: str) -> bool:
    """Whether a top-level attribute's words are cleaned out of text: names, IDs, dates of
    birth, addresses and institutions."""
    return tag in IDENTIFYING or vr == "PN"


def _tokens(words: Iterable[str]) -> Iterable[str]:
    for value in words:
        for token in re.split(r"[\^\s,=]+", value):
            if len(token) >= MIN_TOKEN:
                yield token


def is_known(uid: str) -> bool:
    """Whether the standard defines ``uid`` (a class, a transfer syntax...): not an instance."""
    return uid.startswith(DICOM_ROOT) and uid in _known_uids()


@cache
def _known_uids() -> frozenset[str]:
    from pydicom._uid_dict import UID_dictionary  # only for UIDs under the DICOM root

    return frozenset(UID_dictionary)


def _order(option: Option) -> str:
    return OPTION_CODES[option][0]
