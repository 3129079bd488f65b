"""The local keystore: trusted CAs and named identities under DICOM_COURIER_HOME/keystore.

Layout (every file 0600, written atomically):
    keystore.json               format version and the password verifier (scrypt)
    trusted/<fingerprint>.pem   trusted CA certificates
    identities/<name>.p12       certificate, chain and private key, PKCS#12 with PBES2/AES-256:
                                the only place a key ever rests. Its password is derived from
                                the keystore password by PBKDF2-HMAC-SHA256 (``kdf`` in the
                                .json); an identity of an older keystore (no ``kdf``) has the
                                keystore password itself, 200,000 rounds inside the PKCS#12
    identities/<name>.json      the public part (certificates, options, ``kdf``: the salt and
                                rounds of that derivation), readable without the password
    keystore.lock               held while an entry or the password is written (one writer)
    password-change/            a committed change of password, being moved into place (the
                                next opening finishes it); password-change.new/ one being
                                written (the next opening drops it: the old password holds)

A damaged entry is reported (``damaged``) and skipped: the others stay usable.

Both derivations from the password (the scrypt verifier, PBKDF2 of an identity's secret) run
in ``hashlib``, which releases the GIL while it derives: opening a key on a worker thread
leaves a GUI thread running. cryptography's PKCS#12 KDF holds the GIL (~0.1 s for 200,000
rounds), so the PKCS#12 itself is sealed with one round under the 256-bit derived secret.

A TLS context takes an identity as ``tls_identity`` gives it: the chain from the public part
and the key bag still sealed, which OpenSSL opens in the context. Neither cryptography nor
asn1crypto is imported for it (they load in the functions that need them), and ``prepare``
starts the derivation on a thread while the command imports the rest.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import re
import shutil
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from desktop.core.files import locked, private_folder, replace_durably, write_atomic
from desktop.security.errors import (
    CertificateError,
    KeystoreError,
    PasswordError,
    PolicyError,
)
from desktop.security.own_pkcs12 import sealed_key
from desktop.security.passwords import MIN_LENGTH, PasswordSource

if TYPE_CHECKING:  # cryptography loads in the functions that need it
    from cryptography import x509

    from desktop.security.certificates import CertificateInfo, PrivateKey

FORMAT_VERSION = 1
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}")
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SECRET_ROUNDS = 200_000  # PBKDF2-HMAC-SHA256 of an identity's secret (as PKCS#12's were)
SECRET_KDF = "pbkdf2-sha256"
PEM_ENCRYPTED_KEY = "ENCRYPTED PRIVATE KEY"
PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"
CHANGE, STAGING = "password-change", "password-change.new"
Opened = TypeVar("Opened")

logger = logging.getLogger(__name__)

#: Told of every change of trust (CAs and identities added or removed): the keystore's folder
#: and what changed, in words. The composition audits it.
ChangeObserver = Callable[[Path, str], None]


def _unobserved(folder: Path, change: str) -> None:
    logger.debug("%s: %s", folder, change)


@dataclass(frozen=True, slots=True)
class Identity:
    """A named identity's public part."""

    name: str
    certificate: CertificateInfo
    chain: list[CertificateInfo]
    allow_legacy: bool


@dataclass(frozen=True, slots=True)
class UnlockedIdentity:
    """An identity with its private key, in memory only."""

    name: str
    key: PrivateKey
    certificate: x509.Certificate
    chain: list[x509.Certificate]


@dataclass(frozen=True, slots=True)
class TlsIdentity:
    """An identity as an SSL context loads it: the certificate and its chain (PEM), and the
    private key encrypted (PKCS#8 PEM) under ``password``, which OpenSSL opens in the context.
    In memory only."""

    name: str
    certificate: str
    chain: tuple[str, ...]
    key: bytes = field(repr=False)
    password: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Unlocked:
    """The keystore password, checked, and each identity's secret derived from it (by the
    salt and rounds of its derivation): what a warm service holds so that the commands it runs
    derive nothing. In memory only."""

    password: str = field(repr=False)
    secrets: dict[tuple[str, int], bytes] = field(repr=False)
    #: Each identity as an SSL context loads it (its key still sealed), opened at the unlock,
    #: with its files' signature: one replaced since is opened again.
    tls: dict[str, tuple[tuple[int, ...], TlsIdentity]] = field(default_factory=dict, repr=False)

    def secret(self, password: str, kdf: dict[str, Any]) -> bytes | None:
        """The secret of derivation ``kdf`` from ``password``, if it is held."""
        if not hmac.compare_digest(password.encode(), self.password.encode()):
            return None
        return self.secrets.get((kdf["salt"], kdf["rounds"]))


@dataclass(frozen=True, slots=True)
class DamagedEntry:
    """A keystore file that cannot be read, and why: left out of every list and context."""

    path: Path
    reason: str


