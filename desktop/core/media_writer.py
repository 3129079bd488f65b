"""Write PS3.10/PS3.11 general-purpose media: the files copied byte for byte under conformant
File IDs, and a DICOMDIR (Basic Directory IOD, PS3.3 Annex F) indexing them.

The media is built in a hidden folder beside the output and renamed into place only when
complete, so a crash or a failure never leaves half-written media; its top folder stays the
owner's only (0700), as it holds patient data. Sources are only read.

Directory records are encoded here, in Explicit VR Little Endian, from the raw value bytes of
each file's header (desktop.core.header): text keeps its bytes and character set, and no
pydicom element objects are built for the thousands of records of a big study. A leaf that is
not an IMAGE (a report, a presentation state ...) is described by pydicom's recorder for its
type. pydicom's FileSet.add/write is not used: it re-reads every whole file, re-encodes it into
a staging folder and copies it again, and checks membership quadratically.
"""

import itertools
import re
import shutil
import struct
import tempfile
from collections.abc import Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from pydicom import dcmread
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.filebase import DicomBytesIO
from pydicom.fileset import DIRECTORY_RECORDERS, _four_level_record_type
from pydicom.filewriter import write_dataset
from pydicom.uid import ExplicitVRLittleEndian, MediaStorageDirectoryStorage, generate_uid

from desktop.core.errors import HeaderError, OutputError
from desktop.core.files import public_mode, write_atomic
from desktop.core.header import Header, read_header
from desktop.core.model import Problem
from desktop.core.values import RawValues

DICOMDIR_NAME = "DICOMDIR"
FILE_SET_ID_LENGTH = 16  # CS
NOT_ID_CHARACTER = re.compile(r"[^A-Z0-9_]")
ITEM = b"\xfe\xff\x00\xe0"  # (FFFE,E000)
IN_USE = 0xFFFF
MAX_VALUE = 0xFFFE  # an Explicit VR element of these VRs has a 2-byte length
#: The attributes of the PATIENT, STUDY, SERIES and IMAGE records (PS3.3 F.5); True: Type 1.
LEVELS: tuple[tuple[tuple[str, bool], ...], ...] = (
    (("PatientName", False), ("PatientID", True)),
    (
        ("StudyDate", True),
        ("StudyTime", True),
        ("StudyDescription", False),
        ("StudyInstanceUID", True),
        ("StudyID", True),
        ("AccessionNumber", False),
    ),
    (("Modality", True), ("SeriesInstanceUID", True), ("SeriesNumber", True)),
    (("InstanceNumber", True),),
)
#: Type 1 in the records but type 2 (present, may be empty) in the files: an empty one is
#: invented for the record as ``dcmmkdir --invent`` does (the study's, series' or image's
#: ordinal), the file copied unchanged.
INVENTED = ("StudyID", "SeriesNumber", "InstanceNumber")
SKIPPED_NAMED = 3  # reasons an error naming skipped files gives before "and N more"
KEYS = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID")
KINDS = ("PATIENT", "STUDY", "SERIES")
PREFIXES = ("PT", "ST", "SE")
CHARACTER_SET = 0x00080005
COPIERS = 4  # copies in flight: the kernel copies (sendfile) while the next header is read
RECORD_TYPE = 0x00041430
OFFSETS_SIZE = 12 + 10 + 12  # (0004,1400) UL, (0004,1410) US, (0004,1420) UL
EMPTY_SEQUENCE = b"\x04\x00\x20\x12SQ\x00\x00"  # (0004,1220) SQ header, length follows


_TAGS = {k: tag_for_keyword(k) or 0 for level in LEVELS for k, _ in level}
TAGS = frozenset({*_TAGS.values(), CHARACTER_SET})


def _tag(keyword: str) -> int:
    return _TAGS[keyword]


@lru_cache(maxsize=256)
def _record_type(modality: str, sop_class_uid: str) -> str:
    """The leaf record's type (IMAGE, SR DOCUMENT, PRESENTATION ...), as pydicom decides it."""
    dataset = Dataset()
    dataset.Modality, dataset.SOPClassUID = modality, sop_class_uid
    return str(_four_level_record_type(dataset))


@dataclass(frozen=True, slots=True)
class WriteProgress:
    """``done`` of ``total`` files listed; ``path`` is the one being listed and copied."""

    done: int
    total: int
    path: Path | None = None


@dataclass(frozen=True, slots=True)
class WrittenMedia:
    """The media written: its folder, how many instances it holds, the files left out and why,
    and the records whose empty Study ID, Series Number or Instance Number were invented."""

    root: Path
    file_set_id: str
    instances: int
    skipped: list[Problem]
    invented: list[Problem] = field(default_factory=list)


