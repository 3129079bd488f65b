"""Composition: how a session forwards its audit trail to the repository.

With the keystore password at hand without asking (``--password-file`` or the environment),
the identity is unlocked when first needed. Without it, a long-running session (the GUI)
forwards once the user has unlocked the keystore for other work, never asking just for this;
otherwise the spool waits for ``audit flush`` or the next command.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from desktop import auditing
from desktop.commands.options import open_keystore
from desktop.core.audit.forward import Drainer, Forwarder, ForwardError, ForwardSettings
from desktop.core.audit.trail import AuditTrail
from desktop.core.errors import CourierError
from desktop.security.passwords import PASSWORD_ENV

if TYPE_CHECKING:
    from desktop.security.keystore import Keystore

log = logging.getLogger(__name__)
#: Seconds a command's closing flush waits on each step (connect, handshake, read): a
#: repository that is down or silent must not hold every command, and what it did not take
#: stays spooled for the next flush.
FINISH_TIMEOUT = 2.0
SESSION_TIMEOUT = 10.0  # ... and a long-running session's background flushes


def forwarder(
    trail: AuditTrail,
    settings: ForwardSettings,
    keystore: Keystore,
    *,
    timeout: float = SESSION_TIMEOUT,
) -> Forwarder:
    """A forwarder presenting ``settings.identity``, trusting the keystore's CAs and checking
    the repository's certificate against their CRLs."""
    identity = keystore.tls_identity(settings.identity) if settings.identity else None
    from desktop.security.revocation import check_revocation, crls_pem
    from desktop.security.tls import Profile, client_context  # TLS only when forwarding

    context = client_context(
        Profile(settings.profile), keystore.trusted_pem(), identity, check_hostname=True
    )
    check_revocation(context, crls_pem(keystore))  # as for every TLS peer
    return Forwarder(trail.spool, settings, context, timeout=timeout)


def in_words(
    error: ForwardError, settings: ForwardSettings, *, timeout: float, waiting: int
) -> str:
    """One line saying why the repository did not take the spool, as tls-check would say it
    (not OpenSSL's text), and that nothing is lost."""
    cause = error.__cause__
    if not error.stage or cause is None:  # refused after the handshake: said plainly already
        return str(error)
    import ssl

    from desktop.security.diagnosis import Facts, diagnose  # only when forwarding failed
    from desktop.security.handshake import unverified_chain

    facts = Facts(
        settings.host,
        settings.port,
        settings.server_name or settings.host,
        settings.profile,
        sent_identity=bool(settings.identity),
        timeout=timeout,
        stage=error.stage,
    )
    if isinstance(cause, ssl.SSLCertVerificationError):  # whose certificate, from which CA
        facts.peer_chain = unverified_chain(settings.host, settings.port, timeout)
    return (
        f"audit messages not forwarded: {diagnose(cause, facts).summary}; they stay spooled "
        f"({waiting}) and go with the next command or `dicom-courier audit flush`"
    )


class SessionForwarding:
    """Drains the spool in the background (long-running sessions) or once at ``finish``."""

    def __init__(self, trail: AuditTrail, args: argparse.Namespace) -> None:
        self.trail = trail
        self.settings = trail.forwarding()
        self.keystore: Callable[[], Keystore] | None = None
        self.drainer: Drainer | None = None
        self._forwarder: Forwarder | None = None
        long_running = bool(getattr(args, "long_running", False))
        self.timeout = SESSION_TIMEOUT if long_running else FINISH_TIMEOUT
        password_file = getattr(args, "password_file", None)
        if self.settings is None:
            return
        if password_file is not None or os.environ.get(PASSWORD_ENV):
            self.keystore = lambda: open_keystore(argparse.Namespace(password_file=password_file))
            if long_running:
                self._start()
        elif long_running:
            auditing.on_unlocked(self._adopt)

    def finish(self) -> None:
        """Stop the background drainer after its last flush, or flush once now."""
        if self.drainer is not None:
            self.drainer.stop()
        elif self.keystore is not None and self.trail.spool.pending():
            try:
                self._send()
            except ForwardError as error:
                assert self.settings is not None
                waiting = len(self.trail.spool.pending())
                log.warning(
                    "%s", in_words(error, self.settings, timeout=self.timeout, waiting=waiting)
                )
            except CourierError as error:
                log.warning("%s", error)

    def _adopt(self, keystore: Keystore) -> None:
        if self.drainer is None:
            self.keystore = lambda: keystore
            self._start()

    def _start(self) -> None:
        self.drainer = Drainer(self._send).start()
        self.trail.on_spooled = self.drainer.wake
        self.drainer.wake()  # what earlier sessions left, and this one's start

    def _send(self) -> int:
        if self._forwarder is None:
            assert self.settings is not None and self.keystore is not None
            self._forwarder = forwarder(
                self.trail, self.settings, self.keystore(), timeout=self.timeout
            )
        return self._forwarder.flush()