@dataclass(slots=True)
class ImportResult:
    """What an import added, what it already had, and the warnings to show."""

    added: list[CertificateInfo] = field(default_factory=list)
    already_present: list[CertificateInfo] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _pem(certificate: x509.Certificate) -> str:
    from cryptography.hazmat.primitives import serialization

    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _short_id(certificate_fingerprint: str) -> str:
    return certificate_fingerprint.replace(":", "")[:16].lower()


class Keystore:
    """Trusted CAs and identities on disk; the password is asked for only when a key is touched."""

    def __init__(
        self, home: Path, password: PasswordSource, *, on_change: ChangeObserver = _unobserved
    ) -> None:
        self.folder = home / "keystore"
        self._on_change = on_change
        self._password_source = password
        self._password: str | None = None  # checked against the verifier
        self._opened_with: str | None = None  # opened an identity (its MAC checked it)
        self._taken: str | None = None  # given by the source, not checked yet
        self._deriving: dict[str, _Derivation] = {}  # identity → its secret, started early
        self._unlocked: Unlocked | None = None  # given by a warm service
        if (self.folder / CHANGE).exists() or (self.folder / STAGING).exists():
            with self._writing():
                self._finish_change()

    # -- trusted CAs -------------------------------------------------------------------------

    def import_cas(
        self, path: Path, *, allow_legacy: bool = False, now: dt.datetime | None = None
    ) -> ImportResult:
        """Trust every CA certificate of a PEM, PEM bundle, DER or PKCS#7 file (all or none)."""
        from desktop.security import policy
        from desktop.security.certificates import describe, load_certificates

        certificates = load_certificates(_read(path), path.name)
        now = now or dt.datetime.now(dt.UTC)
        findings = [f for c in certificates for f in policy.ca_checks(c, now, allow_legacy)]
        if policy.errors(findings):
            raise PolicyError(f"{path.name}: refused", policy.errors(findings))
        result = ImportResult(warnings=policy.warnings(findings))
        folder = self._ensure("trusted")
        with self._writing():
            for certificate in certificates:
                info = describe(certificate)
                target = folder / f"{_short_id(info.fingerprint)}.pem"
                if target.exists() and not _ca_file(target)[1]:  # a damaged copy is replaced
                    result.already_present.append(info)
                    continue
                write_atomic(target, info.pem.encode("ascii"))
                result.added.append(info)
        for info in result.added:
            self._on_change(
                self.folder, f"trusted CA added: {info.subject} (SHA-256 {info.fingerprint})"
            )
        return result

    def record_change(self, change: str) -> None:
        """Tell the keystore's observer (the audit trail) of a change made in its folder
        beside the CAs and identities (a CRL imported or removed)."""
        self._on_change(self.folder, change)

    def trusted(self) -> list[CertificateInfo]:
        """The trusted CAs, by subject (damaged files left out)."""
        infos = [info for p in self._files("trusted", ".pem") for info in _ca_file(p)[0]]
        return sorted(infos, key=lambda i: i.subject)

    def trusted_pem(self) -> str:
        """Every trusted CA as one PEM bundle (for an SSL context); a damaged file is skipped
        with a warning. OpenSSL checks the entries first; only when one of them does not load
        are they all read with cryptography, to say which and why."""
        signature = self.trust_state()
        held = _checked_pems.get(self.folder)
        if held is not None and held[0] == signature:
            return held[1]
        checked = self._trusted_pem_checked_by_openssl()
        if checked is not None:
            _checked_pems[self.folder] = (signature, checked)
            return checked
        for entry in self.damaged():
            logger.warning("keystore entry %s skipped: %s", entry.path, entry.reason)
        return "".join(info.pem for info in self.trusted())

    def trust_state(self) -> tuple[tuple[str, int, int, int], ...]:
        """The CAs', identities' and CRLs' files as they are now (name, inode, size,
        modification): a long-running process (a listener, the GUI) builds its TLS contexts
        again when this changes."""
        found = []
        for sub in ("trusted", "identities", "crls"):
            with suppress(OSError), os.scandir(self.folder / sub) as entries:
                for entry in entries:
                    with suppress(OSError):
                        stat = entry.stat()
                        found.append((entry.path, stat.st_ino, stat.st_size, stat.st_mtime_ns))
        return tuple(sorted(found))

    def _trusted_pem_checked_by_openssl(self) -> str | None:
        """The trusted CAs' PEM when every entry, identities included, loads into a scratch
        SSL context and has its other half; None when one does not (``damaged`` tells)."""
        import ssl  # ~6 ms (OpenSSL's library): after the key derivation has started

        scratch = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            cas = [path.read_text(encoding="ascii") for path in self._files("trusted", ".pem")]
            for pem in cas:
                scratch.load_verify_locations(cadata=pem)
            for path in self._files("identities", ".json"):
                certificate, chain = _public_pems(path)
                scratch.load_verify_locations(cadata="\n".join((certificate, *chain)))
                if not path.with_suffix(".p12").is_file():
                    return None
        except (OSError, ValueError, ssl.SSLError, KeystoreError):
            return None
        if any(not p.with_suffix(".json").is_file() for p in self._files("identities", ".p12")):
            return None
        return "\n".join(cas)  # a file without its last newline would run into the next

    # -- identities --------------------------------------------------------------------------

    def import_identity(
        self,
        name: str,
        path: Path,
        *,
        key_path: Path | None = None,
        chain_path: Path | None = None,
        file_password: str | None = None,
        allow_legacy: bool = False,
        now: dt.datetime | None = None,
    ) -> ImportResult:
        """Import a PKCS#12 file, or a certificate (PEM/DER) with its key (PEM/DER) and chain."""
        from desktop.security import policy
        from desktop.security.certificates import describe

        if not NAME_PATTERN.fullmatch(name):
            raise KeystoreError(
                f"an identity name is 1 to 64 letters, digits, spaces, '.', '_' "
                f"or '-', starting with a letter or digit; not {name!r}"
            )
        self._refuse_existing(name)
        key, certificate, chain = _load_identity_files(path, key_path, chain_path, file_password)
        findings = policy.identity_checks(
            key, certificate, chain, now or dt.datetime.now(dt.UTC), allow_legacy
        )
        if policy.errors(findings):
            raise PolicyError(f"{path.name}: refused", policy.errors(findings))
        info = describe(certificate)
        twins = [i.name for i in self.identities() if i.certificate.fingerprint == info.fingerprint]
        password = self._unlock()
        folder = self._ensure("identities")
        bundle, kdf = _sealed(UnlockedIdentity(name, key, certificate, chain), password)
        public = {
            "name": name,
            "certificate": _pem(certificate),
            "chain": [_pem(c) for c in chain],
            "allow_legacy": allow_legacy,
            "kdf": kdf,
        }
        with self._writing():
            self._refuse_existing(name)
            write_atomic(folder / f"{name}.p12", bundle)
            write_atomic(folder / f"{name}.json", json.dumps(public, indent=2).encode("utf-8"))
        self._on_change(
            self.folder, f"identity {name} imported: {info.subject} (SHA-256 {info.fingerprint})"
        )
        warnings = policy.warnings(findings) + [
            f"identity {twin} holds the same certificate already ({info.subject}): both names "
            f"now present one key; removing one leaves the other"
            for twin in twins
        ]
        return ImportResult(added=[info], warnings=warnings)

    def _refuse_existing(self, name: str) -> None:
        folder = self.folder / "identities"
        if (folder / f"{name}.p12").exists() or (folder / f"{name}.json").exists():
            raise KeystoreError(f"an identity named {name!r} exists already: remove it first")

    def identities(self) -> list[Identity]:
        """The identities' public parts (damaged ones left out)."""
        found = []
        for path in self._files("identities", ".json"):
            if not path.with_suffix(".p12").is_file():
                continue
            try:
                found.append(self._identity(path))
            except KeystoreError:
                continue
        return found

    def damaged(self) -> list[DamagedEntry]:
        """The keystore files that cannot be used, and why."""
        entries = [
            DamagedEntry(p, reason)
            for p in self._files("trusted", ".pem")
            if (reason := _ca_file(p)[1])
        ]
        for path in self._files("identities", ".json"):
            try:
                self._identity(path)
            except KeystoreError as error:
                entries.append(DamagedEntry(path, str(error)))
                continue
            if not path.with_suffix(".p12").is_file():
                entries.append(DamagedEntry(path, "its private key file (.p12) is missing"))
        entries += [
            DamagedEntry(p, "its public part (.json) is missing")
            for p in self._files("identities", ".p12")
            if not p.with_suffix(".json").is_file()
        ]
        return entries

    def _files(self, sub: str, suffix: str) -> list[Path]:
        folder = self.folder / sub
        return sorted(folder.glob(f"*{suffix}")) if folder.is_dir() else []

    def identity(self, name: str) -> Identity:
        return self._identity(self._public_path(name))

    def _public_path(self, name: str) -> Path:
        """The public part of identity ``name``, which must exist."""
        path = self.folder / "identities" / f"{name}.json"
        if not NAME_PATTERN.fullmatch(name) or not path.is_file():
            known = ", ".join(i.name for i in self.identities()) or "none yet"
            raise KeystoreError(f"no identity named {name!r} (known: {known})")
        return path

    def prepare(self, name: str) -> None:
        """Start deriving identity ``name``'s secret now, on a thread (``hashlib`` leaves the
        GIL), so that it is ready when the identity is opened: the password is taken here, on
        the caller's thread (a person may type it). Whatever stands in the way (no keystore,
        no such identity) is left for the opening to report."""
        try:
            kdf = _secret_kdf(self._public_path(name))
            self.take_password()
        except (KeystoreError, PasswordError):
            return
        password = self._password or self._opened_with or self._taken
        if kdf is not None and password is not None and not self._holds(password, kdf):
            self._deriving[name] = _Derivation(password, kdf)

    def unlock_identity(self, name: str) -> UnlockedIdentity:
        """The identity with its private key (asks for the keystore password if needed).

        The PKCS#12 file's own MAC checks the password: the slow verifier (scrypt) is
        consulted only when the file does not open, to tell a wrong password from a damaged
        file: a TLS command's first byte comes 0.19 s of CPU sooner on the project's machine.
        An identity written by this version costs one PBKDF2 without the GIL and ~3 ms with
        it (``own_pkcs12``); one of an older keystore ~0.1 s holding the GIL."""
        from desktop.security.certificates import load_certificates, load_pkcs12
        from desktop.security.own_pkcs12 import load_own_key

        public = self.identity(name)
        kdf = _secret_kdf(self._public_path(name))

        def open_key(data: bytes, password: str) -> UnlockedIdentity:
            if kdf is None:  # an identity of an older keystore
                key, certificate, chain = load_pkcs12(
                    data, password.encode("utf-8"), f"identity {name}"
                )
            else:
                certificate, *chain = (
                    load_certificates(c.pem.encode("ascii"), name)[0]
                    for c in (public.certificate, *public.chain)
                )
                secret = self._secret(name, password, kdf)
                key = load_own_key(data, secret, certificate, f"identity {name}")
            return UnlockedIdentity(name, key, certificate, chain)

        return self._opening(name, open_key)

    def tls_identity(self, name: str) -> TlsIdentity:
        """The identity as an SSL context loads it (asks for the keystore password if needed):
        its certificates as the public part holds them and its key still sealed, under a secret
        the file's MAC has checked; no key is opened in Python. One of an older keystore is
        opened and sealed again under a one-time password."""
        path = self._public_path(name)
        held = self._unlocked.tls.get(name) if self._unlocked else None
        if held is not None and held[0] and held[0] == _signature(path):
            return held[1]
        kdf = _secret_kdf(path)
        if kdf is None:
            return sealed_for_tls(self.unlock_identity(name))

        def open_key(data: bytes, password: str) -> TlsIdentity:
            return _sealed_identity(name, path, data, self._secret(name, password, kdf))

        return self._opening(name, open_key)

    def _secret(self, name: str, password: str, kdf: dict[str, Any]) -> bytes:
        """Identity ``name``'s secret: the one ``prepare`` derived when it was for this
        password and derivation, else derived now."""
        held = self._unlocked.secret(password, kdf) if self._unlocked else None
        if held is not None:
            return held
        derivation = self._deriving.pop(name, None)
        if derivation is not None and derivation.derives(password, kdf):
            return derivation.secret()
        return _secret(password, kdf)

    def _holds(self, password: str, kdf: dict[str, Any]) -> bool:
        return self._unlocked is not None and self._unlocked.secret(password, kdf) is not None

    def unlock_all(self) -> Unlocked:
        """Ask for the keystore password, check it, and derive every identity's secret: what
        ``use`` gives a keystore opened later in this process (or a child forked from it)."""
        if _read_settings(self.folder / "keystore.json") is None:
            raise PasswordError("the keystore holds no identity yet: there is nothing to unlock")
        password = self._unlock()
        secrets, tls = {}, {}
        for path in self._files("identities", ".json"):
            with suppress(KeystoreError, ValueError):  # a damaged entry: said when used
                kdf = _secret_kdf(path)
                if kdf is not None:
                    secret = secrets[kdf["salt"], kdf["rounds"]] = _secret(password, kdf)
                    with suppress(OSError, CertificateError):
                        signature = _signature(path)
                        data = path.with_suffix(".p12").read_bytes()
                        held = _sealed_identity(path.stem, path, data, secret)
                        tls[path.stem] = (signature, held)
        return Unlocked(password, secrets, tls)

    def holds(self, name: str) -> bool:
        """Whether identity ``name`` opens from what a warm service holds (the password and
        its secret, from the unlock at the service's start): nothing asked, nothing derived."""
        if self._unlocked is None:
            return False
        try:
            kdf = _secret_kdf(self._public_path(name))
        except KeystoreError:  # its opening says why
            return False
        return kdf is not None and (kdf["salt"], kdf["rounds"]) in self._unlocked.secrets

    def use(self, unlocked: Unlocked) -> None:
        """Open identities with ``unlocked``'s password and secrets: no prompt, no derivation
        (an identity imported since is derived as usual)."""
        self._unlocked = unlocked
        self._password = unlocked.password

    def _opening(self, name: str, open_key: Callable[[bytes, str], Opened]) -> Opened:
        """``open_key(the identity's PKCS#12, the keystore password)``; when it fails, the
        verifier tells a wrong password from a damaged file."""
        settings = _read_settings(self.folder / "keystore.json")
        if settings is None:
            raise PasswordError("the keystore holds no identity yet")
        password = (
            self._password or self._opened_with or self._taken or self._password_source(False)
        )
        path = self.folder / "identities" / f"{name}.p12"
        try:
            opened = open_key(path.read_bytes(), password)
        except (OSError, CertificateError, PasswordError) as error:
            if self._holds_stale(password, settings):
                return self._opening(name, open_key)  # asked as a locked service's command
            if self._password is None and not _verifies(settings, password):
                self._taken = None  # asked again next time
                raise PasswordError("wrong keystore password") from error
            reason = error.strerror if isinstance(error, OSError) else str(error)
            raise damaged_identity(name, path.name, str(reason)) from error
        self._opened_with = password
        return opened

    def _holds_stale(self, password: str, settings: dict[str, Any]) -> bool:
        """Whether ``password`` is a warm service's, no longer the keystore's (changed since
        the service was unlocked): then it is forgotten, and said, so that the password is
        asked from the source as usual."""
        unlocked = self._unlocked
        if unlocked is None or password != unlocked.password or _verifies(settings, password):
            return False
        self._unlocked = self._password = None
        logger.warning(
            "the warm service holds a keystore password that is no longer the keystore's (it "
            "was changed since the service was unlocked): it is asked for as usual; "
            "'dicom-courier service unlock' unlocks the service with the new one"
        )
        return True

    @staticmethod
    def _identity(path: Path) -> Identity:
        from desktop.security.certificates import describe, load_certificates

        try:
            public = json.loads(path.read_text(encoding="utf-8"))
            certificate = load_certificates(public["certificate"].encode(), path.name)[0]
            chain = [load_certificates(p.encode(), path.name)[0] for p in public["chain"]]
        except (
            OSError,
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            CertificateError,
        ) as error:
            raise KeystoreError(f"the keystore entry {path.name} is damaged: {error}") from error
        return Identity(
            public["name"],
            describe(certificate),
            [describe(c) for c in chain],
            bool(public.get("allow_legacy")),
        )

    # -- any entry ---------------------------------------------------------------------------

    def find(self, reference: str) -> tuple[str, CertificateInfo]:
        """An entry by identity name or fingerprint prefix: ("identity"|"ca", certificate)."""
        kind, info, _ = self.locate(reference)
        return kind, info

    def locate(self, reference: str) -> tuple[str, CertificateInfo, str]:
        """``find``'s entry and, for an identity, its name: the one named, never another
        identity that holds the same certificate."""
        for identity in self.identities():
            if identity.name == reference:
                return "identity", identity.certificate, identity.name
        wanted = reference.replace(":", "").lower()
        if len(wanted) < 6:
            raise KeystoreError(
                f"no identity named {reference!r}; a CA is named by 6 or more "
                "hex digits of its SHA-256 fingerprint (see 'keystore list')"
            )
        matches = [("ca", c, "") for c in self.trusted()] + [
            ("identity", i.certificate, i.name) for i in self.identities()
        ]
        found = [m for m in matches if m[1].fingerprint.replace(":", "").lower().startswith(wanted)]
        if len(found) != 1:
            raise KeystoreError(
                f"{'no' if not found else 'more than one'} keystore entry matches {reference!r}"
            )
        return found[0]

    def remove(self, reference: str) -> str:
        """Remove an identity or a trusted CA; returns what was removed."""
        kind, info, name = self.locate(reference)
        with self._writing():
            if kind == "ca":
                (self.folder / "trusted" / f"{_short_id(info.fingerprint)}.pem").unlink(
                    missing_ok=True
                )
                removed = f"trusted CA {info.subject}"
            else:
                for suffix in (".p12", ".json"):
                    (self.folder / "identities" / f"{name}{suffix}").unlink(missing_ok=True)
                removed = f"identity {name} ({info.subject})"
        self._on_change(self.folder, f"removed {removed} (SHA-256 {info.fingerprint})")
        return removed

    def export_certificate(self, reference: str, target: Path) -> CertificateInfo:
        """Write an entry's certificate (never a key): DER for .der/.cer, else PEM."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        _, info = self.find(reference)
        certificate = x509.load_pem_x509_certificate(info.pem.encode("ascii"))
        der = target.suffix.lower() in (".der", ".cer")
        encoding = serialization.Encoding.DER if der else serialization.Encoding.PEM
        write_atomic(target, certificate.public_bytes(encoding), mode=0o644)
        return info

    # -- password ----------------------------------------------------------------------------

    def take_password(self) -> None:
        """Ask for the keystore password now, on the caller's thread (a person may type it),
        without deriving anything: the first key opened checks it, on that key's thread, so
        a GUI thread asks and a worker derives. A wrong one is asked for again next time."""
        if self._password or self._opened_with or self._taken:
            return
        if _read_settings(self.folder / "keystore.json") is None:
            raise PasswordError("the keystore holds no identity yet")
        self._taken = self._password_source(False)

    def verifies(self, password: str) -> bool:
        """Whether ``password`` is the keystore's (a prompt checks it before handing it over);
        any password does while none is set."""
        settings = _read_settings(self.folder / "keystore.json")
        return settings is None or _verifies(settings, password)

    def _unlock(self) -> str:
        """The keystore password, checked against the verifier (set on first use)."""
        if self._password is not None:
            return self._password
        settings_path = self.folder / "keystore.json"
        settings = _read_settings(settings_path)
        if settings is None:
            password = self._password_source(True)  # asked outside the lock: a person may type
            if len(password) < MIN_LENGTH:
                raise PasswordError(f"a keystore password needs at least {MIN_LENGTH} characters")
            self._set_password(settings_path, password)
        else:
            password = self._password_source(False)
            if not _verifies(settings, password):
                raise PasswordError("wrong keystore password")
        self._password = password
        return password

    def _set_password(self, settings_path: Path, password: str) -> None:
        """Make ``password`` the keystore's, unless another process set one meanwhile: then
        it must be that one."""
        self._ensure()
        with self._writing():
            settings = _read_settings(settings_path)
            if settings is not None:
                if _verifies(settings, password):
                    return
                raise PasswordError(
                    "the keystore already has a password, set by another import meanwhile, "
                    "and this one differs: run the command again with the keystore's password"
                )
            write_atomic(settings_path, _settings(password))

    def change_password(self, ask_new: Callable[[], str], *, old: str | None = None) -> int:
        """Seal every identity and the verifier under the password ``ask_new`` gives, once
        the keystore's own (``old``, else asked for) is checked; returns how many identities
        were sealed again.

        All or nothing: the new files are written to a folder beside (``STAGING``), which one
        rename commits (``CHANGE``), then moved into place. A crash before that rename leaves
        the old password working, one after it the new one: the next opening finishes."""
        if _read_settings(self.folder / "keystore.json") is None:
            raise PasswordError(
                "the keystore has no password yet: the first identity imported sets it"
            )
        if old is None:
            old = self._unlock()
        elif self.verifies(old):
            self._password = old  # the identities open with it, nothing asked (off the GUI)
        else:
            raise PasswordError("wrong keystore password")
        new_password = ask_new()
        if len(new_password) < MIN_LENGTH:
            raise PasswordError(f"a keystore password needs at least {MIN_LENGTH} characters")
        if new_password == old:
            raise PasswordError("the new keystore password is the old one: nothing to change")
        with self._writing():
            self._finish_change()  # another process's change cut short
            settings = _read_settings(self.folder / "keystore.json")
            if settings is None or not _verifies(settings, old):
                raise PasswordError(
                    "the keystore password was changed by another program meanwhile: "
                    "run the command again with the current one"
                )
            staging = self.folder / STAGING
            try:
                sealed = private_folder(private_folder(staging) / "identities")
                names = [path.stem for path in self._files("identities", ".json")]
                for name in names:
                    self._seal_again(name, new_password, sealed)
                write_atomic(staging / "keystore.json", _settings(new_password))
                replace_durably(staging, self.folder / CHANGE)  # the commit
            finally:  # a change refused or failed leaves nothing beside
                shutil.rmtree(staging, ignore_errors=True)
            self._finish_change()
        self._password, self._opened_with, self._taken = new_password, None, None
        self._deriving.clear()
        self._unlocked = None
        self._on_change(
            self.folder,
            f"keystore password changed: {len(names)} identit"
            f"{'y' if len(names) == 1 else 'ies'} sealed again under it",
        )
        return len(names)

    def _seal_again(self, name: str, password: str, folder: Path) -> None:
        """Identity ``name`` opened with the keystore's password and sealed under ``password``
        (a new salt) in ``folder``; a damaged one stops the change, naming it."""
        try:
            opened = self.unlock_identity(name)
            public = json.loads(self._public_path(name).read_text(encoding="utf-8"))
        except (KeystoreError, OSError, ValueError) as error:
            raise KeystoreError(
                f"identity {name} cannot be opened, so it cannot be sealed under a new "
                f"password: {error}; remove it (keystore remove {name}) and try again; the "
                "password is unchanged"
            ) from error
        bundle, public["kdf"] = _sealed(opened, password)
        write_atomic(folder / f"{name}.p12", bundle)
        write_atomic(folder / f"{name}.json", json.dumps(public, indent=2).encode("utf-8"))

    def _finish_change(self) -> None:
        """Under the write lock: move a committed change of password into place, drop one
        never committed."""
        shutil.rmtree(self.folder / STAGING, ignore_errors=True)
        change = self.folder / CHANGE
        if not change.exists():
            return
        identities = self._ensure("identities")
        for path in sorted((change / "identities").glob("*")):
            replace_durably(path, identities / path.name)
        if (change / "keystore.json").exists():  # moved last: the change is then done
            replace_durably(change / "keystore.json", self.folder / "keystore.json")
        shutil.rmtree(change)
        logger.info("a change of the keystore password in %s was finished", self.folder)

    def _writing(self) -> AbstractContextManager[None]:
        """The keystore's write lock: one process at a time adds, removes or sets."""
        return locked(self._ensure() / "keystore.lock")

    def _ensure(self, sub: str = "") -> Path:
        private_folder(self.folder.parent)
        return private_folder(self.folder / sub if sub else self.folder)


