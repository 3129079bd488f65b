"""The Digital Signature Profiles of PS3.15 Annex C that DICOM Courier signs with.

Every signable element of the signed level is always signed, so what a profile adds is the
attributes that must be present, which elements must be signable, where it may be used and the
Digital Signature Purpose (CID 7007) that names it in the file.
"""

from dataclasses import dataclass
from enum import Enum

from desktop.core.errors import CourierError
from desktop.core.signatures.elements import Item, tag_name, tag_text
from desktop.core.signatures.mac import signable, signable_tag

UIDS = (0x00080016, 0x00080018, 0x0020000D, 0x0020000E)  # SOP Class/Instance, Study, Series


class ProfileError(CourierError):
    """The data cannot be signed under the chosen profile; the message names what is missing."""


class Profile(Enum):
    BASE = "base"
    CREATOR = "creator"
    AUTHORIZATION = "authorization"


@dataclass(frozen=True, slots=True)
class Purpose:
    code: str
    meaning: str


PURPOSES = {
    Profile.CREATOR: Purpose("14", "Source Signature"),
    Profile.AUTHORIZATION: Purpose("5", "Verification Signature"),
}
PROFILE_OF_PURPOSE = {p.code: profile for profile, p in PURPOSES.items()}
TITLES = {
    Profile.BASE: "Base RSA (PS3.15 C.1)",
    Profile.CREATOR: "Creator RSA (PS3.15 C.2)",
    Profile.AUTHORIZATION: "Authorization RSA (PS3.15 C.3)",
}


def check(profile: Profile, level: Item, *, nested: bool) -> None:
    """Raise ProfileError unless ``level`` can be signed under ``profile``."""
    if not any(signable(e) for e in level.elements):
        raise ProfileError("nothing to sign: the data set has no signable element")
    if profile is Profile.BASE:
        return
    if nested:
        raise ProfileError(
            f"the {TITLES[profile]} profile signs the main data set only, not an item"
        )
    present = {e.tag for e in level.elements}
    for tag in UIDS:
        if tag not in present:
            raise ProfileError(
                f"the {TITLES[profile]} profile requires {tag_name(tag)} {tag_text(tag)}, "
                "which this instance does not have"
            )
    for element in level.elements:
        if signable_tag(element.tag) and not signable(element) and not (element.tag >> 16) & 1:
            raise ProfileError(
                f"the {TITLES[profile]} profile must sign {tag_name(element.tag)} "
                f"{tag_text(element.tag)}, but it holds a value of unknown representation (UN): "
                "re-encode the file with its real value representations first"
            )


def profile_of(purpose_code: str) -> Profile:
    """The profile a signature's purpose names; "base" when it names none."""
    if purpose_code in PROFILE_OF_PURPOSE:
        return PROFILE_OF_PURPOSE[purpose_code]
    return Profile.BASE
