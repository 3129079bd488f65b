"""Composition of DICOM signatures: the core's byte stream with the security layer's keys
and trust. Used by ``dicom-courier sign/verify`` (and by anything else that signs)."""

import datetime as dt
import io
import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from cryptography import x509
from pydicom.uid import ExplicitVRLittleEndian

from desktop.core.errors import CourierError, HeaderError
from desktop.core.files import atomic_output, public_mode
from desktop.core.signatures import mac
from desktop.core.signatures.elements import Part10, read_part10, tag_name, tag_text
from desktop.core.signatures.inventory import FoundSignature, signatures
from desktop.core.signatures.location import Location, describe_location, resolve
from desktop.core.signatures.profiles import PURPOSES, Profile, check, profile_of
from desktop.core.signatures.writer import prepare
from desktop.security.keystore import Keystore, UnlockedIdentity
from desktop.security.signing import (
    Judgement,
    Signer,
    Trust,
    Verdict,
    judge_signer,
    load_certificate,
    revocation,
    signature_matches,
    signer,
)

log = logging.getLogger(__name__)
WORKERS = 4  # hashing, key operations and fsync release the GIL: overlap files' disk waits


@dataclass(frozen=True, slots=True)
class Signed:
    """What signing one file did."""

    source: Path
    target: Path
    profile: Profile
    algorithm: str
    location: str
    mac_id: int
    uid: str
    covered: int
    converted: bool  # re-encoded from Implicit to Explicit VR Little Endian first


def sign_file(
    source: Path,
    target: Path,
    signer: Signer,
    *,
    profile: Profile,
    algorithm: str,
    location: Location = (),
    now: dt.datetime | None = None,
) -> Signed:
    """Sign ``source`` into ``target`` (written atomically; may be ``source`` for in place)."""
    part10 = _read(source)
    converted = not part10.explicit
    if converted:
        part10 = read_part10(_explicit_copy(part10.data), source.name)
    level = resolve(part10.dataset, location)
    check(profile, level, nested=bool(location))
    pending = prepare(
        part10,
        location=location,
        algorithm=algorithm,
        certificate_der=signer.certificate_der,
        purpose=PURPOSES.get(profile),
        now=now or dt.datetime.now(dt.UTC),
    )
    pieces = pending.finish(signer.sign(pending.digest, algorithm))
    with atomic_output(target, mode=public_mode()) as temporary, temporary.open("wb") as out:
        out.writelines(pieces)
    log.info("signed %s into %s (%s, %s)", source, target, profile.value, algorithm)
    return Signed(
        source,
        target,
        profile,
        algorithm,
        describe_location(location),
        pending.mac_id,
        pending.uid,
        len(pending.signed_tags),
        converted,
    )


def sign_files(
    jobs: Iterable[tuple[Path, Path]],
    signer: Signer,
    *,
    profile: Profile,
    algorithm: str,
    location: Location = (),
    now: dt.datetime | None = None,
) -> Iterator[tuple[Path, Path, Signed | CourierError]]:
    """``sign_file`` for each (source, target), a few at once; results in order, a file that
    cannot be signed gives its error instead."""

    def one(job: tuple[Path, Path]) -> tuple[Path, Path, Signed | CourierError]:
        source, target = job
        try:
            signed = sign_file(
                source, target, signer, profile=profile, algorithm=algorithm,
                location=location, now=now,
            )  # fmt: skip
        except CourierError as error:
            return source, target, error
        return source, target, signed

    with ThreadPoolExecutor(WORKERS) as pool:
        yield from pool.map(one, jobs)


def _read(path: Path) -> Part10:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise HeaderError(f"cannot read {path}: {error.strerror}") from error
    return read_part10(data, str(path))


def _explicit_copy(data: bytes) -> bytes:
    """The file re-encoded in Explicit VR Little Endian (value representations resolved)."""
    dataset = pydicom.dcmread(io.BytesIO(data))
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out = io.BytesIO()
    dataset.save_as(out, enforce_file_format=True)
    return out.getvalue()


# -- verification ------------------------------------------------------------------------------


