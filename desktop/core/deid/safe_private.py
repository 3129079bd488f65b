"""The private attributes known to hold no identity (PS3.15 Table E.3.10-1), kept under the
Retain Safe Private option: each is named by its private creator, its group and the last byte
of its element, since a creator's block may be reserved anywhere from (gggg,10xx) to (gggg,FFxx).
"""

import json
from functools import cache
from importlib import resources

#: (creator as written in the data set, trailing spaces removed; group) → element low bytes.
SafeTable = dict[tuple[str, int], frozenset[int]]


@cache
def safe_private() -> SafeTable:
    """The table shipped with the package."""
    text = resources.files(__package__).joinpath("safe_private.json").read_text("utf-8")
    table: SafeTable = {}
    for creator, groups in json.loads(text)["creators"].items():
        for group, elements in groups.items():
            table[creator, int(group, 16)] = frozenset(int(e, 16) for e in elements)
    return table


def is_safe(creator: str, tag: int) -> bool:
    """Whether the private data element ``tag`` of the block reserved by ``creator`` is safe."""
    elements = safe_private().get((creator.rstrip(" \x00"), tag >> 16))
    return elements is not None and (tag & 0xFF) in elements


def creator_is_listed(creator: str, group: int) -> bool:
    """Whether ``creator`` has safe attributes in ``group`` (its reservation is then kept)."""
    return (creator.rstrip(" \x00"), group) in safe_private()
