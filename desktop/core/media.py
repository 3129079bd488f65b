"""Open DICOM media: a DICOMDIR, a folder holding one (a CD root), or a plain folder of files.

``load_media`` is a generator of ``LoadProgress`` records that returns the ``MediaTree``: a GUI
worker relays the records, a caller that stops iterating cancels the load, and ``open_media``
runs it to the end. Nothing here prints.
"""

import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

from desktop.core.attributes import TEXT_FIELDS, fill_entry
from desktop.core.dicomdir import FileIdResolver, read_dicomdir
from desktop.core.errors import HeaderError, MediaError, NoDicomError, NotDicomError
from desktop.core.header import Header, read_header
from desktop.core.integrity import pixel_data_defect
from desktop.core.model import (
    InstanceEntry,
    InstanceStatus,
    MediaTree,
    Problem,
    build_tree,
    one_copy_each,
)
from desktop.core.uids import MEDIA_STORAGE_DIRECTORY

DICOMDIR_NAME = "DICOMDIR"
IGNORED_NAMES = frozenset({"thumbs.db", "desktop.ini", "autorun.inf"})


@dataclass(frozen=True, slots=True)
class LoadProgress:
    """One step of a load: ``stage`` is "listing", "index" or "headers"."""

    stage: str
    done: int
    total: int | None
    path: Path | None = None


def open_media(path: Path) -> MediaTree:
    """Load the media at ``path`` to the end (see ``load_media``)."""
    loader = load_media(path)
    while True:
        try:
            next(loader)
        except StopIteration as finished:
            tree: MediaTree = finished.value
            return tree


def load_media(path: Path) -> Generator[LoadProgress, None, MediaTree]:
    """Build the media tree of ``path``, yielding progress; raise MediaError when there is none."""
    path = Path(path).absolute()
    if not path.exists():
        raise MediaError(f"{path} does not exist")
    problems: list[Problem] = []
    if path.is_file() and not _is_index(path):
        root, files, indexes = path, [path], []
    else:
        root = path.parent if path.is_file() else path
        files = yield from _list_files(root, problems)
        indexes = (
            [path] if path.is_file() else [f for f in files if f.name.upper() == DICOMDIR_NAME]
        )
    entries: list[InstanceEntry] = []
    parsed = 0
    for number, index_path in enumerate(indexes):
        yield LoadProgress("index", number, len(indexes), index_path)
        try:
            index = read_dicomdir(index_path, resolver=FileIdResolver(index_path.parent))
        except HeaderError as error:
            problems.append(Problem(index_path, f"{error}; its folder is scanned instead"))
            continue
        parsed += 1
        problems.extend(index.problems)
        entries.extend(index.entries)
    source = "dicomdir" if parsed else "scan"
    listed = [e for e in entries if e.path is not None]
    known = {e.path for e in listed} | set(indexes)
    others = [f for f in files if f not in known]
    total = len(listed) + len(others)
    for done, entry in enumerate(listed):
        assert entry.path is not None
        yield LoadProgress("headers", done, total, entry.path)
        _complete_listed(entry, problems)
    non_dicom = 0
    for done, file in enumerate(others, start=len(listed)):
        yield LoadProgress("headers", done, total, file)
        try:
            scanned = _scan_file(file, problems, unreferenced=bool(parsed))
        except NotDicomError as error:
            if not parsed:
                non_dicom += 1
                problems.append(Problem(file, str(error)))
            continue
        if scanned is not None:
            entries.append(scanned)
    yield LoadProgress("headers", total, total)
    if not entries and not parsed and len(problems) == non_dicom:
        raise NoDicomError(f"no DICOM files in {path}")
    return build_tree(source, root, _drop_duplicates(entries, problems), problems)


def _is_index(path: Path) -> bool:
    """Whether a file is a DICOMDIR, by its name or its Media Storage SOP Class."""
    if path.name.upper() == DICOMDIR_NAME:
        return True
    try:
        return read_header(path, ()).media_sop_class_uid == MEDIA_STORAGE_DIRECTORY
    except HeaderError:
        return False


def _list_files(root: Path, problems: list[Problem]) -> Generator[LoadProgress, None, list[Path]]:
    """Every regular file below ``root`` (not following links), sorted; unlistable folders noted."""
    files: list[Path] = []
    for folder in _walk(root, problems):
        files.extend(folder)
        yield LoadProgress("listing", len(files), None)
    files.sort()
    return files


