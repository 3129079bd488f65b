"""De-identify before sending: the queue sends de-identified copies (PS3.15 Annex E, under the
home's project key) made in a private area (``desktop.net.copies``), never the sources; with a
recipient certificate each copy keeps its original values encrypted for that recipient.

Burned-in text: with ``pixels="auto"`` the text found in each image is masked; with ``off``
the pixels are not searched, so an image whose header says it may carry text (``deid``'s
signs: ultrasound, secondary capture, Burned In Annotation YES, ...) is held back with the
reason: a send has nobody to review it, and a name in the image must not leave the hospital
under "Patient Identity Removed"."""

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from desktop.core.deid.batch import copy_files
from desktop.core.deid.setting import Deidentification
from desktop.deidentify import make_profile, protection, with_signs
from desktop.net.store import StoreItem

if TYPE_CHECKING:  # pydicom and the OCR engine load only for a send that masks
    from desktop.core.deid.pixels import PixelPolicy

AREA = "deidentified"
HELD_BACK = "held back: may show burned-in text"  #: after the count, in a send's summary


class Deidentified(NamedTuple):
    items: list[StoreItem]  #: the de-identified copies to send
    refused: list[str]  #: why each left out was, and a closing count of those held back
    held: int  #: how many were held back for burned-in text (their pixels not searched)


def deidentified_items(items: list[StoreItem], how: Deidentification, area: Path) -> Deidentified:
    """The items pointing at de-identified copies written in ``area`` (new SOP Instance UIDs),
    and why any could not be made or were held back, with a closing count of those held back
    for burned-in text (all are left out: the node never gets an original)."""
    profile, protect = make_profile(how.options), protection(how.recipient)
    copies, refused, held = [], [], 0
    pixels = _pixel_policy(how.pixels)
    made = copy_files([item.path for item in items], area, profile, protect=protect, pixels=pixels)
    # one report per source, in order
    for item, (done, signs) in zip(
        items, with_signs(made, searched=pixels is not None), strict=True
    ):
        if done.copy is None:
            refused.append(f"{done.source}: not sent, it could not be de-identified: {done.error}")
            continue
        if signs:
            done.copy.unlink()
            held += 1
            refused.append(
                f"{done.source}: not sent: its pixels may hold burned-in text "
                f"({', '.join(signs)}) and were not searched (burned-in text: off)"
            )
            continue
        copies.append(
            dataclasses.replace(
                item,
                path=done.copy,
                sop_instance_uid=done.copy.stem,
                size=done.copy.stat().st_size,
                sha256="",
                dataset_offset=0,  # the copy's file meta is its own: read as it is sent
            )
        )
    if held:
        refused.append(
            f"{held} of {len(items)} images held back: their pixels may show the patient's name, "
            "ID or dates and were not searched; send them with the text masked (--pixels auto, "
            "or the node's burned-in text set to auto), or review them with `dicom-courier deid "
            "--pixels review` and send the reviewed copies"
        )
    return Deidentified(copies, refused, held)


def _pixel_policy(mode: str) -> "PixelPolicy | None":
    """The search of ``auto`` (the OCR engine loaded now: a missing one is one error), or
    None: the pixels are copied as they are."""
    if mode != "auto":
        return None
    from desktop.core.deid.pixels import PixelPolicy
    from desktop.deidentify import check_ocr

    check_ocr()
    return PixelPolicy()
