"""What `listen` says and keeps of its records: a TLS listener's signature verdicts are
labelled with its TLS, not "plain", and an answer with nothing more to say ends without a
dangling colon (tester's F16, items 1 and 2)."""

import datetime as dt
from pathlib import Path

import pytest

from desktop.commands.listen import _show
from desktop.core.signatures.profiles import Profile
from desktop.net.history import History
from desktop.security.keystore import Keystore
from desktop.security.signing import signer
from desktop.signing import sign_file, trust_of
from tests.helpers import cli, sample_file
from tests.pki import Pki
from tests.security.signing_fixtures import PASSWORD


def test_a_tls_listeners_records_say_tls(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    signing_home_copy: Path,
    pki: Pki,
) -> None:
    home = signing_home_copy
    signed = tmp_path / "signed.dcm"
    who = signer(pki.unlocked(pki.client), dt.datetime.now(dt.UTC))
    sign_file(sample_file("CT_small.dcm"), signed, who, profile=Profile.BASE, algorithm="SHA256")
    trust = trust_of(Keystore(home, lambda new: PASSWORD), [])
    history = History(home / "history.jsonl")
    stored = {"event": "stored", "path": str(signed), "calling": "WS"}
    _show(stored, history, trust, "bcp195-nd")
    _show({"event": "query-answered", "calling": "WS", "status": 0}, history, trust, "bcp195-nd")
    said = capsys.readouterr().out
    assert f"signatures of {signed}: valid" in said, said
    assert "query-answered (WS) 0x0000\n" in said, said
    status, out, _ = cli(capsys, "history")
    assert status == 0
    lines = out.splitlines()
    assert any("signature-check  TLS listener (bcp195-nd)" in line for line in lines), out
    assert not any("plain" in line for line in lines), out
