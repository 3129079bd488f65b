"""Whether a certificate may receive encrypted patient data (a sealed file, the original
values of a de-identified one): an end entity whose key may transport a content key
(RFC 5280 §4.2.1.3), issued through a CA the keystore trusts."""

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from desktop.security.certificates import is_ca

MAX_CHAIN = 8  # certificates between a recipient and a trusted CA, at most


def unusable(certificate: x509.Certificate) -> str:
    """Why ``certificate`` must not receive encrypted data, or "" when it may."""
    if is_ca(certificate):
        return "it is a CA certificate, not a recipient's"
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return ""  # no key usage extension: any use (RFC 5280 §4.2.1.3)
    if not usage.key_encipherment:
        return "its key usage does not allow keyEncipherment (RFC 5280 §4.2.1.3)"
    return ""


def issued_by_trusted(
    certificate: x509.Certificate,
    trusted: list[x509.Certificate],
    intermediates: list[x509.Certificate],
) -> bool:
    """Whether ``certificate`` chains, through CA certificates of ``intermediates``, to one of
    ``trusted`` (each signature checked)."""
    current = certificate
    for _ in range(MAX_CHAIN):
        if any(_issued(current, ca) for ca in trusted):
            return True
        parent = next((c for c in intermediates if is_ca(c) and _issued(current, c)), None)
        if parent is None or parent == current:
            return False
        current = parent
    return False


def _issued(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
