"""The embedded demo: a temporary home with a demo CA, identities, sample media and a local
TLS PACS (a listener of our own with a store of its own, stocked with the sample media,
serving query/retrieve and moving to our Inbox listener) configured as the node "Demo PACS
(TLS)"."""

import hashlib
import logging
import secrets
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.serialization import Encoding

from desktop import __version__
from desktop.core.config import Node, add_node
from desktop.core.synthetic import DEMO_STUDIES, write_media
from desktop.security.keystore import Keystore
from desktop.security.pki import make_ca, make_leaf

if TYPE_CHECKING:
    from desktop.core.store import Store
    from desktop.inbox import LazyStore
    from desktop.net.scp import StorageListener

log = logging.getLogger(__name__)

DEMO_NODE = "Demo PACS (TLS)"
DEMO_AE = "DEMO_PACS"
INBOX_AE = "COURIER"  # our Inbox listener in the demo: the demo PACS's move destination


@dataclass(frozen=True, slots=True)
class Demo:
    home: Path
    media: Path
    password: str
    port: int

    @property
    def root(self) -> Path:
        """The temporary folder holding the demo's home (removed when the demo ends)."""
        return self.home.parent

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cached_media(cache: Path) -> Path:
    """The demo's sample media, written once into ``cache`` and reused by later starts (they
    are read-only and the same each time); a new version of the samples gets a new folder."""
    key = hashlib.sha256(f"{__version__} {DEMO_STUDIES!r}".encode()).hexdigest()[:12]
    target = cache / f"demo-media-{key}"
    if (target / "DICOMDIR").is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=cache, prefix=".demo-media-"))
    write_media(scratch)
    try:
        scratch.rename(target)  # whole or not at all
    except OSError:  # another start finished first
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def prepare_demo(folder: Path | None = None, *, media_cache: Path | None = None) -> Demo:
    """Make everything the demo needs under a new temporary folder (nothing else touched);
    the sample media come from ``media_cache`` when given, else are written there too."""
    root = folder or Path(tempfile.mkdtemp(prefix="dicom-courier-demo-"))
    home = root / "home"
    media = cached_media(media_cache) if media_cache is not None else root / "media"
    home.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(16)
    keystore = Keystore(home, lambda new: password)
    ca = make_ca("DICOM Courier Demo CA")
    pki = root / "pki"
    pki.mkdir(exist_ok=True)
    (pki / "demo-ca.pem").write_bytes(ca.certificate.public_bytes(Encoding.PEM))
    keystore.import_cas(pki / "demo-ca.pem")
    for name, leaf in (
        ("demo-workstation", make_leaf("workstation.demo", ca)),
        ("demo-pacs", make_leaf("pacs.demo", ca)),
    ):
        bundle = pki / f"{name}.p12"
        bundle.write_bytes(leaf.pkcs12(password))
        keystore.import_identity(name, bundle, file_password=password)
        bundle.unlink()
    if media_cache is None:
        write_media(media)
    port = free_loopback_port()
    add_node(
        home,
        Node(
            DEMO_NODE,
            DEMO_AE,
            "127.0.0.1",
            port,
            tls=True,
            identity="demo-workstation",
            calling_ae_title="COURIER",
        ),
    )
    return Demo(home, media, password, port)


@dataclass(frozen=True, slots=True)
class Stocking:
    """The demo PACS being stocked: ``stop`` before the demo's folder goes."""

    thread: threading.Thread
    stopping: threading.Event

    def wait(self, timeout: float = 60) -> None:
        self.thread.join(timeout)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)  # it stops between two files
        if self.thread.is_alive():
            log.warning("the demo PACS's stocking did not stop within 10 s")


def stock_pacs(store: Callable[[], "Store"], media: Path) -> Stocking:
    """Import the demo media into the demo PACS's store, on a thread of its own: the window
    does not wait (about 3 s)."""
    from desktop.core.store.importing import Outcome, import_media

    stopping = threading.Event()

    def stock() -> None:
        try:
            for imported in import_media(store(), [media]):
                if imported.outcome is Outcome.FAILED:
                    log.warning("the demo PACS lacks %s: %s", imported.source, imported.reason)
                if stopping.is_set():
                    return
        except Exception:  # a bug: logged, the demo goes on without
            if not stopping.is_set():  # else cut off by the quit: nothing to say
                log.exception("the demo PACS could not be stocked")

    thread = threading.Thread(target=stock, name="demo-pacs-stock", daemon=True)
    thread.start()
    return Stocking(thread, stopping)


@dataclass(frozen=True, slots=True)
class DemoPacs:
    """The demo PACS running: its listener and the stocking of its store."""

    listener: "StorageListener"
    stocking: Stocking
    store: "LazyStore"

    def stop(self) -> None:
        self.stocking.stop()
        self.listener.stop()
        self.store.close()


def start_pacs(demo: Demo, keystore: Keystore, inbox_port: int) -> DemoPacs:
    """The demo PACS on ``demo.port`` (TLS, identity demo-pacs) with its own store under the
    demo's folder, stocked with the sample media; it moves to our Inbox listener
    (INBOX_AE on ``inbox_port``, TLS), so a retrieve adds to the Inbox what it lacked."""
    from desktop.connect import listener_tls, node_connector
    from desktop.inbox import LazyStore, indexing
    from desktop.net.scp import ListenerSettings, StorageListener
    from desktop.security.tls import Profile
    from desktop.serving import DeferredArchive, query_retrieve

    pacs_home = demo.root / "pacs-home"  # its configuration: where the Inbox is
    pacs_home.mkdir(exist_ok=True)
    add_node(
        pacs_home,
        Node("Inbox", INBOX_AE, "127.0.0.1", inbox_port, tls=True, identity="demo-pacs"),
    )
    store = LazyStore(demo.root / "pacs")
    settings = ListenerSettings(DEMO_AE, "127.0.0.1", demo.port, store.folder)
    settings.tls_context, acceptor = listener_tls(keystore, "demo-pacs", Profile("bcp195-nd"))
    services = query_retrieve(
        DeferredArchive(store), pacs_home, lambda node: node_connector(node, keystore)
    )
    listener = StorageListener(
        settings, indexing(lambda record: None, store), acceptor, services=services
    ).start()
    return DemoPacs(listener, stock_pacs(store, demo.media), store)