def damaged_identity(name: str, file: str, reason: str) -> KeystoreError:
    """The error for an identity whose files do not open with the right password."""
    return KeystoreError(
        f"the identity {name!r} is damaged ({file}: {reason}): remove it and import it again"
    )


def sealed_for_tls(identity: UnlockedIdentity) -> TlsIdentity:
    """An opened identity as an SSL context loads it: the key sealed again under a one-time
    random password that exists only in this process."""
    import secrets

    from cryptography.hazmat.primitives import serialization

    once = secrets.token_urlsafe(32).encode("ascii")
    key = identity.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(once),
    )
    return TlsIdentity(
        identity.name, _pem(identity.certificate), tuple(map(_pem, identity.chain)), key, once
    )


class _Derivation:
    """An identity's secret being derived on a thread, for one password and derivation."""

    def __init__(self, password: str, kdf: dict[str, Any]) -> None:
        self._password, self._kdf = password, kdf
        self._secret = b""
        self._thread = threading.Thread(target=self._derive, name="deriving", daemon=True)
        self._thread.start()

    def _derive(self) -> None:
        with suppress(ValueError):  # a damaged salt: derived again on the caller's thread
            self._secret = _secret(self._password, self._kdf)

    def derives(self, password: str, kdf: dict[str, Any]) -> bool:
        return hmac.compare_digest(password.encode(), self._password.encode()) and kdf == self._kdf

    def secret(self) -> bytes:
        self._thread.join()
        return self._secret or _secret(self._password, self._kdf)


