"""C-FIND attribute matching (PS3.4 C.2.2.2), one key value at a time, in plain Python.

``matcher`` compiles a key's value from an identifier into a predicate over stored values
(None for universal matching); ``date_time_matcher`` combines a date and a time range
(C.2.2.2.5.1). A value that cannot be a key of its VR raises ValueError with the reason; the
caller names the key. Matching never goes through SQL patterns, so ``%`` and ``_`` are plain
characters.
"""

import re
from collections.abc import Callable

Matcher = Callable[[str], bool]

#: VRs whose values never take wildcards (C.2.2.2.4) and compare as numbers.
NUMERIC_VRS = frozenset({"IS", "DS", "US", "UL", "SS", "SL", "UV", "SV", "FL", "FD"})
RANGE_VRS = frozenset({"DA", "TM", "DT"})
NO_WILDCARD_VRS = NUMERIC_VRS | RANGE_VRS | frozenset({"UI", "AS", "AT", "OB", "OW", "UN"})
#: VRs where a backslash is text, not a value separator.
SINGLE_VALUED_VRS = frozenset({"LT", "ST", "UT"})
UID = re.compile(r"[0-9]+(\.[0-9]+)*")
DATE = re.compile(r"[0-9]{8}")
TIME = re.compile(r"([0-9]{2})([0-9]{2})?([0-9]{2})?(\.[0-9]{1,6})?")
DATE_TIME = re.compile(r"[0-9]{4}([0-9]{2}){0,5}(\.[0-9]{1,6})?")


def values_of(stored: str, vr: str) -> list[str]:
    """The values of a stored attribute (multi-valued ones split at backslashes)."""
    if vr in SINGLE_VALUED_VRS:
        return [stored]
    return [value.strip(" ") for value in stored.split("\\")]


def matcher(vr: str, value: str) -> Matcher | None:
    """The predicate of a key's value in a request, or None for universal matching."""
    value = value.strip(" \0")
    if value in ("", "*"):  # "*" alone matches everything, as zero length does
        return None
    if vr == "UI":
        return _uid_list(value)
    queried = [value] if vr in SINGLE_VALUED_VRS else [v.strip(" ") for v in value.split("\\")]
    tests = [_one(vr, v) for v in queried if v]
    if not tests:
        return None
    if len(tests) == 1:
        single = tests[0]
        if vr in SINGLE_VALUED_VRS:
            return single
        return lambda stored: (
            any(single(v) for v in values_of(stored, vr)) if "\\" in stored else single(stored)
        )
    return lambda stored: any(test(v) for v in values_of(stored, vr) for test in tests)


def date_time_matcher(date: str, time: str) -> Callable[[str, str], bool]:
    """A date range and a time range matched together as one date-time range."""
    date_start, date_end = _bounds(date, "DA")
    time_start, time_end = _bounds(time, "TM")
    start = date_start + (time_start or _time_key("00"))
    end = date_end + time_end

    def test(stored_date: str, stored_time: str) -> bool:
        if not DATE.fullmatch(stored_date):
            return False
        clock = _time_key(stored_time) if TIME.fullmatch(_plain_time(stored_time)) else None
        return start <= stored_date + (clock or _time_key("00")) <= end

    return test


def _uid_list(value: str) -> Matcher:
    uids = {u.strip(" \0") for u in value.split("\\")} - {""}
    for uid in uids:
        if "*" in uid or "?" in uid:
            raise ValueError(f"a UID cannot hold wildcards ({uid!r})")
        if not UID.fullmatch(uid) or len(uid) > 64:
            raise ValueError(f"{uid[:80]!r} is not a UID")
    return uids.__contains__


def _one(vr: str, value: str) -> Matcher:
    if vr in RANGE_VRS:
        return _range(vr, value)
    if "*" in value or "?" in value:
        if vr in NO_WILDCARD_VRS:
            raise ValueError(f"wildcards are not allowed in a {vr} value ({value[:80]!r})")
        return _wildcard(value, fold=vr == "PN")
    if vr in NUMERIC_VRS:
        return _number(value)
    if vr == "PN":
        return _person_name(value)
    return value.__eq__


