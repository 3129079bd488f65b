"""Write PS3.10/PS3.11 general-purpose media: the files copied byte for byte under conformant
File IDs, and a DICOMDIR (Basic Directory IOD, PS3.3 Annex F) indexing them.

The media is built in a hidden folder beside the output and renamed into place only when
complete, so a crash or a failure never leaves half-written media. Sources are only read.
"""

import os
import re
import shutil
import tempfile
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.fileset import DIRECTORY_RECORDERS, _four_level_record_type
from pydicom.uid import ExplicitVRLittleEndian, MediaStorageDirectoryStorage, generate_uid

from desktop.core.errors import OutputError
from desktop.core.files import public_mode, write_atomic
from desktop.core.model import Problem

DICOMDIR_NAME = "DICOMDIR"
#: The offsets a directory record holds, each an UL of fixed size.
NEXT = "OffsetOfTheNextDirectoryRecord"
LOWER = "OffsetOfReferencedLowerLevelDirectoryEntity"
FILE_SET_ID_LENGTH = 16  # CS
NOT_ID_CHARACTER = re.compile(r"[^A-Z0-9_]")


@dataclass(frozen=True, slots=True)
class WriteProgress:
    """``done`` of ``total`` instances copied; ``path`` is the source being copied."""

    done: int
    total: int
    path: Path | None = None


@dataclass(frozen=True, slots=True)
class WrittenMedia:
    """The media written: its folder, how many instances it holds, the files left out and why."""

    root: Path
    file_set_id: str
    instances: int
    skipped: list[Problem]


@dataclass(slots=True)
class _Node:
    """One directory record and the records below it."""

    record: Dataset
    component: str  # its folder's or file's name on the media
    children: dict[str, "_Node"] = field(default_factory=dict)


def file_set_id(text: str) -> str:
    """``text`` as a File-set ID (also the ISO 9660 volume identifier): upper case, A–Z, 0–9
    and _, at most 16 characters."""
    return NOT_ID_CHARACTER.sub("_", text.upper())[:FILE_SET_ID_LENGTH]


def write_media(
    files: Sequence[Path], out: Path, *, fileset: str = ""
) -> Generator[WriteProgress, None, WrittenMedia]:
    """Write ``files`` as media in the folder ``out`` (missing or empty), yielding progress.

    A file that cannot be read, or lacks what its directory record needs, is left out and
    reported in ``WrittenMedia.skipped``; raise OutputError when nothing can be written.
    """
    out = Path(out).absolute()
    _check_output(out)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        skipped: list[Problem] = []
        root: dict[str, _Node] = {}
        written = 0
        for done, source in enumerate(files):
            yield WriteProgress(done, len(files), source)
            reason = _add(source, root, staging)
            if reason is None:
                written += 1
            else:
                skipped.append(Problem(source, reason))
        if not written:
            raise OutputError(f"no instance could be written to {out}: every file was skipped")
        write_atomic(staging / DICOMDIR_NAME, _dicomdir(root, fileset), mode=public_mode())
        staging.chmod(0o777 & ~_umask())
        staging.replace(out)  # an empty folder is replaced too
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    yield WriteProgress(len(files), len(files))
    return WrittenMedia(out, fileset, written, skipped)