@dataclass(slots=True)
class Checked:
    """One signature and what verification found."""

    found: FoundSignature
    verdict: Verdict
    reason: str
    signer: str = ""
    issuer: str = ""
    changed: list[int] = field(default_factory=list)  # covered elements that may have changed
    math_ok: bool = False

    def as_json(self) -> dict[str, Any]:
        found = self.found
        return {
            "location": describe_location(found.location),
            "uid": found.uid,
            "mac_id": found.mac_id,
            "datetime": found.datetime,
            "signer": self.signer,
            "issuer": self.issuer,
            "profile": profile_of(found.purpose_code).value,
            "purpose": found.purpose_meaning,
            "hash": found.algorithm,
            "covered": [_element_text(t) for t in found.signed_tags],
            "verdict": self.verdict.value,
            "reason": self.reason,
            "changed": [_element_text(t) for t in self.changed],
        }


@dataclass(slots=True)
class FileCheck:
    path: Path
    signatures: list[Checked]
    error: str = ""
    #: Elements of the main data set that no signature of it (whose digest matches) covers:
    #: added or changed after signing, or left out by its signer.
    uncovered: list[int] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.error:
            return "unreadable"
        return "signed" if self.signatures else "unsigned"

    @property
    def ok(self) -> bool:
        return not self.error and all(c.verdict is Verdict.VALID for c in self.signatures)

    def as_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "status": self.status,
            "error": self.error,
            "signatures": [c.as_json() for c in self.signatures],
            "uncovered": [_element_text(t) for t in self.uncovered],
        }


def trust_of(keystore: Keystore, crl_paths: list[Path]) -> Trust:
    """The keystore's trust (``keystore_trust``), with the revocation lists of ``crl_paths``
    too."""
    from desktop.security.revocation import keystore_trust

    trust = keystore_trust(keystore)
    crls = trust.crls
    for path in crl_paths:
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CourierError(
                f"cannot read the revocation list {path}: {error.strerror}"
            ) from error
        loader = x509.load_pem_x509_crl if b"-----BEGIN" in data else x509.load_der_x509_crl
        try:
            crls.append(loader(data))
        except ValueError as error:
            raise CourierError(f"{path} is not a certificate revocation list: {error}") from error
    return trust


def unrevoked_signer(keystore: Keystore, identity: UnlockedIdentity, now: dt.datetime) -> Signer:
    """``identity`` as a signer (``security.signing.signer``'s checks), refused when the
    keystore's revocation lists revoke its certificate: a revoked key's signatures would be
    refused by every recipient, and it may be stolen."""
    who = signer(identity, now)
    revoked = revocation([identity.certificate, *identity.chain], trust_of(keystore, []))
    if revoked:
        raise CourierError(
            f"identity {identity.name} may not sign: {revoked}, by a revocation list of the "
            "keystore; import its new identity"
        )
    return who


def revoked_identity_warning(keystore: Keystore, name: str) -> str:
    """The warning an import of identity ``name`` gives (CLI and GUI) when the keystore's
    revocation lists revoke its certificate or a CA above it ('' when they do not): read
    from its public part, nothing unlocked."""
    from desktop.security.revocation import revoked_entries

    revoked = revoked_entries(keystore).get(keystore.identity(name).certificate.fingerprint)
    return (
        f"{revoked}, by a revocation list of the keystore: identity {name} may not sign, "
        "and TLS peers that check revocation refuse it"
        if revoked
        else ""
    )


def verify_file(path: Path, trust: Trust) -> FileCheck:
    """Every signature of a file, checked; an unreadable file is reported, not raised."""
    try:
        part10 = _read(path)
    except HeaderError as error:
        return FileCheck(path, [], str(error))
    checked = [_check(part10, found, trust) for found in signatures(part10)]
    _narrow(checked)
    return FileCheck(path, checked, uncovered=_uncovered(checked))


def _uncovered(checked: list[Checked]) -> list[int]:
    """The main data set's signable elements that none of its signatures whose digest
    matches covers (our profiles, as the Base RSA profile, sign every one); none when no
    such signature is there."""
    main = [c for c in checked if not c.found.location and c.math_ok]
    if not main:
        return []
    covered = {tag for c in main for tag in c.found.signed_tags}
    return [tag for tag in mac.default_tags(main[0].found.level) if tag not in covered]