@dataclass(slots=True)
class _Node:
    """One directory record (its elements after the offsets, encoded) and those below it."""

    elements: bytes
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
    check_output(out)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        skipped: list[Problem] = []
        invented: list[Problem] = []
        root: dict[str, _Node] = {}
        listed: set[str] = set()
        # Every header first, then the copies: read beside the copying threads, the headers
        # took three times as long (each open and mmap waited for the GIL).
        targets: list[tuple[Path, Path]] = []
        for done, source in enumerate(files):
            yield WriteProgress(done, len(files), source)
            target = _add(source, root, staging, listed, invented)
            if isinstance(target, str):
                skipped.append(Problem(source, target))
            else:
                targets.append((source, target))
        with ThreadPoolExecutor(COPIERS) as copier:
            list(copier.map(lambda pair: _copy(*pair), targets))  # the first error raised
        if not listed:
            raise OutputError(
                f"no instance could be written to {out}: every file was skipped ({_named(skipped)})"
            )
        write_atomic(staging / DICOMDIR_NAME, _dicomdir(root, fileset), mode=public_mode())
        staging.replace(out)  # an empty folder is replaced too
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    yield WriteProgress(len(files), len(files))
    return WrittenMedia(out, fileset, len(listed), skipped, invented)


def _named(problems: list[Problem]) -> str:
    """The first few problems, each file with its reason, and how many more."""
    named = "; ".join(f"{p.path.name}: {p.reason}" for p in problems[:SKIPPED_NAMED])
    more = len(problems) - SKIPPED_NAMED
    return named + (f"; and {more} more" if more > 0 else "")


def check_output(out: Path) -> None:
    """A new or empty folder whose parent exists: media are never written over others."""
    if out.is_dir():
        if any(out.iterdir()):
            raise OutputError(f"the output folder {out} is not empty: choose a new or empty one")
    elif out.exists():
        raise OutputError(f"the output {out} is a file, not a folder")
    elif not out.parent.is_dir():
        raise OutputError(f"cannot write {out}: the folder {out.parent} does not exist")


def _add(
    source: Path,
    root: dict[str, _Node],
    staging: Path,
    listed: set[str],
    invented: list[Problem],
) -> Path | str:
    """List ``source`` on the staged media and return where to copy it (its folder made), or
    why it cannot be listed; an identifier its records needed invented is added to
    ``invented``."""
    try:
        header = read_header(source, TAGS)
    except HeaderError as error:
        return f"not a readable DICOM file ({error})"
    if not header.transfer_syntax_uid or not header.media_sop_instance_uid:
        return "not a DICOM Part 10 file (its file meta information is incomplete)"
    values = header.values
    assert isinstance(values, RawValues)
    too_long = [k for k, tag in _TAGS.items() if len(values.raw(tag) or b"") > MAX_VALUE]
    if too_long:
        return f"cannot be listed in a DICOMDIR: {', '.join(too_long)} too long"
    kind = _record_type(values.text(_tag("Modality")), header.media_sop_class_uid)
    required = [k for level in LEVELS[: 4 if kind == "IMAGE" else 3] for k, one in level if one]
    missing = [k for k in required if k not in INVENTED and not values.text(_tag(k))]
    if missing:
        return f"cannot be listed in a DICOMDIR: {', '.join(missing)} missing or empty"
    if header.media_sop_instance_uid in listed:
        return "a second copy of an instance already on the media"
    components = _place(root, values, source, invented)
    ordinal = len(_level(root, values))
    components.append(f"IM{ordinal:06d}")
    if kind == "IMAGE":
        values = _invent(values, "InstanceNumber", ordinal + 1, source, invented)
    try:
        leaf = _leaf(kind, values, source, _reference(header, components))
    except (ValueError, InvalidDicomError, OSError) as error:
        return f"cannot be listed in a DICOMDIR: {error}"
    _level(root, values)[header.media_sop_instance_uid] = _Node(leaf, components[-1])
    listed.add(header.media_sop_instance_uid)
    target = staging.joinpath(*components)
    if components[-1] == "IM000000":  # the series' first instance: its folder is new
        target.parent.mkdir(parents=True)
    return target


def _copy(source: Path, target: Path) -> None:
    try:
        shutil.copyfile(source, target)
    except OSError as error:
        raise OutputError(f"cannot copy {source}: {error.strerror or error}") from error


def _place(
    root: dict[str, _Node], values: RawValues, source: Path, invented: list[Problem]
) -> list[str]:
    """The File ID components of the instance's series folder, its missing records made (an
    empty Study ID or Series Number invented)."""
    level, components = root, []
    for depth, keyword in enumerate(KEYS):
        key = values.text(_tag(keyword))
        node = level.get(key)
        if node is None:
            own = values
            if depth:
                own = _invent(values, INVENTED[depth - 1], len(level) + 1, source, invented)
            elements = _record(KINDS[depth], own, LEVELS[depth])
            node = level[key] = _Node(elements, f"{PREFIXES[depth]}{len(level):06d}")
        components.append(node.component)
        level = node.children
    return components


