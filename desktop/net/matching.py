"""Query and retrieve keys checked before anything is sent: a key must be matchable (no
binary or sequence attribute) and its value must fit its VR (PS3.5 6.2, PS3.4 C.2.2.2).

``problem`` returns the complaint in plain words, or '' when the key may be sent.
"""

import re
from datetime import datetime

from pydicom.datadict import dictionary_VR, tag_for_keyword

from desktop.core.uids import is_uid

MAX_LENGTH = {  # characters per value (PN: per component group)
    "AE": 16,
    "AS": 4,
    "CS": 16,
    "DS": 16,
    "IS": 12,
    "LO": 64,
    "PN": 64,
    "SH": 16,
    "ST": 1024,
    "LT": 10240,
    "UI": 64,
}
NUMBERS = frozenset({"US", "SS", "UL", "SL", "UV", "SV", "FL", "FD", "DS", "IS"})
TEXT = frozenset({"AE", "AS", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
DATES = {  # VR: what it is in words, and the layouts by number of digits before any fraction
    "DA": ("a date YYYYMMDD", {8: "%Y%m%d"}),
    "TM": ("a time HHMMSS (HH, HHMM, HHMMSS.FFFFFF)", {2: "%H", 4: "%H%M", 6: "%H%M%S"}),
    "DT": (
        "a date and time YYYYMMDDHHMMSS (or a leading part of it)",
        {4: "%Y", 6: "%Y%m", 8: "%Y%m%d", 10: "%Y%m%d%H", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"},
    ),
}
FRACTION = re.compile(r"\.[0-9]{1,6}")
WILDCARDS = frozenset("*?")


def problem(keyword: str, value: str) -> str:
    """Why ``keyword=value`` cannot be a matching or return key ('' when it can)."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        return ""  # unknown keywords are the caller's (with the nearest one)
    vr = dictionary_VR(tag)
    if vr == "SQ":
        return "" if not value else f"{keyword} is a sequence: it cannot be a query key"
    if vr not in MAX_LENGTH and vr not in NUMBERS and vr not in TEXT and vr not in DATES:
        return f"{keyword} cannot be a query key (its value is binary, VR {vr})"
    if any(ord(c) < 0x20 for c in value):
        return f"{keyword} holds a control character"
    if vr in DATES:
        return _date_problem(keyword, vr, value)
    if vr == "UI":
        return _uid_problem(keyword, value)
    for single in value.split("\\") if vr not in ("LT", "ST", "UT") else [value]:
        limit = MAX_LENGTH.get(vr)
        longest = max(len(p) for p in single.split("=")) if vr == "PN" else len(single)
        if limit is not None and longest > limit:
            return f"{keyword} is at most {limit} characters (VR {vr}), not {longest}"
        if vr in NUMBERS and single.strip() and not _number(single, integer=vr != "DS"):
            return f"{keyword} is a number, not {single!r}"
    return ""


def uid_problem(keyword: str, value: str) -> str:
    """Why ``value`` is not a UID for ``keyword`` ('' when it is)."""
    if not is_uid(value):
        shown = value if len(value) <= 70 else value[:64] + "…"
        return (
            f"{keyword} is not a UID (digits and dots, no leading zeros, at most 64 "
            f"characters): {shown!r}"
        )
    return ""


def _uid_problem(keyword: str, value: str) -> str:
    for single in value.split("\\") if value else []:  # a list of UIDs matches any of them
        found = uid_problem(keyword, single)
        if found:
            return found
    return ""


def _date_problem(keyword: str, vr: str, value: str) -> str:
    if not value or WILDCARDS & set(value):
        return "" if not value else f"{keyword} cannot hold wildcards"
    what, formats = DATES[vr]
    parts = value.split("-")
    if len(parts) > 2 or not any(parts) or not all(_parses(vr, p, formats) for p in parts if p):
        return f"{keyword} is {what} or a range FROM-TO (either end may be left out), not {value!r}"
    return ""


def _parses(vr: str, text: str, formats: dict[int, str]) -> bool:
    digits, dot, fraction = text.partition(".")
    layout = formats.get(len(digits))
    if layout is None or not digits.isdigit() or (dot and vr == "DA"):
        return False
    if dot and (len(digits) < 6 or not FRACTION.fullmatch(dot + fraction)):
        return False
    try:
        datetime.strptime(digits, layout)
    except ValueError:
        return False
    return True


def _number(text: str, *, integer: bool) -> bool:
    try:
        int(text) if integer else float(text)
    except ValueError:
        return False
    return True