#: ``trusted_pem``'s bundle when every entry loaded, by keystore folder, with the files it
#: was read from (``_entries``): a warm service's commands reuse what it checked once (0.002-
#: 0.004 s of a TLS command's preparation); an entry added, removed or replaced since is
#: checked again.
_checked_pems: dict[Path, tuple[tuple[tuple[str, int, int, int], ...], str]] = {}


def _sealed_identity(name: str, path: Path, data: bytes, secret: bytes) -> TlsIdentity:
    """Identity ``name`` (public part ``path``, PKCS#12 ``data`` sealed under ``secret``) as
    an SSL context loads it: no key is opened in Python."""
    certificate, chain = _public_pems(path)
    key = sealed_key(data, secret, f"identity {name}")
    return TlsIdentity(name, certificate, chain, _pem_block(PEM_ENCRYPTED_KEY, key), secret)


def _signature(public: Path) -> tuple[int, ...]:
    """An identity's files as they are now (inode, size, modification of each; () when one
    is missing): a held identity is used only while they are unchanged."""
    try:
        return tuple(
            value
            for stat in (public.stat(), public.with_suffix(".p12").stat())
            for value in (stat.st_ino, stat.st_dev, stat.st_size, stat.st_mtime_ns)
        )
    except OSError:
        return ()


