"""Hostile media: each malformed file is one problem entry, and the rest of the media opens."""

import json
import os
import shutil
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import DeflatedExplicitVRLittleEndian

from desktop.core.errors import FrameError, HeaderError
from desktop.core.frames import FrameSource
from desktop.core.header import read_header
from desktop.core.media import load_media, open_media
from desktop.core.model import InstanceStatus
from desktop.core.synthetic import SeriesSpec, StudySpec, write_files, write_media
from tests.core.crafted import (
    RLE_OVERRUN,
    broken_deflate,
    deflate_bomb,
    deflated,
    element,
    identity,
    jpegls_zero_height,
    nested_sequences,
    part10,
    rle_file,
)
from tests.helpers import cli, sample_file

GOOD = StudySpec("P50", "Good^Fifty", "20240101", "Fifty", (SeriesSpec("CT", "a", count=50),))
IMAGE = (
    element(0x00280010, b"US", b"\x02\x00")
    + element(0x00280011, b"US", b"\x02\x00")
    + element(0x00280100, b"US", b"\x08\x00")
    + element(0x7FE00010, b"OB", b"\0" * 4)
)


#: Files whose header cannot be read: (bytes, what the problem entry says).
UNREADABLE: dict[str, tuple[Callable[[], bytes], str]] = {
    "nested": (lambda: part10(identity() + nested_sequences(500) + IMAGE), "nested deeper"),
    "non-ascii-vr": (
        lambda: part10(identity() + b"\x10\x00\x40\x00\xc3\xa9\x02\x00AB" + IMAGE),
        "invalid VR",
    ),
    "unknown-vr": (
        lambda: part10(identity() + element(0x00101030, b"ZZ", b"12") + IMAGE),
        "invalid VR",
    ),
    "broken-deflate": (
        lambda: broken_deflate(identity() + IMAGE),
        "deflated data set is corrupt",
    ),
}
#: Files with a defective Specific Character Set: read, their text decoded as best it can be.
ODD_CHARSETS = {
    "charset-lo": lambda: part10(identity(charset=b"ISO_IR 100", vr=b"LO") + IMAGE),
    "charset-nul": lambda: part10(identity(charset=b"ISO_IR\x00100") + IMAGE),
}


@pytest.fixture(scope="module")
def fifty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fifty")
    write_files(folder, (GOOD,))
    return folder


def _media_with(fifty: Path, tmp_path: Path, name: str, data: bytes) -> Path:
    media = tmp_path / "media"
    shutil.copytree(fifty, media)
    (media / name).write_bytes(data)
    return media


@pytest.mark.parametrize("kind", UNREADABLE)
def test_unreadable_header_is_a_header_error(kind: str, tmp_path: Path) -> None:
    make, reason = UNREADABLE[kind]
    path = tmp_path / kind
    path.write_bytes(make())
    with pytest.raises(HeaderError, match=reason):
        read_header(path)
    with pytest.raises(FrameError, match=reason):
        FrameSource(path)


