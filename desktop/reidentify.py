"""Re-identification by the recipient only: the original values of de-identified attributes,
encrypted for one certificate in an Encrypted Attributes Sequence (0400,0500) item, and put
back with that recipient's keystore identity. Composes the core's data set encoding with the
security layer's CMS envelope."""

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pydicom
from cryptography import x509
from pydicom import Dataset
from pydicom.errors import InvalidDicomError

from desktop.core.deid.batch import Protect
from desktop.core.encrypted_attributes import (
    encrypted_attributes_item,
    encrypted_contents,
    modified_attributes,
    restore,
)
from desktop.core.errors import CourierError
from desktop.core.files import write_atomic
from desktop.security.certificates import load_certificates
from desktop.security.cms import NotRecipientError, SealError, envelope, open_envelope
from desktop.security.keystore import Identity, UnlockedIdentity

if TYPE_CHECKING:
    from desktop.sealing import Holders


def encrypt_originals(originals: Dataset, recipient: x509.Certificate) -> Dataset:
    """An Encrypted Attributes Sequence item that only ``recipient`` can open, holding
    ``originals`` (the original values of every attribute changed or removed)."""
    return encrypted_attributes_item(envelope(modified_attributes(originals), recipient))


def recipient_protection(certificate: Path) -> Protect:
    """Encrypt original values for the certificate in the file ``certificate`` (PEM or DER)."""
    if not certificate.is_file():
        raise CourierError(f"{certificate}: no such certificate file")
    return certificate_protection(certificate.read_bytes(), str(certificate))


def certificate_protection(data: bytes, source: str) -> Protect:
    """Encrypt original values for the (first) certificate of ``data`` (PEM or DER), read from
    ``source`` (named in errors)."""
    recipient = load_certificates(data, source)[0]
    return lambda originals: encrypt_originals(originals, recipient)


def reidentify(
    dataset: Dataset, identity: UnlockedIdentity, *, holders: "Holders | None" = None
) -> int:
    """Restore in place the original values encrypted for ``identity``; the number restored.

    Raises CourierError when the data set has no encrypted attributes or none for this
    identity (the reason for each item in plain words; the one of ``holders``, the keystore's
    identities, that it is encrypted for named).
    """
    reasons = []
    for content in encrypted_contents(dataset):
        try:
            decrypted = open_envelope(content, identity)
        except NotRecipientError as error:
            reasons.append(f"{error}{holders.hint(error) if holders else ''}")
            continue
        except SealError as error:
            reasons.append(str(error))
            continue
        return restore(dataset, decrypted)
    if not reasons:
        raise CourierError("no Encrypted Attributes Sequence: nothing to re-identify")
    raise CourierError("cannot re-identify: " + "; ".join(reasons))


@dataclass(frozen=True, slots=True)
class Reidentified:
    """One de-identified file and its re-identified copy, or why there is none."""

    source: Path
    target: Path | None = None
    restored: int = 0  #: original values put back
    error: str = ""


def reidentify_files(
    jobs: Iterable[tuple[Path, Path]],
    identity: UnlockedIdentity,
    *,
    holders: Iterable[Identity] = (),
    advice: str = "re-identify it with --identity {name}",
) -> Iterator[Reidentified]:
    """Re-identify each ``(file, target)`` with ``identity``, writing the copy to its target;
    a file that cannot be re-identified is reported and the others go on; one whose values
    are encrypted for another of ``holders`` (the keystore's identities) names it, with
    ``advice`` (formatted with its ``name``). Audited as one 110103 DICOM Instances Accessed
    naming the restored patients and the identity."""
    from desktop import auditing
    from desktop.sealing import Holders

    return auditing.copies_written(
        _reidentify_each(jobs, identity, Holders(holders, advice)),
        event="re-identified",
        description=(
            f"re-identified: original patient identifiers restored with identity {identity.name}"
        ),
        written=lambda done: done.target,
    )


def _reidentify_each(
    jobs: Iterable[tuple[Path, Path]], identity: UnlockedIdentity, holders: "Holders"
) -> Iterator[Reidentified]:
    for source, target in jobs:
        try:
            dataset = pydicom.dcmread(source)
            restored = reidentify(dataset, identity, holders=holders)
        except (CourierError, InvalidDicomError) as error:
            yield Reidentified(source, error=str(error))
            continue
        except OSError as error:
            yield Reidentified(source, error=f"cannot read it: {error.strerror}")
            continue
        buffer = io.BytesIO()
        dataset.save_as(buffer)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, buffer.getvalue())
        yield Reidentified(source, target, restored)
