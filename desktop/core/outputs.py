"""Where a command that writes copies of its inputs under ``--out DIR`` puts each one, without
ever writing two inputs to one file (DICOM media name every file IM000000...)."""

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Protocol

from desktop.core.errors import CourierError


class FileOutcome(Protocol):
    """One input done: the copy it made (``target``), or None and why (``error``)."""

    @property
    def source(self) -> Path: ...
    @property
    def target(self) -> Path | None: ...
    @property
    def error(self) -> str: ...


def named_files(files: list[Path]) -> dict[Path, Path]:
    """Each file named on a command line with its path under ``--out``: its name alone, or,
    when two share a name, its path from the folder that holds them all."""
    names = [path.name for path in files]
    if len(set(names)) == len(names):
        return {path: Path(path.name) for path in files}
    parents = [str(path.absolute().parent) for path in files]
    common = Path(os.path.commonpath(parents))
    return {path: path.absolute().relative_to(common) for path in files}


def input_files(paths: list[Path], wanted: Callable[[Path], bool]) -> Iterator[tuple[Path, Path]]:
    """Each input file with its path under ``--out``: every file named, as ``named_files``
    names it; in each folder named (walked in order), the files ``wanted`` takes, with their
    path from that folder. CourierError for a path that does not exist."""
    names = named_files([path for path in paths if path.exists() and not path.is_dir()])
    for path in paths:
        if path.is_dir():
            for found in sorted(p for p in path.rglob("*") if p.is_file()):
                if wanted(found):
                    yield found, found.relative_to(path)
        elif path in names:
            yield path, names[path]
        else:
            raise CourierError(f"{path} does not exist")


def distinct_targets(jobs: Iterable[tuple[Path, Path]]) -> list[tuple[Path, Path]]:
    """``(source, target)`` pairs, refused before anything is written when two sources would
    go to one target or a target is its own source."""
    taken: dict[Path, Path] = {}
    kept = []
    for source, target in jobs:
        resolved = target.resolve()
        if resolved == source.resolve():
            raise CourierError(f"{source}: --out would overwrite the source")
        if resolved in taken:
            raise CourierError(
                f"{taken[resolved]} and {source} would both be written to {target}: "
                "name each file once, or their common folder"
            )
        taken[resolved] = source
        kept.append((source, target))
    return kept