def _public_pems(path: Path) -> tuple[str, tuple[str, ...]]:
    """An identity's certificate and chain as its public part holds them (PEM)."""
    try:
        public = json.loads(path.read_text(encoding="utf-8"))
        certificate, chain = public["certificate"], tuple(public["chain"])
        if "name" not in public:
            raise KeyError("name")
        if not all(isinstance(p, str) and PEM_CERTIFICATE in p for p in (certificate, *chain)):
            raise ValueError("a certificate that is not PEM")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise KeystoreError(f"the keystore entry {path.name} is damaged: {error}") from error
    return certificate, chain


def _pem_block(label: str, der: bytes) -> bytes:
    body = base64.encodebytes(der).decode("ascii")
    return f"-----BEGIN {label}-----\n{body}-----END {label}-----\n".encode("ascii")


def _settings(password: str) -> bytes:
    """keystore.json for ``password``: the format and the verifier, with a new salt."""
    salt = os.urandom(16)
    settings = {
        "version": FORMAT_VERSION,
        "salt": base64.b64encode(salt).decode(),
        "verifier": base64.b64encode(_stretch(password, salt)).decode(),
    }
    return json.dumps(settings, indent=2).encode("utf-8")


def _sealed(identity: UnlockedIdentity, password: str) -> tuple[bytes, dict[str, Any]]:
    """The identity as its .p12 holds it, sealed under a secret derived from ``password``
    with a new salt, and that derivation (the public part's ``kdf``)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    kdf = {
        "name": SECRET_KDF,
        "salt": base64.b64encode(os.urandom(16)).decode(),
        "rounds": SECRET_ROUNDS,
    }
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(1)  # the secret is 256 random-looking bits: the rounds are in kdf
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(_secret(password, kdf))
    )
    bundle = pkcs12.serialize_key_and_certificates(
        identity.name.encode("utf-8"),
        identity.key,
        identity.certificate,
        identity.chain or None,
        encryption,
    )
    return bundle, kdf


def _verifies(settings: dict[str, Any], password: str) -> bool:
    salt = base64.b64decode(settings["salt"])
    expected = base64.b64decode(settings["verifier"])
    return hmac.compare_digest(_stretch(password, salt), expected)


def _ca_file(path: Path) -> tuple[list[CertificateInfo], str]:
    """A trusted CA file's certificates, or none and why it is damaged."""
    from desktop.security.certificates import describe, load_certificates

    try:
        return [describe(c) for c in load_certificates(path.read_bytes(), path.name)], ""
    except OSError as error:
        return [], f"cannot be read: {error.strerror}"
    except (CertificateError, ValueError) as error:
        return [], str(error)


