"""Our storage SCP: the move destination, the demo PACS and ``dicom-courier listen``.

pynetdicom does the association work. Two of its server habits are fixed here: the TLS
handshake runs on the connection's own thread (pynetdicom's accept loop handshakes inline, so
one idle connection stalls every other client), and every handshake, failed ones included,
is reported to a sink.
"""

import logging
import os
import re
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.transport import ThreadedAssociationServer

from desktop.core.errors import CourierError, HeaderError
from desktop.core.files import public_mode
from desktop.core.header import read_header

LOG = logging.getLogger(__name__)

ACCEPTED_SYNTAXES = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    JPEG2000Lossless,
    JPEG2000,
    RLELossless,
]
VERIFICATION = "1.2.840.10008.1.1"
SAFE = re.compile(r"[^A-Za-z0-9._-]+")
SUCCESS, OUT_OF_RESOURCES, CANNOT_UNDERSTAND = 0x0000, 0xA700, 0xC000

# What the composition root gives us: an accepted socket in, a TLS socket (or None) and the
# handshake transcript (JSON-ready) out.
TlsAcceptor = Callable[[socket.socket], tuple[ssl.SSLSocket | None, dict[str, Any]]]
Sink = Callable[[dict[str, Any]], None]


class ListenerError(CourierError):
    """The listener cannot start (port in use, folder not writable ...)."""


@dataclass(slots=True)
class ListenerSettings:
    ae_title: str = "COURIER"
    host: str = "127.0.0.1"
    port: int = 11113
    out: Path = Path("inbox")
    allowed_calling: list[str] = field(default_factory=list)  # empty: anyone
    tls_context: ssl.SSLContext | None = None


def _component(value: str, fallback: str) -> str:
    cleaned = SAFE.sub("_", value.strip())[:64].strip("._")
    return cleaned or fallback


def stored_path(out: Path, patient: str, study: str, series: str, instance: str) -> Path:
    """Where a received instance goes: OUT/patient/study/series/instance.dcm (names made safe)."""
    return (
        out
        / _component(patient, "unknown-patient")
        / _component(study, "unknown-study")
        / _component(series, "unknown-series")
        / f"{_component(instance, 'instance')}.dcm"
    )


class StorageListener:
    """A storage SCP for every storage SOP class, writing each file atomically."""

    def __init__(
        self, settings: ListenerSettings, sink: Sink, tls_acceptor: TlsAcceptor | None = None
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.tls_acceptor = tls_acceptor
        self._server: ThreadedAssociationServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    def start(self) -> "StorageListener":
        settings = self.settings
        try:
            settings.out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ListenerError(
                f"cannot use {settings.out} as the inbox: {error.strerror}"
            ) from error
        ae = AE(ae_title=settings.ae_title)
        ae.maximum_pdu_size = 0
        for context in AllStoragePresentationContexts:
            ae.add_supported_context(str(context.abstract_syntax), ACCEPTED_SYNTAXES)
        ae.add_supported_context(VERIFICATION)
        if settings.allowed_calling:
            ae.require_calling_aet = settings.allowed_calling
        handlers: list[Any] = [
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_REJECTED, self._on_rejected),
        ]
        server_class = _handshaking_server(self)
        try:
            server = ae.make_server(
                (settings.host, settings.port),
                ae_title=settings.ae_title,
                evt_handlers=handlers,
                server_class=server_class,
            )
        except OSError as error:
            raise ListenerError(
                f"cannot listen on {settings.host}:{settings.port}: {error.strerror}"
            ) from error
        self._server = server
        ae._servers.append(server)  # pynetdicom's shutdown() expects its AE to list the server
        threading.Thread(
            target=server.serve_forever, daemon=True, name=f"listener:{self.port}"
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()  # also closes the listening socket
            self._server = None

    def _on_store(self, event: Any) -> int:
        out = self.settings.out
        incoming = out / ".incoming"
        incoming.mkdir(exist_ok=True)
        handle, name = tempfile.mkstemp(dir=incoming, suffix=".dcm")
        temporary = Path(name)
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(event.encoded_dataset())
                stream.flush()
                os.fsync(stream.fileno())
            header = read_header(temporary)
        except (OSError, HeaderError) as error:
            temporary.unlink(missing_ok=True)
            LOG.warning("not stored from %s: %s", _calling(event), error)
            self.sink({"event": "store-failed", "calling": _calling(event), "error": str(error)})
            return OUT_OF_RESOURCES if isinstance(error, OSError) else CANNOT_UNDERSTAND
        values = header.values
        uid = event.request.AffectedSOPInstanceUID
        target = stored_path(
            out, values.text(0x00100020), values.text(0x0020000D), values.text(0x0020000E), str(uid)
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary.chmod(public_mode())
        temporary.replace(target)
        self.sink(
            {
                "event": "stored",
                "calling": _calling(event),
                "path": str(target),
                "sop_instance_uid": str(uid),
                "size": header.file_size,
            }
        )
        return SUCCESS

    def _on_rejected(self, event: Any) -> None:
        LOG.warning("association from %s rejected", _calling(event))
        self.sink(
            {
                "event": "association-rejected",
                "calling": _calling(event),
                "peer": f"{event.assoc.requestor.address}:{event.assoc.requestor.port}",
            }
        )


def _calling(event: Any) -> str:
    return str(event.assoc.requestor.ae_title).strip()


def _handshaking_server(listener: StorageListener) -> type[ThreadedAssociationServer]:
    """A server class that accepts without handshaking and handshakes on the new thread."""

    class HandshakingServer(ThreadedAssociationServer):
        def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
            assert self.socket is not None
            client, address = self.socket.accept()
            return client, address

        def process_request_thread(self, request: Any, client_address: Any) -> None:
            if listener.tls_acceptor is not None:
                connection, transcript = listener.tls_acceptor(request)
                listener.sink({"event": "handshake", "transcript": transcript})
                if connection is None:
                    return
                request = connection
            super().process_request_thread(request, client_address)

    return HandshakingServer
