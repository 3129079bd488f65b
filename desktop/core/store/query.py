"""An identifier checked against the information model, turned into SQL plus Python matching,
and the response identifiers built from the matching rows.

UIDs narrow the rows in SQL (their index); every other key is matched in Python
(``matching``), so no request value is ever read as an SQL pattern.
"""

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from pydicom import Dataset
from pydicom.charset import convert_encodings, encode_string, python_encoding
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag

from desktop.core.archive import InvalidQueryError, Level, Model
from desktop.core.store import matching
from desktop.core.store.keys import (
    BY_KEYWORD,
    BY_TAG,
    DATE_TIME_PAIRS,
    INSTANCE_AVAILABILITY,
    LEVELS,
    MODEL_LEVELS,
    MODEL_NAMES,
    PROVIDER_KEYS,
    QUERY_RETRIEVE_LEVEL,
    SPECIFIC_CHARACTER_SET,
    UNIQUE,
    Key,
)

ALIAS: dict[str, str] = {"PATIENT": "p", "STUDY": "st", "SERIES": "se", "IMAGE": "i"}
FROM: dict[str, str] = {
    "PATIENT": "patients p",
    "STUDY": "studies st JOIN patients p ON st.patient = p.id",
    "SERIES": "series se JOIN studies st ON se.study = st.id JOIN patients p ON st.patient = p.id",
    "IMAGE": "instances i JOIN series se ON i.series = se.id "
    "JOIN studies st ON se.study = st.id JOIN patients p ON st.patient = p.id",
}
_INSTANCES_OF_STUDY = "instances i2 JOIN series s2 ON i2.series = s2.id WHERE s2.study = st.id"
COMPUTED: dict[str, str] = {
    "NumberOfPatientRelatedStudies": "(SELECT count(*) FROM studies WHERE patient = p.id)",
    "NumberOfPatientRelatedSeries": "(SELECT count(*) FROM series s2 JOIN studies t2 "
    "ON s2.study = t2.id WHERE t2.patient = p.id)",
    "NumberOfPatientRelatedInstances": '(SELECT count(DISTINCT i2."SOPInstanceUID") '
    "FROM instances i2 JOIN series s2 ON i2.series = s2.id JOIN studies t2 "
    "ON s2.study = t2.id WHERE t2.patient = p.id)",
    "NumberOfStudyRelatedSeries": "(SELECT count(*) FROM series WHERE study = st.id)",
    "NumberOfStudyRelatedInstances": '(SELECT count(DISTINCT i2."SOPInstanceUID") FROM '
    + _INSTANCES_OF_STUDY
    + ")",
    "ModalitiesInStudy": "(SELECT replace(group_concat(DISTINCT \"Modality\"), ',', '\\') "
    "FROM series WHERE study = st.id AND \"Modality\" != '')",
    "SOPClassesInStudy": "(SELECT replace(group_concat(DISTINCT i2.\"SOPClassUID\"), ',', '\\') "
    "FROM " + _INSTANCES_OF_STUDY + ")",
    "NumberOfSeriesRelatedInstances": '(SELECT count(DISTINCT "SOPInstanceUID") '
    "FROM instances WHERE series = se.id)",
}
#: The keys that choose one patient when a retrieve's UID is held for several.
PATIENT_CHOICE = ("PatientID", "IssuerOfPatientID")
MAX_SQL_UIDS = 500  # longer UID lists are matched in Python (SQLite's parameter limit)
ENCODED_VRS = frozenset({"PN", "LO", "SH", "ST", "LT", "UT", "UC"})
UTF8 = "ISO_IR 192"
DEFAULT_CODEC = "iso8859"  # pydicom's codec of the default repertoire (its ASCII is Latin-1's)
BINARY = {"US": "<H", "UL": "<L", "SS": "<h", "SL": "<l"}


@dataclass(slots=True)
class Query:
    """A checked identifier: what to select, how to narrow and match, what to return."""

    model: Model
    level: Level
    keys: list[Key]  # selected columns, in order: returned ones and matched ones
    returned: list[Key]
    where: list[str] = field(default_factory=list)
    parameters: list[str] = field(default_factory=list)
    tests: list[tuple[tuple[int, ...], Callable[..., bool]]] = field(default_factory=list)
    character_sets: list[str] = field(default_factory=list)
    extras: dict[int, str] = field(default_factory=dict)  # provider keys asked for

    def sql(self) -> str:
        """The SELECT of the keys' columns at this level, with the SQL conditions."""
        columns = ", ".join(_expression(k) for k in self.keys)
        where = list(self.where)
        if self.level == "IMAGE":
            where.insert(0, "i.kept_beside = 0")
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        return f"SELECT {columns} FROM {FROM[self.level]}{clause}"

    def matches(self, row: tuple[str, ...]) -> bool:
        """Whether a row (every column text) matches every key given with a value."""
        return all(test(*[row[i] for i in columns]) for columns, test in self.tests)

    def responses(self, rows: list[tuple[str, ...]]) -> Iterator[Dataset]:
        positions = [(k, self.keys.index(k)) for k in self.returned]
        for row in rows:
            if self.matches(row):
                yield self._response([(k, row[i]) for k, i in positions])

    def _response(self, values: list[tuple[Key, str]]) -> Dataset:
        """A response identifier of raw elements, encoded in its character set (a tenth of
        the cost of pydicom's element objects; pydicom decodes them when they are read)."""
        texts = [v for k, v in values if k.vr in ENCODED_VRS and not v.isascii()]
        terms = tuple(_response_character_sets(self.character_sets, texts))
        elements = [
            (SPECIFIC_CHARACTER_SET, "CS", "\\".join(terms)),
            (QUERY_RETRIEVE_LEVEL, "CS", self.level),
            *((tag, PROVIDER_KEYS[tag], value) for tag, value in self.extras.items()),
            *((k.tag, k.vr, v) for k, v in values),
        ]
        return Dataset({BaseTag(tag): _raw(tag, vr, value, terms) for tag, vr, value in elements})


