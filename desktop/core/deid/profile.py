"""De-identify one data set in place: every attribute of Table E.1-1 at every level of nesting,
private attributes, every UID (so references between objects still resolve), and the record of
what was done (Patient Identity Removed, De-identification Method and its Code Sequence,
Longitudinal Temporal Information Modified).

Pixels are not touched: Burned In Annotation is left as it was.
"""

import copy
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pydicom import config, datadict
from pydicom._uid_dict import UID_dictionary
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from desktop import __version__
from desktop.core.deid.mapping import KeyedMapping, shift_date, shift_date_time
from desktop.core.deid.safe_private import creator_is_listed, is_safe
from desktop.core.deid.setting import PROFILE_NAME
from desktop.core.deid.table import Action, Option, load_table

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
DUMMY_TEXT = "ANONYMIZED"
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
#: UI attributes that name a class or an encoding, never an instance: never mapped.
KEPT_UID_SUFFIXES = ("ClassUID", "SyntaxUID", "SchemeUID")
IDENTIFYING = frozenset(
    datadict.tag_for_keyword(keyword)
    for keyword in {
        "PatientID",
        "OtherPatientIDs",
        "IssuerOfPatientID",
        "AccessionNumber",
        "StudyID",
        "PatientBirthDate",
        "PatientAddress",
        "PatientTelephoneNumbers",
        "MedicalRecordLocator",
        "InstitutionName",
        "InstitutionAddress",
        "InstitutionalDepartmentName",
    }
)
LONG_NUMBER = re.compile(r"\d{6,}")
MIN_TOKEN = 3


@dataclass(frozen=True, slots=True)
class Profile:
    """The Basic Profile with ``options``, under the keyed ``mapping``."""

    mapping: KeyedMapping
    options: frozenset[Option] = frozenset()
    _actions: dict[int, Action | None] = field(default_factory=dict, compare=False, repr=False)

    def maps_unlisted_uid(self, tag: int) -> bool:
        """Whether a UI attribute the table does not name gets a new UID: an instance UID
        (not a class, a transfer syntax or a coding scheme), unless UIDs are retained."""
        if Option.RETAIN_UIDS in self.options:
            return False
        return not datadict.keyword_for_tag(tag).endswith(KEPT_UID_SUFFIXES)

    def action(self, tag: int) -> Action | None:
        """What happens to ``tag`` (None: not in the table), remembered per tag."""
        try:
            return self._actions[tag]
        except KeyError:
            row = load_table().row(tag)
            found = None if row is None else row.action(self.options)
            if found is Action.CLEAN and tag >> 24 == 0x60 and tag & 0xFFFF == OVERLAY_DATA:
                found = Action.REMOVE  # Clean Graphics keeps overlays only if text were read
            self._actions[tag] = found
            return found

    def deidentify(self, dataset: Dataset, *, originals: Dataset | None = None) -> None:
        """Replace ``dataset``'s identifying content (file meta included), then record how.

        ``originals``, when given, receives the original of every top-level attribute this
        changes or removes (a sequence whole when anything inside it changed): what an
        Encrypted Attributes Sequence keeps for re-identification.
        """
        before = _snapshot(dataset) if originals is not None else {}
        _Pass.of(self, dataset).walk(dataset)
        if getattr(dataset, "file_meta", None) is not None and "SOPInstanceUID" in dataset:
            dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
            for tag in (0x00020016, 0x00020017, 0x00020018):  # AE titles of the writer
                if tag in dataset.file_meta:
                    del dataset.file_meta[tag]
        self.record(dataset)
        if originals is not None:
            _changed(before, dataset, originals)

    def codes(self) -> list[tuple[str, str]]:
        """The CID 7050 codes of the profile and its options, in code order."""
        return [BASIC_PROFILE_CODE, *(OPTION_CODES[o] for o in sorted(self.options, key=_order))]

    def method(self) -> list[str]:
        """De-identification Method (0012,0063): the tool, then the profile and each option
        (one value each, as each fits the 64 characters of an LO)."""
        return [f"DICOM Courier {__version__}", *(meaning for _, meaning in self.codes())]

    def record(self, dataset: Dataset) -> None:
        """Add what was done: Patient Identity Removed, the method and its codes, and
        Longitudinal Temporal Information Modified."""
        if Option.RETAIN_LONGITUDINAL_FULL_DATES in self.options:
            temporal = "UNMODIFIED"
        elif Option.RETAIN_LONGITUDINAL_MODIFIED_DATES in self.options:
            temporal = "MODIFIED"
        else:
            temporal = "REMOVED"
        for tag, vr, value in (
            (0x00120062, "CS", "YES"),  # Patient Identity Removed
            (0x00120063, "LO", self.method()),
            (0x00120064, "SQ", Sequence([_code(*code) for code in self.codes()])),
            (0x00280303, "CS", temporal),  # Longitudinal Temporal Information Modified
        ):
            dataset[tag] = _new(BaseTag(tag), vr, value)


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

    def uids(self, value: object, *, unless_known: bool) -> object:
        """``value`` (one UID, several, or None) with each UID mapped; with ``unless_known``,
        UIDs the standard defines are kept."""
        mapping = self.profile.mapping

        def new(uid: str) -> str:
            return uid if not uid or (unless_known and uid in UID_dictionary) else mapping.uid(uid)

        if isinstance(value, MultiValue | list):
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
        if isinstance(value, MultiValue | list):
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


