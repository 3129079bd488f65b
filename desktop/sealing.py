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

    from desktop.security.cms import NotRecipientError, Opened
    from desktop.security.keystore import Identity, Keystore, UnlockedIdentity
    from desktop.security.signing import Trust

PREAMBLE_AND_PREFIX = slice(128, 132)
#: A sealed file without a signature: anyone holding the recipient's (public) certificate can
#: make one, so a matching digest says it arrived whole, not who sent it.
NOT_SIGNED = "NOT SIGNED: the sender is not authenticated (only a digest protects it)"
REFUSED_UNSIGNED = f"{NOT_SIGNED}; refused, as a signed file is required"


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
    warning: str = ""  #: opened, but its sender is not authenticated (it is not signed)


@dataclass(frozen=True, slots=True)
class Sealed:
    """One DICOM file and its sealed copy, or why there is none."""

    source: Path
    target: Path | None = None
    error: str = ""


@dataclass(frozen=True, slots=True)
class Recipient:
    """A certificate checked to receive encrypted data, and whether a trusted CA issued it."""

    certificate: "x509.Certificate"
    trusted: bool

    def lines(self) -> list[str]:
        """Who the data is encrypted for, as a person checks it with the recipient."""
        from desktop.security.certificates import describe

        info = describe(self.certificate)
        lines = [
            f"recipient: {info.subject}",
            f"   issuer: {info.issuer}",
            f"  SHA-256: {info.fingerprint}",
        ]
        if not self.trusted:
            lines.append("  NOT issued by a CA the keystore trusts (--untrusted-recipient)")
        return lines


def recipient_certificate(
    recipient: Path | bytes, keystore: "Keystore", *, untrusted: bool = False
) -> Recipient:
    """The certificate of a file (PEM or DER, the recipient's first, then its chain), or of
    its bytes (a keystore entry's PEM), checked to receive encrypted patient data: refused
    when it is a CA's or its key may not encipher keys, and when no CA the keystore trusts
    issued it unless ``untrusted`` (the user checked its fingerprint with the recipient)."""
    from desktop.security.certificates import load_certificates
    from desktop.security.recipients import unusable

    if isinstance(recipient, bytes):
        certificate, *chain = load_certificates(recipient, "the recipient's certificate")
    elif not recipient.is_file():
        raise CourierError(f"{recipient}: no such certificate file")
    else:
        certificate, *chain = load_certificates(recipient.read_bytes(), str(recipient))
    subject = certificate.subject.rfc4514_string()
    problem = unusable(certificate)
    if problem:
        raise CourierError(f"refused recipient {subject}: {problem}")
    revoked = _revoked(certificate, chain, keystore)
    if revoked:
        raise CourierError(
            f"refused recipient {subject}: {revoked}, by a revocation list of the keystore "
            "(its key may be lost or stolen: whoever holds it could read the data); ask the "
            "recipient for its new certificate"
        )
    trusted = _trusted(certificate, chain, keystore)
    if not untrusted and not trusted:
        raise CourierError(
            f"refused recipient {subject}: not issued by a CA the keystore trusts (issuer "
            f"{certificate.issuer.rfc4514_string()}); check its SHA-256 fingerprint with the "
            "recipient, then import its CA or pass --untrusted-recipient"
        )
    return Recipient(certificate, trusted)


def _revoked(
    certificate: "x509.Certificate", chain: "list[x509.Certificate]", keystore: "Keystore"
) -> str:
    """Why the keystore's CRLs revoke ``certificate`` or a CA above it ('' if they do not)."""
    from desktop.security.signing import Trust, revocation
    from desktop.signing import trust_of

    known = trust_of(keystore, [])
    trust = Trust(known.anchors, known.intermediates + chain, known.crls)
    return revocation(trust.chain(certificate) or [certificate], trust)


def _trusted(
    certificate: "x509.Certificate", chain: "list[x509.Certificate]", keystore: "Keystore"
) -> bool:
    from desktop.security.certificates import load_certificates
    from desktop.security.recipients import issued_by_trusted

    def loaded(pem: str) -> "x509.Certificate":
        return load_certificates(pem.encode("ascii"), "keystore")[0]

    trusted = [loaded(info.pem) for info in keystore.trusted()]
    ours = [loaded(c.pem) for identity in keystore.identities() for c in identity.chain]
    return issued_by_trusted(certificate, trusted, chain + ours)


