"""CharLS's JPEG-LS encoder without the GIL: the one pyjpegls ships, called through ctypes.

pyjpegls 1.5 calls CharLS's ``JpegLsEncode`` holding the GIL for the whole image (its
Cython has no ``nogil``): beside two encoding threads a sending thread waited a median 24 ms
(worst 186) for the GIL after every socket call, so the link idled between instances while
the encoders ran. ctypes releases the GIL around a foreign call: the same function, with the
same parameters pyjpegls passes, gives the same bytes (tests/net/test_charls.py), and the
sending thread waits 0.16 ms. Loading it needs neither numpy nor pyjpegls's Python.

The parameters are CharLS 2's ``JlsParameters`` (charls/public_types.h), the ABI of the
legacy entry point pyjpegls 1.x links in. Any other pyjpegls, or a library without the
symbol, falls back to ``jpeg_ls.encode_pixel_data`` (GIL held, same bytes).
"""

import ctypes
import importlib.util
import logging
import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)
#: pyjpegls releases whose CharLS 2 legacy ABI this module was checked against.
CHECKED = ("1.5.",)
#: content, offset of the frame in it, rows, columns, bits stored, NEAR (0: lossless)
Encoder = Callable[[bytes, int, int, int, int, int], bytes]

_Int = ctypes.c_int32


class _Preset(ctypes.Structure):
    """JpegLSPresetCodingParameters: all 0, CharLS's defaults."""

    _fields_ = [(name, _Int) for name in ("maximum", "t1", "t2", "t3", "reset")]


class _Jfif(ctypes.Structure):
    """JfifParameters: all 0, no JFIF header."""

    _fields_ = [
        *((name, _Int) for name in ("version", "units", "x_density", "y_density", "x", "y")),
        ("thumbnail", ctypes.c_void_p),
    ]


class _Parameters(ctypes.Structure):
    """JlsParameters (CharLS 2, the legacy API)."""

    _fields_ = [
        *(
            (name, _Int)
            for name in (
                "width",
                "height",
                "bits_per_sample",
                "stride",
                "components",
                "allowed_lossy_error",
                "interleave_mode",
                "color_transformation",
            )
        ),
        ("output_bgr", ctypes.c_char),
        ("custom", _Preset),
        ("jfif", _Jfif),
    ]


@cache
def encoder() -> Encoder:
    """The encoder of one grey frame (8 or 16 bits allocated, little endian) of ``rows`` ×
    ``columns`` with ``bits`` stored, starting ``offset`` bytes into ``content``, lossless
    when ``near`` is 0: CharLS without the GIL where the installed pyjpegls is one this
    module knows, else pyjpegls itself."""
    try:
        spec = importlib.util.find_spec("_CharLS")
        if spec is None or spec.origin is None:
            raise OSError("pyjpegls's CharLS library is not installed")
        version = _version(Path(spec.origin).parent)
        if not version.startswith(CHECKED):
            raise OSError(f"pyjpegls {version or '(unknown)'} is not one whose ABI was checked")
        function = ctypes.CDLL(spec.origin).JpegLsEncode
    except (OSError, AttributeError) as error:
        log.info("JPEG-LS encodes holding the GIL: %s", error)
        return _with_gil
    function.restype = ctypes.c_int
    function.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.POINTER(ctypes.c_size_t),
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.POINTER(_Parameters),
        ctypes.c_char_p,
    ]
    buffers = threading.local()  # each encoding thread's output, kept: no 1 MB zeroed per frame

    def encode(content: bytes, offset: int, rows: int, columns: int, bits: int, near: int) -> bytes:
        stride = columns * ((bits + 7) // 8)
        length = rows * stride
        if offset < 0 or offset + length > len(content):
            raise ValueError("the frame runs past the end of the pixel data")
        parameters = _Parameters(
            width=columns,
            height=rows,
            bits_per_sample=max(bits, 2),
            stride=stride,
            components=1,
            allowed_lossy_error=near,
        )
        output = getattr(buffers, "output", None)
        if output is None or len(output) < 2 * length + 1024:  # as pyjpegls: twice the frame
            output = buffers.output = ctypes.create_string_buffer(2 * length + 1024)
            buffers.message = ctypes.create_string_buffer(256)
        source = ctypes.cast(ctypes.c_char_p(content), ctypes.c_void_p).value or 0
        written = ctypes.c_size_t(0)
        code = function(
            output,
            len(output),
            ctypes.byref(written),
            source + offset,  # the frame where it lies in the file's bytes: no copy
            length,
            ctypes.byref(parameters),
            buffers.message,
        )
        if code:
            text = buffers.message.value.decode("ascii", "replace")
            raise RuntimeError(f"JPEG-LS encoding failed (CharLS error {code}): {text}")
        return ctypes.string_at(output, written.value)

    return encode


def _version(folder: Path) -> str:
    """pyjpegls's version, from its dist-info folder beside the library (importlib.metadata
    costs 0.15-0.3 s of imports on a busy machine: the encoders would start that late)."""
    found = sorted(folder.glob("pyjpegls-*.dist-info"))
    return found[-1].name.removeprefix("pyjpegls-").removesuffix(".dist-info") if found else ""


def _with_gil(content: bytes, offset: int, rows: int, columns: int, bits: int, near: int) -> bytes:
    import jpeg_ls

    frame = content[offset : offset + rows * columns * ((bits + 7) // 8)]
    return bytes(
        jpeg_ls.encode_pixel_data(
            frame,
            lossy_error=near,
            rows=rows,
            columns=columns,
            samples_per_pixel=1,
            bits_stored=bits,
        )
    )
