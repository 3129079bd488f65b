"""Certificates ▸ Import identity… of a certificate the keystore's revocation lists revoke:
imported with a warning, in the words of `keystore import-identity` (tester's F13: the GUI
imported it without a word)."""

from pathlib import Path

from desktop.security.revocation import import_crl
from desktop.ui.main_window import MainWindow
from tests.pki import KEY_PASSWORD, Pki
from tests.ui.clicking import button, click
from tests.ui.scripted import ScriptedPrompter


def _import_by_clicking(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    bundle: Path,
    name: str,
) -> None:
    """Certificates ▸ Import identity…: the PKCS#12 ``bundle``, its password, ``name``."""
    prompter.answer("open_file", bundle)
    prompter.answer("text", KEY_PASSWORD, name)
    window.tabs.setCurrentWidget(window.certificates)
    click(qtbot, button(window.certificates, "Import identity…"))


def test_importing_a_revoked_identity_warns_as_the_command_line_does(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    pki: Pki,
    tmp_path: Path,
) -> None:
    keystore = window.services.keystore
    keystore.import_cas(pki.path("bundle"))  # the root and the CRL's intermediate
    import_crl(keystore, pki.path("intermediate", ".crl"))

    _import_by_clicking(qtbot, window, prompter, pki.path("client", ".p12"), "fine")
    assert not prompter.told and not prompter.errors  # not revoked: not a word
    assert "revoked" not in window.certificates.warnings.text()

    stolen = tmp_path / "stolen.p12"  # the certificate the intermediate's CRL revokes
    stolen.write_bytes(pki.revoked.pkcs12(KEY_PASSWORD))
    _import_by_clicking(qtbot, window, prompter, stolen, "stolen")
    assert not prompter.errors
    [(title, text, _, warning)] = prompter.told
    assert title == "Import identity" and warning
    assert text.startswith(
        "Identity stolen was imported, but CN=revoked.test,O=DICOM Courier was revoked on "
    )
    assert (
        ", by a revocation list of the keystore: identity stolen may not sign, and TLS peers "
        "that check revocation refuse it. It can still open files sealed for it"
    ) in text
    label = window.certificates.warnings.text()
    assert (
        "⚠ CN=revoked.test,O=DICOM Courier was revoked on " in label
        and "identity stolen may not sign" in label
    )
    assert "stolen" in [i.name for i in keystore.identities()]  # imported, as the CLI does
    table = window.certificates.table
    assert "stolen" in [table.item(row, 1).text() for row in range(table.rowCount())]
