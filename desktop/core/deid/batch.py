"""De-identified copies of files: sources are only read; each copy is written atomically under
the output folder as ``<new Series Instance UID>/<new SOP Instance UID>.dcm``, its burned-in
text masked first when a pixel policy is given.

A copy whose pixels stay as they are is written from the header alone, the pixels copied as
stored from the source; one whose pixels are masked is read whole. pydicom is imported only
for a file the bytes path (``raw``) leaves to the data set path (``dataset_copy``)."""

import contextlib
import logging
import mmap
import os
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from desktop.core.audit.events import Study
from desktop.core.audit.studies import STUDY_TAGS, instance_in
from desktop.core.deid.profile import Profile
from desktop.core.deid.raw import deidentify_header
from desktop.core.deid.signs import SIGN_TAGS, signs_in, unsearched
from desktop.core.errors import CourierError, OutputError
from desktop.core.files import AtomicBatch, private_folder, sweep_leftovers
from desktop.core.filing import safe_component
from desktop.core.values import RawValues

if TYPE_CHECKING:
    from pydicom import Dataset

    from desktop.core.deid.pixels import PixelPolicy

log = logging.getLogger(__name__)
#: Makes an Encrypted Attributes Sequence item of the original values (for one recipient).
Protect = Callable[["Dataset"], "Dataset"]
#: Copies flushed to disk and moved into place together (one flush of the disk for 64 CT
#: copies, 32 MB: bench/README.md).
BATCH = 64
#: The header's tags a copy made from its bytes reads on the way: the audit's study, and the
#: signs of burned-in text.
READ_TAGS = STUDY_TAGS | SIGN_TAGS


@dataclass(frozen=True, slots=True)
class Read:
    """What a source's header said on the way to its copy: its study (for the audit) and
    why its pixels may show text (``signs.signs_in``)."""

    study: Study
    signs: tuple[str, ...]


#: One source's outcome: what its header said when its copy is written (None: read it from
#: the source), else why there is no copy.
Outcome = tuple[Path, "Read | None", str]


@dataclass(frozen=True, slots=True)
class Copied:
    """One source and its de-identified copy, or why there is none."""

    source: Path
    copy: Path | None = None
    error: str = ""
    study: Study | None = None  #: the source's study, when read on the way (for the audit)
    #: why its pixels may show text, when read on the way (None: ``signs.unsearched`` reads it)
    signs: tuple[str, ...] | None = None


def source_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The files named, folders searched recursively (DICOMDIR and hidden files left out)."""
    for path in paths:
        if path.is_dir():
            for found in sorted(p for p in path.rglob("*") if p.is_file()):
                if found.name != "DICOMDIR" and not found.name.startswith("."):
                    yield found
        elif path.is_file():
            yield path
        else:
            raise CourierError(f"{path} does not exist")


def deidentify_files(
    paths: Iterable[Path],
    out: Path,
    profile: Profile,
    *,
    protect: Protect | None = None,
    pixels: "PixelPolicy | None" = None,
) -> Iterator[Copied]:
    """A de-identified copy of each file under ``out``; a file that cannot be read, cleaned or
    written is reported (``Copied.error``) and the others go on. With ``protect``, each copy
    keeps the original values it changed in an Encrypted Attributes Sequence (0400,0500) item;
    with ``pixels``, the burned-in text it finds is masked. Partial copies a stopped run
    left in ``out`` (its temporary files) are removed first, and said."""
    sources = list(source_files(paths))  # a missing path stops us before anything is written
    if out.is_dir():
        left = sweep_leftovers(out)
        if left:
            log.warning(
                "removed %d partial copies (.dc-*.tmp) a stopped run left in %s",
                len(left),
                out,
            )
    yield from copy_files(sources, out, profile, protect=protect, pixels=pixels)


def copy_files(
    sources: Iterable[Path],
    out: Path,
    profile: Profile,
    *,
    protect: Protect | None = None,
    pixels: "PixelPolicy | None" = None,
    workers: int | None = None,
) -> Iterator[Copied]:
    """``deidentify_files`` of files already found: each reported once its copy is on disk
    (copies are flushed to disk and moved into place ``BATCH`` at a time). Header-only copies
    are made by ``workers`` processes (``parallel``; None: one a core for many files; 0: by
    this process)."""
    from desktop.core.deid import parallel

    private_folder(out)
    sources = list(sources)
    batch = AtomicBatch()
    if pixels is not None or protect is not None:
        workers = 0
    elif workers is None:
        workers = parallel.workers_for(len(sources))
    if workers:
        made = parallel.made_by_workers(sources, out, profile, batch, workers=workers)
    else:
        made = _made_here(sources, out, profile, protect, pixels, batch)
    yield from in_batches(made, batch)


def in_batches(made: Generator[Outcome, None, None], batch: AtomicBatch) -> Iterator[Copied]:
    """Each outcome reported in order, a written copy once it is moved into place: the copies
    of ``batch`` committed ``BATCH`` at a time, and before a failure is reported. Stopped
    early, ``made`` is closed and the copies not moved are removed."""
    written: list[tuple[Path, Read | None]] = []
    try:
        for source, read, error in made:
            if error:
                yield from _committed(batch, written)
                yield Copied(source, error=error)
            else:
                written.append((source, read))
            if len(batch) >= BATCH:
                yield from _committed(batch, written)
        yield from _committed(batch, written)
    finally:
        made.close()
        batch.discard()


def _made_here(
    sources: Iterable[Path],
    out: Path,
    profile: Profile,
    protect: Protect | None,
    pixels: "PixelPolicy | None",
    batch: AtomicBatch,
) -> Generator[Outcome, None, None]:
    """Each source's copy written into ``batch`` by this process."""
    targets = Targets(out)
    for source in sources:
        try:
            read = copy_into(source, profile, protect, pixels, batch, targets)
        except CourierError as error:
            yield source, None, str(error)
        else:
            yield source, read, ""


