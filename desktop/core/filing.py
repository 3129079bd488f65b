"""Where an instance is filed in a store folder, and filing it there without ever replacing
another file: the listener and an import file the same way."""

import os
import re
import struct
from pathlib import Path
from typing import BinaryIO

SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_component(value: str, fallback: str) -> str:
    """``value`` (a UID or name a file holds: anything) as one harmless path component."""
    cleaned = SAFE.sub("_", value.strip())[:64].strip("._")
    return cleaned or fallback


def stored_path(out: Path, patient: str, study: str, series: str, instance: str) -> Path:
    """Where a received instance goes: OUT/patient/study/series/instance.dcm (names made safe)."""
    return (
        out
        / safe_component(patient, "unknown-patient")
        / safe_component(study, "unknown-study")
        / safe_component(series, "unknown-series")
        / f"{safe_component(instance, 'instance')}.dcm"
    )


def file_into_place(temporary: Path, target: Path) -> tuple[Path, bool]:
    """Link the checked file at ``target`` (whose folder exists) without ever replacing
    another file: an identical file already there is this instance again (True); a different
    one keeps its place and this one takes the next free name (``name~2.dcm`` ...). Identity
    is the data set's (and its transfer syntax), not the meta header a writer made its own."""
    for number in range(1, 1000):
        candidate = target if number == 1 else target.with_name(f"{target.stem}~{number}.dcm")
        try:
            os.link(temporary, candidate)
            return candidate, False
        except FileExistsError:
            if same_content(temporary, candidate):
                return candidate, True
    raise OSError(f"a thousand different files are already named {target.name}")


PREAMBLE = 132  # 128 bytes and "DICM"
LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT"})
TRANSFER_SYNTAX = 0x00020010


def same_content(first: Path, second: Path) -> bool:
    """Whether two files hold the same data set in the same transfer syntax (whole files
    compared when either is not a Part 10 file)."""
    with first.open("rb") as a, second.open("rb") as b:
        (start_a, syntax_a), (start_b, syntax_b) = _data_set(a), _data_set(b)
        if syntax_a != syntax_b:
            return False
        if first.stat().st_size - start_a != second.stat().st_size - start_b:
            return False
        a.seek(start_a)
        b.seek(start_b)
        while True:
            chunk = a.read(1 << 20)
            if chunk != b.read(1 << 20):
                return False
            if not chunk:
                return True


def _data_set(file: BinaryIO) -> tuple[int, bytes]:
    """Where a Part 10 file's data set starts, and its transfer syntax; (0, b"") otherwise."""
    head = file.read(PREAMBLE + (1 << 16))
    if head[128:PREAMBLE] != b"DICM":
        return 0, b""
    position, syntax = PREAMBLE, b""
    while position + 8 <= len(head):
        group, element = struct.unpack_from("<HH", head, position)
        if group != 0x0002:
            return position, syntax
        vr = head[position + 4 : position + 6]
        if vr in LONG_VRS:
            if position + 12 > len(head):
                break
            length, start = struct.unpack_from("<I", head, position + 8)[0], position + 12
        else:
            length, start = struct.unpack_from("<H", head, position + 6)[0], position + 8
        if (group << 16 | element) == TRANSFER_SYNTAX:
            syntax = head[start : start + length].rstrip(b"\0 ")
        position = start + length
    return 0, b""  # a meta header we cannot walk: whole files compared