def _stretch(password: str, salt: bytes) -> bytes:
    """The verifier's scrypt (hashlib's gives the same bytes as cryptography's did)."""
    memory = 256 * SCRYPT_R * SCRYPT_N  # twice what scrypt needs: OpenSSL's own margin
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        maxmem=memory,
        dklen=32,
    )


def _secret(password: str, kdf: dict[str, Any]) -> bytes:
    """An identity's PKCS#12 password: PBKDF2-HMAC-SHA256 of the keystore password, as hex."""
    salt = base64.b64decode(kdf["salt"])
    derived = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, kdf["rounds"])
    return derived.hex().encode("ascii")


def _secret_kdf(path: Path) -> dict[str, Any] | None:
    """The derivation of an identity's secret from its public part; None for an identity of
    an older keystore, sealed under the password itself."""
    try:
        kdf = json.loads(path.read_text(encoding="utf-8")).get("kdf")
    except (OSError, ValueError, AttributeError) as error:
        raise KeystoreError(f"the keystore entry {path.name} is damaged: {error}") from error
    if kdf is None:
        return None
    if (
        not isinstance(kdf, dict)
        or kdf.get("name") != SECRET_KDF
        or not isinstance(kdf.get("rounds"), int)
        or kdf["rounds"] < SECRET_ROUNDS
        or not isinstance(kdf.get("salt"), str)
    ):
        raise KeystoreError(
            f"the keystore entry {path.name} is damaged: its key derivation {kdf!r} is not "
            f"{SECRET_KDF} with at least {SECRET_ROUNDS} rounds"
        )
    return dict(kdf)


