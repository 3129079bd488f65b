"""Helpers the tests share: sample files and real peer tools."""

import shutil
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
DICOMDIR_TESTS = PYDICOM_FILES / "dicomdirtests"
DICOMDIR_SUBFOLDERS = ("77654033", "98892001", "98892003")


def sample_file(name: str) -> Path:
    """A file from pydicom's test files or pydicom-data, never downloading."""
    found = get_testdata_file(name, download=False)
    assert found, f"{name} is not in pydicom's test files nor in pydicom-data"
    return Path(str(found))


def require_tool(name: str) -> str:
    """The path of a peer tool; the test fails (never skips) when it is missing."""
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run scripts/setup.sh --test (Debian package)")
    return found


def pydicom_samples(accepts: Callable[[Path], bool]) -> list[Path]:
    """pydicom's test files for which ``accepts`` returns True without raising."""
    samples = []
    for path in sorted(PYDICOM_FILES.glob("*.dcm")):
        try:
            if accepts(path):
                samples.append(path)
        except Exception:
            continue
    return samples


def cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """Run the command line in-process: exit status, stdout, stderr."""
    from desktop.cli import main

    status = main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def node_add(name: str, ae_title: str, port: int, *options: object) -> list[object]:
    """The arguments of ``node add`` for a peer on loopback."""
    return ["node", "add", name, "--ae", ae_title, "--host", "127.0.0.1", "--port", port, *options]
