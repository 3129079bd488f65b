"""A seeded mutation fuzzer for the media readers: header, DICOMDIR, frames and PNG export.

Input ``i`` of a run is made from ``random.Random(f"{seed}:{i}")`` alone, so a run is
reproducible input by input whatever the number of workers. Each input runs in a worker
process: a hang past ``timeout`` kills and replaces the worker, a worker that dies or grows
past ``memory_limit`` is an escape too. An escape is anything but our own ``CourierError``.

``code_root`` puts another checkout's ``desktop`` package first on the worker's path: the
same corpus can then be run against the code before a fix.
"""

import contextlib
import multiprocessing
import os
import random
import resource
import shutil
import struct
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import pydicom
from pydicom.filebase import DicomBytesIO
from pydicom.uid import DeflatedExplicitVRLittleEndian

from tests.core.crafted import RLE_OVERRUN, identity, nested_sequences, part10, rle_file

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
DICOMDIR_TESTS = PYDICOM_FILES / "dicomdirtests"
MAX_SEED_BYTES = 300_000  # bigger files cost more to write than they add as seeds
TARGET_WEIGHTS = {"header": 5, "dicomdir": 2, "frames": 2, "export": 1}
VRS = [
    v.encode()
    for v in [
        "AE",
        "AS",
        "AT",
        "CS",
        "DA",
        "DS",
        "DT",
        "FD",
        "FL",
        "IS",
        "LO",
        "LT",
        "OB",
        "OD",
        "OF",
        "OL",
        "OV",
        "OW",
        "PN",
        "SH",
        "SL",
        "SQ",
        "SS",
        "ST",
        "SV",
        "TM",
        "UC",
        "UI",
        "UL",
        "UN",
        "UR",
        "US",
        "UT",
        "UV",
    ]
]
GROUPS = {0x0002, 0x0004, 0x0008, 0x0010, 0x0018, 0x0020, 0x0028, 0x0040, 0x7FE0, 0xFFFE}
INTERESTING_LENGTHS = [0, 1, 2, 3, 4, 7, 8, 0xFF, 0x100, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]
INTERESTING_TAGS = [
    0x00080005,  # Specific Character Set
    0x00280008,  # Number of Frames
    0x00280010,  # Rows
    0x00280100,  # Bits Allocated
    0x00041220,  # Directory Record Sequence
    0x00041500,  # Referenced File ID
    0x7FE00010,  # Pixel Data
    0xFFFEE000,  # Item
    0xFFFEE00D,  # Item Delimitation
    0xFFFEE0DD,  # Sequence Delimitation
]


@dataclass(frozen=True, slots=True)
class Seed:
    """A valid file to mutate, and the offsets of what look like its element headers."""

    name: str
    data: bytes
    headers: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Escape:
    """An input that left a target with something other than a CourierError."""

    index: int
    target: str
    seed: str
    kind: str  # the exception's type, "hang", "memory" or "crash"
    detail: str
    data: bytes


@dataclass(slots=True)
class Report:
    inputs: int = 0
    seconds: float = 0.0
    by_target: dict[str, int] = field(default_factory=dict)
    escapes: list[Escape] = field(default_factory=list)

    def signatures(self) -> dict[tuple[str, str, str], int]:
        """Distinct escapes: (target, kind, where) → how many inputs hit it."""
        counts: dict[tuple[str, str, str], int] = {}
        for escape in self.escapes:
            key = (escape.target, escape.kind, escape.detail.split(": ", 1)[0])
            counts[key] = counts.get(key, 0) + 1
        return counts


# --- seeds -------------------------------------------------------------------------------


def element_headers(data: bytes) -> tuple[int, ...]:
    """Offsets that look like element headers (a known group, then a VR or a length)."""
    found = []
    for pos in range(132, min(len(data), 1 << 16) - 8, 2):
        (group,) = struct.unpack_from("<H", data, pos)
        if group in GROUPS or struct.unpack_from(">H", data, pos)[0] in GROUPS:
            found.append(pos)
    return tuple(found)


def _seed(name: str, data: bytes) -> Seed:
    return Seed(name, data, element_headers(data))


