"""Reading a DICOMDIR the way real media needs: tolerant of every defect, silent about none.

Records are read with the header module's element walker (pydicom's ``dcmread`` of a
10,000-record DICOMDIR alone takes as long as its FileSet load). The record hierarchy comes
from the records' offsets. Records that the offsets do not reach
(offset-less or broken DICOMDIRs) are placed by their order in the sequence, loops and dangling
offsets are cut and reported, and file IDs are resolved inside the media root only (never through
a symbolic link), ignoring case when the exact name is not there.
"""

import mmap
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path

from desktop.core.attributes import BROWSER_TAGS, fill_entry
from desktop.core.errors import HeaderError
from desktop.core.header import (
    DICOM_PREFIX,
    ITEM,
    ITEM_DELIMITER,
    PREAMBLE_LENGTH,
    SEALED,
    SEALED_HEAD,
    SEQUENCE_DELIMITER,
    UNDEFINED_LENGTH,
    is_sealed,
    open_cursor,
    read_meta,
)
from desktop.core.model import InstanceEntry, InstanceStatus, Problem
from desktop.core.tags import tag
from desktop.core.values import RawElement, RawValues

LEVELS = {"PATIENT": 0, "STUDY": 1, "SERIES": 2}
LEAF_LEVEL = 3
KNOWN_RECORD_TYPES = frozenset(LEVELS) | frozenset(
    {
        "IMAGE",
        "RT DOSE",
        "RT STRUCTURE SET",
        "RT PLAN",
        "RT TREAT RECORD",
        "PRESENTATION",
        "WAVEFORM",
        "SR DOCUMENT",
        "KEY OBJECT DOC",
        "SPECTROSCOPY",
        "RAW DATA",
        "REGISTRATION",
        "FIDUCIAL",
        "HANGING PROTOCOL",
        "ENCAP DOC",
        "HL7 STRUC DOC",
        "VALUE MAP",
        "STEREOMETRIC",
        "PALETTE",
        "IMPLANT",
        "IMPLANT ASSY",
        "IMPLANT GROUP",
        "PLAN",
        "MEASUREMENT",
        "SURFACE",
        "SURFACE SCAN",
        "TRACT",
        "ASSESSMENT",
        "RADIOTHERAPY",
        "ANNOTATION",
        "INVENTORY",
        "PRIVATE",
        "TOPIC",
        "VISIT",
        "RESULTS",
        "INTERPRETATION",
        "STUDY COMPONENT",
        "STORED PRINT",
        "MRDR",
        "CURVE",
        "OVERLAY",
        "MODALITY LUT",
        "VOI LUT",
    }
)
MAX_DEPTH = 16
ROOT_OFFSET = tag("OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity")
RECORD_SEQUENCE = tag("DirectoryRecordSequence")
NEXT_OFFSET = tag("OffsetOfTheNextDirectoryRecord")
IN_USE = tag("RecordInUseFlag")
LOWER_OFFSET = tag("OffsetOfReferencedLowerLevelDirectoryEntity")
RECORD_TYPE = tag("DirectoryRecordType")
FILE_ID = tag("ReferencedFileID")
FILE_SOP_CLASS = tag("ReferencedSOPClassUIDInFile")
FILE_SOP_INSTANCE = tag("ReferencedSOPInstanceUIDInFile")
FILE_TRANSFER_SYNTAX = tag("ReferencedTransferSyntaxUIDInFile")
SEALED_DICOMDIR = f"the DICOMDIR is {SEALED}"
RECORD_TAGS = BROWSER_TAGS | {
    NEXT_OFFSET,
    IN_USE,
    LOWER_OFFSET,
    RECORD_TYPE,
    FILE_ID,
    FILE_SOP_CLASS,
    FILE_SOP_INSTANCE,
    FILE_TRANSFER_SYNTAX,
}


@dataclass(frozen=True, slots=True)
class DirectoryRecord:
    """One directory record: the file offset of its item, and its values."""

    offset: int
    values: RawValues


