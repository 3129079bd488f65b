"""Stored pixel values → display-ready 8-bit grey or RGB.

Grey images go through the Modality LUT (rescale or LUT), then a window or the file's VOI LUT,
then MONOCHROME1 inversion. For 8- and 16-bit data all of that is folded into one lookup table
over every possible stored value, built once per window and applied with a single gather
(well under a millisecond for 512×512). Palette colour uses a precomputed RGB table; RGB and YBR
data arrive as RGB from pydicom (which converts YBR itself) and are only scaled to 8 bits.
"""

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut, apply_voi_lut

from desktop.core.values import integer_value, text_value

# numpy's own stub types differ across versions; one alias keeps the signatures readable.
Array = NDArray[np.generic]
GreyLut = NDArray[np.uint8]
LUT_CACHE = 8  # lookup tables kept per instance (64 KB each for 16-bit data)


@dataclass(frozen=True, slots=True)
class Window:
    """A window centre and width, in modality units (e.g. Hounsfield units for CT)."""

    center: float
    width: float

    @classmethod
    def parse(cls, text: str) -> "Window":
        """A window from 'CENTER,WIDTH' text; ValueError with a plain message otherwise."""
        try:
            center, width = (float(part) for part in text.split(","))
        except ValueError:
            raise ValueError(
                f"a window is CENTER,WIDTH (for example 40,400), not {text!r}"
            ) from None
        if not (math.isfinite(center) and math.isfinite(width)):
            raise ValueError(f"a window's centre and width are numbers, not {text!r}")
        if width < 1:
            raise ValueError(f"a window width must be at least 1, not {width:g}")
        return cls(center, width)


@dataclass(frozen=True, slots=True)
class Rendered:
    """A display-ready image and the window it was drawn with (None: colour or a VOI LUT)."""

    pixels: NDArray[np.uint8]
    window: Window | None


class ColorKind(StrEnum):
    GREY = "grey"
    RGB = "rgb"
    PALETTE = "palette"


# Attributes that may sit in an enhanced object's functional groups instead of the top level.
GROUPED_ATTRIBUTES = {
    "PixelValueTransformationSequence": ("RescaleSlope", "RescaleIntercept", "RescaleType"),
    "FrameVOILUTSequence": ("WindowCenter", "WindowWidth", "VOILUTFunction"),
}


def _first(value: Any) -> Any:
    """The first of a multi-valued attribute, or the value itself."""
    return value[0] if isinstance(value, MultiValue | list | tuple) else value


def flatten_functional_groups(dataset: Dataset) -> Dataset:
    """The display attributes of frame 1, lifted from shared or per-frame functional groups."""
    flat = Dataset()
    flat.update(dataset)
    for group_name in ("PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence"):
        groups = dataset.get(group_name)
        if not groups:
            continue
        for sequence_name, keywords in GROUPED_ATTRIBUTES.items():
            items = groups[0].get(sequence_name)
            if not items:
                continue
            for keyword in keywords:
                if keyword in items[0] and keyword not in flat:
                    setattr(flat, keyword, items[0][keyword].value)
    return flat


