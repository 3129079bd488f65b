"""Reading attribute values: straight from raw element bytes (fast), or from a pydicom Dataset.

A media scan reads some twenty values from each of thousands of files and DICOMDIR records.
Going through pydicom's Dataset costs ~200 µs per record in attribute lookups and element
objects; ``RawValues`` decodes just the bytes asked for, with pydicom's character set support.
pydicom is imported only when a value needs it (an implicit VR, non-ASCII or ISO 2022 text):
plain ASCII reads the same in every character set, and a ``send`` skips pydicom's 0.4 s import.
"""

import struct
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

SPECIFIC_CHARACTER_SET = 0x00080005
ENCODED_TEXT_VRS = frozenset({"PN", "LO", "SH", "ST", "LT", "UT", "UC"})
BINARY_INTEGERS = {"US": "H", "UL": "L", "SS": "h", "SL": "l", "UV": "Q", "SV": "q"}
DEFAULT_ENCODING = "iso8859"  # pydicom's name for ISO-IR 100 (Latin-1)
TEXT_DELIMITERS = {0x5C, 0x3D}  # backslash and '=' keep their meaning in ISO 2022 text

RawElement = tuple[str | None, bytes]


class Values(Protocol):
    """Attribute values by tag: text ('' when absent) and integers (None when absent)."""

    def text(self, tag: int) -> str: ...

    def integer(self, tag: int) -> int | None: ...

    def __contains__(self, tag: int) -> bool: ...


@lru_cache(maxsize=512)
def _dictionary_vr(tag: int) -> str:
    from pydicom.datadict import dictionary_VR

    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"


class RawValues:
    """Values decoded on demand from raw element bytes of one data set or directory record."""

    __slots__ = ("_elements", "_encodings", "_little", "notes")

    def __init__(self, elements: dict[int, RawElement], little: bool) -> None:
        self._elements = elements
        self._little = little
        self._encodings: list[str] | None = None
        self.notes: list[str] = []  # what could not be read as declared (a character set ...)

    def __contains__(self, tag: int) -> bool:
        return tag in self._elements

    def text(self, tag: int) -> str:
        """The element's value as text (decoded in the data set's character set, numbers of
        binary VRs as digits); "" when absent."""
        element = self._elements.get(tag)
        if element is None:
            return ""
        vr, value = element[0] or _dictionary_vr(tag), element[1]
        if vr in BINARY_INTEGERS:
            number = self.integer(tag)
            return "" if number is None else str(number)
        if vr in ENCODED_TEXT_VRS and tag != SPECIFIC_CHARACTER_SET and _needs_charset(value):
            return self._decoded(value).strip(" \0")
        return value.decode("ascii", "replace").strip(" \0")

    def _decoded(self, value: bytes) -> str:
        """Text in the declared character sets; what cannot be decoded is noted, not warned."""
        encodings = self._character_sets()
        if b"\x1b" in value:
            from pydicom.charset import decode_bytes

            return decode_bytes(value, encodings, TEXT_DELIMITERS)
        try:
            return value.decode(encodings[0])
        except UnicodeDecodeError:
            self._note(
                f"text that is not valid {_charset_name(encodings[0])} "
                "(shown with replacement characters)"
            )
            return value.decode(encodings[0], "replace")

    def _note(self, note: str) -> None:
        if note not in self.notes:
            self.notes.append(note)

    def with_raw(self, tag: int, value: bytes) -> "RawValues":
        """A copy with ``tag``'s value bytes set to ``value`` (its dictionary VR)."""
        copy = RawValues({**self._elements, tag: (None, value)}, self._little)
        copy._encodings = self._encodings
        return copy

    def raw(self, tag: int) -> bytes | None:
        """The value's bytes as they are in the file (None when absent)."""
        element = self._elements.get(tag)
        return None if element is None else element[1]

    def integer(self, tag: int) -> int | None:
        """The element's (first) value as a number, binary or text; None when absent or not
        a number."""
        element = self._elements.get(tag)
        if element is None:
            return None
        vr, value = element[0] or _dictionary_vr(tag), element[1]
        code = BINARY_INTEGERS.get(vr)
        try:
            if code is not None:
                return int(struct.unpack_from(("<" if self._little else ">") + code, value)[0])
            first = value.decode("ascii", "replace").split("\\")[0].strip(" \0")
            return int(first) if first else None
        except (struct.error, ValueError):
            return None

    def _character_sets(self) -> list[str]:
        """The Python codecs of the Specific Character Set (see ``python_encodings``).

        Read straight from its bytes: decoding it as text would need the character set itself.
        """
        if self._encodings is None:
            _, value = self._elements.get(SPECIFIC_CHARACTER_SET, (None, b""))
            declared = [d.strip(" \0") for d in value.decode("ascii", "replace").split("\\")]
            self._encodings, note = python_encodings(declared)
            if note:
                self._note(note)
        return self._encodings


def python_encodings(declared: list[str]) -> tuple[list[str], str]:
    """The Python codecs of Specific Character Set terms, and what was wrong with them ('' if
    nothing): an unknown first term reads as Latin-1 (ISO_IR 100), other unknown terms and
    extensions of a character set that allows none are left out. pydicom would say the same
    as a Python warning, raw on a user's terminal."""
    from pydicom.charset import STAND_ALONE_ENCODINGS, python_encoding

    terms = declared[:] or [""]
    terms[0] = terms[0] or "ISO_IR 6"
    unknown = [term for term in terms if term not in python_encoding]
    first = python_encoding.get(terms[0], DEFAULT_ENCODING)
    if terms[0] in STAND_ALONE_ENCODINGS:
        extensions: list[str] = []
        ignored = terms[1:]
    else:
        extensions = [
            t for t in terms[1:] if t in python_encoding and t not in STAND_ALONE_ENCODINGS
        ]
        ignored = [t for t in terms[1:] if t not in extensions and t not in unknown]
    notes = []
    if unknown:
        notes.append(
            f"unknown Specific Character Set {', '.join(map(repr, unknown))}"
            + ("; its text is read as Latin-1 (ISO_IR 100)" if terms[0] in unknown else "")
        )
    if ignored:
        notes.append(
            f"Specific Character Set {terms[0]!r} cannot be combined with "
            f"{', '.join(map(repr, ignored))}, which is ignored"
        )
    return [first, *(python_encoding[t] for t in extensions)], "; ".join(notes)


def _charset_name(encoding: str) -> str:
    """A Python codec's DICOM term, for a message ('ISO_IR 192' for 'UTF8')."""
    from pydicom.charset import python_encoding

    return next((term for term, codec in python_encoding.items() if codec == encoding), encoding)


def _needs_charset(value: bytes) -> bool:
    """Plain ASCII without ISO 2022 escapes reads the same in every DICOM character set."""
    return not value.isascii() or b"\x1b" in value


def text_value(dataset: "Dataset", keyword: str) -> str:
    """The value as display text ('' when absent or not decodable); multi-values joined by '\\'."""
    from pydicom.multival import MultiValue

    try:
        value = dataset.get(keyword)
    except (ValueError, TypeError, LookupError):
        return ""
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def integer_value(dataset: "Dataset", keyword: str) -> int | None:
    """The value as an integer, or None when absent or malformed."""
    try:
        value = dataset.get(keyword)
        return None if value in (None, "") else int(value)
    except (ValueError, TypeError, LookupError, OverflowError):
        return None
