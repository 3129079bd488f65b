"""``listen --verify-signatures``: each received instance's verdict lands in the history."""

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

from desktop.core.signatures.profiles import Profile
from desktop.security.signing import signer
from desktop.signing import sign_file
from tests.helpers import require_tool, sample_file
from tests.peers import free_port, running
from tests.pki import Pki
from tests.security.signing_fixtures import tamper


def test_received_signatures_are_checked_and_recorded(
    tmp_path: Path, signing_home_copy: Path, pki: Pki
) -> None:
    home = signing_home_copy
    who = signer(pki.unlocked(pki.client), dt.datetime.now(dt.UTC))
    good, bad = tmp_path / "good.dcm", tmp_path / "mr.dcm"
    sign_file(sample_file("CT_small.dcm"), good, who, profile=Profile.CREATOR, algorithm="SHA256")
    sign_file(sample_file("MR_small.dcm"), bad, who, profile=Profile.BASE, algorithm="SHA384")
    bad = tamper(bad, "pixel")
    port = free_port()
    command = [sys.executable, "-m", "desktop.cli", "listen", "--port", str(port)]
    command += ["--out", str(tmp_path / "inbox"), "--verify-signatures"]
    with running(command, port, tmp_path / "listen.log"):  # in the copy, its password given
        sent = subprocess.run(
            [require_tool("storescu"), "-aec", "COURIER", "127.0.0.1", str(port), good, bad],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sent.returncode == 0, sent.stderr
        history = home / "history.jsonl"
        checks: list[dict] = []  # type: ignore[type-arg]
        deadline = time.monotonic() + 20
        while len(checks) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            lines = history.read_text().splitlines() if history.exists() else []
            checks = [r for r in map(json.loads, lines) if r["event"] == "signature-check"]
    assert len(checks) == 2, (tmp_path / "listen.log").read_text()
    verdicts = sorted((c["ok"], c["signatures"][0]["verdict"]) for c in checks)
    assert verdicts == [(False, "invalid"), (True, "valid")]
    profiles = sorted(c["signatures"][0]["profile"] for c in checks)
    assert profiles == ["base", "creator"]
    log = (tmp_path / "listen.log").read_text()
    assert log.count(": valid\n") == 1 and log.count(": invalid  <-- NOT VALID\n") == 1
