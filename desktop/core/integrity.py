"""Checks that a file's pixel data is all there, from its header alone."""

from desktop.core.header import Header
from desktop.core.tags import tag
from desktop.core.uids import NATIVE_SYNTAXES

ROWS, COLUMNS, BITS_ALLOCATED = tag("Rows"), tag("Columns"), tag("BitsAllocated")
SAMPLES_PER_PIXEL, NUMBER_OF_FRAMES = tag("SamplesPerPixel"), tag("NumberOfFrames")


def expected_native_length(header: Header) -> int | None:
    """Bytes the pixel data of an uncompressed file needs, or None when it cannot be told."""
    values = header.values
    rows, columns, bits = (values.integer(t) for t in (ROWS, COLUMNS, BITS_ALLOCATED))
    if not rows or not columns or not bits:
        return None
    samples = values.integer(SAMPLES_PER_PIXEL) or 1
    frames = values.integer(NUMBER_OF_FRAMES) or 1
    return (rows * columns * samples * frames * bits + 7) // 8


def pixel_data_defect(header: Header) -> str | None:
    """Why the pixel data is incomplete (truncated file, short value), or None when it is whole."""
    location = header.pixel_data
    if location is None or location.value_offset < 0:
        return None
    if location.end is None or location.end > header.file_size:
        return (
            f"truncated: the file ends at byte {header.file_size}, inside its pixel data "
            f"(which starts at byte {location.value_offset})"
        )
    if location.length is None or header.transfer_syntax_uid not in NATIVE_SYNTAXES:
        return None
    expected = expected_native_length(header)
    if expected is not None and location.length < expected:
        return f"truncated pixel data: {location.length} bytes where the image needs {expected}"
    return None
