"""De-identify before sending: the queue sends de-identified copies (PS3.15 Annex E, under the
home's project key) made in a private area (``desktop.net.copies``), never the sources; with a
recipient certificate each copy keeps its original values encrypted for that recipient."""

import dataclasses
from pathlib import Path

from desktop.core.deid.batch import copy_files
from desktop.core.deid.setting import Deidentification
from desktop.deidentify import make_profile, protection
from desktop.net.store import StoreItem

AREA = "deidentified"


def deidentified_items(
    items: list[StoreItem], how: Deidentification, area: Path
) -> tuple[list[StoreItem], list[str]]:
    """The items pointing at de-identified copies written in ``area`` (new SOP Instance UIDs),
    and why any could not be made (those are left out: the node never gets an original)."""
    profile, protect = make_profile(how.options), protection(how.recipient)
    copies, refused = [], []
    made = copy_files([item.path for item in items], area, profile, protect=protect)
    for item, done in zip(items, made, strict=True):  # one report per source, in order
        if done.copy is None:
            refused.append(f"{done.source}: not sent, it could not be de-identified: {done.error}")
            continue
        copies.append(
            dataclasses.replace(
                item,
                path=done.copy,
                sop_instance_uid=done.copy.stem,
                size=done.copy.stat().st_size,
                sha256="",
            )
        )
    return copies, refused