def file_seeds() -> list[Seed]:
    """pydicom's small test files, synthetic media (fixed UIDs) and a few hand-made files."""
    seeds = [
        _seed(path.name, path.read_bytes())
        for path in sorted(PYDICOM_FILES.glob("*.dcm"))
        if path.stat().st_size <= MAX_SEED_BYTES
    ]
    seeds += [_seed(f"synthetic-{n}", data) for n, data in enumerate(synthetic_files())]
    seeds.append(_seed("synthetic-deflated", _deflated(seeds[-1].data)))
    seeds.append(_seed("nested-40", part10(identity() + nested_sequences(40))))
    seeds.append(_seed("charset-lo", part10(identity(charset=b"ISO_IR 192", vr=b"LO"))))
    rle = DicomBytesIO()
    rle_file(RLE_OVERRUN).save_as(rle, enforce_file_format=True)
    seeds.append(_seed("rle-overrun", rle.getvalue()))
    return seeds


def synthetic_files() -> Iterator[bytes]:
    """A CT image, an MR cine and an RGB ultrasound cine from the demo's generator."""
    from desktop.core.synthetic import SeriesSpec, StudySpec, study_datasets

    study = StudySpec(
        "FUZZ",
        "Fuzz^Seed",
        "20240101",
        "Fuzz",
        (
            SeriesSpec("CT", "ct", count=1, rows=16, columns=16),
            SeriesSpec("MR", "cine", count=1, rows=16, columns=16, frames=3),
            SeriesSpec("US", "rgb", count=1, rows=16, columns=16, frames=2, color=True),
        ),
    )
    for number, dataset in enumerate(study_datasets(study), start=1):
        dataset.StudyInstanceUID = "1.2.826.0.1.3680043.10.1.1"
        dataset.SeriesInstanceUID = f"1.2.826.0.1.3680043.10.1.1.{number}"
        dataset.SOPInstanceUID = f"1.2.826.0.1.3680043.10.1.1.{number}.1"
        dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
        out = DicomBytesIO()
        dataset.save_as(out, enforce_file_format=True)
        yield out.getvalue()


def _deflated(original: bytes) -> bytes:
    """An explicit VR little endian file re-encoded as Deflated Explicit VR Little Endian."""
    dataset = pydicom.dcmread(DicomBytesIO(original))
    dataset.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    out = DicomBytesIO()
    dataset.save_as(out, enforce_file_format=True)
    return out.getvalue()


def dicomdir_seeds() -> list[Seed]:
    """pydicom's DICOMDIR variants (they reference the media the worker copies)."""
    return [
        _seed(path.name, path.read_bytes())
        for path in sorted(DICOMDIR_TESTS.glob("DICOMDIR*"))
        if path.is_file()
    ]


# --- mutations ---------------------------------------------------------------------------


def _position(rng: random.Random, data: bytearray, seed: Seed) -> int:
    """A byte to mutate: near an element header half the time, anywhere otherwise."""
    if seed.headers and rng.random() < 0.5:
        return min(rng.choice(seed.headers) + rng.randrange(12), max(len(data) - 1, 0))
    return rng.randrange(max(len(data), 1))


def flip_bits(rng: random.Random, data: bytearray, seed: Seed, _: list[Seed]) -> bytearray:
    for _ in range(rng.randint(1, 8)):
        if data:
            data[_position(rng, data, seed)] ^= 1 << rng.randrange(8)
    return data


def insert_bytes(rng: random.Random, data: bytearray, seed: Seed, _: list[Seed]) -> bytearray:
    pos = _position(rng, data, seed)
    data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    return data


def delete_bytes(rng: random.Random, data: bytearray, seed: Seed, _: list[Seed]) -> bytearray:
    pos = _position(rng, data, seed)
    del data[pos : pos + rng.randint(1, 16)]
    return data


def mutate_length(rng: random.Random, data: bytearray, seed: Seed, _: list[Seed]) -> bytearray:
    """Rewrite the 16- or 32-bit length of an element header with a boundary value."""
    if not seed.headers:
        return data
    header = rng.choice(seed.headers)
    value = rng.choice(INTERESTING_LENGTHS) + rng.choice([0, 0, 1, -1, 2])
    offset, fmt = rng.choice([(6, "<H"), (8, "<L"), (4, "<L"), (6, ">H"), (8, ">L")])
    value %= 1 << (8 * struct.calcsize(fmt))
    if header + offset + struct.calcsize(fmt) <= len(data):
        struct.pack_into(fmt, data, header + offset, value)
    return data


def mutate_vr(rng: random.Random, data: bytearray, seed: Seed, _: list[Seed]) -> bytearray:
    """Replace a VR with another VR, or with two arbitrary bytes."""
    if seed.headers:
        pos = rng.choice(seed.headers) + 4
        vr = rng.choice(VRS) if rng.random() < 0.7 else bytes(rng.randrange(256) for _ in "ab")
        data[pos : pos + 2] = vr
    return data