def verify_files(paths: Iterable[Path], trust: Trust) -> Iterator[FileCheck]:
    """``verify_file`` for each path, a few at once; results in order."""
    with ThreadPoolExecutor(WORKERS) as pool:
        yield from pool.map(lambda path: verify_file(path, trust), paths)


def _check(part10: Part10, found: FoundSignature, trust: Trust) -> Checked:
    certificate = load_certificate(found.certificate)
    subject = certificate.subject.rfc4514_string() if certificate else ""
    issuer = certificate.issuer.rfc4514_string() if certificate else ""

    def result(verdict: Verdict, reason: str, changed: list[int] | None = None) -> Checked:
        return Checked(found, verdict, reason, subject, issuer, changed or [])

    if not found.has_mac_parameters:
        return result(Verdict.INVALID, f"no MAC Parameters item with MAC ID {found.mac_id}")
    if certificate is None or found.certificate_type != "X509_1993_SIG":
        return result(Verdict.INVALID, "the Certificate of Signer is not an X.509 certificate")
    present = {e.tag for e in found.level.elements}
    removed = [t for t in found.signed_tags if t not in present]
    if removed:
        names = ", ".join(_element_text(t) for t in removed)
        return result(Verdict.INVALID, f"signed element(s) removed: {names}", removed)
    try:
        digest = mac.digest(
            found.algorithm, part10, found.level, found.signed_tags, (part10, found.item)
        )
    except ValueError as error:
        return result(Verdict.UNSUPPORTED, f"MAC algorithm {found.algorithm!r}: {error}")
    mismatch = signature_matches(certificate, found.signature, digest, found.algorithm)
    if mismatch is not None:
        return result(mismatch.verdict, mismatch.reason, list(found.signed_tags))
    judgement = _judge(certificate, found, trust)
    checked = result(judgement.verdict, judgement.reason)
    checked.math_ok = True
    return checked


def _judge(certificate: x509.Certificate, found: FoundSignature, trust: Trust) -> Judgement:
    signed_at = _signing_time(found.datetime)
    if signed_at is None:
        return Judgement(Verdict.INVALID, f"Digital Signature DateTime {found.datetime!r} is bad")
    judgement = judge_signer(certificate, signed_at, trust)
    if judgement.verdict is Verdict.VALID and found.algorithm in mac.WEAK_ALGORITHMS:
        return Judgement(
            Verdict.WEAK, f"{found.algorithm} is too weak a hash to trust this signature"
        )
    return judgement


def _signing_time(text: str) -> dt.datetime | None:
    """The DT's date and time (timezone and fractions ignored, as dcmsign does)."""
    digits = text[:14]
    if len(digits) < 8 or not digits.isdigit():
        return None
    digits = digits.ljust(14, "0")
    month, day, hour, minute, second = (int(digits[i : i + 2]) for i in range(4, 14, 2))
    try:
        return dt.datetime(int(digits[:4]), month, day, hour, minute, second, tzinfo=dt.UTC)
    except ValueError:
        return None


def _narrow(checked: list[Checked]) -> None:
    """Signatures over the same level that still verify show which covered elements did not
    change: what an invalid signature covers beyond them is where the change is."""
    for bad in checked:
        if bad.changed != list(bad.found.signed_tags):
            continue  # removed elements are named already; other failures changed no data
        bad.changed = []
        if not bad.reason.startswith("the signed data"):
            continue
        intact = {
            t
            for good in checked
            if good.math_ok and good.found.location == bad.found.location
            for t in good.found.signed_tags
        }
        suspects = [t for t in bad.found.signed_tags if t not in intact]
        if intact and suspects and len(suspects) < len(bad.found.signed_tags):
            bad.changed = suspects
            names = ", ".join(_element_text(t) for t in suspects)
            bad.reason += f"; other signatures show the change is in: {names}"


def _element_text(tag: int) -> str:
    return f"{tag_name(tag)} {tag_text(tag)}"
