"""The long fuzzing run: a seeded corpus of mutated files through every media reader.

.venv/bin/python -m bench.fuzz_bench --inputs 100000 --workers 2 [--seed 1] [--code DIR]
    [--save-escapes DIR]

``--code DIR`` runs the same corpus against the ``desktop`` package of another checkout
(e.g. ``git worktree add /tmp/before main``): the escape count before a fix.
"""

import argparse
import sys
from pathlib import Path

from tests.fuzz.engine import Report, describe, fuzz


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per input")
    parser.add_argument("--code", help="a checkout whose desktop package is fuzzed instead")
    parser.add_argument("--save-escapes", type=Path, metavar="DIR", help="write each escape")
    args = parser.parse_args()
    step = max(args.inputs // 20, 1)

    def progress(report: Report) -> None:
        if report.inputs % step == 0:
            print(
                f"{report.inputs} inputs, {len(report.escapes)} escapes, {report.seconds:.0f} s",
                file=sys.stderr,
                flush=True,
            )

    report = fuzz(
        seed=args.seed,
        inputs=args.inputs,
        workers=args.workers,
        timeout=args.timeout,
        code_root=args.code,
        progress=progress,
    )
    print(describe(report))
    if args.save_escapes:
        args.save_escapes.mkdir(parents=True, exist_ok=True)
        for escape in report.escapes:
            name = f"{escape.index:07d}-{escape.target}-{escape.kind}.dcm"
            (args.save_escapes / name).write_bytes(escape.data)
    return 1 if report.escapes else 0


if __name__ == "__main__":
    sys.exit(main())