def mutate_tag(rng: random.Random, data: bytearray, seed: Seed, _: list[Seed]) -> bytearray:
    """Give an element header a tag that changes how the rest is read."""
    if seed.headers:
        value = rng.choice(INTERESTING_TAGS)
        pos = rng.choice(seed.headers)
        data[pos : pos + 4] = struct.pack("<HH", value >> 16, value & 0xFFFF)
    return data


def truncate(rng: random.Random, data: bytearray, seed: Seed, _: list[Seed]) -> bytearray:
    return data[: _position(rng, data, seed)]


def splice(rng: random.Random, data: bytearray, seed: Seed, others: list[Seed]) -> bytearray:
    """This file's start with another file's end, cut at element headers when it can."""
    other = rng.choice(others)
    cut = rng.choice(seed.headers) if seed.headers else _position(rng, data, seed)
    join = rng.choice(other.headers) if other.headers else rng.randrange(len(other.data) + 1)
    return data[:cut] + other.data[join:]


def repeat_chunk(rng: random.Random, data: bytearray, seed: Seed, _: list[Seed]) -> bytearray:
    """Copy a stretch of the file (elements, items) somewhere else, repeated a few times."""
    start = _position(rng, data, seed)
    chunk = data[start : start + rng.randint(8, 256)]
    pos = _position(rng, data, seed)
    data[pos:pos] = chunk * rng.randint(1, 8)
    return data


Mutator = Callable[[random.Random, bytearray, Seed, list[Seed]], bytearray]
MUTATORS: list[Mutator] = [
    flip_bits,
    insert_bytes,
    delete_bytes,
    mutate_length,
    mutate_length,
    mutate_vr,
    mutate_tag,
    truncate,
    splice,
    repeat_chunk,
]


def make_input(
    seed: int, index: int, files: list[Seed], dicomdirs: list[Seed]
) -> tuple[str, str, bytes]:
    """Input ``index`` of run ``seed``: its target, the seed it came from, and its bytes."""
    rng = random.Random(f"{seed}:{index}")
    target = rng.choices(list(TARGET_WEIGHTS), weights=list(TARGET_WEIGHTS.values()))[0]
    pool = dicomdirs if target == "dicomdir" else files
    chosen = rng.choice(pool)
    data = bytearray(chosen.data)
    for _ in range(rng.randint(1, 4)):
        data = rng.choice(MUTATORS)(rng, data, chosen, pool)
    return target, chosen.name, bytes(data)


# --- the worker ----------------------------------------------------------------------------


def _run_target(target: str, data: bytes, scratch: Path, media: Path) -> None:
    """Feed one input to one target; whatever it raises is the caller's to judge."""
    from desktop.core.attributes import BROWSER_TAGS
    from desktop.core.export import export_png
    from desktop.core.frames import FrameSource
    from desktop.core.header import read_header
    from desktop.core.integrity import pixel_data_defect
    from desktop.core.media import open_media
    from desktop.core.report import tree_to_json, tree_to_text

    if target == "dicomdir":
        (media / "DICOMDIR").write_bytes(data)
        tree = open_media(media)
        tree_to_json(tree)
        tree_to_text(tree)
        return
    path = scratch / "input.dcm"
    path.write_bytes(data)
    if target == "header":
        header = read_header(path)
        for tag in BROWSER_TAGS:
            header.values.text(tag)
            header.values.integer(tag)
        pixel_data_defect(header)
        return
    source = FrameSource(path)
    if target == "frames":
        for index in sorted({0, min(source.frame_count, 1 << 16) - 1}):
            source.display(index)
        return
    export_png(source, scratch / "out.png")
    if source.is_grey:
        export_png(source, scratch / "out16.png", stored_16bit=True)


def _where(error: BaseException) -> str:
    """The exception and the innermost frame of ours (else the innermost) it came from."""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if "/desktop/" in f.filename] or frames
    place = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
    return f"{type(error).__name__} at {place}: {str(error)[:200]}"


