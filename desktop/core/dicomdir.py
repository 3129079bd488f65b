"""Reading a DICOMDIR the way real media needs: tolerant of every defect, silent about none.

The record hierarchy comes from the records' offsets. Records that the offsets do not reach
(offset-less or broken DICOMDIRs) are placed by their order in the sequence, loops and dangling
offsets are cut and reported, and file IDs are resolved inside the media root only, ignoring case
when the exact name is not there.
"""

import warnings
from dataclasses import dataclass, field
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from desktop.core.attributes import fill_entry, integer_value, text_value
from desktop.core.errors import HeaderError
from desktop.core.model import InstanceEntry, InstanceStatus, Problem

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


@dataclass(slots=True)
class DicomdirIndex:
    """The instances a DICOMDIR lists and the defects found in it."""

    path: Path
    entries: list[InstanceEntry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class FileIdResolver:
    """Maps DICOMDIR file IDs to paths under a root, falling back to a case-insensitive match."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._listings: dict[Path, dict[str, str]] = {}

    def resolve(self, components: list[str]) -> tuple[Path | None, bool]:
        """The file's path (None when absent) and whether its name matched exactly."""
        exact = self.root.joinpath(*components)
        if exact.is_file():
            return exact, True
        current = self.root
        for component in components:
            names = self._listing(current)
            actual = names.get(component.casefold())
            if actual is None:
                return None, False
            current = current / actual
        return (current, False) if current.is_file() else (None, False)

    def _listing(self, folder: Path) -> dict[str, str]:
        if folder not in self._listings:
            try:
                self._listings[folder] = {p.name.casefold(): p.name for p in folder.iterdir()}
            except OSError:
                self._listings[folder] = {}
        return self._listings[folder]


def read_dicomdir(path: Path, resolver: FileIdResolver | None = None) -> DicomdirIndex:
    """List the instances of the DICOMDIR at ``path``; raise HeaderError if it cannot be parsed."""
    try:
        with warnings.catch_warnings():  # pydicom warns of what the problems list reports
            warnings.simplefilter("ignore")
            dataset = dcmread(path)
    except (InvalidDicomError, EOFError, ValueError, OSError, KeyError, TypeError) as error:
        raise HeaderError(f"unreadable DICOMDIR: {error}") from error
    records = dataset.get("DirectoryRecordSequence")
    if records is None:
        raise HeaderError("not a DICOMDIR: it has no Directory Record Sequence")
    index = DicomdirIndex(path)
    by_offset = {record.seq_item_tell: record for record in records}
    root_offset = integer_value(dataset, "OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity")
    parents = _link_by_offsets(root_offset or 0, by_offset, index.problems, path)
    _place_unlinked(records, parents, index.problems, path)
    resolver = resolver or FileIdResolver(path.parent)
    for record in records:
        record_type = text_value(record, "DirectoryRecordType")
        if record_type and record_type not in KNOWN_RECORD_TYPES:
            index.problems.append(
                Problem(
                    path,
                    f"record at byte {record.seq_item_tell} has unknown type "
                    f"{record_type!r}; its attributes are kept for the records below it",
                )
            )
        if "ReferencedFileID" in record and record_type not in LEVELS and _in_use(record):
            index.entries.append(_entry(record, parents, by_offset, resolver, index.problems, path))
    return index


def _in_use(record: Dataset) -> bool:
    """Whether a record is active (Record In-use Flag 0x0000 marks a deleted one)."""
    return integer_value(record, "RecordInUseFlag") != 0


def _link_by_offsets(
    root_offset: int, by_offset: dict[int, Dataset], problems: list[Problem], path: Path
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
            lower = integer_value(record, "OffsetOfReferencedLowerLevelDirectoryEntity")
            if lower:
                pending.append((lower, offset))
            offset = integer_value(record, "OffsetOfTheNextDirectoryRecord") or 0
    return parents


def _place_unlinked(
    records: list[Dataset], parents: dict[int, int | None], problems: list[Problem], path: Path
) -> None:
    """Give every record the offsets did not reach the nearest earlier record of a higher level."""
    latest: dict[int, int] = {}
    unlinked = 0
    for record in records:
        offset = record.seq_item_tell
        level = LEVELS.get(text_value(record, "DirectoryRecordType"), LEAF_LEVEL)
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
    record: Dataset,
    parents: dict[int, int | None],
    by_offset: dict[int, Dataset],
    resolver: FileIdResolver,
    problems: list[Problem],
    dicomdir: Path,
) -> InstanceEntry:
    """An instance entry from a leaf record, with the attributes of its ancestor records."""
    entry = InstanceEntry(
        sop_instance_uid=text_value(record, "ReferencedSOPInstanceUIDInFile"),
        sop_class_uid=text_value(record, "ReferencedSOPClassUIDInFile"),
        transfer_syntax_uid=text_value(record, "ReferencedTransferSyntaxUIDInFile"),
    )
    offset: int | None = record.seq_item_tell
    for _ in range(MAX_DEPTH):
        if offset is None:
            break
        fill_entry(entry, by_offset[offset])
        offset = parents.get(offset)
    components = _file_id(record)
    if not components:
        problems.append(
            Problem(
                dicomdir,
                f"record at byte {record.seq_item_tell} has an invalid "
                f"file ID {text_value(record, 'ReferencedFileID')!r}",
            )
        )
        entry.status = InstanceStatus.MISSING
        return entry
    file_id = "\\".join(components)
    found, exact = resolver.resolve(components)
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


def _file_id(record: Dataset) -> list[str]:
    """The record's file ID components, or [] when they could escape the media root."""
    value = record.get("ReferencedFileID")
    components = [value] if isinstance(value, str) else [str(v) for v in value or []]
    components = [c.strip() for c in components]
    if not components or any(c in ("", ".", "..") or "/" in c or "\\" in c for c in components):
        return []
    return components
