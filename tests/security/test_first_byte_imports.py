"""What ``echo`` and ``send`` to a TLS node have imported when their first connection starts:
start-up is mostly imports, and the libraries listed here (cryptography and asn1crypto among
them: the key goes to OpenSSL still sealed) are needed only later, if at all. The process is
caught at its first ``socket.connect`` (an audit hook), so no peer is needed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from desktop.security.certificates import describe
from tests.helpers import node_add
from tests.peers import free_port, running, storescp_tls_command
from tests.pki import Pki, prepare_home

AT_FIRST_CONNECT = """
import sys
from desktop.cli import main

seen = []


def hook(event, args):
    if event == "socket.connect" and not seen:
        seen.append(sorted(m for m in sys.argv[1].split(",") if m in sys.modules))


sys.addaudithook(hook)
try:
    main(sys.argv[2:])
except SystemExit:
    pass
print("loaded at the first connect:", ",".join(seen[0]) if seen else "no connect")
"""
HEAVY = ("cryptography", "asn1crypto", "numpy", "pydicom", "PIL", "PySide6", "pynetdicom")
#: the host name is looked up as ASCII bytes: no IDNA codec (nor stringprep) to load first
IDNA = ("encodings.idna", "stringprep")


@pytest.mark.parametrize(
    ("command", "forbidden"),
    [
        (
            ["echo", "pacs"],
            (*HEAVY, *IDNA, "desktop.net.queue", "desktop.net.runner", "desktop.net.compression"),
        ),
        (["send", "pacs", "STUDY", "--attempts", "1"], (*HEAVY, *IDNA)),
    ],
)
def test_a_tls_command_connects_before_it_imports_what_it_does_not_need(
    tmp_path: Path,
    pki: Pki,
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
    forbidden: tuple[str, ...],
) -> None:
    prepare_home(tmp_path / "home", monkeypatch, pki, "client", "keystore password")
    study = StudySpec("F", "First^Byte", "20240101", "send", (SeriesSpec("CT", "ax", count=2),))
    write_files(tmp_path / "study", (study,))
    nothing_listens = free_port()
    add = [*node_add("pacs", "ANY", nothing_listens, "--tls", "--identity", "courier")]
    subprocess.run(
        [sys.executable, "-m", "desktop.cli", *map(str, add)], check=True, capture_output=True
    )
    arguments = [str(tmp_path / "study") if a == "STUDY" else a for a in command]
    result = subprocess.run(
        [sys.executable, "-c", AT_FIRST_CONNECT, ",".join(forbidden), *arguments],
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=60,
    )
    assert result.stdout.splitlines()[-1] == "loaded at the first connect: ", result.stdout
    assert "Connection refused" in result.stderr or "refused" in result.stdout, result.stderr


AFTER_THE_COMMAND = """
import sys
from desktop.cli import main

status = main(sys.argv[2:])
print("status", status)
loaded = sorted(m for m in sys.argv[1].split(",") if m in sys.modules)
print("loaded after the command:", ",".join(loaded))
"""


def test_a_successful_tls_send_describes_the_peer_without_cryptography(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handshake log of a good send names the peer's chain as cryptography describes it
    (subjects, issuers, validity, keys, fingerprints), read without importing it."""
    home = prepare_home(tmp_path / "home", monkeypatch, pki, "client", "keystore password")
    study = StudySpec("S", "Good^Peer", "20240101", "send", (SeriesSpec("CT", "ax", count=2),))
    write_files(tmp_path / "study", (study,))
    port = free_port()
    (tmp_path / "received").mkdir()
    with running(
        storescp_tls_command(pki, tmp_path / "received", port), port, tmp_path / "scp.log"
    ):
        add = node_add("pacs", "ANY", port, "--tls", "--identity", "courier")
        subprocess.run(
            [sys.executable, "-m", "desktop.cli", *map(str, add)], check=True, capture_output=True
        )
        command = ["send", "pacs", str(tmp_path / "study")]
        result = subprocess.run(
            [sys.executable, "-c", AFTER_THE_COMMAND, "cryptography,asn1crypto", *command],
            capture_output=True,
            text=True,
            env=os.environ,
            timeout=60,
        )
    assert "sent 2 of 2" in result.stdout and "status 0" in result.stdout, result.stderr
    assert result.stdout.splitlines()[-1] == "loaded after the command: ", result.stdout
    records = [json.loads(line) for line in (home / "history.jsonl").read_text().splitlines()]
    chain = next(r["transcript"]["peer_chain"] for r in records if r.get("transcript"))
    verified = (pki.server.certificate, pki.intermediate.certificate, pki.root.certificate)
    assert chain == [describe(c).as_json() for c in verified]
