"""Window presets a viewer offers, by modality.

CT values are in Hounsfield units, so fixed windows mean the same on every scanner. Other
modalities have arbitrary units: their presets are computed from the image shown.
"""

from enum import StrEnum

from desktop.core.display import Window
from desktop.core.frames import FrameSource


class Computed(StrEnum):
    """Presets computed from the image rather than fixed numbers."""

    AUTO = "Auto"  # the file's window, else the min–max of the first image shown
    MIN_MAX = "Min–max"  # of the image on screen
    FULL_RANGE = "Full range"  # every value Bits Stored allows


CT_PRESETS: dict[str, Window] = {
    "Brain 40/80": Window(40, 80),
    "Lung −600/1500": Window(-600, 1500),
    "Bone 300/1500": Window(300, 1500),
    "Abdomen 40/400": Window(40, 400),
}


def presets_for(modality: str) -> list[str]:
    """The preset names to offer for a modality, the automatic one first."""
    if modality.upper() == "CT":
        return [Computed.AUTO, *CT_PRESETS]
    return list(Computed)


def preset_window(name: str, source: FrameSource, frame: int) -> Window | None:
    """The window of preset ``name`` for frame ``frame`` of ``source`` (None: automatic)."""
    if name in CT_PRESETS:
        return CT_PRESETS[name]
    if name == Computed.MIN_MAX:
        return source.min_max_window(frame)
    if name == Computed.FULL_RANGE:
        return source.pipeline.full_range() if source.is_grey else None
    return None
