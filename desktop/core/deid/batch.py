"""De-identified copies of files: sources are only read; each copy is written atomically under
the output folder as ``<new Series Instance UID>/<new SOP Instance UID>.dcm``, its burned-in
text masked first when a pixel policy is given."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from desktop.core.deid.masking import clean_pixels
from desktop.core.deid.pixels import PixelPolicy
from desktop.core.deid.profile import Profile
from desktop.core.errors import CourierError, OutputError
from desktop.core.files import atomic_output, private_folder


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
    paths: Iterable[Path], out: Path, profile: Profile, *, pixels: PixelPolicy | None = None
) -> Iterator[Copied]:
    """A de-identified copy of each file under ``out``; a file that cannot be read, cleaned or
    written is reported (``Copied.error``) and the others go on."""
    sources = list(source_files(paths))  # a missing path stops us before anything is written
    private_folder(out)
    for source in sources:
        try:
            yield Copied(source, deidentify_file(source, out, profile, pixels=pixels))
        except CourierError as error:
            yield Copied(source, error=str(error))


def deidentify_file(
    source: Path, out: Path, profile: Profile, *, pixels: PixelPolicy | None = None
) -> Path:
    """Write the de-identified copy of ``source`` under ``out``; return its path."""
    dataset = read_instance(source)
    boxes = () if pixels is None else pixels.boxes(source, dataset)  # from the original header
    profile.deidentify(dataset)
    if boxes:
        clean_pixels(dataset, boxes)
    target = (
        out / str(dataset.get("SeriesInstanceUID", "no-series")) / f"{dataset.SOPInstanceUID}.dcm"
    )
    if target.resolve() == source.resolve():
        raise OutputError(f"{source} would be overwritten by its own copy; choose another --out")
    private_folder(target.parent)
    with atomic_output(target) as temporary:
        dataset.save_as(temporary, enforce_file_format=True)
    return target


def read_instance(source: Path) -> Dataset:
    """``source`` read whole; CourierError when it is not a DICOM instance."""
    try:
        dataset = dcmread(source)
    except (InvalidDicomError, EOFError, ValueError) as error:
        raise CourierError(f"{source} is not a readable DICOM file ({error})") from None
    except OSError as error:
        raise CourierError(f"cannot read {source}: {error.strerror}") from None
    if "SOPInstanceUID" not in dataset:
        raise CourierError(f"{source} has no SOP Instance UID: not a DICOM instance")
    return dataset
