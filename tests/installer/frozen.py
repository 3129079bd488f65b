"""Running an installed program as a user would: a clean environment, no Python on PATH."""

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.helpers import sample_file

CLEAN_PATH = "/usr/bin:/bin"


def run(
    program: Path | str, *args: object, home: Path, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``env -i``: only PATH, HOME, the courier home and Qt's offscreen platform are set."""
    environment = {
        "PATH": CLEAN_PATH,
        "HOME": str(home),
        "DICOM_COURIER_HOME": str(home / "courier"),
        "QT_QPA_PLATFORM": "offscreen",
        **(extra or {}),
    }
    home.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [str(program), *(str(a) for a in args)],
        env=environment,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=180,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def media_smoke(program: Path | str, home: Path) -> dict[str, Any]:
    """--version, demo-media, tree, PNG export of a JPEG 2000 and a JPEG-LS file and MP4 export
    of a cine; returns the tree for further checks."""
    assert ok(run(program, "--version", home=home)).startswith("dicom-courier ")
    ok(run(program, "demo-media", home / "media", home=home))
    tree = json.loads(ok(run(program, "tree", home / "media", "--json", home=home)))
    assert len(tree["patients"]) == 3 and not tree["problems"]
    ok(run(program, "export", sample_file("JPEG2000.dcm"), "--png", home / "j2k.png", home=home))
    assert (home / "j2k.png").read_bytes().startswith(b"\x89PNG")
    # JPEG-LS goes to CharLS (pyjpegls), which needs its metadata in the bundle to load
    jls = sample_file("JPEGLSNearLossless_16.dcm")
    ok(run(program, "export", jls, "--png", home / "jls.png", home=home))
    assert (home / "jls.png").read_bytes().startswith(b"\x89PNG")
    cine = next(
        instance["path"]
        for patient in tree["patients"]
        for study in patient["studies"]
        for series in study["series"]
        for instance in series["instances"]
        if instance["frames"] > 1
    )
    ok(run(program, "export", cine, "--mp4", home / "cine.mp4", home=home))
    assert b"ftyp" in (home / "cine.mp4").read_bytes()[:64]
    return dict(tree)


def first_window(program: Path | str, home: Path, screenshot: Path) -> None:
    """``gui --demo`` to its first window, saved as PNG."""
    ok(run(program, "gui", "--demo", "--screenshot", screenshot, home=home))
    header = screenshot.read_bytes()[:24]
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    assert header.startswith(b"\x89PNG") and width >= 800 and height >= 500