@dataclass(slots=True)
class DicomdirIndex:
    """The instances a DICOMDIR lists and the defects found in it."""

    path: Path
    entries: list[InstanceEntry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class LinkRefusedError(Exception):
    """A file ID leads through a symbolic link: media files are never read through links."""

    def __init__(self, link: Path) -> None:
        super().__init__(str(link))
        self.link = link


class FileIdResolver:
    """Maps DICOMDIR file IDs to regular files under a root, ignoring case when it must.

    Like the folder scan, it never follows a symbolic link: a link on the media could point
    anywhere on the machine (another patient's files, /etc), outside the media root.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._listings: dict[Path, dict[str, str]] = {}

    def resolve(self, components: list[str]) -> tuple[Path | None, bool]:
        """The file's path (None when absent) and whether its name matched exactly.

        Raises LinkRefusedError when the path leads through a symbolic link.
        """
        exact = self.root.joinpath(*components)
        if _regular_file(self.root, components):
            return exact, True
        current = self.root
        actual_names = []
        for component in components:
            actual = self._listing(current).get(component.casefold())
            if actual is None:
                return None, False
            actual_names.append(actual)
            current = current / actual
        return (current, False) if _regular_file(self.root, actual_names) else (None, False)

    def _listing(self, folder: Path) -> dict[str, str]:
        if folder not in self._listings:
            try:
                self._listings[folder] = {p.name.casefold(): p.name for p in folder.iterdir()}
            except OSError:
                self._listings[folder] = {}
        return self._listings[folder]


def _regular_file(root: Path, components: list[str]) -> bool:
    """Whether root/components is a regular file reached without any symbolic link."""
    current = root
    for component in components:
        current = current / component
        try:
            mode = current.lstat().st_mode
        except OSError:
            return False
        if stat.S_ISLNK(mode):
            raise LinkRefusedError(current)
    return stat.S_ISREG(mode)


def read_dicomdir(path: Path, *, resolver: FileIdResolver | None = None) -> DicomdirIndex:
    """List the instances of the DICOMDIR at ``path``; raise HeaderError if it cannot be parsed."""
    root_offset, records, overrun = read_directory_records(path)
    index = DicomdirIndex(path)
    if overrun:
        index.problems.append(
            Problem(path, "the Directory Record Sequence runs past the end of the file")
        )
    by_offset = {record.offset: record for record in records}
    parents = _link_by_offsets(root_offset, by_offset, index.problems, path)
    _place_unlinked(records, parents, index.problems, path)
    resolver = resolver or FileIdResolver(path.parent)
    for record in records:
        record_type = record.values.text(RECORD_TYPE)
        if record_type and record_type not in KNOWN_RECORD_TYPES:
            index.problems.append(
                Problem(
                    path,
                    f"record at byte {record.offset} has unknown type "
                    f"{record_type!r}; its attributes are kept for the records below it",
                )
            )
        if FILE_ID in record.values and record_type not in LEVELS and _in_use(record):
            index.entries.append(_entry(record, parents, by_offset, resolver, index.problems, path))
    index.problems.extend(
        Problem(path, f"record at byte {record.offset}: {note}")
        for record in records
        for note in record.values.notes
    )
    return index


def read_directory_records(path: Path) -> tuple[int, list[DirectoryRecord], bool]:
    """The root record offset, every record of a DICOMDIR in file order, and whether the
    record sequence claims more bytes than the file has (its last record is then cut short)."""
    try:
        with (
            path.open("rb") as handle,
            mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer,
        ):
            return _parse_directory(buffer, len(buffer))
    except (OSError, ValueError) as error:
        raise HeaderError(f"unreadable DICOMDIR: {error}") from error


def _parse_directory(buffer: mmap.mmap, size: int) -> tuple[int, list[DirectoryRecord], bool]:
    if size < PREAMBLE_LENGTH + 4 or buffer[PREAMBLE_LENGTH : PREAMBLE_LENGTH + 4] != DICOM_PREFIX:
        if is_sealed(buffer[:SEALED_HEAD]):
            raise HeaderError(SEALED_DICOMDIR)
        raise HeaderError("unreadable DICOMDIR: not a DICOM file")
    meta, pos = read_meta(buffer, size)
    syntax = meta.get(0x00020010, b"").decode("ascii", "replace").strip("\0 ")
    cursor = open_cursor(buffer, pos, size, syntax)
    top: dict[int, RawElement] = {}
    pos = cursor.collect(pos, size, frozenset({ROOT_OFFSET}), top, frozenset({RECORD_SEQUENCE}))
    if pos >= size:
        raise HeaderError("not a DICOMDIR: it has no Directory Record Sequence")
    root_offset = RawValues(top, cursor.little).integer(ROOT_OFFSET) or 0
    _, _, length, pos = cursor.element_header(pos)
    overrun = length != UNDEFINED_LENGTH and pos + length > size
    end = size if length == UNDEFINED_LENGTH else min(pos + length, size)
    records = []
    try:
        while pos + 8 <= end:
            item_tag, _, item_length, value = cursor.element_header(pos)
            if item_tag == SEQUENCE_DELIMITER:
                break
            if item_tag != ITEM:
                raise HeaderError(f"unreadable DICOMDIR: no record item at byte {pos}")
            elements: dict[int, RawElement] = {}
            if item_length == UNDEFINED_LENGTH:
                stop = cursor.collect(
                    value, end, RECORD_TAGS, elements, frozenset({ITEM_DELIMITER})
                )
                next_pos = stop + 8
            else:
                overrun |= value + item_length > end
                cursor.collect(
                    value, min(value + item_length, end), RECORD_TAGS, elements, frozenset()
                )
                next_pos = value + item_length
            records.append(DirectoryRecord(pos, RawValues(elements, cursor.little)))
            pos = next_pos
    except struct.error as error:
        raise HeaderError("unreadable DICOMDIR: it ends inside a directory record") from error
    return root_offset, records, overrun


def _in_use(record: DirectoryRecord) -> bool:
    """Whether a record is active (Record In-use Flag 0x0000 marks a deleted one)."""
    return record.values.integer(IN_USE) != 0


def _link_by_offsets(
    root_offset: int, by_offset: dict[int, DirectoryRecord], problems: list[Problem], path: Path
) -> dict[int, int | None]:
    """Parent offset of every record the offsets reach, cutting loops and dangling offsets."""
    parents: dict[int, int | None] = {}
    pending: list[tuple[int, int | None]] = [(root_offset, None)] if root_offset else []
    while pending:
        offset, parent = pending.pop()
        while offset:
            if offset in parents:
                problems.append(
                    Problem(
                        path,
                        f"offset loop: the record at byte {offset} is "
                        "reached a second time; the chain is cut there",
                    )
                )
                break
            record = by_offset.get(offset)
            if record is None:
                problems.append(
                    Problem(
                        path, f"broken offset: byte {offset} is not the start of a directory record"
                    )
                )
                break
            parents[offset] = parent
            lower = record.values.integer(LOWER_OFFSET)
            if lower:
                pending.append((lower, offset))
            offset = record.values.integer(NEXT_OFFSET) or 0
    return parents


def _place_unlinked(
    records: list[DirectoryRecord],
    parents: dict[int, int | None],
    problems: list[Problem],
    path: Path,
) -> None:
    """Give every record the offsets did not reach the nearest earlier record of a higher level."""
    latest: dict[int, int] = {}
    unlinked = 0
    for record in records:
        offset = record.offset
        level = LEVELS.get(record.values.text(RECORD_TYPE), LEAF_LEVEL)
        if offset not in parents:
            unlinked += 1
            above = [latest[lvl] for lvl in range(level - 1, -1, -1) if lvl in latest]
            parents[offset] = above[0] if above else None
        latest[level] = offset
        for deeper in range(level + 1, LEAF_LEVEL + 1):
            latest.pop(deeper, None)
    if unlinked:
        problems.append(
            Problem(
                path,
                f"{unlinked} of {len(records)} directory records are not "
                "linked by offsets; they were placed by their order",
            )
        )


def _entry(
    record: DirectoryRecord,
    parents: dict[int, int | None],
    by_offset: dict[int, DirectoryRecord],
    resolver: FileIdResolver,
    problems: list[Problem],
    dicomdir: Path,
) -> InstanceEntry:
    """An instance entry from a leaf record, with the attributes of its ancestor records."""
    entry = InstanceEntry(
        sop_instance_uid=record.values.text(FILE_SOP_INSTANCE),
        sop_class_uid=record.values.text(FILE_SOP_CLASS),
        transfer_syntax_uid=record.values.text(FILE_TRANSFER_SYNTAX),
    )
    offset: int | None = record.offset
    for _ in range(MAX_DEPTH):
        if offset is None:
            break
        fill_entry(entry, by_offset[offset].values)
        offset = parents.get(offset)
    components = _file_id(record)
    if not components:
        problems.append(
            Problem(
                dicomdir,
                f"record at byte {record.offset} has an invalid "
                f"file ID {record.values.text(FILE_ID)!r}",
            )
        )
        entry.status = InstanceStatus.MISSING
        return entry
    file_id = "\\".join(components)
    try:
        found, exact = resolver.resolve(components)
    except LinkRefusedError as refused:
        problems.append(
            Problem(
                refused.link,
                f"listed in the DICOMDIR as {file_id!r} but it leads through a symbolic link; "
                "links on media are not followed (they can point outside the media)",
            )
        )
        entry.status = InstanceStatus.MISSING
        return entry
    if found is None:
        problems.append(
            Problem(
                resolver.root.joinpath(*components),
                f"listed in the DICOMDIR as {file_id!r} but the file is missing",
            )
        )
        entry.status = InstanceStatus.MISSING
        return entry
    if not exact:
        problems.append(
            Problem(
                found,
                f"the DICOMDIR lists {file_id!r}: found only by ignoring "
                "case, on a case-sensitive file system",
            )
        )
    entry.path = found
    return entry


def _file_id(record: DirectoryRecord) -> list[str]:
    """The record's file ID components, or [] when they could escape the media root or hold a
    NUL (no file system has such a name)."""
    components = [c.strip() for c in record.values.text(FILE_ID).split("\\")]
    if not components or any(
        c in ("", ".", "..") or "/" in c or "\\" in c or "\0" in c for c in components
    ):
        return []
    return components