def _read_settings(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        settings: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise KeystoreError(f"the keystore settings {path} are damaged: {error}") from error
    if settings.get("version") != FORMAT_VERSION:
        raise KeystoreError(
            f"the keystore has format {settings.get('version')!r}; this version "
            f"of DICOM Courier reads format {FORMAT_VERSION}"
        )
    return settings


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise KeystoreError(f"cannot read {path}: {error.strerror}") from error


def _load_identity_files(
    path: Path,
    key_path: Path | None,
    chain_path: Path | None,
    file_password: str | None,
) -> tuple[PrivateKey, x509.Certificate, list[x509.Certificate]]:
    """Key, certificate and chain from a PKCS#12 file or from certificate + key (+ chain)."""
    from desktop.security.certificates import load_certificates, load_pkcs12, load_private_key

    data = _read(path)
    secret = file_password.encode("utf-8") if file_password is not None else None
    if key_path is None and b"-----BEGIN" not in data:
        key, certificate, chain = load_pkcs12(data, secret, path.name)
    else:
        certificates = load_certificates(data, path.name)
        if key_path is None and b"PRIVATE KEY-----" not in data:
            raise CertificateError(
                f"{path.name} holds a certificate but no private key: give the key with --key "
                "FILE, or import the PKCS#12 (.p12/.pfx) file"
            )
        key_data = _read(key_path) if key_path else data
        key = load_private_key(key_data, secret, (key_path or path).name)
        certificate, chain = certificates[0], certificates[1:]
    if chain_path is not None:
        chain += load_certificates(_read(chain_path), chain_path.name)
    return key, certificate, chain
