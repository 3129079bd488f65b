"""Errors of the keystore and of TLS, each with a message fit to show as it is."""

from desktop.core.errors import CourierError


class SecurityError(CourierError):
    """Base of keystore and TLS errors."""


class CertificateError(SecurityError):
    """A file is not the certificate or key it should be."""


class PasswordError(SecurityError):
    """A password is missing or wrong."""


class PolicyError(SecurityError):
    """A certificate or key is refused by the import checks; ``findings`` says why."""

    def __init__(self, message: str, findings: list[str]) -> None:
        super().__init__(f"{message}: {'; '.join(findings)}")
        self.findings = findings


class KeystoreError(SecurityError):
    """The keystore cannot do what was asked (unknown entry, damaged file ...)."""