def _walk(root: Path, problems: list[Problem]) -> Iterator[list[Path]]:
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as scan:
                listing = list(scan)
        except OSError as error:
            problems.append(Problem(folder, f"cannot list the folder: {error.strerror or error}"))
            continue
        found = []
        for item in listing:
            if item.name.startswith(".") or item.name.lower() in IGNORED_NAMES:
                continue
            if item.is_dir(follow_symlinks=False):
                pending.append(Path(item.path))
            elif item.is_file(follow_symlinks=False):
                found.append(Path(item.path))
        yield found


def _complete_listed(entry: InstanceEntry, problems: list[Problem]) -> None:
    """Add what only the file knows (size, frames, rows ...) to an entry from a DICOMDIR."""
    assert entry.path is not None
    try:
        header = read_header(entry.path)
    except HeaderError as error:
        entry.status = InstanceStatus.DAMAGED
        problems.append(Problem(entry.path, f"listed in the DICOMDIR but {error}"))
        return
    if header.media_sop_class_uid == MEDIA_STORAGE_DIRECTORY:  # a record naming the index
        entry.status = InstanceStatus.DAMAGED
        problems.append(
            Problem(
                entry.path,
                "listed in the DICOMDIR as an instance, but it is a DICOMDIR, not an instance",
            )
        )
        return
    listed_uid = entry.sop_instance_uid
    _apply_header(entry, header, problems)
    file_uid = entry.sop_instance_uid
    if listed_uid and file_uid and listed_uid != file_uid:
        problems.append(
            Problem(
                entry.path,
                f"the DICOMDIR lists SOP Instance UID {listed_uid} but the file holds {file_uid}",
            )
        )


def _scan_file(path: Path, problems: list[Problem], *, unreferenced: bool) -> InstanceEntry | None:
    """An entry for a file no DICOMDIR lists, or None (with a problem) if it cannot be shown.

    Raises NotDicomError for a file that is not DICOM: on indexed media that is the media's
    other content (a viewer, an autorun), for a scan it is a problem the caller reports.
    """
    try:
        header = read_header(path)
    except NotDicomError:
        raise
    except HeaderError as error:
        problems.append(Problem(path, str(error)))
        return None
    if header.media_sop_class_uid == MEDIA_STORAGE_DIRECTORY:
        return None
    entry = InstanceEntry(sop_instance_uid="")
    _apply_header(entry, header, problems)
    if not entry.sop_instance_uid:
        problems.append(Problem(path, "DICOM file without a SOP Instance UID; not shown"))
        return None
    if unreferenced:
        entry.status = InstanceStatus.UNREFERENCED
        problems.append(Problem(path, "DICOM file on the media that its DICOMDIR does not list"))
    return entry


def _apply_header(entry: InstanceEntry, header: Header, problems: list[Problem]) -> None:
    """Fill an entry from a file header and check that the pixel data is all there."""
    entry.path = header.path
    entry.size = header.file_size
    entry.dataset_offset = header.dataset_offset
    entry.file_state = header.state
    entry.transfer_syntax_uid = entry.transfer_syntax_uid or header.transfer_syntax_uid
    # The data set's UIDs identify the instance (a C-STORE must carry them); the file meta's
    # and a DICOMDIR's are copies, used only when the data set has none.
    dataset_uid = header.values.text(TEXT_FIELDS["sop_instance_uid"])
    dataset_class = header.values.text(TEXT_FIELDS["sop_class_uid"])
    if dataset_uid and header.media_sop_instance_uid not in ("", dataset_uid):
        problems.append(
            Problem(
                header.path,
                f"the file meta information says SOP Instance UID "
                f"{header.media_sop_instance_uid}, the data set "
                f"{dataset_uid}; the data set's is used",
            )
        )
    entry.sop_instance_uid = dataset_uid or entry.sop_instance_uid or header.media_sop_instance_uid
    entry.sop_class_uid = dataset_class or entry.sop_class_uid or header.media_sop_class_uid
    fill_entry(entry, header.values)
    problems.extend(Problem(header.path, note) for note in header.values.notes)
    if header.pixel_data is None:
        entry.frames = 0
        return
    entry.frames = entry.frames or 1
    defect = pixel_data_defect(header)
    if defect:
        entry.status = InstanceStatus.DAMAGED
        problems.append(Problem(header.path, defect))


def _drop_duplicates(entries: list[InstanceEntry], problems: list[Problem]) -> list[InstanceEntry]:
    """Keep one entry of each SOP Instance UID (see ``one_copy_each``) and report the other
    files; a record without a file, already reported, goes silently."""
    kept, others = one_copy_each(entries)
    for other, used in others:
        if other.path is not None:
            problems.append(
                Problem(
                    other.path,
                    f"duplicate SOP Instance UID {other.sop_instance_uid}: "
                    f"also in {used.path}; not shown",
                )
            )
    return kept
