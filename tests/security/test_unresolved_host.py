"""A host name that does not resolve is said as such, not as a TLS failure."""

from pathlib import Path

import pytest

from tests.helpers import cli
from tests.pki import Pki, prepare_home


@pytest.mark.parametrize("command", [["tls-check", "no-such-host.invalid", "2762"], ["echo", "x"]])
def test_unresolvable_host_is_not_a_tls_failure(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    pki: Pki,
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
) -> None:
    prepare_home(tmp_path / "home", monkeypatch, pki, "client", "keystore password")
    cli(capsys, "node", "add", "x", "--ae", "ANY", "--host", "no-such-host.invalid", "--port", 104)
    status, _, err = cli(capsys, *command)
    assert status == 1
    assert err.startswith("The host name no-such-host.invalid could not be resolved"), err