@pytest.mark.parametrize("kind", UNREADABLE)
def test_one_bad_file_among_fifty_is_one_problem(
    kind: str, fifty: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, reason = UNREADABLE[kind]
    media = _media_with(fifty, tmp_path, "BAD.dcm", make())
    status, out, err = cli(capsys, "tree", media, "--json")
    assert (status, err) == (0, "")
    tree = json.loads(out)
    instances = [
        i
        for p in tree["patients"]
        for s in p["studies"]
        for se in s["series"]
        for i in se["instances"]
    ]
    assert len(instances) == 50
    [problem] = tree["problems"]
    assert problem["path"] == str(media / "BAD.dcm") and reason in problem["reason"]


@pytest.mark.parametrize("kind", ODD_CHARSETS)
def test_defective_character_set_still_shows_the_file(
    kind: str, fifty: Path, tmp_path: Path
) -> None:
    media = _media_with(fifty, tmp_path, "ODD.dcm", ODD_CHARSETS[kind]())
    loader = load_media(media)  # the generator the GUI's media worker runs
    with pytest.raises(StopIteration) as finished:
        while True:
            next(loader)
    tree = finished.value.value
    names = {p.patient_name for p in tree.patients}
    assert names == {"Good^Fifty", "Hostile^File"}
    assert sum(1 for _ in tree.instances()) == 51


def test_rle_decoder_panic_is_a_frame_error(tmp_path: Path) -> None:
    path = tmp_path / "panic.dcm"
    rle_file(RLE_OVERRUN).save_as(path, enforce_file_format=True)
    source = FrameSource(path)
    with pytest.raises(FrameError, match="RLE Lossless decoder failed"):
        source.stored(0)
    # The real command line: the Rust panic hook writes to file descriptor 2 itself.
    process = subprocess.run(
        [sys.executable, "-m", "desktop.cli", "export", str(path), "--png", "out.png"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "RUST_BACKTRACE": "1"},
    )
    assert (process.returncode, process.stdout) == (1, "")
    assert process.stderr.count("\n") == 1, process.stderr
    assert process.stderr.startswith("dicom-courier: frame 1 of panic.dcm cannot be decoded")
    assert not (tmp_path / "out.png").exists()


def test_jpegls_frame_that_hangs_libjpeg_is_refused_at_once(tmp_path: Path) -> None:
    """Input 97,826 of fuzz seed 1: pylibjpeg-libjpeg spun on it for minutes inside C++. The
    real command in a child with a deadline, so that a regression fails instead of hanging."""
    path = tmp_path / "lines0.dcm"
    jpegls_zero_height().save_as(path, enforce_file_format=True)
    process = subprocess.run(
        [sys.executable, "-m", "desktop.cli", "export", str(path), "--png", "out.png"],
        capture_output=True,
        text=True,
        timeout=30,  # the refusal takes milliseconds; Python's start-up, seconds at load 12
        check=False,
        cwd=tmp_path,
    )
    assert (process.returncode, process.stdout) == (1, "")
    assert process.stderr.startswith(
        "dicom-courier: frame 1 of lines0.dcm cannot be decoded: "
        "the JPEG-LS decoder (CharLS) refused it: Decoding error: "
    )
    assert process.stderr.count("\n") == 1, process.stderr
    assert not (tmp_path / "out.png").exists()


def _tree_peak_rss(media: Path) -> tuple[dict[str, Any], int]:
    """``tree --json`` of media in a fresh process: its JSON and its peak RSS in bytes."""
    process = subprocess.run(
        [sys.executable, "-c", PEAK_RSS_CHILD, "tree", str(media), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert process.returncode == 0, process.stderr
    *_, peak = process.stderr.split()
    return json.loads(process.stdout), int(peak) * 1024


PEAK_RSS_CHILD = (
    "import resource, sys; from desktop.cli import main; status = main(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); "
    "sys.exit(status)"
)


def test_deflate_bomb_keeps_tree_bounded_in_memory(tmp_path: Path) -> None:
    """A 1 MB file expanding to 1 GiB: tree reads its header only, in bounded memory."""
    small, media = tmp_path / "small", tmp_path / "media"
    small.mkdir()
    media.mkdir()
    (small / "small.dcm").write_bytes(deflated(identity("1.2.3.4") + IMAGE))
    (media / "bomb.dcm").write_bytes(deflate_bomb(1024))
    _, baseline = _tree_peak_rss(small)
    tree, peak = _tree_peak_rss(media)
    [instance] = [
        i
        for p in tree["patients"]
        for s in p["studies"]
        for se in s["series"]
        for i in se["instances"]
    ]
    assert (instance["sop_instance_uid"], tree["problems"]) == ("1.2.3.4", [])
    assert peak - baseline < 64 << 20, f"peak RSS {peak >> 20} MB, baseline {baseline >> 20} MB"


def test_dicomdir_link_outside_the_media_is_refused(tmp_path: Path) -> None:
    media = tmp_path / "media"
    dicomdir = write_media(media, (GOOD,))
    outside = tmp_path / "outside.dcm"
    [victim, *_] = sorted(p for p in media.rglob("*") if p.is_file() and p != dicomdir)
    shutil.move(victim, outside)
    victim.symlink_to(outside)
    tree = open_media(media)
    refused = [i for i in tree.instances() if i.status is InstanceStatus.MISSING]
    assert len(refused) == 1 and refused[0].path is None
    assert sum(1 for _ in tree.instances()) == 50
    [problem] = tree.problems
    assert problem.path == victim and "symbolic link" in problem.reason


def test_dicomdir_file_id_with_a_nul_is_invalid(dicomdir_media: Callable[[str], Path]) -> None:
    media = dicomdir_media("DICOMDIR")
    dicomdir = media / "DICOMDIR"
    listed = dicomdir.read_bytes()
    assert listed.count(b"CR1\\6154") == 1
    dicomdir.write_bytes(listed.replace(b"CR1\\6154", b"CR1\\61\x004"))  # same length
    tree = open_media(media)
    assert tree.source == "dicomdir" and sum(1 for _ in tree.instances()) == 31
    invalid = [p.reason for p in tree.problems if "invalid file ID" in p.reason]
    assert len(invalid) == 1 and "61\\x004" in invalid[0]
    # The file itself is still there once: shown, not hidden as a "duplicate" of the record
    # that could not name it.
    assert media / "77654033" / "CR1" / "6154" in {i.path for i in tree.instances()}
    assert not [p for p in tree.problems if "None" in p.reason or "duplicate" in p.reason]


def test_deflated_image_is_decoded_from_its_bounded_copy(tmp_path: Path) -> None:
    dataset = pydicom.dcmread(sample_file("CT_small.dcm"))
    dataset.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    path = tmp_path / "deflated.dcm"
    dataset.save_as(path, enforce_file_format=True)
    source = FrameSource(path)
    assert np.array_equal(source.stored(0), dataset.pixel_array)


def test_deflate_bomb_is_refused_by_frames_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "bomb.dcm"
    path.write_bytes(deflate_bomb(1024))
    tracemalloc.start()
    try:
        with pytest.raises(FrameError, match="expands past 64 MB"):
            FrameSource(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200 << 20, f"{peak >> 20} MB"


def test_frames_larger_than_the_limit_are_refused(tmp_path: Path) -> None:
    huge = (
        element(0x00280002, b"US", b"\x03\x00")
        + element(0x00280010, b"US", b"\xff\xff")
        + element(0x00280011, b"US", b"\xff\xff")
        + element(0x00280100, b"US", b"\x10\x00")
        + element(0x7FE00010, b"OB", b"\0" * 4)
    )
    path = tmp_path / "huge.dcm"
    path.write_bytes(part10(identity() + huge))
    with pytest.raises(FrameError, match="more than the 256 MB a frame may have"):
        FrameSource(path)


def test_deflated_file_with_garbled_meta_uids_is_read(tmp_path: Path) -> None:
    path = tmp_path / "garbled.dcm"
    path.write_bytes(deflated(identity() + IMAGE, uid="1.2.\u00e9\u00e9"))
    source = FrameSource(path)  # pydicom's meta writer used to raise TypeError here
    assert (source.rows, source.columns) == (2, 2)


def test_jp2_box_of_length_zero_is_refused_not_looped_on(tmp_path: Path) -> None:
    dataset = pydicom.dcmread(sample_file("JPEG2000.dcm"))
    jp2 = b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"\x00\x00\x00\x00ftyp" + b"\x00" * 32
    dataset.PixelData = encapsulate([jp2])
    dataset.NumberOfFrames = 1
    path = tmp_path / "jp2.dcm"
    dataset.save_as(path, enforce_file_format=True)
    with pytest.raises(FrameError, match="JP2 header has a box of length 0 at byte 12"):
        FrameSource(path).stored(0)


def test_sequences_nested_sixty_deep_are_read(tmp_path: Path) -> None:
    """The limit counts sequences, not sequences and their items (40 levels, as our own
    de-identified copies of a deep file write them, were refused as deeper than 64)."""
    path = tmp_path / "deep.dcm"
    path.write_bytes(part10(identity() + nested_sequences(60) + IMAGE))
    assert read_header(path).pixel_data is not None
