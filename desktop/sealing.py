"""Secure DICOM files (PS3.10 §7.4), as ``dicom-courier seal``/``unseal`` and the GUI's Seal…
and Open sealed files… make and open them: each file encrypted for one recipient around its
signature or digest; opened with the recipient's identity, the inner signature checked against
the keystore's trusted CAs (or the digest), written back as plain DICOM files."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from desktop import auditing
from desktop.core.errors import CourierError
from desktop.core.files import write_atomic

if TYPE_CHECKING:
    from cryptography import x509

    from desktop.security.cms import Opened
    from desktop.security.keystore import Keystore, UnlockedIdentity
    from desktop.security.signing import Trust

PREAMBLE_AND_PREFIX = slice(128, 132)


def part10(head: bytes) -> bool:
    """Whether ``head`` (a file's first 132 bytes or more) starts a DICOM Part 10 file."""
    return head[PREAMBLE_AND_PREFIX] == b"DICM"


@dataclass(frozen=True, slots=True)
class Unsealed:
    """One sealed file and its opened copy (how it was checked), or why it was not opened."""

    source: Path
    target: Path | None = None
    checked: str = ""
    error: str = ""


@dataclass(frozen=True, slots=True)
class Sealed:
    """One DICOM file and its sealed copy, or why there is none."""

    source: Path
    target: Path | None = None
    error: str = ""


def recipient_certificate(recipient: Path | bytes) -> "x509.Certificate":
    """The certificate of a file (PEM or DER), or of its bytes (a keystore entry's PEM)."""
    from desktop.security.certificates import load_certificates

    if isinstance(recipient, bytes):
        return load_certificates(recipient, "the recipient's certificate")[0]
    if not recipient.is_file():
        raise CourierError(f"{recipient}: no such certificate file")
    return load_certificates(recipient.read_bytes(), str(recipient))[0]


def signer_of(keystore: "Keystore", name: str) -> "UnlockedIdentity":
    """The keystore identity ``name`` unlocked to sign; refused when expired or not for
    signing."""
    import datetime as dt

    from desktop.security.signing import signer

    identity = auditing.unlock(keystore, name)
    signer(identity, dt.datetime.now(dt.UTC))
    return identity


def seal_files(
    jobs: Iterable[tuple[Path, Path]],
    recipient: "x509.Certificate",
    signer: "UnlockedIdentity | None",
) -> Iterator[Sealed]:
    """Seal each ``(DICOM file, target)`` for ``recipient``, signed by ``signer`` inside the
    envelope (else a SHA-256 digest); a file that is not DICOM is reported, the others go on.
    Audited as one 110106 Export naming the recipient."""
    from desktop.security.certificates import describe

    info = describe(recipient)
    how = f"signed by identity {signer.name}" if signer else "SHA-256 digest"
    return auditing.copies_written(
        _seal_each(jobs, recipient, signer),
        event="export",
        description=f"sealed for {info.subject} (SHA-256 {info.fingerprint}), {how}",
        written=lambda done: done.target,
    )


def _seal_each(
    jobs: Iterable[tuple[Path, Path]],
    recipient: "x509.Certificate",
    signer: "UnlockedIdentity | None",
) -> Iterator[Sealed]:
    from desktop.security.cms import seal

    for source, target in jobs:
        try:
            content = source.read_bytes()
        except OSError as error:
            yield Sealed(source, error=f"cannot read it: {error.strerror}")
            continue
        if not part10(content):
            yield Sealed(source, error="not a DICOM file")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, seal(content, recipient, signer))
        yield Sealed(source, target)


def opened(sealed: bytes, identity: "UnlockedIdentity", trust: "Trust") -> "Opened":
    """The sealed file opened and checked; CourierError with the reason if it cannot be used."""
    from desktop.security.cms import open_sealed

    if part10(sealed):
        raise CourierError("a plain DICOM file, not sealed")
    result = open_sealed(sealed, identity, trust)
    if not part10(result.content):
        raise CourierError("its content is not a DICOM file")
    if result.judgement.verdict != "valid":
        raise CourierError(
            f"signer {result.signer} not accepted ({result.judgement.verdict}): "
            f"{result.judgement.reason}"
        )
    return result


def unseal_files(
    jobs: Iterable[tuple[Path, Path]], identity: "UnlockedIdentity", trust: "Trust"
) -> Iterator[Unsealed]:
    """Open each ``(sealed file, target)``, writing the DICOM file inside to its target; a
    file that cannot be opened is reported and the others go on. Audited as one 110103 DICOM
    Instances Accessed naming the identity."""
    return auditing.copies_written(
        _unseal_each(jobs, identity, trust),
        event="opened",
        description=f"sealed files opened with identity {identity.name}",
        written=lambda done: done.target,
    )


def _unseal_each(
    jobs: Iterable[tuple[Path, Path]], identity: "UnlockedIdentity", trust: "Trust"
) -> Iterator[Unsealed]:
    for source, target in jobs:
        try:
            result = opened(source.read_bytes(), identity, trust)
        except CourierError as error:
            yield Unsealed(source, error=str(error))
            continue
        except OSError as error:
            yield Unsealed(source, error=f"cannot read it: {error.strerror}")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, result.content)
        checked = (
            f"signature of {result.signer} valid"
            if result.protection == "signed"
            else "digest matches"
        )
        yield Unsealed(source, target, checked)
