"""Burned-in text: how much of the identifying text the OCR finds and masks, how much clean
image it masks by mistake, and how long a 640×480 frame takes.

.venv/bin/python -m bench.ocr_bench [--images 240] [--seed 11]

The images come from tests/burned_in.py: half ultrasound (RGB, a speckled fan, every third a
3-frame cine, every other one with an ultrasound region), half secondary captures (grey or
RGB), every fifth RLE; three to five identifying texts each (names in four forms, IDs, dates in
six formats, accession, institution) and one to three harmless ones, in six DejaVu fonts of 12
to 24 pixels, six colours, corners, edges or anywhere. A text counts as masked when 99 % of its
ink is; the clean area is the image less the identifying texts' boxes grown by 4 pixels. The
boxes scored are those ``deid --pixels auto`` masks (``find_text``).
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from desktop.core.deid.burned_in import find_text
from desktop.core.deid.ocr import engine
from tests.burned_in import Score, write_samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=240)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    started, cpu_started = time.perf_counter(), time.process_time()
    engine()
    print(
        f"engine load: {time.perf_counter() - started:.2f} s wall, "
        f"{time.process_time() - cpu_started:.2f} s CPU"
    )
    with tempfile.TemporaryDirectory() as folder:
        written = write_samples(Path(folder), args.images, args.seed)
        score, walls, cpus, misses, read_frames = Score(), [], [], [], 0
        for path, sample in written:
            wall, cpu = time.perf_counter(), time.process_time()
            finding = find_text(path, sample.dataset)
            frames = len(finding.frames)
            read_frames += frames
            walls.append((time.perf_counter() - wall) / frames)
            cpus.append((time.process_time() - cpu) / frames)
            before = score.masked
            score.add(sample, finding.boxes)
            wanted = sum(text.identifying for text in sample.texts)
            if score.masked - before < wanted:
                read = [line.text for line in finding.lines]
                misses.append(f"  {path.name}: {[t.words for t in sample.texts]} read {read}")
    print(f"images: {len(written)}, frames read: {read_frames}")
    print(
        f"identifying texts masked: {score.masked} / {score.identifying} = {score.recall:.2%} "
        f"(target ≥ 98 %)"
    )
    print(f"clean image area masked by mistake: {score.false_area:.2%} (target ≤ 5 %)")
    print(
        f"per 640×480 frame: median {statistics.median(walls):.2f} s wall, "
        f"{statistics.median(cpus):.2f} s CPU; worst {max(walls):.2f} s wall, "
        f"{max(cpus):.2f} s CPU (target ≤ 1 s)"
    )
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    if misses:
        print("images with a text missed:", *misses, sep="\n")


if __name__ == "__main__":
    main()
