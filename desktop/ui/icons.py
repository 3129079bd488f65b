"""Icons from resources/icons (SVG, so they stay sharp on HiDPI screens)."""

from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon

ICONS = Path(__file__).resolve().parents[2] / "resources" / "icons"


@cache
def icon(name: str) -> QIcon:
    """resources/icons/NAME.svg, or an empty icon if the file is missing."""
    path = ICONS / f"{name}.svg"
    return QIcon(str(path)) if path.exists() else QIcon()
