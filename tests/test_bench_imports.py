"""The benchmarks are not run in CI, but each must at least import: a bench that cannot start
is a figure in bench/README.md that nobody can reproduce."""

import importlib
from pathlib import Path

import pytest

BENCHES = sorted(p.stem for p in (Path(__file__).parents[1] / "bench").glob("*_bench.py"))


@pytest.mark.parametrize("name", BENCHES)
def test_the_bench_imports(name: str) -> None:
    module = importlib.import_module(f"bench.{name}")
    assert callable(module.main)
