"""The modes of what a store holds: patients' data is for its user alone."""

import stat
from pathlib import Path


def loose_modes(root: Path) -> list[str]:
    """Every file under ``root`` not 0600 and every folder not 0700, as 'mode path'."""
    return [
        f"{oct(stat.S_IMODE(p.stat().st_mode))} {p}"
        for p in root.rglob("*")
        if stat.S_IMODE(p.stat().st_mode) != (0o700 if p.is_dir() else 0o600)
    ]
