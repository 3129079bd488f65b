"""Where an instance is filed in a store folder, and filing it there without ever replacing
another file: the listener and an import file the same way."""

import os
import re
from pathlib import Path

SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _component(value: str, fallback: str) -> str:
    cleaned = SAFE.sub("_", value.strip())[:64].strip("._")
    return cleaned or fallback


def stored_path(out: Path, patient: str, study: str, series: str, instance: str) -> Path:
    """Where a received instance goes: OUT/patient/study/series/instance.dcm (names made safe)."""
    return (
        out
        / _component(patient, "unknown-patient")
        / _component(study, "unknown-study")
        / _component(series, "unknown-series")
        / f"{_component(instance, 'instance')}.dcm"
    )


def file_into_place(temporary: Path, target: Path) -> tuple[Path, bool]:
    """Link the checked file at ``target`` (whose folder exists) without ever replacing
    another file: an identical file already there is this instance again (True); a different
    one keeps its place and this one takes the next free name (``name~2.dcm`` ...)."""
    for number in range(1, 1000):
        candidate = target if number == 1 else target.with_name(f"{target.stem}~{number}.dcm")
        try:
            os.link(temporary, candidate)
            return candidate, False
        except FileExistsError:
            if same_content(temporary, candidate):
                return candidate, True
    raise OSError(f"a thousand different files are already named {target.name}")


def same_content(first: Path, second: Path) -> bool:
    if first.stat().st_size != second.stat().st_size:
        return False
    with first.open("rb") as a, second.open("rb") as b:
        while True:
            chunk = a.read(1 << 20)
            if chunk != b.read(1 << 20):
                return False
            if not chunk:
                return True
