"""Where a signature sits: the main data set, or an item reached through nested sequences."""

import re

from pydicom.datadict import tag_for_keyword

from desktop.core.errors import CourierError
from desktop.core.signatures.elements import Item, tag_name, tag_text

Location = tuple[tuple[int, int], ...]  # ((sequence tag, item index), ...); () = main data set
_STEP = re.compile(
    r"\s*(?:\(?([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})\)?|([A-Za-z][A-Za-z0-9]*))\[(\d+)\]\s*"
)


class LocationError(CourierError):
    """An item location is malformed or names an item the file does not have."""


def parse_location(text: str) -> Location:
    """``ReferencedImageSequence[0]`` or ``(0008,1140)[0].(0040,A730)[2]`` (items from 0)."""
    steps = []
    for part in text.split("."):
        match = _STEP.fullmatch(part)
        if not match:
            raise LocationError(
                f"{text!r} is not an item location: write SequenceKeyword[index] or "
                "(gggg,eeee)[index], joined by '.', items counted from 0"
            )
        group, number, keyword, index = match.groups()
        tag = int(group + number, 16) if group else tag_for_keyword(keyword)
        if tag is None:
            raise LocationError(f"{keyword!r} is not a DICOM keyword")
        steps.append((tag, int(index)))
    return tuple(steps)


def describe_location(location: Location) -> str:
    """The location as people read it; "main data set" for ()."""
    if not location:
        return "main data set"
    return ".".join(f"{tag_name(tag)}{tag_text(tag)}[{index}]" for tag, index in location)


def resolve(dataset: Item, location: Location) -> Item:
    """The item at ``location``; LocationError naming the step that does not exist."""
    level = dataset
    for depth, (tag, index) in enumerate(location):
        element = level.find(tag)
        where = describe_location(location[:depth]) if depth else "the main data set"
        if element is None or element.items is None:
            raise LocationError(f"{where} has no sequence {tag_name(tag)} {tag_text(tag)}")
        if index >= len(element.items):
            raise LocationError(
                f"{tag_name(tag)} {tag_text(tag)} in {where} has {len(element.items)} item(s); "
                f"there is no item {index} (items count from 0)"
            )
        level = element.items[index]
    return level
