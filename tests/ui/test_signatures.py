"""Signatures in the window: files signed by the CLI's code path, one of them tampered, opened
and verified by clicks; the verdicts in the browser's Signature column and the details dialog.

pytest-qt fails a test when an exception reaches a slot."""

import datetime as dt
import threading
from pathlib import Path

import pydicom
import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QStandardItem
from PySide6.QtWidgets import QDialog, QTreeView

from desktop.app import Services
from desktop.core.signatures.profiles import Profile
from desktop.demo import Demo
from desktop.security.keystore import Keystore
from desktop.security.signing import Trust, signer
from desktop.signing import sign_file, trust_of
from desktop.ui.main_window import MainWindow
from desktop.ui.models.media_model import SIGNATURE_COLUMN
from desktop.ui.signatures import SignaturesDialog
from tests.helpers import sample_file
from tests.pki import Pki
from tests.security.signing_fixtures import tamper
from tests.ui.clicking import trigger
from tests.ui.scripted import ScriptedPrompter
from tests.ui.test_stories import click_row, no_unexpected_errors, open_media


def signed_media(folder: Path, pki: Pki) -> dict[str, Path]:
    """good.dcm signed (base, SHA-256), bad.dcm signed then one pixel byte changed,
    unsigned.dcm never signed: three instances with their own UIDs."""
    folder.mkdir()
    who = signer(pki.unlocked(pki.client), dt.datetime.now(dt.UTC))
    sources = {}
    for name in ("good", "bad"):
        dataset = pydicom.dcmread(sample_file("CT_small.dcm"))
        dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = (
            f"{dataset.SOPInstanceUID}.{len(sources) + 1}"
        )
        sources[name] = folder.parent / f"{name}-source.dcm"
        dataset.save_as(sources[name])
    good, signed_bad = folder / "good.dcm", folder.parent / "bad.dcm"
    sign_file(sources["good"], good, who, profile=Profile.BASE, algorithm="SHA256")
    sign_file(sources["bad"], signed_bad, who, profile=Profile.BASE, algorithm="SHA256")
    bad = tamper(signed_bad, "pixel").rename(folder / "bad.dcm")
    unsigned = folder / "unsigned.dcm"
    unsigned.write_bytes(sample_file("MR_small.dcm").read_bytes())
    return {"good": good, "bad": bad, "unsigned": unsigned}


def signature_cells(window: MainWindow) -> dict[Path, QStandardItem]:
    """Each instance's Signature cell, by file."""
    model, cells = window.browser.model, {}

    def walk(parent: QModelIndex) -> None:
        for row in range(model.rowCount(parent)):
            index = model.index(row, 0, parent)
            node = model.node(index)
            path = getattr(node, "path", None)
            if isinstance(path, Path):
                cells[path] = model.itemFromIndex(index.siblingAtColumn(SIGNATURE_COLUMN))
            walk(index)

    walk(QModelIndex())
    return cells


def double_click(qtbot, view: QTreeView, index: QModelIndex) -> None:  # type: ignore[no-untyped-def]
    """A person's double-click: Qt's test double-click alone has no press before it, and an
    item view ignores a double-click on an item that was not pressed."""
    click_row(qtbot, view, index)
    qtbot.mouseDClick(
        view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(index).center()
    )


def verify(qtbot, window: MainWindow, count: int) -> dict[Path, QStandardItem]:  # type: ignore[no-untyped-def]
    trigger(window, "Verify signatures")
    qtbot.waitUntil(lambda: window.statusBar().currentMessage().startswith("Signatures:"))
    cells = signature_cells(window)
    assert len(cells) == count
    return cells


