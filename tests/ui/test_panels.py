"""Each panel on its own, offscreen."""

import shutil
from pathlib import Path

from desktop.security.keystore import Keystore
from desktop.ui.widgets.browser import BrowserPanel
from desktop.ui.widgets.certificates import EXPIRING, CertificatesPanel
from desktop.ui.widgets.query import QueryPanel
from tests.helpers import DICOMDIR_TESTS
from tests.pki import KEY_PASSWORD, Pki
from tests.ui.clicking import button, click
from tests.ui.scripted import ScriptedPrompter


def test_browser_loads_off_the_gui_thread_and_badges_problems(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shutil.copytree(DICOMDIR_TESTS / "98892003", tmp_path / "98892003")
    shutil.copy(DICOMDIR_TESTS / "DICOMDIR", tmp_path / "DICOMDIR")  # lists two folders more
    panel = BrowserPanel()
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.loaded, timeout=20000):
        panel.open_path(tmp_path)
    assert panel.model.rowCount() == 2  # both patients still shown
    assert not panel.problems_button.isHidden()
    assert "problem" in panel.problems_button.text()


def test_certificates_panel_imports_and_colours_expiry(qtbot, tmp_path: Path, pki: Pki) -> None:  # type: ignore[no-untyped-def]
    prompter = ScriptedPrompter()
    panel = CertificatesPanel(Keystore(tmp_path / "home", lambda new: "a good password"), prompter)
    qtbot.addWidget(panel)
    errors: list[str] = []
    panel.error.connect(lambda title, message: errors.append(message))
    assert panel.import_ca(pki.path("bundle"))
    assert panel.import_identity(
        pki.path("expiring_soon"), "soon", pki.path("expiring_soon", ".key"), KEY_PASSWORD
    )
    assert not panel.import_identity(
        pki.path("expired"), "old", pki.path("expired", ".key"), KEY_PASSWORD
    )
    assert errors and "expired on" in errors[0]
    assert panel.table.rowCount() == 3
    soon = next(r for r in range(3) if panel.table.item(r, 1).text() == "soon")
    assert panel.table.item(soon, 4).foreground().color() == EXPIRING
    assert "expires in" in panel.warnings.text()


def test_query_panel_builds_keys(qtbot) -> None:  # type: ignore[no-untyped-def]
    panel = QueryPanel()
    qtbot.addWidget(panel)
    panel.set_nodes(["pacs"])
    panel.patient_name.setText("DOE*")
    panel.modality.setText("CT")
    panel.use_dates.setChecked(True)
    keys = panel.keys()
    assert keys["PatientName"] == "DOE*" and keys["ModalitiesInStudy"] == "CT"
    assert len(keys["StudyDate"]) == 17 and keys["StudyDate"][8] == "-"
    with qtbot.waitSignal(panel.find_requested) as signal:
        panel._find()
    assert signal.args == ["pacs", keys]
    panel.show_results([{"PatientName": "DOE^J", "StudyInstanceUID": "1.2"}])
    panel.results.selectRow(0)
    with qtbot.waitSignal(panel.retrieve_requested) as signal:
        panel._retrieve()
    assert signal.args == ["pacs", ["1.2"]]


def test_certificates_shown_again_are_read_again(qtbot, tmp_path: Path, pki: Pki) -> None:  # type: ignore[no-untyped-def]
    """The tab lists the keystore again each time it is shown: an identity the command line
    imported meanwhile is listed (tester's F5: it stayed listed as at its first showing)."""
    home = tmp_path / "home"
    panel = CertificatesPanel(Keystore(home, lambda new: "a good password"), ScriptedPrompter())
    qtbot.addWidget(panel)
    assert panel.import_ca(pki.path("bundle"))
    panel.show()
    listed = panel.table.rowCount()
    panel.hide()  # another tab chosen; meanwhile `dicom-courier keystore import-identity`:
    elsewhere = Keystore(home, lambda new: "a good password")
    elsewhere.import_identity("ec", pki.path("ec", ".p12"), file_password=KEY_PASSWORD)
    panel.show()
    assert panel.table.rowCount() == listed + 1
    assert "ec" in [panel.table.item(r, 1).text() for r in range(listed + 1)]


