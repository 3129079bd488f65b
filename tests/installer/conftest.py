"""The installers, built once per session by installer/build.sh when missing or out of date."""

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.net.conftest import storescp  # noqa: F401 (a fixture shared with the network tests)

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "build" / "installer"
SOURCES = ("desktop", "installer", "pyproject.toml", "constraints.txt")


@dataclass(frozen=True)
class Installers:
    bundle: Path  # the one-folder bundle as built
    tarball: Path
    deb: Path
    runtime_venv: Path  # the wheel installed without the source tree: what was frozen


def _newest_source() -> float:
    files = (p for name in SOURCES for p in [ROOT / name, *(ROOT / name).rglob("*")])
    return max(p.stat().st_mtime for p in files if p.is_file() and "__pycache__" not in p.parts)


def _found() -> Installers | None:
    tarballs = sorted((ROOT / "dist").glob("dicom-courier-*-linux-*.tar.gz"))
    debs = sorted((ROOT / "dist").glob("dicom-courier_*.deb"))
    bundle = WORK / "pyinstaller" / "dicom-courier" / "dicom-courier"
    if not (tarballs and debs and bundle.exists()):
        return None
    built = min(p.stat().st_mtime for p in (tarballs[-1], debs[-1], bundle))
    if built < _newest_source():
        return None
    return Installers(bundle.parent, tarballs[-1], debs[-1], WORK / "venv")


@pytest.fixture(scope="session")
def installers() -> Iterator[Installers]:
    found = _found()
    if found is None:
        log = ROOT / "build" / "installer-build.log"
        log.parent.mkdir(exist_ok=True)
        with log.open("w") as output:
            built = subprocess.run(
                [ROOT / "installer" / "build.sh"], stdout=output, stderr=subprocess.STDOUT
            )
        assert built.returncode == 0, f"installer/build.sh failed:\n{log.read_text()[-4000:]}"
        found = _found()
        assert found is not None, "installer/build.sh did not leave the bundle, tarball and .deb"
    yield found
