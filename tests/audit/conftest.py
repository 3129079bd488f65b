"""The home of the audit forwarding tests (test_hooks.py makes its own)."""

import os
from pathlib import Path

import pytest

from desktop.security.keystore import Keystore
from desktop.security.pki import make_leaf
from tests.audit.forwarding import PASSWORD, PEER_NAME
from tests.pki import KEY_PASSWORD, Pki


@pytest.fixture
def home(pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home trusting the test root, with identity 'courier' named courier.audit.test."""
    folder = Path(os.environ["DICOM_COURIER_HOME"])
    monkeypatch.setenv("DICOM_COURIER_KEYSTORE_PASSWORD", PASSWORD)
    leaf = make_leaf(PEER_NAME, pki.intermediate, names=(PEER_NAME,), server=False)
    bundle = tmp_path / "courier.p12"
    bundle.write_bytes(leaf.pkcs12(KEY_PASSWORD))
    keystore = Keystore(folder, lambda new: PASSWORD)
    keystore.import_cas(pki.path("root-only"))
    keystore.import_identity("courier", bundle, file_password=KEY_PASSWORD)
    return folder