class DisplayPipeline:
    """Turns decoded frames of one instance into uint8 images, caching its lookup tables."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = flatten_functional_groups(dataset)
        photometric = text_value(dataset, "PhotometricInterpretation")
        self.inverted = photometric == "MONOCHROME1"
        if photometric == "PALETTE COLOR":
            self.kind = ColorKind.PALETTE
        elif (integer_value(dataset, "SamplesPerPixel") or 1) > 1:
            self.kind = ColorKind.RGB
        else:
            self.kind = ColorKind.GREY
        self.bits_stored = integer_value(dataset, "BitsStored") or 8
        self.file_window = self._first_file_window()
        self.has_voi_lut = "VOILUTSequence" in self.dataset
        self.signed = integer_value(dataset, "PixelRepresentation") == 1
        self._luts: dict[tuple[object, str], GreyLut] = {}
        self._palette: NDArray[np.uint8] | None = None
        self._auto: Window | None = None

    def _first_file_window(self) -> Window | None:
        """The first window the file recommends, if it has a usable one."""
        try:
            center = float(_first(self.dataset.get("WindowCenter")))
            width = float(_first(self.dataset.get("WindowWidth")))
        except (TypeError, ValueError, IndexError):
            return None
        return Window(center, width) if width >= 1 else None

    def auto_window(self, frame: Array) -> Window:
        """A window spanning the frame's full range of modality values."""
        extremes = self.modality_values(np.array([frame.min(), frame.max()]))
        lowest, highest = float(extremes.min()), float(extremes.max())
        return Window((lowest + highest) / 2, max(highest - lowest + 1, 1))

    def window_for(self, frame: Array, window: Window | None = None) -> Window | None:
        """The window a frame is drawn with: the one asked for, else the file's, else the
        automatic one (min–max of the first frame shown, then kept so scrolling does not
        flicker). None for colour images and for a VOI LUT the file prefers."""
        if self.kind is not ColorKind.GREY:
            return None
        if window is not None or self.file_window is not None:
            return window or self.file_window
        if self.has_voi_lut:
            return None
        if self._auto is None:
            self._auto = self.auto_window(frame)
        return self._auto

    def full_range(self) -> Window:
        """A window over every value Bits Stored allows, in modality units."""
        bits = max(min(self.bits_stored, 32), 1)
        low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if self.signed else (0, 2**bits - 1)
        return self.auto_window(np.array([low, high], dtype=np.int64))

    def modality_values(self, stored: Array) -> NDArray[np.float64]:
        """Stored values → modality values (Rescale Slope/Intercept or Modality LUT)."""
        return np.asarray(apply_modality_lut(stored, self.dataset), dtype=np.float64)

    def render(self, frame: Array, window: Window | None = None) -> Rendered:
        """``to_uint8`` with the window it used (see ``window_for``)."""
        chosen = self.window_for(frame, window)
        return Rendered(self.to_uint8(frame, chosen), chosen)

    def to_uint8(self, frame: Array, window: Window | None = None) -> NDArray[np.uint8]:
        """One decoded frame as display-ready uint8: (rows, columns) grey or (rows, columns, 3)."""
        if self.kind is ColorKind.RGB:
            return self._rgb_to_uint8(frame)
        if self.kind is ColorKind.PALETTE:
            return np.asarray(self._palette_lut()[frame], dtype=np.uint8)
        window = self.window_for(frame, window)
        if frame.dtype.itemsize <= 2 and frame.dtype.kind in "iu":
            unsigned = frame.view(np.uint8 if frame.dtype.itemsize == 1 else np.uint16)
            return np.asarray(self._grey_lut(frame.dtype, window, frame)[unsigned], dtype=np.uint8)
        return self._grey_direct(frame, window)

    def _rgb_to_uint8(self, frame: Array) -> NDArray[np.uint8]:
        if frame.dtype == np.uint8:
            return frame  # type: ignore[return-value]
        shift = max(self.bits_stored - 8, 0)
        return np.asarray(np.clip(frame.astype(np.int64) >> shift, 0, 255), dtype=np.uint8)

    def _palette_lut(self) -> NDArray[np.uint8]:
        if self._palette is None:
            try:
                every = np.arange(65536, dtype=np.uint16)
                table = np.asarray(apply_color_lut(every, self.dataset))
            except Exception as error:  # pydicom fails on damaged tables with anything
                raise ValueError(_palette_damage(self.dataset) or str(error)) from error
            scale = 255.0 / 65535.0 if table.max() > 255 else 1.0
            self._palette = np.rint(table * scale).astype(np.uint8)
        return self._palette

    def _grey_lut(
        self, dtype: np.dtype[np.generic], window: Window | None, frame: Array
    ) -> GreyLut:
        """The lookup table for every bit pattern of dtype, for this window."""
        key = (window or ("file" if self.file_window or self.has_voi_lut else "auto"), dtype.str)
        if key not in self._luts:
            unsigned = np.uint8 if dtype.itemsize == 1 else np.uint16
            domain = np.arange(np.iinfo(unsigned).max + 1, dtype=unsigned).view(dtype)
            if len(self._luts) >= LUT_CACHE:  # a window drag makes a new table per step
                del self._luts[next(iter(self._luts))]
            self._luts[key] = self._grey_direct(domain, window, frame)
        return self._luts[key]

    def _grey_direct(
        self, stored: Array, window: Window | None, frame: Array | None = None
    ) -> NDArray[np.uint8]:
        """Apply modality, VOI and inversion to an array of stored values."""
        if window is None and self.file_window is None and self.has_voi_lut:
            modality = np.asarray(apply_modality_lut(stored, self.dataset))
            values = np.asarray(apply_voi_lut(modality, self.dataset), dtype=np.float64)
            lowest, highest = float(values.min()), float(values.max())
            scaled = (values - lowest) / ((highest - lowest) or 1.0)
        else:
            chosen = (
                window
                or self.file_window
                or self.auto_window(frame if frame is not None else stored)
            )
            scaled = self._apply_window(self.modality_values(stored), chosen)
        if self.inverted:
            scaled = 1.0 - scaled
        return np.asarray(np.rint(scaled * 255.0), dtype=np.uint8)

    def _apply_window(self, values: NDArray[np.float64], window: Window) -> NDArray[np.float64]:
        """PS3.3 C.11.2.1.2 windowing to [0, 1]."""
        center, width = window.center, window.width
        function = text_value(self.dataset, "VOILUTFunction") or "LINEAR"
        if function == "SIGMOID":
            return np.asarray(1.0 / (1.0 + np.exp(-4.0 * (values - center) / width)))
        if function == "LINEAR_EXACT":
            return np.clip((values - center) / width + 0.5, 0.0, 1.0)
        if width <= 1:
            return np.asarray(values > center - 0.5, dtype=np.float64)
        return np.clip((values - (center - 0.5)) / (width - 1) + 0.5, 0.0, 1.0)


def _palette_damage(dataset: Dataset) -> str:
    """What is wrong with the palette's lookup tables, in words ("" if it cannot be told)."""
    for colour in ("Red", "Green", "Blue"):
        descriptor = dataset.get(f"{colour}PaletteColorLookupTableDescriptor")
        data = dataset.get(f"{colour}PaletteColorLookupTableData")
        if descriptor is None or data is None or len(descriptor) != 3:
            continue
        entries, bits = int(descriptor[0]) or 65536, int(descriptor[2])
        if len(data) < entries * (2 if bits > 8 else 1):
            return (
                f"its palette colour lookup tables are damaged ({colour}: {len(data)} bytes for "
                f"{entries} entries of {bits} bits)"
            )
    return ""