def test_verify_shows_verdicts_and_details(
    qtbot,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    window: MainWindow,
    prompter: ScriptedPrompter,
    demo: Demo,
    pki: Pki,
) -> None:
    files = signed_media(tmp_path / "media", pki)
    open_media(qtbot, window, prompter, tmp_path / "media")

    # The demo keystore does not trust the test CA yet: signed, but by whom?
    cells = verify(qtbot, window, 3)
    assert cells[files["good"]].text() == "untrusted"
    assert cells[files["good"]].foreground().color().name() == "#ff8c00"
    assert cells[files["bad"]].text() == "INVALID"  # broken whoever signed it

    keystore = window.services.keystore
    for stem in ("root-only", "intermediate-only"):
        keystore.import_cas(pki.path(stem))
    cells = verify(qtbot, window, 3)
    good, bad, unsigned = (cells[files[k]] for k in ("good", "bad", "unsigned"))
    assert (good.text(), bad.text(), unsigned.text()) == ("valid", "INVALID", "unsigned")
    assert bad.foreground().color().name() == "#ff0000" and bad.font().bold()
    assert not good.font().bold() and not unsigned.font().bold()
    model = window.browser.model
    series = bad.index().parent()  # good and bad are one series: collapsed, it still says so
    for row in (series, series.parent(), series.parent().parent()):
        cell = model.signature_cell(row)
        assert cell is not None and cell.text() == "1 INVALID" and cell.font().bold()
    unsigned_series = model.signature_cell(unsigned.index().parent())
    assert unsigned_series is not None and unsigned_series.text() == "unsigned"
    assert window.statusBar().currentMessage() == (
        "Signatures: 2 signed, 1 INVALID, 1 valid, 1 unsigned"
    )

    # Double-click the INVALID cell: the dialog lists its signature, in red, and why.
    seen: list[list[list[str]]] = []

    def read(dialog: QDialog) -> None:
        assert isinstance(dialog, SignaturesDialog)
        seen.append(dialog.rows())
        item = dialog.table.item(0, 5)
        assert item is not None
        seen[-1].append([item.foreground().color().name()])
        dialog.reject()

    view = window.browser.view
    prompter.answer("run", read, read)
    double_click(qtbot, view, bad.index())
    qtbot.waitUntil(lambda: len(seen) == 1)
    [row, colour] = seen[0]
    location, subject, _time, profile, hash_name, verdict, reason = row
    assert (location, profile, hash_name, verdict) == ("main data set", "base", "SHA256", "INVALID")
    assert "client.test" in subject
    assert "signed data" in reason
    assert colour == ["#ff0000"]

    # The good one through the menu's "Signature details…": valid, nothing red.
    click_row(qtbot, view, good.index())
    trigger(window, "Signature details…")
    qtbot.waitUntil(lambda: len(seen) == 2)
    [row, colour] = seen[1]
    assert row[5] == "valid" and colour != ["#ff0000"]
    no_unexpected_errors(prompter)


def test_verifying_asks_no_password_and_leaves_the_gui_thread(
    qtbot,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    demo: Demo,
    prompter: ScriptedPrompter,
    pki: Pki,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[bool] = []
    threads: list[threading.Thread] = []

    def password(new: bool) -> str:
        asked.append(new)
        return demo.password

    def trust_on_this_thread(keystore: Keystore, crls: list[Path]) -> Trust:
        threads.append(threading.current_thread())
        return trust_of(keystore, crls)

    monkeypatch.setattr("desktop.signing.trust_of", trust_on_this_thread)  # imported when used
    main = MainWindow(Services(demo.home, password), prompter=prompter)
    main.show()
    try:
        files = signed_media(tmp_path / "media", pki)
        main.opening.open_path(tmp_path / "media")
        qtbot.waitUntil(lambda: main.browser.tree is not None, timeout=20000)
        cells = verify(qtbot, main, 3)
        assert cells[files["bad"]].text() == "INVALID"
    finally:
        main.close()
    assert asked == []  # trusted CAs are public: no password for them
    assert threads and threads[0] is not threading.main_thread()


def test_elements_no_signature_covers_make_a_valid_file_partial(
    qtbot,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    pki: Pki,
) -> None:
    """Elements added after signing (a forged Patient Comments): the cell says "valid,
    partial" in orange, its tip and the details dialog name them (tester's G14)."""
    from desktop.signing import verify_file
    from desktop.ui.signatures import _colour_of, _tip, verdict_text

    files = signed_media(tmp_path / "media", pki)
    dataset = pydicom.dcmread(files["good"])
    dataset.PatientComments = "forged comment"
    dataset.save_as(forged := tmp_path / "forged.dcm")
    anchors = [pki.root.certificate]
    trust = Trust(anchors, [*anchors, pki.intermediate.certificate], [])
    assert verdict_text(verify_file(files["good"], trust)) == "valid"
    check = verify_file(forged, trust)
    assert verdict_text(check) == "valid, partial"
    assert _colour_of(verdict_text(check)) == "darkorange"
    assert _tip(check).endswith(
        "1 element(s) covered by no signature (added or changed after signing?): "
        "PatientComments (0010,4000)"
    )
    dialog = SignaturesDialog(check)
    qtbot.addWidget(dialog)
    assert "PatientComments (0010,4000)" in dialog.uncovered.text()
    assert dialog.rows()[0][5] == "valid"
