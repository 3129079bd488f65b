"""De-identified copies as ``dicom-courier deid`` and the GUI's De-identify… make them: the
profile under a project key, the recipient who alone may re-identify, and the burned-in text
searched before the copies are written (``--pixels review``: the boxes found go to a review
file on the command line, to a person in the GUI, then are masked as given back)."""

from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.core.deid.batch import Copied, Protect, deidentify_files, read_instance, source_files
from desktop.core.deid.keys import default_key_file, project_key
from desktop.core.deid.mapping import KeyedMapping
from desktop.core.deid.profile import Profile
from desktop.core.deid.table import Option
from desktop.core.errors import CourierError

if TYPE_CHECKING:  # pixels, OCR and the CMS code load only for a run that needs them
    from desktop.core.deid.burned_in import Finding
    from desktop.core.deid.pixels import PixelPolicy


@dataclass(frozen=True, slots=True)
class Searched:
    """One file searched for burned-in text: its original SOP Instance UID and what was found,
    or why it could not be searched."""

    source: Path
    uid: str = ""
    finding: "Finding | None" = None
    error: str = ""


def make_profile(options: frozenset[Option], key_file: Path | None = None) -> Profile:
    """The profile with ``options`` under the project key of ``key_file`` (default: the
    home's, made 0600 when missing)."""
    return Profile(KeyedMapping(project_key(key_file or default_key_file())), options)


def protection(recipient: Path | bytes | None) -> Protect | None:
    """Keep the original values encrypted for ``recipient``: a certificate file, or a
    certificate's PEM or DER bytes (a keystore entry); None: not re-identifiable."""
    if recipient is None:
        return None
    from desktop.reidentify import certificate_protection, recipient_protection

    if isinstance(recipient, Path):
        return recipient_protection(recipient)
    return certificate_protection(recipient, "the recipient's certificate")


def check_ocr() -> None:
    """Load the OCR engine now, so that a missing one is one error, not one per file."""
    from desktop.core.deid.ocr import engine

    engine()


def search(paths: Iterable[Path]) -> Generator[Searched, None, None]:
    """Each file of ``paths`` searched for burned-in text (the boxes ``--pixels auto`` would
    mask); a file that cannot be read or searched is reported and the others go on."""
    from desktop.core.deid.burned_in import find_text

    check_ocr()
    for source in source_files(paths):
        try:
            dataset = read_instance(source)
            yield Searched(source, str(dataset.SOPInstanceUID), find_text(source, dataset))
        except CourierError as error:
            yield Searched(source, error=str(error))


def copies(
    paths: Iterable[Path],
    out: Path,
    *,
    options: frozenset[Option],
    key_file: Path | None = None,
    recipient: Path | bytes | None = None,
    pixels: "PixelPolicy | None" = None,
) -> Generator[Copied, None, None]:
    """The de-identified copy of each file of ``paths`` under ``out``, or why there is none
    (``deidentify_files``), with the profile and the recipient's protection made here: on the
    caller's thread, a worker's in the GUI."""
    from desktop import auditing

    paths = list(paths)
    check_output(paths, out)
    protect = protection(recipient)
    profile = make_profile(options, key_file)
    sealed = " (the original values encrypted for a recipient)" if protect else ""
    yield from auditing.copies_written(
        deidentify_files(paths, out, profile, protect=protect, pixels=pixels),
        event="export",
        description=f"de-identified copies{sealed}",
        written=lambda done: done.copy,
        study=lambda done: done.study,
    )


def check_output(paths: Iterable[Path], out: Path) -> None:
    """The copies go to a folder of their own: not a file, neither inside the data being
    de-identified nor holding it (the copies would mix with the identified originals there,
    and a second run would read its own output)."""
    if out.exists() and not out.is_dir():
        raise CourierError(f"{out} is a file: --out names the folder the copies go to")
    target = out.resolve()
    for path in paths:
        source = path.resolve()
        if target == source or (source.is_dir() and target.is_relative_to(source)):
            raise CourierError(
                f"{out} is inside {path}, which is being de-identified: choose a folder outside it"
            )
        if source.is_relative_to(target):
            raise CourierError(
                f"{out} holds {path}, which is being de-identified: the copies would mix with "
                "the identified originals there; choose a folder outside it"
            )


def with_signs(
    made: Iterable[Copied], *, searched: bool
) -> Iterator[tuple[Copied, tuple[str, ...]]]:
    """Each outcome of ``copies`` with why its copy's pixels may still show the patient: the
    header's signs of burned-in text when the pixels were not searched (the profile cleans
    the header only), else none. The signs come from the bytes the copy was made from, or
    are read from the source (``signs.unsearched``) when the copy was made through pydicom."""
    from desktop.core.deid.signs import unsearched

    for done in made:
        if done.copy is None or searched:
            yield done, ()
        else:
            yield done, (done.signs if done.signs is not None else unsearched(done.source))