def deidentify_file(
    source: Path,
    out: Path,
    profile: Profile,
    *,
    protect: Protect | None = None,
    pixels: "PixelPolicy | None" = None,
) -> Path:
    """Write the de-identified copy of ``source`` under ``out``; return its path."""
    (done,) = copy_files([source], out, profile, protect=protect, pixels=pixels)
    if done.copy is None:
        raise CourierError(done.error)
    return done.copy


def _committed(batch: AtomicBatch, written: list[tuple[Path, Read | None]]) -> Iterator[Copied]:
    """Move the batch's copies into place and report them (or why they could not be)."""
    if not written:
        return
    sources = list(written)
    written.clear()
    try:
        copies = batch.commit()
    except OSError as error:
        for source, _ in sources:
            yield Copied(source, error=f"cannot write its copy: {error.strerror or error}")
        return
    for (source, read), copy in zip(sources, copies, strict=True):
        if read is None:
            yield Copied(source, copy)
        else:
            yield Copied(source, copy, study=read.study, signs=read.signs)


def copy_into(
    source: Path,
    profile: Profile,
    protect: Protect | None,
    pixels: "PixelPolicy | None",
    batch: AtomicBatch,
    targets: "Targets",
) -> Read | None:
    """Write ``source``'s copy into ``batch``: from its header's bytes when it can
    (``raw``: what the header says is read on the way and returned), else through pydicom's
    data set (``dataset_copy``: None)."""
    if pixels is not None:
        from desktop.core.deid.dataset_copy import masked

        _refuse_damaged(source)
        dataset = masked(source, profile, protect, pixels)
        if dataset is not None:
            with _writing(source), batch.output(targets.of_dataset(source, dataset)) as copy:
                dataset.save_as(copy, enforce_file_format=True)
            return None
    with _mapped(source) as (handle, data):
        # the bytes path takes only a whole file: its pixels end exactly where the file does
        raw = deidentify_header(data, profile, keep=READ_TAGS) if protect is None else None
        if raw is not None:
            values = RawValues(raw.originals, True)
            signs = signs_in(values)
            if signs and pixels is None:  # the copy says its pixels may show text
                marked = deidentify_header(data, profile.unsearched(), keep=READ_TAGS)
                assert marked is not None, "the same bytes: only the records differ"
                raw = marked
            target = targets.of(source, raw.series_instance_uid, raw.sop_instance_uid)
            with batch.output(target) as copy:
                copy.write(raw.header)
                _copy_tail(handle, data, copy, raw.pixels)
            return Read(instance_in(values)[1], signs)
        from desktop.core.deid.dataset_copy import deidentified, write_copy

        _refuse_damaged(source)
        if pixels is None and unsearched(source):
            profile = profile.unsearched()
        dataset, header = deidentified(source, data, profile, protect)
        with _writing(source), batch.output(targets.of_dataset(source, dataset)) as copy:
            write_copy(copy, dataset, header)
        return None