def _check_output(out: Path) -> None:
    if out.is_dir():
        if any(out.iterdir()):
            raise OutputError(f"the output folder {out} is not empty: choose a new or empty one")
    elif out.exists():
        raise OutputError(f"the output {out} is a file, not a folder")
    elif not out.parent.is_dir():
        raise OutputError(f"cannot write {out}: the folder {out.parent} does not exist")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _add(source: Path, root: dict[str, _Node], staging: Path) -> str | None:
    """Copy ``source`` into the staged media and list it; return why not when it cannot be."""
    try:
        dataset = dcmread(source, stop_before_pixels=True)
    except (InvalidDicomError, OSError, ValueError, EOFError) as error:
        return f"not a readable DICOM file ({error})"
    meta = dataset.file_meta
    if "TransferSyntaxUID" not in meta or "MediaStorageSOPInstanceUID" not in meta:
        return "not a DICOM Part 10 file (its file meta information is missing)"
    try:
        records = [
            DIRECTORY_RECORDERS[kind](dataset)
            for kind in ("PATIENT", "STUDY", "SERIES", _four_level_record_type(dataset))
        ]
    except (ValueError, KeyError) as error:
        return f"cannot be listed in a DICOMDIR: {error}"
    keys = (
        str(dataset.PatientID),
        str(dataset.StudyInstanceUID),
        str(dataset.SeriesInstanceUID),
        str(meta.MediaStorageSOPInstanceUID),
    )
    level, components = root, []
    for depth, (key, record) in enumerate(zip(keys, records, strict=True)):
        node = level.get(key)
        if node is not None and depth == 3:
            return "a second copy of an instance already on the media"
        if node is None:
            node = level[key] = _Node(record, f"{_PREFIXES[depth]}{len(level):06d}")
            record.DirectoryRecordType = _KINDS[depth] or _four_level_record_type(dataset)
            if "SpecificCharacterSet" in dataset:
                record.SpecificCharacterSet = dataset.SpecificCharacterSet
        components.append(node.component)
        level = node.children
    _reference(records[3], meta, components)
    target = staging.joinpath(*components)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return None


_KINDS = ("PATIENT", "STUDY", "SERIES", "")
_PREFIXES = ("PT", "ST", "SE", "IM")


def _reference(record: Dataset, meta: FileMetaDataset, file_id: list[str]) -> None:
    record.ReferencedFileID = file_id
    record.ReferencedSOPClassUIDInFile = meta.MediaStorageSOPClassUID
    record.ReferencedSOPInstanceUIDInFile = meta.MediaStorageSOPInstanceUID
    record.ReferencedTransferSyntaxUIDInFile = meta.TransferSyntaxUID


def _dicomdir(root: dict[str, _Node], fileset: str) -> bytes:
    """The DICOMDIR of the tree, offsets filled: encoded once to learn where each record
    starts, then again with the offsets (each a fixed-size UL, so nothing moves)."""
    records = _flatten(root)
    dataset = _directory(fileset, records)
    first = _encode(dataset)
    starts = [item.seq_item_tell for item in dcmread(BytesIO(first)).DirectoryRecordSequence]
    where = {id(record): start for record, start in zip(records, starts, strict=True)}
    _link(root, where)
    roots = list(root.values())
    dataset.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity = where[id(roots[0].record)]
    dataset.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity = where[id(roots[-1].record)]
    final = _encode(dataset)
    assert len(final) == len(first)
    return final


def _flatten(level: dict[str, _Node]) -> list[Dataset]:
    """Every record, each followed by the records below it (depth first)."""
    records: list[Dataset] = []
    for node in level.values():
        node.record.OffsetOfTheNextDirectoryRecord = 0
        node.record.RecordInUseFlag = 0xFFFF
        node.record.OffsetOfReferencedLowerLevelDirectoryEntity = 0
        records.append(node.record)
        records.extend(_flatten(node.children))
    return records


def _link(level: dict[str, _Node], where: dict[int, int]) -> None:
    nodes = list(level.values())
    for node, following in zip(nodes, [*nodes[1:], None], strict=True):
        if following is not None:
            setattr(node.record, NEXT, where[id(following.record)])
        if node.children:
            setattr(node.record, LOWER, where[id(next(iter(node.children.values())).record)])
            _link(node.children, where)


def _directory(fileset: str, records: list[Dataset]) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MediaStorageDirectoryStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.preamble = b"\0" * 128
    dataset.FileSetID = fileset
    dataset.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity = 0
    dataset.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity = 0
    dataset.FileSetConsistencyFlag = 0
    dataset.DirectoryRecordSequence = records
    return dataset


def _encode(dataset: Dataset) -> bytes:
    buffer = BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