class _Pass(Values):
    """One data set's pass through the table."""

    @classmethod
    def of(cls, profile: Profile, top: Dataset) -> "_Pass":
        return cls(profile, str(top.get("PatientID", "")), _identifying_words(top))

    def walk(self, dataset: Dataset) -> None:
        """Apply the table to ``dataset``'s elements; those that need no value (removed,
        emptied, given a dummy, kept) are never decoded, which is most of the speed."""
        for tag in list(dataset.keys()):
            vr = _vr(dataset, tag)
            action = self.profile.action(tag)
            if action is None:
                self._unlisted(dataset, tag, vr)
            elif action is Action.CLEAN and tag.is_private:  # Retain Safe Private
                self._private(dataset, tag, vr)
            else:
                self._apply(dataset, tag, vr, action)

    def _unlisted(self, dataset: Dataset, tag: BaseTag, vr: str) -> None:
        """Attributes the table does not name are kept; their items and instance UIDs are not,
        nor the free text of a sequence an option keeps."""
        if vr == "SQ":
            self._items(dataset[tag])
        elif CLEANED_TEXT.get(tag) in self.profile.options:
            dataset[tag] = _new(tag, vr, self.clean(vr, dataset[tag].value))
        elif vr == "UI" and self.profile.maps_unlisted_uid(tag):
            dataset[tag] = _new(tag, vr, self.uids(_uid_value(dataset, tag), unless_known=True))

    def _apply(self, dataset: Dataset, tag: BaseTag, vr: str, action: Action) -> None:
        if action is Action.REMOVE:
            del dataset[tag]
        elif action is Action.EMPTY:
            dataset[tag] = _new(tag, vr, Sequence() if vr == "SQ" else None)
        elif action is Action.DUMMY:
            dataset[tag] = _new(tag, vr, self._dummy(dataset, tag, vr))
        elif vr == "SQ":  # kept, cleaned or re-identified: its items go through the table
            self._items(dataset[tag])
        elif action is Action.NEW_UID:
            dataset[tag] = _new(tag, vr, self.uids(_uid_value(dataset, tag), unless_known=False))
        elif action is Action.CLEAN:
            dataset[tag] = _new(tag, vr, self.clean(vr, dataset[tag].value))

    def _private(self, dataset: Dataset, tag: BaseTag, vr: str) -> None:
        """Keep a private attribute that Table E.3.10-1 lists as safe for its creator, and
        the reservations of creators listed in its group; remove any other."""
        group, element = tag.group, tag.element
        if 0x10 <= element <= 0xFF:
            keep = creator_is_listed(_text_of(dataset[tag].value), group)
        elif element >= 0x1000:
            creator = dataset.get(BaseTag(group << 16 | element >> 8))
            keep = creator is not None and is_safe(_text_of(creator.value), tag)
        else:
            keep = False
        if not keep:
            del dataset[tag]
        elif vr == "SQ":
            self._items(dataset[tag])
        elif vr == "UI" and Option.RETAIN_UIDS not in self.profile.options:  # as every UID
            dataset[tag] = _new(tag, vr, self.uids(_uid_value(dataset, tag), unless_known=True))

    def _items(self, element: DataElement) -> None:
        for item in element.value:
            self.walk(item)

    def _dummy(self, dataset: Dataset, tag: BaseTag, vr: str) -> object:
        if vr == "SQ":
            return Sequence([Dataset()])
        if vr == "UI":
            uids = self.uids(_uid_value(dataset, tag), unless_known=False)
            return uids or self.profile.mapping.uid("")
        return dummy_value(vr)


