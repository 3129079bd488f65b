"""De-identified copies of files: sources are only read; each copy is written atomically under
the output folder as ``<new Series Instance UID>/<new SOP Instance UID>.dcm``."""

import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pydicom import Dataset, dcmread
from pydicom.errors import InvalidDicomError
from pydicom.sequence import Sequence

from desktop.core.deid.passthrough import Source, encode, split
from desktop.core.deid.profile import Profile
from desktop.core.errors import CourierError, OutputError
from desktop.core.files import atomic_output, private_folder, write_atomic

#: Makes an Encrypted Attributes Sequence item of the original values (for one recipient).
Protect = Callable[[Dataset], Dataset]


@dataclass(frozen=True, slots=True)
class Copied:
    """One source and its de-identified copy, or why there is none."""

    source: Path
    copy: Path | None = None
    error: str = ""


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
    paths: Iterable[Path], out: Path, profile: Profile, *, protect: Protect | None = None
) -> Iterator[Copied]:
    """A de-identified copy of each file under ``out``; a file that cannot be read or written is
    reported (``Copied.error``) and the others go on. With ``protect``, each copy keeps the
    original values it changed in an Encrypted Attributes Sequence (0400,0500) item."""
    sources = list(source_files(paths))  # a missing path stops us before anything is written
    private_folder(out)
    for source in sources:
        try:
            yield Copied(source, deidentify_file(source, out, profile, protect=protect))
        except CourierError as error:
            yield Copied(source, error=str(error))


def deidentify_file(
    source: Path, out: Path, profile: Profile, *, protect: Protect | None = None
) -> Path:
    """Write the de-identified copy of ``source`` under ``out``; return its path."""
    header = _read(source)
    dataset = header.dataset if header is not None else _read_whole(source)
    if "SOPInstanceUID" not in dataset:
        raise CourierError(f"{source} has no SOP Instance UID: not a DICOM instance")
    if protect is None:
        profile.deidentify(dataset)
    else:
        originals = Dataset()
        profile.deidentify(dataset, originals=originals)
        protected = list(dataset.get("EncryptedAttributesSequence", []))
        dataset.EncryptedAttributesSequence = Sequence([*protected, protect(originals)])
    target = (
        out / str(dataset.get("SeriesInstanceUID", "no-series")) / f"{dataset.SOPInstanceUID}.dcm"
    )
    if target.resolve() == source.resolve():
        raise OutputError(f"{source} would be overwritten by its own copy; choose another --out")
    private_folder(target.parent)
    if header is not None:
        write_atomic(target, encode(header))
    else:
        with atomic_output(target) as temporary:
            dataset.save_as(temporary, enforce_file_format=True)
    return target


def _read(source: Path) -> Source | None:
    """The header and the raw pixels (see ``passthrough.split``)."""
    try:
        return split(source.read_bytes())
    except (InvalidDicomError, EOFError, ValueError, struct.error) as error:
        raise CourierError(f"{source} is not a readable DICOM file ({error})") from None
    except OSError as error:
        raise CourierError(f"cannot read {source}: {error.strerror}") from None


def _read_whole(source: Path) -> Dataset:
    try:
        return dcmread(source)
    except (InvalidDicomError, EOFError, ValueError) as error:
        raise CourierError(f"{source} is not a readable DICOM file ({error})") from None