def _wildcard(value: str, *, fold: bool) -> Matcher:
    """``*`` and ``?`` matching without backtracking: the pieces between stars are found left
    to right (the leftmost place is always the best), so a hostile pattern costs at most
    pieces × length, never an exponential regular expression search."""
    flags = re.DOTALL | (re.IGNORECASE if fold else 0)
    pieces = value.split("*")
    compiled = [
        re.compile("".join("." if c == "?" else re.escape(c) for c in piece), flags)
        for piece in pieces
    ]
    if len(compiled) == 1:  # "?" only
        whole = compiled[0]
        return _each_form(lambda stored: whole.fullmatch(stored) is not None, person=fold)
    first, *middle, last = compiled
    tail = len(pieces[-1])

    def test(stored: str) -> bool:
        head = first.match(stored)
        if head is None:
            return False
        position = head.end()
        for piece in middle:
            found = piece.search(stored, position)
            if found is None:
                return False
            position = found.end()
        return len(stored) - tail >= position and bool(last.fullmatch(stored, len(stored) - tail))

    return _each_form(test, person=fold)


def _person_name(value: str) -> Matcher:
    wanted = value.casefold()
    return _each_form(lambda stored: stored.casefold() == wanted, person=True)


def _each_form(test: Matcher, *, person: bool) -> Matcher:
    """``test`` of a person name as a whole or of any of its component groups (alphabetic,
    ideographic, phonetic): a request may give any of them. Other values: as they are."""
    if not person:
        return test

    def each(stored: str) -> bool:
        if test(stored):
            return True
        return "=" in stored and any(test(group) for group in stored.split("="))

    return each


def _number(value: str) -> Matcher:
    try:
        wanted = float(value)
    except ValueError:
        raise ValueError(f"{value[:80]!r} is not a number") from None

    def test(stored: str) -> bool:
        try:
            return float(stored) == wanted
        except ValueError:
            return False

    return test


def _range(vr: str, value: str) -> Matcher:
    start, end = _bounds(value, vr)
    key = _KEYS[vr]

    def test(stored: str) -> bool:
        try:
            return start <= key(stored) <= end
        except ValueError:  # a stored value that is not a date/time matches no range
            return False

    return test


def _bounds(value: str, vr: str) -> tuple[str, str]:
    """The inclusive start and end keys of a range or single value ('' when unbounded)."""
    if not value:
        return "", ""
    key = _KEYS[vr]
    if "-" in value:
        first, _, last = value.partition("-")
        if "-" in last:
            raise ValueError(f"{value[:80]!r} is not a {vr} range (two '-')")
        if not first and not last:
            raise ValueError(f"'-' alone is not a {vr} range")
    else:
        first = last = value
    try:
        return (key(first) if first else "", _end_key(vr, last) if last else "\uffff")
    except ValueError as error:
        raise ValueError(f"{value[:80]!r} is not a {vr} value or range: {error}") from None


def _date_key(value: str) -> str:
    if len(value) == 8 and value.isdigit():  # the usual case, without a regular expression
        return value
    value = value.replace(".", "") if len(value) == 10 else value  # ACR-NEMA YYYY.MM.DD
    if not DATE.fullmatch(value):
        raise ValueError("a date is YYYYMMDD")
    return value


def _plain_time(value: str) -> str:
    return value.replace(":", "").strip()  # ACR-NEMA HH:MM:SS


def _time_key(value: str, *, end: bool = False) -> str:
    """A time as HHMMSS.ffffff, missing parts filled with their first (or last) value."""
    found = TIME.fullmatch(_plain_time(value))
    if not found:
        raise ValueError("a time is HH[MM[SS[.ffffff]]]")
    hours, minutes, seconds, fraction = found.groups()
    filler = "59" if end else "00"
    digits = (fraction or ".")[1:].ljust(6, "9" if end else "0")
    return f"{hours}{minutes or filler}{seconds or filler}.{digits}"


def _date_time_key(value: str, *, end: bool = False) -> str:
    """A date-time as YYYYMMDDHHMMSS.ffffff (its UTC offset ignored), parts filled in."""
    plain = re.sub(r"[+-][0-9]{4}$", "", value.strip()) if len(value) > 5 else value
    if not DATE_TIME.fullmatch(plain):
        raise ValueError("a date-time is YYYY[MM[DD[HH[MM[SS[.ffffff]]]]]]")
    whole, _, fraction = plain.partition(".")
    template = "99991231235959" if end else "00000101000000"
    filled = whole + template[len(whole) :]
    return f"{filled}.{fraction.ljust(6, '9' if end else '0')}"


def _end_key(vr: str, value: str) -> str:
    if vr == "TM":
        return _time_key(value, end=True)
    if vr == "DT":
        return _date_time_key(value, end=True)
    return _date_key(value)


_KEYS: dict[str, Callable[[str], str]] = {
    "DA": _date_key,
    "TM": _time_key,
    "DT": _date_time_key,
}
