"""Copy the licence texts of every installed distribution into one folder per distribution.

Run with the bundle's own interpreter, so the folder lists exactly what ships; notices for the
native libraries inside the wheels (FFmpeg and x264 in PyAV, Qt in PySide6) are added by name.
"""

import logging
import re
import shutil
import sys
from importlib.metadata import distributions
from pathlib import Path

LICENCE_FILE = re.compile(r"(LICEN[CS]E|COPYING|NOTICE|AUTHORS)", re.IGNORECASE)
NATIVE_NOTICES = {
    "av": "PyAV's wheel bundles FFmpeg built with libx264, licensed under the GNU GPL v2 or "
    "later; the bundle as a whole is therefore distributed under the GNU GPL v3 or later "
    "(dicom-courier-*/LICENSE). FFmpeg's source: the PyAV project's build recipe names the exact "
    "versions.",
    "PySide6_Essentials": "Qt 6 and PySide6 are used under the GNU LGPL v3; the Qt libraries "
    "are shipped as separate shared objects in _internal/PySide6 and can be replaced.",
}


def collect(target: Path) -> int:
    """Write ``target/NAME/...`` for each distribution; return how many were found."""
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    for distribution in sorted(distributions(), key=lambda d: d.metadata["Name"].lower()):
        name = distribution.metadata["Name"]
        folder = target / f"{name}-{distribution.version}"
        folder.mkdir(exist_ok=True)
        for file in distribution.files or ():
            if LICENCE_FILE.search(file.name) and "dist-info" in str(file):
                shutil.copy(Path(str(distribution.locate_file(file))), folder / file.name)
        expression = distribution.metadata.get("License-Expression") or distribution.metadata.get(
            "License", ""
        )
        notice = NATIVE_NOTICES.get(name.replace("-", "_"), "")
        (folder / "METADATA-LICENSE.txt").write_text(f"{expression}\n{notice}\n".lstrip())
        count += 1
    return count


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.info("licences of %d distributions", collect(Path(sys.argv[1])))
