"""Fuzzing in CI: 2,000 mutated files through every media reader, none escaping.

The longer run (100,000 inputs) and its figures are in bench/fuzz_bench.py and bench/README.md.
"""

import time

from tests.fuzz.engine import Worker, describe, dicomdir_seeds, file_seeds, fuzz, make_input

CI_INPUTS = 2_000
CI_SECONDS = 60


def test_two_thousand_mutated_inputs_and_no_escape() -> None:
    started = time.monotonic()
    report = fuzz(seed=20261126, inputs=CI_INPUTS, workers=2, timeout=30.0)
    elapsed = time.monotonic() - started
    assert report.inputs == CI_INPUTS
    assert set(report.by_target) == {"header", "dicomdir", "frames", "export"}
    assert report.escapes == [], describe(report)
    assert elapsed < CI_SECONDS, describe(report)


def test_inputs_are_reproducible_and_varied() -> None:
    files, dicomdirs = file_seeds(), dicomdir_seeds()
    first = [make_input(7, i, files, dicomdirs) for i in range(50)]
    assert first == [make_input(7, i, files, dicomdirs) for i in range(50)]
    originals = {seed.data for seed in files + dicomdirs}
    assert sum(data not in originals for _, _, data in first) >= 45
    assert len({name for _, name, _ in first}) >= 20


def test_a_hang_is_an_escape_and_the_worker_is_replaced() -> None:
    files = file_seeds()
    worker = Worker(None, 4 << 30, files[0].data)
    try:
        outcome, peak = worker.run("header", files[0].data, timeout=30.0)
        assert outcome is None and peak > 0
        outcome, _ = worker.run("frames", files[0].data, timeout=0.0)
        assert outcome is not None and outcome[0] == "hang"
        outcome, _ = worker.run("header", files[0].data, timeout=30.0)
        assert outcome is None
    finally:
        worker.stop()
