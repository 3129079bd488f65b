"""The architecture's import rules (see ../shared/reference/architecture.md), checked on the AST.

core, security and net are plain Python: they never import Qt nor the ui layer; core imports no
other layer; security and net do not import each other.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "desktop"
QT = ("PySide6", "shiboken6", "PyQt5", "PyQt6", "superqt", "qtpy")
FORBIDDEN = {
    "core": (*QT, "desktop.ui", "desktop.net", "desktop.security", "desktop.app", "desktop.cli"),
    "security": (*QT, "desktop.ui", "desktop.net", "desktop.app", "desktop.cli"),
    "net": (*QT, "desktop.ui", "desktop.security", "desktop.app", "desktop.cli"),
}


def imported_modules(path: Path) -> list[str]:
    modules = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.append(node.module)
    return modules


def violations(layer: str, package: Path = PACKAGE) -> list[str]:
    found = []
    for path in sorted((package / layer).rglob("*.py")):
        for module in imported_modules(path):
            if any(module == f or module.startswith(f + ".") for f in FORBIDDEN[layer]):
                found.append(f"{path.relative_to(package.parent)} imports {module}")
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_downwards(layer: str) -> None:
    assert violations(layer) == []


def test_check_catches_a_violation(tmp_path: Path) -> None:
    fake = tmp_path / "desktop"
    (fake / "core").mkdir(parents=True)
    (fake / "core" / "bad.py").write_text(
        "import desktop.net.scu\nfrom PySide6.QtCore import QObject\n"
    )
    assert violations("core", fake) == [
        "desktop/core/bad.py imports desktop.net.scu",
        "desktop/core/bad.py imports PySide6.QtCore",
    ]


def test_relative_imports_are_not_used() -> None:
    """Absolute imports keep the layer of every dependency visible to the check above."""
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        assert not any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(tree)), path
