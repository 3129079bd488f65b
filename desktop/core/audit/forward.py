"""Forwarding to an audit repository: an on-disk spool, drained over TLS (RFC 5425).

Every message is written to the spool before any attempt to send it and removed only after the
repository has read it: after the last message of a batch we close TLS (close_notify) and wait
for the repository to close its side, which it does only once it has read everything before.
A repository that is down, refuses us, or drops the connection leaves the spool as it was, to
be sent on the next flush, by this process or the next one. Delivery is at least once; the
RFC 5424 sequence id tells a resent message from a new one.
"""

import json
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from desktop.core.audit.syslog import octet_counted
from desktop.core.errors import CourierError
from desktop.core.files import write_atomic

log = logging.getLogger(__name__)

DEFAULT_PORT = 6514
BATCH = 500  # messages per connection


class ForwardError(CourierError):
    """The audit repository could not be reached, or did not take the messages: ``stage``
    says how far the connection went ("connect", "handshake", "after-handshake"; "" when no
    connection was tried) and ``waiting`` how many messages stay spooled."""

    def __init__(self, message: str, *, stage: str = "", waiting: int = 0) -> None:
        super().__init__(message)
        self.stage = stage
        self.waiting = waiting


SETTINGS_NAME = "forward.json"  # in the trail's folder


@dataclass(frozen=True, slots=True)
class ForwardSettings:
    """Where audit messages go and as whom (a keystore identity, for mutual TLS)."""

    host: str
    port: int = DEFAULT_PORT
    identity: str = ""
    profile: str = "bcp195-nd"
    server_name: str = ""

    @staticmethod
    def load(path: Path) -> "ForwardSettings | None":
        if not path.exists():
            return None
        try:
            return ForwardSettings(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as error:
            raise ForwardError(
                f"the audit forwarding settings {path} are damaged: {error}"
            ) from error

    def save(self, path: Path) -> None:
        write_atomic(path, json.dumps(asdict(self), indent=2).encode("utf-8"))


class Spool:
    """Messages waiting for the repository: one file each, named by sequence number."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def put(self, sequence: int, message: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(self.folder / f"{sequence:012d}.syslog", message)

    def pending(self) -> list[Path]:
        return sorted(self.folder.glob("*.syslog")) if self.folder.is_dir() else []


class Forwarder:
    """Drains a spool to ``host:port`` over TLS with an injected context (mutual TLS)."""

    def __init__(
        self,
        spool: Spool,
        settings: ForwardSettings,
        context: ssl.SSLContext,
        *,
        timeout: float = 10.0,
        refusal_wait: float = 1.0,
    ) -> None:
        self.spool = spool
        self.settings = settings
        self.context = context
        self.timeout = timeout
        self.refusal_wait = refusal_wait
        self._lock = threading.Lock()

    def flush(self) -> int:
        """Send everything spooled, oldest first; return how many the repository took.

        Raises ForwardError (the spool untouched from the failed batch on) when it cannot.
        """
        delivered = 0
        with self._lock:
            while batch := self.spool.pending()[:BATCH]:
                self._send(batch)
                for path in batch:
                    path.unlink(missing_ok=True)
                delivered += len(batch)
        return delivered

    def _send(self, batch: list[Path]) -> None:
        where = f"{self.settings.host}:{self.settings.port}"
        name = self.settings.server_name or self.settings.host
        stage = "connect"
        try:
            with socket.create_connection(
                (self.settings.host, self.settings.port), timeout=self.timeout
            ) as raw:
                stage = "handshake"
                with self.context.wrap_socket(raw, server_hostname=name) as tls:
                    stage = "after-handshake"
                    refusal = _refusal(tls, self.refusal_wait)
                    if refusal:
                        raise ForwardError(
                            f"the audit repository {where} refused us after the TLS handshake "
                            f"({refusal}): check that it trusts our CA and permits our "
                            f"certificate's name; {len(batch)} message(s) stay spooled",
                            stage=stage,
                            waiting=len(batch),
                        )
                    for path in batch:
                        tls.sendall(octet_counted(path.read_bytes()))
                    _close_confirmed(tls)
        except (OSError, ssl.SSLError) as error:
            raise ForwardError(
                f"the audit repository {where} did not take {len(batch)} message(s): "
                f"{error}; they stay spooled and are sent on the next flush",
                stage=stage,
                waiting=len(batch),
            ) from error
        log.info("forwarded %d audit message(s) to %s", len(batch), where)


def _refusal(tls: ssl.SSLSocket, wait: float) -> str:
    """Why the repository refused us, if it did within ``wait`` seconds of the handshake.

    A syslog receiver never writes; one that checks our certificate after the handshake
    (rsyslog's permitted peers, any TLS 1.3 server) answers a refusal by an alert or by
    closing, which a short read sees. Silence means it is waiting for messages.
    """
    previous = tls.gettimeout()
    tls.settimeout(wait)
    try:
        data = tls.recv(1)
    except TimeoutError:
        return ""
    except (OSError, ssl.SSLError) as error:
        return str(error)
    finally:
        tls.settimeout(previous)
    return (
        "it closed the connection" if not data else "it sent data, which a syslog receiver does not"
    )


def _close_confirmed(tls: ssl.SSLSocket) -> None:
    """Send close_notify and wait until the repository closes too (it has read all before).

    A plain end of stream after our close_notify counts: the peer read up to it. A reset, a
    TLS alert (our certificate refused after a TLS 1.3 handshake) or a timeout does not.
    """
    try:
        tls.unwrap()
    except ssl.SSLEOFError:
        return
    except ssl.SSLZeroReturnError:
        return


class Drainer:
    """Flushes in the background, for long-running sessions (GUI, listener): soon after each
    new message and every ``interval`` seconds while the repository is unreachable."""

    def __init__(self, flush: Callable[[], int], *, interval: float = 30.0) -> None:
        self._flush = flush
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="audit-forward")
        self._failing = False

    def start(self) -> "Drainer":
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop after one last flush (within ``timeout`` seconds)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            self._attempt()
            if self._stop.is_set():
                return

    def _attempt(self) -> None:
        try:
            self._flush()
        except CourierError as error:
            if not self._failing:  # say it once per outage, not every interval
                log.warning("%s", error)
            self._failing = True
        else:
            self._failing = False