def test_certificates_panel_changes_the_keystore_password(qtbot, tmp_path: Path, pki: Pki) -> None:  # type: ignore[no-untyped-def]
    home, old, new = tmp_path / "home", "a good password", "another good one"
    prompter = ScriptedPrompter()
    panel = CertificatesPanel(Keystore(home, lambda asked: old), prompter)
    qtbot.addWidget(panel)
    errors: list[str] = []
    panel.error.connect(lambda title, message: errors.append(message))
    assert panel.import_identity(pki.path("client", ".p12"), "courier", None, KEY_PASSWORD)
    prompter.answer("text", "a wrong password", new, new)
    assert not panel.change_password()
    assert errors == ["wrong keystore password"]
    prompter.answer("text", old, new, "not the same")
    assert not panel.change_password()
    assert "differ" in errors[-1]
    prompter.answer("text", old, new, new)
    assert panel.change_password()
    assert "password is changed" in prompter.told[-1][1]
    assert Keystore(home, lambda asked: new).unlock_identity("courier").name == "courier"
    assert not Keystore(home, lambda asked: old).verifies(old)


def test_a_password_change_in_the_gui_has_the_warm_service_forget_its_secrets(  # type: ignore[no-untyped-def]
    qtbot, tmp_path: Path, pki: Pki
) -> None:
    """Clicking "Change password…" while an unlocked warm service runs for the home: the
    secrets it holds are the old password's, so it forgets them, as after the CLI's change."""
    from tests.service.conftest import Home

    old, new = "a good password", "another good one"
    home = Home(tmp_path / "home")
    prompter = ScriptedPrompter()
    panel = CertificatesPanel(Keystore(home.path, lambda asked: old), prompter)
    qtbot.addWidget(panel)
    assert panel.import_identity(pki.path("client", ".p12"), "courier", None, KEY_PASSWORD)
    try:
        home.start("--unlock", env={"DICOM_COURIER_KEYSTORE_PASSWORD": old})
        assert home.status()["unlocked_until"] is not None
        prompter.answer("text", old, new, new)
        click(qtbot, button(panel, "Change password…"))
        assert "has forgotten the old secrets" in prompter.told[-1][1]
        assert home.status()["unlocked_until"] is None
    finally:
        home.stop_all()


def test_browser_keeps_a_study_uid_of_two_patients_apart(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Tester's G19: another patient's image shown in Demo^Alice's series, '0 problems'."""
    import pydicom
    from pydicom.uid import generate_uid

    from tests.helpers import sample_file

    shutil.copy(sample_file("CT_small.dcm"), tmp_path / "ct.dcm")
    foreign = pydicom.dcmread(tmp_path / "ct.dcm")
    foreign.PatientID, foreign.PatientName = "OTHER-42", "Other^Patient"
    foreign.SOPInstanceUID = foreign.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    foreign.save_as(tmp_path / "aa_other.dcm", enforce_file_format=True)
    panel = BrowserPanel()
    qtbot.addWidget(panel)
    statuses: list[str] = []
    panel.status.connect(statuses.append)
    with qtbot.waitSignal(panel.loaded, timeout=20000):
        panel.open_path(tmp_path)
    assert panel.model.rowCount() == 2
    for row in range(2):  # each patient: one study of one series of one image
        patient = panel.model.index(row, 0)
        study = panel.model.index(0, 0, patient)
        assert panel.model.rowCount(patient) == 1 and panel.model.rowCount(study) == 1
        assert panel.model.rowCount(panel.model.index(0, 0, study)) == 1
    assert panel.problems_button.text() == "1 problem(s)"
    assert statuses[-1].endswith("2 images, 1 problems")
    assert "holds instances of 2 patients" in panel.tree.problems[0].reason


def test_a_password_change_in_the_gui_is_audited(qtbot, demo, trail) -> None:  # type: ignore[no-untyped-def]
    prompter = ScriptedPrompter()
    from desktop import auditing

    keystore = Keystore(
        demo.home, lambda asked: demo.password, on_change=auditing.configuration_changed
    )  # as the application's services make it
    panel = CertificatesPanel(keystore, prompter)
    qtbot.addWidget(panel)
    prompter.answer("text", "a wrong password", "another good one", "another good one")
    assert not panel.change_password()
    prompter.answer("text", demo.password, "another good one", "another good one")
    assert panel.change_password()
    logins = [(e.outcome, e.summary) for e in trail.entries() if e.event == "110114"]
    assert [outcome for outcome, _ in logins] == [4, 0]
    assert "wrong keystore password" in logins[0][1]
    assert any("keystore password changed" in e.summary for e in trail.entries())