def worker(
    connection: Connection,
    scratch: Path,
    code_root: str | None,
    address_space: int,
    stand_in: bytes,
) -> None:
    """Run inputs sent over ``connection`` until it sends None; answer each with its outcome.

    The DICOMDIR target's media holds one of pydicom's three folders (the other records are
    missing files), each file replaced by ``stand_in`` (a small image): the DICOMDIR reader
    is what is fuzzed here, not the header reader again.
    """
    if code_root:
        sys.path.insert(0, code_root)
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    warnings.simplefilter("ignore")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # Rust panics and pydicom's complaints print there
    from desktop.core.errors import CourierError

    media = scratch / "media"
    shutil.copytree(DICOMDIR_TESTS / "77654033", media / "77654033")  # 7 of the 31 files
    for file in media.rglob("*"):
        if file.is_file():
            file.write_bytes(stand_in)
    while (message := connection.recv()) is not None:
        target, data = message
        outcome = None
        try:
            _run_target(target, data, scratch, media)
        except CourierError:
            pass
        except BaseException as error:  # the fuzzer's whole point: see everything else
            if isinstance(error, KeyboardInterrupt):
                raise
            outcome = ("exception", _where(error))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        connection.send((outcome, peak))


class Worker:
    """A worker process and its end of the pipe, replaced after a hang, crash or blow-up.

    Its scratch folder (in memory when /dev/shm exists) is made and removed here, so that a
    killed worker leaves nothing behind.
    """

    def __init__(self, code_root: str | None, address_space: int, stand_in: bytes) -> None:
        self._args = (code_root, address_space, stand_in)
        self._start()

    def _start(self) -> None:
        base = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
        self.scratch = Path(tempfile.mkdtemp(prefix="courier-fuzz-", dir=base))
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        arguments = (child, self.scratch, *self._args)
        self.process = context.Process(target=worker, args=arguments, daemon=True)
        self.process.start()
        child.close()

    def run(self, target: str, data: bytes, timeout: float) -> tuple[tuple[str, str] | None, int]:
        """The outcome of one input and the worker's peak RSS, or a hang or crash."""
        try:
            self.connection.send((target, data))
            if not self.connection.poll(timeout):
                self.restart()
                return ("hang", f"no answer within {timeout:g} s"), 0
            outcome: tuple[str, str] | None
            outcome, peak = self.connection.recv()
            return outcome, peak
        except (EOFError, BrokenPipeError, ConnectionResetError):
            code = self.process.exitcode
            self.restart()
            return ("crash", f"the worker died (exit code {code})"), 0

    def restart(self) -> None:
        self.stop(kill=True)
        self._start()

    def stop(self, *, kill: bool = False) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            if not kill:
                self.connection.send(None)
        if kill:
            self.process.kill()
        self.process.join(timeout=10)
        self.connection.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


# --- a run -------------------------------------------------------------------------------


def fuzz(
    *,
    seed: int,
    inputs: int,
    workers: int = 1,
    timeout: float = 30.0,
    memory_limit: int = 1 << 30,
    address_space: int = 4 << 30,
    code_root: str | None = None,
    progress: Callable[[Report], None] | None = None,
) -> Report:
    """Run inputs 0 .. inputs-1 of ``seed`` over ``workers`` worker processes."""
    files, dicomdirs = file_seeds(), dicomdir_seeds()
    stand_in = next(s.data for s in files if s.name.startswith("synthetic-"))
    report = Report()
    lock = threading.Lock()
    indexes: Iterator[int] = iter(range(inputs))
    started = time.monotonic()

    def drive() -> None:
        pool = Worker(code_root, address_space, stand_in)
        try:
            while True:
                with lock:
                    index = next(indexes, None)
                if index is None:
                    return
                target, name, data = make_input(seed, index, files, dicomdirs)
                outcome, peak = pool.run(target, data, timeout)
                if outcome is None and peak > memory_limit:
                    outcome = ("memory", f"peak RSS {peak >> 20} MB")
                    pool.restart()
                with lock:
                    report.inputs += 1
                    report.by_target[target] = report.by_target.get(target, 0) + 1
                    if outcome is not None:
                        kind, detail = outcome
                        if kind == "exception":
                            kind = detail.split(" ", 1)[0]
                        report.escapes.append(Escape(index, target, name, kind, detail, data))
                    report.seconds = time.monotonic() - started
                    if progress is not None:
                        progress(report)
        finally:
            pool.stop()

    threads = [threading.Thread(target=drive) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report.seconds = time.monotonic() - started
    return report


def describe(report: Report) -> str:
    """A few lines: inputs, time, escapes by signature."""
    lines = [
        f"{report.inputs} inputs in {report.seconds:.1f} s "
        f"({', '.join(f'{t} {n}' for t, n in sorted(report.by_target.items()))}), "
        f"{len(report.escapes)} escapes"
    ]
    for (target, _kind, where), count in sorted(report.signatures().items()):
        lines.append(f"  {count:6d} × {target}: {where}")
    return "\n".join(lines)
