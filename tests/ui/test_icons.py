"""Icons are package data: found through importlib.resources and listed for the wheel."""

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

from desktop.ui.icons import ICONS, icon

ROOT = Path(__file__).resolve().parents[2]


def test_every_icon_named_in_the_code_is_shipped_and_loads(qtbot) -> None:  # type: ignore[no-untyped-def]
    source = "\n".join(p.read_text() for p in (ROOT / "desktop" / "ui").rglob("*.py"))
    shipped = {p.name.removesuffix(".svg") for p in ICONS.iterdir() if p.name.endswith(".svg")}
    named = set(re.findall(r'\bicon\("([a-z-]+)"', source))
    assert named and named <= shipped
    for name in shipped:
        assert not icon(name).pixmap(24, 24).isNull(), name
    with pytest.raises(KeyError, match="no icon 'nope'"):
        icon("nope")


def test_the_wheel_carries_the_icons() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["desktop.ui"]
    shipped = [p.name for p in ICONS.iterdir() if p.name.endswith(".svg")]
    assert shipped
    for name in shipped:
        assert any(fnmatch(f"assets/icons/{name}", pattern) for pattern in patterns), name