@contextmanager
def _writing(source: Path) -> Iterator[None]:
    """pydicom's writer failing on a data set it read (one whose transfer syntax says
    explicit VR over an implicit VR data set, say): that file's reason, not the run's end."""
    import struct

    try:
        yield
    except (TypeError, ValueError, OverflowError, struct.error) as error:
        said = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CourierError(
            f"{source}: its de-identified copy cannot be written (its data set does not fit "
            f"its transfer syntax or is malformed: {said})"
        ) from None


def _refuse_damaged(source: Path) -> None:
    """A file ``tree`` calls damaged (a header or pixel data cut short) gets no copy: pydicom
    would read what is there and the copy, well-formed, would hide the damage."""
    from desktop.core.errors import NotDicomError
    from desktop.core.header import read_header
    from desktop.core.integrity import pixel_data_defect

    try:
        defect = pixel_data_defect(read_header(source))
    except NotDicomError:
        return  # not Part 10: pydicom's own reading says what it is
    except CourierError as error:
        raise CourierError(f"{source} is damaged ({error}): not de-identified") from None
    if defect:
        raise CourierError(f"{source} is damaged ({defect}): not de-identified")


class Targets:
    """Where each copy goes, ``<series>/<instance>.dcm`` under the output folder (folders made
    once); never over its own source, nor over a copy this run already made (two files of one
    SOP Instance UID, as media often hold: the second is refused, naming the first). A worker
    process's (``claim=False``) leaves that to the run's ``claim``."""

    def __init__(self, out: Path, *, claim: bool = True) -> None:
        self.out = out
        self.folders = {out}
        self.claims = claim
        self.made: dict[Path, Path] = {}  # copy → its source

    def of_dataset(self, source: Path, dataset: "Dataset") -> Path:
        series = dataset.get("SeriesInstanceUID")
        return self.of(source, series, str(dataset.SOPInstanceUID))

    def of(self, source: Path, series: object, sop: str) -> Path:
        # UIDs kept (retain-uids) are the file's own: any text, '../..' or '/abs' too
        folder = safe_component(str(series or ""), "no-series")
        target = self.out / folder / f"{safe_component(sop, 'instance')}.dcm"
        if target.name == source.name and target.resolve() == source.resolve():
            raise OutputError(
                f"{source} would be overwritten by its own copy; choose another --out"
            )
        if self.claims:
            self.claim(source, target)
        if target.parent not in self.folders:
            private_folder(target.parent)
            self.folders.add(target.parent)
        return target

    def claim(self, source: Path, target: Path) -> None:
        """``target`` is ``source``'s copy: CourierError if another source of the run has
        it already."""
        first = self.made.get(target)
        if first is not None:
            raise CourierError(
                f"{source} holds the same instance (SOP Instance UID) as {first}, already "
                f"copied to {target}: not copied again"
            )
        self.made[target] = source


@contextmanager
def _mapped(source: Path) -> Iterator[tuple[BinaryIO, mmap.mmap]]:
    """The source file open and mapped read-only (pixels are copied from it, never read
    whole)."""
    try:
        handle = source.open("rb")
    except OSError as error:
        raise CourierError(f"cannot read {source}: {error.strerror}") from None
    with handle:
        try:
            if not os.fstat(handle.fileno()).st_size:
                raise CourierError(f"{source} is not a readable DICOM file (it is empty)")
            data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError as error:
            raise CourierError(f"cannot read {source}: {error.strerror}") from None
        with data:
            yield handle, data


def _copy_tail(source: BinaryIO, data: mmap.mmap, out: BinaryIO, start: int) -> None:
    """Append ``source`` from ``start`` on to ``out``: inside the kernel where the system
    can (``copy_file_range``: no copy through this process's memory), else from the mapping."""
    out.flush()
    position, end = start, len(data)
    copy_range = getattr(os, "copy_file_range", None)
    with contextlib.suppress(OSError):  # not on this file system: the rest from the mapping
        while copy_range is not None and position < end:
            copied = copy_range(source.fileno(), out.fileno(), end - position, position)
            if not copied:
                break
            position += copied
    if position < end:
        out.write(memoryview(data)[position:])


def read_instance(source: Path) -> "Dataset":
    """``source`` read whole with pydicom; CourierError when it is not a DICOM instance."""
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    try:
        dataset = dcmread(source)
    except (InvalidDicomError, EOFError, ValueError) as error:
        raise CourierError(f"{source} is not a readable DICOM file ({error})") from None
    except OSError as error:
        raise CourierError(f"cannot read {source}: {error.strerror}") from None
    if "SOPInstanceUID" not in dataset:
        raise CourierError(f"{source} has no SOP Instance UID: not a DICOM instance")
    return dataset