Snapshot = dict[BaseTag, tuple[DataElement | RawDataElement, DataElement | None]]


def _snapshot(dataset: Dataset) -> Snapshot:
    """Each top-level element as held now (raw or decoded: a replaced one is another object),
    and a copy of each sequence (their items change in place)."""
    return {
        tag: (
            dataset.get_item(tag),
            copy.deepcopy(dataset[tag]) if _vr(dataset, tag) == "SQ" else None,
        )
        for tag in list(dataset.keys())
    }


def _changed(before: Snapshot, dataset: Dataset, originals: Dataset) -> None:
    """Put in ``originals`` the original of each element of ``before`` that ``dataset`` no
    longer holds as it was."""
    for tag, (held, sequence) in before.items():
        now = dataset.get_item(tag) if tag in dataset else None
        if sequence is not None:
            if now is None or dataset[tag] != sequence:
                originals[tag] = sequence
        elif now is not held:
            decoded = held if isinstance(held, DataElement) else convert_raw_data_element(held)
            originals[tag] = decoded


def _vr(dataset: Dataset, tag: BaseTag) -> str:
    """The element's VR without decoding its value (from the dictionary in implicit VR)."""
    vr = dataset.get_item(tag).VR
    if vr is None:
        try:
            vr = datadict.dictionary_VR(tag)
        except KeyError:
            return "UN"
    return str(vr).split(" or ")[0]


def _uid_value(dataset: Dataset, tag: BaseTag) -> object:
    """A UI element's value, read from its raw bytes when it was not decoded yet (pydicom's
    conversion and validation cost more than the mapping)."""
    held = dataset.get_item(tag)
    if isinstance(held, RawDataElement) and isinstance(held.value, bytes):
        parts = held.value.decode("ascii", "replace").strip("\x00 ").split("\\")
        uids = [part.strip("\x00 ") for part in parts]
        return uids if len(uids) > 1 else uids[0] or None
    return dataset[tag].value


def _text_of(value: object) -> str:
    """A private creator's value as text (bytes when read as UN in implicit VR)."""
    return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)


def _new(tag: BaseTag, vr: str, value: object) -> DataElement:
    """A replacement element (our values are valid: not checked again)."""
    return DataElement(tag, vr, value, validation_mode=config.IGNORE)


def identifying(tag: int, vr: str) -> bool:
    """Whether a top-level attribute's words are cleaned out of text: names, IDs, dates of
    birth, addresses and institutions."""
    return tag in IDENTIFYING or vr == "PN"


def _identifying_words(dataset: Dataset) -> Iterable[str]:
    """The values of the top-level attributes that ``identifying`` names."""
    for tag in list(dataset.keys()):
        if not identifying(tag, _vr(dataset, tag)) or not dataset[tag].value:
            continue
        element = dataset[tag]
        for value in element.value if isinstance(element.value, MultiValue) else [element.value]:
            yield str(value)


def _tokens(words: Iterable[str]) -> Iterable[str]:
    for value in words:
        for token in re.split(r"[\^\s,=]+", value):
            if len(token) >= MIN_TOKEN:
                yield token


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item


def _order(option: Option) -> str:
    return OPTION_CODES[option][0]