def parse(model: Model, level: Level, identifier: Dataset) -> Query:
    """Check ``identifier`` for a C-FIND at ``level`` of ``model``; InvalidQueryError names the
    key that cannot be answered and why. A key this archive does not index (an optional key,
    PS3.4 C.2.2.1.3) is left out of matching and of the responses; the provider answers
    0xFF01 for it."""
    _levels(model, level)
    query = Query(model, level, [], [], character_sets=_character_sets(identifier))
    given: dict[str, str] = {}
    for element in identifier:
        tag = int(element.tag)
        if tag & 0xFFFF == 0 or tag >> 16 <= 2:  # group lengths, command or file meta
            continue
        if tag in PROVIDER_KEYS:
            _provider_key(query, tag, element)
            continue
        key = BY_TAG.get(tag)
        if key is None:  # an optional key we do not support: not matched, not returned
            continue
        key_level = key.level_in(model)
        if LEVELS.index(key_level) > LEVELS.index(level):
            raise InvalidQueryError(
                f"{key.keyword} is a {key_level.lower()}-level key, below this "
                f"{level.lower()}-level query"
            )
        given[key.keyword] = _value(element)
    unique = BY_KEYWORD[UNIQUE[level]]
    query.returned = [BY_KEYWORD[k] for k in given]
    if unique.keyword not in given:
        query.returned.append(unique)
    query.keys = list(query.returned)
    _conditions(query, given)
    return query


def retrieval(model: Model, level: Level, identifier: Dataset) -> tuple[str, list[str]]:
    """The SQL selecting the files of a C-MOVE/C-GET of ``identifier``: unique keys, and the
    patient's keys when given (in Study Root too: they choose among the patients a UID is held
    for). Each row: the path, the patient's row id, Patient ID and issuer, the Study Instance
    UID and the requested level's UID."""
    _levels(model, level)
    where, parameters = ["i.kept_beside = 0"], []
    keys = [UNIQUE[upper] for upper in MODEL_LEVELS[model][: MODEL_LEVELS[model].index(level) + 1]]
    for keyword in (*keys, *(k for k in PATIENT_CHOICE if k not in keys)):
        key = BY_KEYWORD[keyword]
        element = identifier.get(key.tag)
        value = "" if element is None else _value(element).strip(" \0")
        if not value:
            if keyword == UNIQUE[level]:
                raise InvalidQueryError(
                    f"a retrieve at the {level.lower()} level needs {key.keyword}"
                )
            continue
        if "*" in value or "?" in value:
            raise InvalidQueryError(f"{key.keyword}: a retrieve takes no wildcards")
        column = f'{ALIAS[key.level]}."{key.keyword}"'
        if key.vr == "UI":
            uids = sorted(_uids(key, value))
            where.append(f"{column} IN ({', '.join('?' for _ in uids)})")
            parameters += uids
        else:
            where.append(f"{column} = ?")
            parameters.append(value)
    selected = 'i.path, p.id, p."PatientID", p."IssuerOfPatientID", st."StudyInstanceUID", '
    selected += f'{ALIAS[level]}."{UNIQUE[level]}"'
    sql = f"SELECT {selected} FROM {FROM['IMAGE']} WHERE {' AND '.join(where)} ORDER BY i.id"
    return sql, parameters


def _levels(model: Model, level: Level) -> tuple[Level, ...]:
    levels = MODEL_LEVELS.get(model)
    if levels is None:
        raise InvalidQueryError(f"unknown information model {model!r}")
    if level not in levels:
        raise InvalidQueryError(
            f"the {MODEL_NAMES[model]} information model has no {level!r} level "
            f"(it has {', '.join(levels)})"
        )
    return levels


