"""The embedded demo: a temporary home with a demo CA, identities, sample media and a local
TLS PACS (our own storage SCP) configured as the node "Demo PACS (TLS)"."""

import secrets
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from desktop.core.config import Node, add_node
from desktop.core.synthetic import write_media
from desktop.security.keystore import Keystore
from desktop.security.pki import make_ca, make_leaf

DEMO_NODE = "Demo PACS (TLS)"
DEMO_AE = "DEMO_PACS"


@dataclass(frozen=True, slots=True)
class Demo:
    home: Path
    media: Path
    password: str
    port: int


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def prepare_demo(folder: Path | None = None) -> Demo:
    """Make everything the demo needs under a new temporary folder (nothing else touched)."""
    root = folder or Path(tempfile.mkdtemp(prefix="dicom-courier-demo-"))
    home, media = root / "home", root / "media"
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