def signer_of(keystore: "Keystore", name: str) -> "UnlockedIdentity":
    """The keystore identity ``name`` unlocked to sign; refused when expired, revoked or
    not for signing."""
    import datetime as dt

    from desktop.signing import unrevoked_signer

    identity = auditing.unlock(keystore, name)
    unrevoked_signer(keystore, identity, dt.datetime.now(dt.UTC))
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


def opened(
    sealed: bytes, identity: "UnlockedIdentity", trust: "Trust", *, require_signed: bool = False
) -> "Opened":
    """The sealed file opened and checked; CourierError with the reason if it cannot be used
    (with ``require_signed``, also when no trusted signature says who sent it)."""
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
    if require_signed and result.protection != "signed":
        raise CourierError(REFUSED_UNSIGNED)
    return result


def signature_required(home: Path) -> bool:
    """Whether the configuration refuses unsigned sealed files (`settings
    --require-signed-sealed`, the GUI's Settings ▸ Require signed sealed files)."""
    from desktop.core.config import load_config

    return load_config(home).require_signed_sealed


def require_signature(home: Path, required: bool) -> None:
    """Refuse unsigned sealed files from now on (or open them with a warning): saved in the
    configuration, audited as a security configuration change."""
    from desktop.core.config import config_path, set_require_signed_sealed

    set_require_signed_sealed(home, required)
    auditing.configuration_changed(
        config_path(home),
        "unsigned sealed files " + ("refused" if required else "opened with a NOT SIGNED warning"),
    )


def unseal_files(
    jobs: Iterable[tuple[Path, Path]],
    identity: "UnlockedIdentity",
    trust: "Trust",
    *,
    require_signed: bool = False,
    holders: Iterable["Identity"] = (),
    advice: str = "open it with --identity {name}",
) -> Iterator[Unsealed]:
    """Open each ``(sealed file, target)``, writing the DICOM file inside to its target; a
    file that cannot be opened (an unsigned one too, with ``require_signed``) is reported and
    the others go on. A file sealed for another of ``holders`` (the keystore's identities)
    names it, with ``advice`` (formatted with its ``name``). Audited as one 110103 DICOM
    Instances Accessed naming the identity."""
    return auditing.copies_written(
        _unseal_each(jobs, identity, trust, require_signed, Holders(holders, advice)),
        event="opened",
        description=f"sealed files opened with identity {identity.name}",
        written=lambda done: done.target,
    )


def _unseal_each(
    jobs: Iterable[tuple[Path, Path]],
    identity: "UnlockedIdentity",
    trust: "Trust",
    require_signed: bool,
    holders: "Holders",
) -> Iterator[Unsealed]:
    from desktop.security.cms import NotRecipientError

    for source, target in jobs:
        try:
            result = opened(source.read_bytes(), identity, trust, require_signed=require_signed)
        except NotRecipientError as error:
            yield Unsealed(source, error=f"{error}{holders.hint(error)}")
            continue
        except CourierError as error:
            yield Unsealed(source, error=str(error))
            continue
        except OSError as error:
            yield Unsealed(source, error=f"cannot read it: {error.strerror}")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, result.content)
        if result.protection == "signed":
            yield Unsealed(source, target, f"signature of {result.signer} valid")
        else:
            yield Unsealed(source, target, f"digest matches; {NOT_SIGNED}", warning=NOT_SIGNED)


class Holders:
    """The keystore's identities, asked which one a file (or an Encrypted Attributes
    Sequence item) is sealed for."""

    def __init__(self, identities: Iterable["Identity"], advice: str) -> None:
        self.identities, self.advice = list(identities), advice
        self._certificates: list[tuple[str, x509.Certificate]] | None = None

    def hint(self, error: "NotRecipientError") -> str:
        """``"; that is your identity 'NAME': <advice>"``, or "" when none is the recipient."""
        for name, certificate in self._loaded():
            if any(recipient.holds(certificate) for recipient in error.recipients):
                return f"; that is your identity {name!r}: {self.advice.format(name=name)}"
        return ""

    def _loaded(self) -> list[tuple[str, "x509.Certificate"]]:
        if self._certificates is None:
            from cryptography import x509

            self._certificates = [
                (i.name, x509.load_pem_x509_certificate(i.certificate.pem.encode()))
                for i in self.identities
            ]
        return self._certificates
