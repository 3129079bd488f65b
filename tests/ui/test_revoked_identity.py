"""Certificates ▸ Import identity… of a certificate the keystore's revocation lists revoke:
imported with a warning, in the words of `keystore import-identity` (tester's F13: the GUI
imported it without a word); and the table marks what the keystore's CRLs revoke."""

from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding
from PySide6.QtWidgets import QTableWidgetItem

from desktop.demo import Demo
from desktop.security.revocation import import_crl
from desktop.ui.main_window import MainWindow
from desktop.ui.widgets.certificates import EXPIRED, CertificatesPanel
from tests.pki import KEY_PASSWORD, Pki, revocation_list
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

    stolen = pki.path("revoked", ".p12")  # the certificate the intermediate's CRL revokes
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


def _rows(panel: CertificatesPanel) -> dict[str, list[QTableWidgetItem]]:
    """The table's lines by their name or ID (a CA's: its subject), cell by cell."""
    table = panel.table
    rows = {}
    for row in range(table.rowCount()):
        items = [table.item(row, column) for column in range(table.columnCount())]
        key = items[2].text() if items[0].text() == "Trusted CA" else items[1].text()
        rows[key] = items
    return rows


def test_the_table_marks_what_an_imported_crl_revokes(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    prompter: ScriptedPrompter,
    pki: Pki,
    tmp_path: Path,
) -> None:
    """Certificates ▸ Import CRL…: the identity it revokes is marked REVOKED (line in red,
    why in its tip); then the root's CRL revoking the intermediate CA marks that CA and every
    identity it issued."""
    window.services.keystore.import_cas(pki.path("bundle"))
    stolen = pki.path("revoked", ".p12")
    _import_by_clicking(qtbot, window, prompter, pki.path("client", ".p12"), "fine")
    _import_by_clicking(qtbot, window, prompter, stolen, "stolen")
    panel = window.certificates
    assert not any("REVOKED" in line[4].text() for line in _rows(panel).values())

    prompter.answer("open_file", pki.path("intermediate", ".crl"))
    click(qtbot, button(panel, "Import CRL…"))
    rows = _rows(panel)
    until = f"{pki.revoked.certificate.not_valid_after_utc:%Y-%m-%d}"
    assert rows["stolen"][4].text() == f"{until}, REVOKED"
    assert all(item.foreground().color() == EXPIRED for item in rows["stolen"])
    tip = rows["stolen"][1].toolTip()
    assert tip.startswith("CN=revoked.test,O=DICOM Courier was revoked on ")
    assert tip.endswith(" UTC, by a revocation list of the keystore")
    assert "REVOKED" not in rows["fine"][4].text() and not rows["fine"][1].toolTip()

    by_root = tmp_path / "root.crl"
    by_root.write_bytes(revocation_list(pki.root, pki.intermediate).public_bytes(Encoding.PEM))
    prompter.answer("open_file", by_root)
    click(qtbot, button(panel, "Import CRL…"))
    rows = _rows(panel)
    intermediate = rows["CN=Test Intermediate CA,O=DICOM Courier"]
    assert intermediate[4].text().endswith(", REVOKED")
    assert (
        intermediate[4]
        .toolTip()
        .startswith("CN=Test Intermediate CA,O=DICOM Courier was revoked on ")
    )
    assert "REVOKED" not in rows["CN=Test Root CA,O=DICOM Courier"][4].text()
    assert rows["fine"][4].text().endswith(", REVOKED")  # issued by the revoked CA
    assert rows["fine"][4].toolTip().startswith("CN=Test Intermediate CA,O=DICOM Courier was")
    assert not prompter.errors


def test_the_table_follows_a_crl_imported_by_another_process(
    qtbot,  # type: ignore[no-untyped-def]
    window: MainWindow,
    pki: Pki,
    demo: Demo,
) -> None:
    """A CRL imported from a shell while the Certificates tab is shown appears there, what
    it revokes marked (tester's G17: the tab still listed no CRL)."""
    from desktop.security.keystore import Keystore

    window.services.keystore.import_cas(pki.path("bundle"))
    panel = window.certificates
    window.tabs.setCurrentWidget(panel)
    window.show()
    assert not any(line[0].text() == "CRL" for line in _rows(panel).values())
    shell = Keystore(demo.home, lambda new: demo.password)  # another process's keystore
    import_crl(shell, pki.path("intermediate", ".crl"))
    qtbot.waitUntil(
        lambda: any(line[0].text() == "CRL" for line in _rows(panel).values()), timeout=10_000
    )