def _invent(
    values: RawValues, keyword: str, ordinal: int, source: Path, invented: list[Problem]
) -> RawValues:
    """``values`` with ``keyword`` set to ``ordinal`` if it is empty (said in ``invented``)."""
    if values.text(_tag(keyword)):
        return values
    invented.append(Problem(source, f"{keyword} empty: {ordinal} in the DICOMDIR"))
    return values.with_raw(_tag(keyword), str(ordinal).encode())


def _level(root: dict[str, _Node], values: RawValues) -> dict[str, _Node]:
    """The instances of the instance's series (after ``_place``)."""
    level = root
    for keyword in KEYS:
        level = level[values.text(_tag(keyword))].children
    return level


def _record(
    kind: str,
    values: RawValues,
    attributes: tuple[tuple[str, bool], ...],
    reference: bytes = b"",
) -> bytes:
    """A record's elements after its offsets: its type, the leaf's references, then the
    attributes with the file's own value bytes."""
    tags = sorted({CHARACTER_SET, *(_tag(k) for k, _ in attributes)})
    return (
        _element(RECORD_TYPE, "CS", kind.encode())
        + reference
        + b"".join(
            _element(tag, str(dictionary_VR(tag)), values.raw(tag) or b"")
            for tag in tags
            if tag != CHARACTER_SET or tag in values
        )
    )


def _leaf(kind: str, values: RawValues, source: Path, reference: bytes) -> bytes:
    """The leaf record's elements: an IMAGE's from the header's bytes, any other type's from
    pydicom's recorder for it."""
    if kind == "IMAGE":
        return _record(kind, values, LEVELS[3], reference)
    record = DIRECTORY_RECORDERS[kind](dcmread(source, stop_before_pixels=True))
    if CHARACTER_SET in values:
        record.SpecificCharacterSet = values.text(CHARACTER_SET).split("\\")
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_dataset(buffer, record)
    return _element(RECORD_TYPE, "CS", kind.encode()) + reference + buffer.getvalue()


def _reference(header: Header, file_id: list[str]) -> bytes:
    """Referenced File ID, SOP Class, SOP Instance and Transfer Syntax UID in File."""
    return (
        _element(0x00041500, "CS", "\\".join(file_id).encode())
        + _element(0x00041510, "UI", header.media_sop_class_uid.encode())
        + _element(0x00041511, "UI", header.media_sop_instance_uid.encode())
        + _element(0x00041512, "UI", header.transfer_syntax_uid.encode())
    )


def _element(tag: int, vr: str, value: bytes) -> bytes:
    """One Explicit VR Little Endian element with a 2-byte length (every VR used here)."""
    if len(value) % 2:
        value += b"\0" if vr == "UI" else b" "
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), len(value)) + value


def _dicomdir(root: dict[str, _Node], fileset: str) -> bytes:
    """The DICOMDIR: the root data set (pydicom) ending in an empty record sequence, then the
    records, whose offsets are known from their lengths before any is written."""
    nodes = list(_depth_first(root))
    meta = _meta()
    start = len(_encode(_directory(fileset, meta, 0, 0)))
    places: dict[int, int] = {}
    position = start
    for node in nodes:
        places[id(node)] = position
        position += 8 + OFFSETS_SIZE + len(node.elements)
    following: dict[int, int] = {}
    _siblings(root, places, following)
    roots = list(root.values())
    header = _encode(_directory(fileset, meta, places[id(roots[0])], places[id(roots[-1])]))
    assert len(header) == start and header[-12:-4] == EMPTY_SEQUENCE
    items = b"".join(_item(node, following.get(id(node), 0), places) for node in nodes)
    return header[:-4] + struct.pack("<L", len(items)) + items


def _depth_first(level: dict[str, _Node]) -> Generator[_Node, None, None]:
    for node in level.values():
        yield node
        yield from _depth_first(node.children)


def _siblings(level: dict[str, _Node], places: dict[int, int], following: dict[int, int]) -> None:
    """The offset of each record's next sibling."""
    nodes = list(level.values())
    for node, sibling in itertools.pairwise(nodes):
        following[id(node)] = places[id(sibling)]
    for node in nodes:
        _siblings(node.children, places, following)


def _item(node: _Node, next_offset: int, places: dict[int, int]) -> bytes:
    lower = places[id(next(iter(node.children.values())))] if node.children else 0
    content = (
        _element(0x00041400, "UL", struct.pack("<L", next_offset))
        + _element(0x00041410, "US", struct.pack("<H", IN_USE))
        + _element(0x00041420, "UL", struct.pack("<L", lower))
        + node.elements
    )
    return ITEM + struct.pack("<L", len(content)) + content


def _meta() -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MediaStorageDirectoryStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return meta


def _directory(fileset: str, meta: FileMetaDataset, first: int, last: int) -> Dataset:
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.preamble = b"\0" * 128
    dataset.FileSetID = fileset
    dataset.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity = first
    dataset.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity = last
    dataset.FileSetConsistencyFlag = 0
    dataset.DirectoryRecordSequence = []
    return dataset


def _encode(dataset: Dataset) -> bytes:
    buffer = BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
