"""SSL contexts that follow DICOM's secure transport connection profiles (PS3.15 Annex B).

Peers are verified against the keystore's trusted CAs only, never the system store; a client
checks the server's name against its SANs unless the node turns that off; a server always
requires and verifies a client certificate.
"""

import os
import ssl
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from desktop.security.errors import SecurityError
from desktop.security.keystore import (
    TlsIdentity,
    UnlockedIdentity,
    damaged_identity,
    sealed_for_tls,
)

#: What a context presents: an identity as the keystore's ``tls_identity`` gives it (the key
#: still sealed), or one already opened in Python (sealed again for OpenSSL).
Presented = TlsIdentity | UnlockedIdentity


class Profile(StrEnum):
    """The profiles a node can choose; bcp195-nd is the default."""

    BCP195_ND = "bcp195-nd"  # B.10 Non-downgrading BCP 195
    BCP195_RFC8996 = "bcp195-rfc8996"  # B.12 BCP 195 RFC 8996
    BCP195_RFC8996_MOD = "bcp195-rfc8996-mod"  # B.13 Modified BCP 195 RFC 8996
    BCP195 = "bcp195"  # B.9 BCP 195: TLS 1.0 and 1.1 allowed, for legacy peers only


@dataclass(frozen=True, slots=True)
class ProfileRules:
    minimum: ssl.TLSVersion
    maximum: ssl.TLSVersion
    ciphers: str  # TLS 1.2 and older; TLS 1.3 suites are OpenSSL's (all AEAD)
    strict_peer: bool  # B.13: refuse RSA keys under 2048 bits and non-SHA-2 signatures
    warning: str = ""


RSA_GCM = "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384"
DHE_GCM = "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384"
ECDSA_GCM = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"
RULES = {
    Profile.BCP195_ND: ProfileRules(
        ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3, f"{RSA_GCM}:{DHE_GCM}", False
    ),
    Profile.BCP195_RFC8996: ProfileRules(
        ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3, f"{RSA_GCM}:{ECDSA_GCM}", False
    ),
    Profile.BCP195_RFC8996_MOD: ProfileRules(
        ssl.TLSVersion.TLSv1_2,
        ssl.TLSVersion.TLSv1_3,
        f"{RSA_GCM}:{ECDSA_GCM}:{DHE_GCM}:@SECLEVEL=2",
        True,
    ),
    Profile.BCP195: ProfileRules(
        ssl.TLSVersion.TLSv1,
        ssl.TLSVersion.TLSv1_3,
        f"{RSA_GCM}:{DHE_GCM}:{ECDSA_GCM}:AES128-SHA:@SECLEVEL=0",
        False,
        "legacy profile BCP 195 (PS3.15 B.9) chosen for this node: TLS 1.0 and 1.1 are allowed",
    ),
}


def parse_profile(text: str) -> Profile:
    try:
        return Profile(text)
    except ValueError:
        choices = ", ".join(p.value for p in Profile)
        raise SecurityError(f"unknown TLS profile {text!r}; choose one of {choices}") from None


def client_context(
    profile: Profile,
    trusted_pem: str,
    identity: Presented | None,
    *,
    check_hostname: bool = True,
    system_store: bool = False,
) -> ssl.SSLContext:
    """A context for connecting to a peer: verify it against ``trusted_pem``, and against the
    operating system's CAs only when ``system_store`` asks for them."""
    context = _context(ssl.PROTOCOL_TLS_CLIENT, profile, trusted_pem, identity)
    if system_store:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    context.check_hostname = check_hostname
    return context


def server_context(profile: Profile, trusted_pem: str, identity: Presented) -> ssl.SSLContext:
    """A context for our SCP: present ``identity`` and require a client certificate."""
    context = _context(ssl.PROTOCOL_TLS_SERVER, profile, trusted_pem, identity)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _context(
    protocol: int, profile: Profile, trusted_pem: str, identity: Presented | None
) -> ssl.SSLContext:
    rules = RULES[profile]
    context = ssl.SSLContext(protocol)
    with warnings.catch_warnings():  # Python deprecates TLS 1.0/1.1; B.9 asks for them on purpose
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = rules.minimum
        context.maximum_version = rules.maximum
    context.set_ciphers(rules.ciphers)
    context.verify_mode = ssl.CERT_REQUIRED
    if not trusted_pem:
        raise SecurityError(
            "the keystore trusts no CA yet: import the hospital CA first (keystore import-ca FILE)"
        )
    context.load_verify_locations(cadata=trusted_pem)
    if identity is not None:
        load_identity(context, identity)
    return context


def load_identity(context: ssl.SSLContext, identity: Presented) -> None:
    """Give ``context`` the identity's chain and key without writing the key in the clear.

    ``ssl`` loads keys from files only: the key, still encrypted, goes into an anonymous
    in-memory file where the system has them (else a 0600 temporary file, removed at once),
    and OpenSSL decrypts it with a password that exists only in this process.
    """
    if isinstance(identity, UnlockedIdentity):
        identity = sealed_for_tls(identity)
    chain = "\n".join((identity.certificate, *identity.chain, "")).encode("ascii")
    with private_file(chain + identity.key) as path:
        try:
            context.load_cert_chain(str(path), password=identity.password)
        except ssl.SSLError as error:  # the public part's certificate is not the key's
            reason = f"its certificate and key do not load together: {error.reason or error}"
            raise damaged_identity(identity.name, f"{identity.name}.json", reason) from error


@contextmanager
def private_file(data: bytes) -> Iterator[Path]:
    if hasattr(os, "memfd_create"):
        descriptor = os.memfd_create("dicom-courier-identity", os.MFD_CLOEXEC)
        try:
            os.write(descriptor, data)
            yield Path(f"/proc/self/fd/{descriptor}")
        finally:
            os.close(descriptor)
        return
    handle, name = tempfile.mkstemp(prefix="dicom-courier-")
    try:
        os.write(handle, data)
        os.close(handle)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)
