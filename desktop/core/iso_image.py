"""An ISO 9660 image of a media folder, made by xorriso (Debian package ``xorriso``).

PS3.12 Annex F (120 mm CD-R) asks for ISO 9660 Level 1 with the File-set ID as the volume
identifier and File IDs mapped to ``COMP.;1`` names without extension. Joliet and Rock Ridge
are left off: PS3.12 warns that with them a reader may take the version suffix as part of the
name, and the DICOM File IDs already fit Level 1's 8-character upper-case names and 8 levels.
"""

import shutil
import subprocess
from pathlib import Path

from desktop.core.errors import OutputError
from desktop.core.files import atomic_output, public_mode

TOOL = "xorriso"


def write_iso(folder: Path, image: Path, *, volume_id: str) -> Path:
    """Write ``folder`` as the ISO 9660 image ``image`` (atomically) and return its path."""
    tool = shutil.which(TOOL)
    if tool is None:
        raise OutputError(
            f"cannot make the ISO image: {TOOL} is not installed (Debian: apt-get install {TOOL})"
        )
    with atomic_output(Path(image).absolute(), suffix=".iso", mode=public_mode()) as temporary:
        temporary.unlink()  # xorriso writes a new file only
        result = subprocess.run(
            [
                tool,
                *("-abort_on", "FAILURE", "-report_about", "FAILURE"),
                *("-outdev", str(temporary), "-volid", volume_id or " "),
                *("-joliet", "off", "-rockridge", "off"),
                *("-compliance", "clear:iso_9660_level=1:always_gmt"),
                *("-map", str(folder), "/"),
                "-commit",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise OutputError(
                f"{TOOL} could not make {image}: {result.stderr.strip() or result.returncode}"
            )
    return image
