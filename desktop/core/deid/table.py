"""PS3.15 Table E.1-1 (edition 2024b, 621 rows): the action of the Basic Application Level
Confidentiality Profile for each attribute, and the action each option column puts in its place.

The rows come from ``table_e1_1.json`` (shipped with the package). Combined codes follow the
attribute's type in the IOD; without the IOD at hand we take the last letter, the one that keeps
any IOD conformant and still carries no identity: Z/D → D, X/Z → Z, X/D → D, X/Z/D → D,
X/Z/U* → U.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from functools import cache

from desktop.core.errors import CourierError


class Option(Enum):
    """The option columns of Table E.1-1 this implementation applies; value: the column's field."""

    RETAIN_UIDS = "rtnUIDsOpt"
    RETAIN_DEVICE_IDENTITY = "rtnDevIdOpt"
    RETAIN_INSTITUTION_IDENTITY = "rtnInstIdOpt"
    RETAIN_PATIENT_CHARACTERISTICS = "rtnPatCharsOpt"
    RETAIN_LONGITUDINAL_FULL_DATES = "rtnLongFullDatesOpt"
    RETAIN_LONGITUDINAL_MODIFIED_DATES = "rtnLongModifDatesOpt"
    CLEAN_DESCRIPTORS = "cleanDescOpt"
    CLEAN_STRUCTURED_CONTENT = "cleanStructContOpt"
    CLEAN_GRAPHICS = "cleanGraphOpt"
    RETAIN_SAFE_PRIVATE = "rtnSafePrivOpt"

    @property
    def cli_name(self) -> str:
        """The option as typed on the command line: ``retain-uids``."""
        return self.name.lower().replace("_", "-")


#: Options not offered here: they change pixels, not the header.
UNSUPPORTED_OPTIONS = {
    "clean-pixel-data": "",
    "clean-recognizable-visual-features": "",
}


def parse_options(names: Iterable[str]) -> frozenset[Option]:
    """The options named as on the command line (``retain-uids``); CourierError in plain words
    for an unknown one, one not available, or both kinds of longitudinal dates."""
    known = {option.cli_name: option for option in Option}
    chosen = set()
    for name in names:
        if name in UNSUPPORTED_OPTIONS:
            raise CourierError(
                f"the option {name} is not available yet (it needs the pixels cleaned, not only "
                "the header); available: " + ", ".join(sorted(known))
            )
        if name not in known:
            raise CourierError(
                f"unknown de-identification option {name!r}; choose from "
                + ", ".join(sorted(known))
            )
        chosen.add(known[name])
    dates = {Option.RETAIN_LONGITUDINAL_FULL_DATES, Option.RETAIN_LONGITUDINAL_MODIFIED_DATES}
    if dates <= chosen:
        raise CourierError(
            "choose one of retain-longitudinal-full-dates and retain-longitudinal-modified-dates"
        )
    return frozenset(chosen)


#: Retain options win over clean options when both name an attribute (Allergies: K over C).
PRECEDENCE = {"K": 0, "C": 1}


class Action(Enum):
    REMOVE = "X"
    EMPTY = "Z"
    DUMMY = "D"
    KEEP = "K"
    CLEAN = "C"
    NEW_UID = "U"


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    tag: str  #: as printed in the standard: "(0010,0010)", "(60XX,3000)"
    basic: str  #: the basic profile's code, combined codes included ("X/Z/U*")
    options: dict[Option, str]

    def action(self, options: frozenset[Option]) -> Action:
        """The action for this attribute when ``options`` are chosen."""
        chosen = sorted(
            (self.options[o] for o in options if o in self.options), key=PRECEDENCE.__getitem__
        )
        code = chosen[0] if chosen else self.basic
        return Action(code.split("/")[-1].rstrip("*"))


@dataclass(frozen=True, slots=True)
class Table:
    exact: dict[int, Row]  #: by tag number
    repeating: dict[tuple[int, int | None], Row]  #: (group base, element or None for all)
    private: Row

    def row(self, tag: int) -> Row | None:
        """The row governing ``tag``: exact, a repeating group (50xx, 60xx), or private."""
        found = self.exact.get(tag)
        if found is not None:
            return found
        group, element = tag >> 16, tag & 0xFFFF
        if group % 2:
            return self.private
        base = group & 0xFF00
        if base in (0x5000, 0x6000):
            return self.repeating.get((base, element)) or self.repeating.get((base, None))
        return None

    def rows(self) -> list[Row]:
        return [*self.exact.values(), *self.repeating.values(), self.private]


@cache
def load_table() -> Table:
    """The table shipped with the package."""
    from importlib import resources  # ~3 ms: not for every command that reads the config

    text = resources.files(__package__).joinpath("table_e1_1.json").read_text("utf-8")
    exact: dict[int, Row] = {}
    repeating: dict[tuple[int, int | None], Row] = {}
    private: Row | None = None
    for record in json.loads(text):
        row = Row(
            record["name"],
            record["tag"],
            record["basicProfile"],
            {o: record[o.value] for o in Option if record.get(o.value)},
        )
        key = record["id"]
        if key.startswith("gggg"):
            private = row
        elif "x" in key:
            element = key[4:]
            repeating[int(key[:2], 16) << 8, None if "x" in element else int(element, 16)] = row
        else:
            exact[int(key, 16)] = row
    if private is None:
        raise CourierError("the de-identification table has no row for private attributes")
    return Table(exact, repeating, private)
