"""The frozen bundle and the .deb, run as a hospital workstation would: no Python, no venv."""

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.installer.conftest import WORK, Installers
from tests.installer.frozen import first_window, media_smoke, ok, run
from tests.net.conftest import Scp, make_study
from tests.pki import KEY_PASSWORD, Pki

pytestmark = pytest.mark.installer
SCREENSHOTS = WORK / "screenshots"


@pytest.fixture(scope="module")
def unpacked(installers: Installers, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tarball unpacked where a user would, away from the source tree."""
    folder = tmp_path_factory.mktemp("opt")
    with tarfile.open(installers.tarball) as archive:
        archive.extractall(folder, filter="tar")
    return folder / "dicom-courier" / "dicom-courier"


def test_wheel_carries_its_resources(installers: Installers, tmp_path: Path) -> None:
    """The wheel installed without the source tree starts the demo with its icons (a missing
    icon raises)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    program = installers.runtime_venv / "bin" / "dicom-courier"
    first_window(program, tmp_path, SCREENSHOTS / "wheel-demo.png")


def test_bundle_media_commands(unpacked: Path, tmp_path: Path) -> None:
    media_smoke(unpacked, tmp_path)


def test_bundle_first_window(unpacked: Path, tmp_path: Path) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    first_window(unpacked, tmp_path, SCREENSHOTS / "bundle-demo.png")


def test_bundle_sends_over_mutual_tls(
    unpacked: Path, tmp_path: Path, pki: Pki, storescp: Scp
) -> None:
    home = tmp_path / "user"
    secrets = {"DICOM_COURIER_KEYSTORE_PASSWORD": "bundle keystore password"}
    key_password = tmp_path / "key-password"
    key_password.write_text(KEY_PASSWORD + "\n")
    ok(run(unpacked, "keystore", "import-ca", pki.path("root-only"), home=home, extra=secrets))
    ok(
        run(
            unpacked,
            *("keystore", "import-identity", "courier", pki.path("client", ".p12")),
            *("--file-password-file", key_password),
            home=home,
            extra=secrets,
        )
    )
    port = storescp.port
    check = ok(
        run(
            unpacked,
            "tls-check",
            "127.0.0.1",
            port,
            "--identity",
            "courier",
            home=home,
            extra=secrets,
        )
    )
    assert "TLSv1.3" in check
    ok(
        run(
            unpacked,
            *("node", "add", "pacs", "--ae", "DCMTK_SCP", "--host", "127.0.0.1", "--port", port),
            *("--tls", "--identity", "courier"),
            home=home,
            extra=secrets,
        )
    )
    make_study(tmp_path / "study", count=5)
    report = json.loads(
        ok(run(unpacked, "send", "pacs", tmp_path / "study", "--json", home=home, extra=secrets))
    )
    assert report["state"] == "done" and report["sent"] == 5
    assert len(storescp.received()) == 5


def test_bundle_ships_licences_and_sbom(installers: Installers) -> None:
    licences = {p.name.rsplit("-", 1)[0] for p in (installers.bundle / "licenses").iterdir()}
    assert {"PySide6_Essentials", "av", "pydicom", "pynetdicom", "dicom-courier"} <= licences
    gpl = (installers.bundle / "licenses").glob("dicom-courier-*/LICENSE")
    assert "GNU GENERAL PUBLIC LICENSE" in next(gpl).read_text()
    sbom = json.loads((installers.bundle / "sbom.cdx.json").read_text())
    names = {component["name"] for component in sbom["components"]}
    assert {"pydicom", "pynetdicom", "numpy", "av", "cryptography"} <= names
    assert not names & {"pyinstaller", "pytest", "cyclonedx-bom", "pip"}
    internal = installers.bundle / "_internal"
    plugins = {p.name.split("-")[0] for p in internal.glob("pylibjpeg_*.dist-info")}
    assert {"pylibjpeg_libjpeg", "pylibjpeg_openjpeg", "pylibjpeg_rle"} <= plugins
    assert next(internal.glob("pyjpegls-*.dist-info"), None), "CharLS (JPEG-LS) lacks metadata"
    assert (internal / "PySide6" / "Qt" / "plugins" / "platforms" / "libqxcb.so").exists()
    assert (internal / "PySide6" / "Qt" / "plugins" / "platforms" / "libqoffscreen.so").exists()


def test_deb_installs_under_opt_with_menu_entry(installers: Installers, tmp_path: Path) -> None:
    assert os.geteuid() == 0, "installing the .deb needs root (CI runs as root)"
    ok(subprocess.run(["dpkg", "-i", installers.deb], capture_output=True, text=True))
    try:
        listed = ok(subprocess.run(["dpkg", "-L", "dicom-courier"], capture_output=True, text=True))
        for path in (
            "/usr/bin/dicom-courier",
            "/opt/dicom-courier/dicom-courier",
            "/usr/share/applications/org.dicomcourier.DicomCourier.desktop",
            "/usr/share/icons/hicolor/scalable/apps/org.dicomcourier.DicomCourier.svg",
            "/usr/share/metainfo/org.dicomcourier.DicomCourier.metainfo.xml",
            "/usr/lib/systemd/user/dicom-courier.service",  # the warm service, not enabled
        ):
            assert path in listed.splitlines()
        assert shutil.which("dicom-courier", path="/usr/bin") == "/usr/bin/dicom-courier"
        media_smoke("/usr/bin/dicom-courier", tmp_path / "deb")
        first_window("/usr/bin/dicom-courier", tmp_path / "gui", SCREENSHOTS / "deb-demo.png")
    finally:
        subprocess.run(["dpkg", "-r", "dicom-courier"], capture_output=True, check=True)
    assert not Path("/opt/dicom-courier").exists()


def test_bundle_masks_burned_in_text_without_a_network(unpacked: Path, tmp_path: Path) -> None:
    """The bundle carries RapidOCR's models: ``deid --pixels auto`` reads and masks a burned-in
    name in a process with no network at all (``unshare -n``)."""
    from pydicom import dcmread

    from tests.burned_in import write_samples
    from tests.helpers import require_tool

    [(source, _)] = write_samples(tmp_path / "in", 1, seed=3)
    out = tmp_path / "out"
    ok(
        run(
            require_tool("unshare"),
            *("-n", unpacked, "deid", source, "--out", out, "--pixels", "auto"),
            home=tmp_path / "user",
        )
    )
    [copy] = out.rglob("*.dcm")
    cleaned = dcmread(copy)
    assert cleaned.BurnedInAnnotation == "NO"
    assert cleaned.DeidentificationMethodCodeSequence[-1].CodeValue == "113101"
    assert cleaned.PixelData != dcmread(source).PixelData
