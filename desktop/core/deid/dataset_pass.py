"""The profile applied to a pydicom data set in place (``Profile.deidentify``): files the
bytes path (``raw``) leaves to it, copies whose pixels are cleaned, and copies that keep the
original values for their recipient (``originals``)."""

import copy
from collections.abc import Iterable

from pydicom import config, datadict
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from desktop.core.deid.profile import CLEANED_TEXT, Profile, Values, identifying
from desktop.core.deid.safe_private import creator_is_listed, is_safe
from desktop.core.deid.signs import BURNED_IN
from desktop.core.deid.table import Action, Option


def deidentify_dataset(profile: Profile, dataset: Dataset, originals: Dataset | None) -> None:
    """``Profile.deidentify``."""
    before = _snapshot(dataset) if originals is not None else {}
    _Pass.of(profile, dataset).walk(dataset)
    if getattr(dataset, "file_meta", None) is not None and "SOPInstanceUID" in dataset:
        dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
        for tag in (0x00020016, 0x00020017, 0x00020018):  # AE titles of the writer
            if tag in dataset.file_meta:
                del dataset.file_meta[tag]
    _record(profile, dataset)
    if originals is not None:
        _changed(before, dataset, originals)


def _record(profile: Profile, dataset: Dataset) -> None:
    """Add what was done: Patient Identity Removed, the method and its codes, and
    Longitudinal Temporal Information Modified; Burned In Annotation YES when the pixels may
    show text and were not searched."""
    unsearched = [(BURNED_IN, "CS", "YES")] if profile.pixels_unsearched else []
    for tag, vr, value in (
        (0x00120062, "CS", "YES"),  # Patient Identity Removed
        (0x00120063, "LO", profile.method()),
        (0x00120064, "SQ", Sequence([_code(*code) for code in profile.codes()])),
        *unsearched,
        (0x00280303, "CS", profile.temporal()),  # Longitudinal Temporal Information Modified
    ):
        dataset[tag] = _new(BaseTag(tag), vr, value)


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
        return self.dummy(int(tag), vr, dataset[tag].value)


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


def _identifying_words(dataset: Dataset) -> Iterable[str]:
    """The values of the top-level attributes that ``identifying`` names."""
    for tag in list(dataset.keys()):
        if not identifying(tag, _vr(dataset, tag)) or not dataset[tag].value:
            continue
        element = dataset[tag]
        for value in element.value if isinstance(element.value, MultiValue) else [element.value]:
            yield str(value)


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item
