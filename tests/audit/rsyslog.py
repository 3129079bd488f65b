"""A real audit repository for the tests: Debian's rsyslogd with rsyslog-gnutls, on loopback,
taking RFC 5425 syslog over mutual TLS and writing each message on a line of a file."""

import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests.helpers import require_tool
from tests.peers import free_port, wait_for_port
from tests.pki import Pki

GTLS_MODULES = "*/rsyslog/lmnsd_gtls.so"  # what rsyslog-gnutls installs under /usr/lib
SEQUENCE = re.compile(rb'\[meta sequenceId="(\d+)"\]')
CONFIG = """
global(
  workDirectory="{work}"
  maxMessageSize="64k"
  defaultNetstreamDriver="gtls"
  defaultNetstreamDriverCAFile="{ca}"
  defaultNetstreamDriverCertFile="{certificate}"
  defaultNetstreamDriverKeyFile="{key}"
)
module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1"
       streamDriver.authMode="x509/name" permittedPeer=["{peer}"])
input(type="imtcp" port="{port}" address="127.0.0.1")
template(name="whole" type="string" string="%rawmsg%\\n")
action(type="omfile" file="{out}" template="whole")
"""


@dataclass
class Repository:
    """rsyslogd's settings; ``start``/``stop`` run it (again) on the same port and file."""

    folder: Path
    port: int
    out: Path
    config: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.folder / "rsyslogd.log"
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                [
                    require_tool("rsyslogd"),
                    "-n",
                    "-f",
                    str(self.config),
                    "-i",
                    str(self.folder / "rsyslogd.pid"),
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(self.port, self.process, log)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def messages(self) -> list[bytes]:
        return self.out.read_bytes().splitlines() if self.out.exists() else []

    def sequence_ids(self) -> list[int]:
        return [int(m.group(1)) for line in self.messages() if (m := SEQUENCE.search(line))]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[bytes]:
        """The messages once at least ``count`` arrived (rsyslog writes asynchronously)."""
        deadline = time.monotonic() + timeout
        while len(self.messages()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages()


@contextmanager
def repository(pki: Pki, folder: Path, *, permitted_peer: str) -> Iterator[Repository]:
    """rsyslogd presenting the PKI's server certificate and accepting only clients whose
    certificate the test root signed and that name ``permitted_peer``."""
    require_tool("rsyslogd")
    if not any(Path("/usr/lib").glob(GTLS_MODULES)):
        pytest.fail("rsyslog-gnutls is not installed: run scripts/setup.sh --test")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "work").mkdir(exist_ok=True)
    certificate = folder / "server-chain.pem"
    certificate.write_bytes(
        b"".join(
            c.public_bytes(serialization.Encoding.PEM)
            for c in [pki.server.certificate, *pki.server.chain]
        )
    )
    key = folder / "server-key.pem"  # rsyslog reads no encrypted key: a throwaway test key, 0600
    key.touch(mode=0o600)
    key.write_bytes(
        pki.server.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    port = free_port()
    config = folder / "rsyslog.conf"
    out = folder / "received.log"
    config.write_text(
        CONFIG.format(
            work=folder / "work",
            ca=pki.path("root-only"),
            certificate=certificate,
            key=key,
            peer=permitted_peer,
            port=port,
            out=out,
        )
    )
    server = Repository(folder, port, out, config)
    server.start()
    try:
        yield server
    finally:
        server.stop()
