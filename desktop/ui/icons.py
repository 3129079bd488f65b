"""Icons shipped inside the package (SVG, so they stay sharp on HiDPI screens).

Read through ``importlib.resources``: they are package data, present in a wheel or a frozen
app, not files found relative to a source checkout.
"""

from functools import cache
from importlib import resources

from PySide6.QtGui import QIcon

ICONS = resources.files("desktop.ui") / "assets" / "icons"


@cache
def icon(name: str) -> QIcon:
    """The icon assets/icons/NAME.svg; KeyError for a name the package does not ship."""
    path = ICONS / f"{name}.svg"
    if not path.is_file():
        raise KeyError(f"no icon {name!r} in {ICONS}")
    return QIcon(str(path))