def _conditions(query: Query, given: dict[str, str]) -> None:
    """Add the SQL narrowing and Python tests of the keys given with values."""
    combined: set[str] = set()
    for date, time in DATE_TIME_PAIRS.items():
        if "-" in given.get(date, "") and "-" in given.get(time, ""):
            try:
                pair = matching.date_time_matcher(given[date].strip(), given[time].strip())
            except ValueError as error:
                raise InvalidQueryError(f"{date} and {time}: {error}") from None
            query.tests.append(((_column(query, date), _column(query, time)), pair))
            combined |= {date, time}
    for keyword, value in given.items():
        if keyword in combined:
            continue
        key = BY_KEYWORD[keyword]
        try:
            test = matching.matcher(key.vr, value)
        except ValueError as error:
            raise InvalidQueryError(f"{keyword}: {error}") from None
        if test is None:
            continue
        if key.vr == "UI" and not key.computed:
            uids = _uids(key, value)
            if len(uids) <= MAX_SQL_UIDS:
                query.where.append(
                    f'{ALIAS[key.level]}."{keyword}" IN ({", ".join("?" for _ in uids)})'
                )
                query.parameters += sorted(uids)
                continue
        query.tests.append(((_column(query, keyword),), test))


def _column(query: Query, keyword: str) -> int:
    key = BY_KEYWORD[keyword]
    if key not in query.keys:
        query.keys.append(key)
    return query.keys.index(key)


def _uids(key: Key, value: str) -> set[str]:
    try:
        matching.matcher("UI", value)
    except ValueError as error:
        raise InvalidQueryError(f"{key.keyword}: {error}") from None
    return {u.strip(" \0") for u in value.split("\\")} - {""}


def _expression(key: Key) -> str:
    if key.computed:  # as text, as the stored columns are
        return f"coalesce(CAST({COMPUTED[key.keyword]} AS TEXT), '')"
    return f'{ALIAS[key.level]}."{key.keyword}"'


def _provider_key(query: Query, tag: int, element: DataElement) -> None:
    if tag == QUERY_RETRIEVE_LEVEL:
        asked = _value(element).strip()
        if asked and asked != query.level:
            raise InvalidQueryError(
                f"QueryRetrieveLevel says {asked!r} but the query is at the {query.level} level"
            )
    elif tag == INSTANCE_AVAILABILITY:
        query.extras[tag] = "ONLINE"
    elif tag != SPECIFIC_CHARACTER_SET:
        query.extras[tag] = ""  # the provider fills Retrieve AE Title and the offset


def _character_sets(identifier: Dataset) -> list[str]:
    element = identifier.get(SPECIFIC_CHARACTER_SET)
    value = None if element is None else element.value
    if not value:  # absent or zero length: the default repertoire
        return []
    terms = [str(v or "").strip() for v in (value if isinstance(value, MultiValue) else [value])]
    for term in terms:
        if term not in python_encoding and term != "":
            raise InvalidQueryError(
                f"SpecificCharacterSet: {term[:64]!r} is not a character set of DICOM PS3.3 "
                "C.12.1.1.2"
            )
    return terms if any(terms) else []


def _response_character_sets(asked: list[str], texts: list[str]) -> list[str]:
    """The query's character set when it can encode the response's text, else UTF-8."""
    if not texts:
        return asked
    if len(asked) == 1:
        codec = python_encoding[asked[0]]
        try:
            for text in texts:
                text.encode(codec)
            return asked
        except UnicodeEncodeError:
            pass
    return [UTF8]


@lru_cache(maxsize=64)
def _codecs(terms: tuple[str, ...]) -> list[str]:
    return convert_encodings(list(terms)) if terms else [DEFAULT_CODEC]


def _value(element: DataElement) -> str:
    """An identifier's value as text, decoded with the identifier's character set."""
    try:
        value = element.value
    except (ValueError, LookupError) as error:
        raise InvalidQueryError(f"{_name(element)}: the value cannot be read ({error})") from None
    if element.VR == "SQ":
        raise InvalidQueryError(f"{_name(element)}: sequence matching is not supported")
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(v) for v in value)
    return str(value)


def _name(element: DataElement) -> str:
    return element.keyword or f"({element.tag.group:04X},{element.tag.element:04X})"


@lru_cache(maxsize=4096)  # levels, classes, modalities, names repeat from response to response
def _raw(tag: int, vr: str, value: str, terms: tuple[str, ...]) -> RawDataElement:
    """``value`` encoded in the character set ``terms`` as an implicit VR little endian
    element, padded to even length (immutable: responses may share it)."""
    data = b""
    if value and vr in BINARY:
        try:
            data = struct.pack(BINARY[vr], int(value))
        except (ValueError, struct.error):  # a stored value that is not a number: none
            data = b""
    elif value:
        data = (
            encode_string(value, _codecs(terms))
            if vr in ENCODED_VRS
            else value.encode("ascii", "replace")
        )
    if len(data) % 2:
        data += b"\0" if vr == "UI" else b" "
    return RawDataElement(BaseTag(tag), vr, len(data), data, 0, True, True)
