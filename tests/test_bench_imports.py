"""The benchmarks are not run in CI, but each must at least import: a bench that cannot start
is a figure in bench/README.md that nobody can reproduce."""

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHES = sorted(p.stem for p in (Path(__file__).parents[1] / "bench").glob("*_bench.py"))


@pytest.mark.parametrize("name", BENCHES)
def test_the_bench_imports(name: str) -> None:
    module = importlib.import_module(f"bench.{name}")
    assert callable(module.main)


@pytest.mark.parametrize("name", BENCHES)
def test_no_bench_leaves_a_folder_behind(name: str) -> None:
    """Scratch folders are bench.scratch's (removed when the bench ends): mkdtemp folders,
    400 MB a run, filled the disk."""
    source = (Path(__file__).parents[1] / "bench" / f"{name}.py").read_text(encoding="utf-8")
    assert "mkdtemp(" not in source and "prepare_demo()" not in source


def test_a_bench_run_leaves_the_temporary_folder_as_it_was(tmp_path: Path) -> None:
    arguments = ["--appends", "2", "--records", "5", "--files", "2"]
    subprocess.run(
        [sys.executable, "-m", "bench.audit_bench", *arguments],
        check=True,
        capture_output=True,
        cwd=Path(__file__).parents[1],
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert list(tmp_path.iterdir()) == []
