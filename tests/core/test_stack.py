"""A series as a stack: slice order by geometry, then number; rendering; series export."""

from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from desktop.core.display import Window
from desktop.core.errors import ExportError, FrameError
from desktop.core.export import export_mp4
from desktop.core.frames import FrameSource
from desktop.core.media import open_media
from desktop.core.model import Instance, InstanceStatus
from desktop.core.presets import CT_PRESETS, Computed, preset_window, presets_for
from desktop.core.stack import Stack, series_stack, slice_order
from desktop.core.synthetic import SeriesSpec, StudySpec, write_files

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)


def slice_at(
    number: int | None,
    position: tuple[float, ...] | None,
    orientation: tuple[float, ...] | None = AXIAL,
) -> Instance:
    return Instance(
        f"1.2.{number}.{position}",
        "1.2.840.10008.5.1.4.1.1.2",
        "1.2.840.10008.1.2.1",
        number,
        1,
        8,
        8,
        Path(f"/nowhere/{number}.dcm"),
        100,
        InstanceStatus.OK,
        position,
        orientation,
    )


def test_slices_follow_the_position_along_the_normal_not_the_instance_number() -> None:
    # Numbers given by acquisition (two passes interleaved), positions tell the anatomy.
    slices = [slice_at(n, (0.0, 0.0, z)) for n, z in ((1, 10), (2, 30), (3, 20), (4, 40))]
    assert [i.image_position[2] for i in slice_order(slices)] == [10, 20, 30, 40]  # type: ignore[index]


def test_the_scanner_direction_is_kept() -> None:
    head_first = [slice_at(n, (0.0, 0.0, -5.0 * n)) for n in (3, 1, 2)]
    assert [i.instance_number for i in slice_order(head_first)] == [1, 2, 3]


def test_oblique_and_sagittal_slices_use_the_normal() -> None:
    # Sagittal: the normal is along x, so y and z changes do not order the slices.
    slices = [slice_at(n, (x, 100.0 - x, 7.0 * n), SAGITTAL) for n, x in ((1, -3), (2, 9), (3, 1))]
    assert [i.instance_number for i in slice_order(slices)] == [1, 3, 2]


@pytest.mark.parametrize(
    "broken",
    [
        slice_at(2, None),  # one slice without a position
        slice_at(2, (0.0, 0.0, 99.0), SAGITTAL),  # a localizer in another orientation
        slice_at(2, (0.0, 0.0, 99.0), (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)),  # degenerate cosines
    ],
)
def test_without_one_common_geometry_instance_numbers_decide(broken: Instance) -> None:
    slices = [slice_at(3, (0.0, 0.0, 1.0)), broken, slice_at(1, (0.0, 0.0, 50.0))]
    assert [i.instance_number for i in slice_order(slices)] == [1, 2, 3]


def test_missing_numbers_go_last() -> None:
    slices = [slice_at(None, None), slice_at(2, None), slice_at(1, None)]
    assert [i.instance_number for i in slice_order(slices)] == [1, 2, None]


def ct_series(folder: Path, count: int = 6, size: int = 32) -> list[Instance]:
    study = StudySpec(
        "S", "Stack^Test", "20240101", "ct", (SeriesSpec("CT", "axial", count, size, size),)
    )
    write_files(folder, (study,))
    [series] = open_media(folder).patients[0].studies[0].series
    return series.instances


def test_the_scan_reads_the_geometry_and_the_stack_renders_in_order(tmp_path: Path) -> None:
    instances = ct_series(tmp_path)
    assert instances[0].image_position == (0.0, 0.0, 5.0)
    assert instances[0].image_orientation is None  # the synthetic CT has none: numbers decide
    shuffled = [replace(i, image_orientation=AXIAL) for i in reversed(instances)]
    stack = Stack(shuffled)
    assert [image.instance.instance_number for image in stack.images] == [1, 2, 3, 4, 5, 6]
    assert stack.middle() == 3
    rendered = stack.render(2)
    assert rendered.window == Window(40, 400)  # the file's own window, reported
    assert rendered.pixels.shape == (32, 32) and rendered.pixels.dtype == np.uint8
    with pytest.raises(FrameError, match="out of range"):
        stack.render(6)


def test_a_multi_frame_instance_is_a_stack_of_its_frames(tmp_path: Path) -> None:
    study = StudySpec("C", "Cine^Test", "20240101", "xa", (SeriesSpec("XA", "cine", frames=7),))
    write_files(tmp_path, (study,))
    stack = series_stack([open_media(tmp_path)])
    assert len(stack) == 7 and stack.middle() == 0 and stack.fps == pytest.approx(25)
    first = stack.render(0)
    assert first.window is not None  # no stored window: the automatic one, said
    assert not np.array_equal(first.pixels, stack.render(3).pixels)
    # The automatic window is kept from image to image (no flicker while scrolling).
    assert stack.render(3).window == first.window


def test_presets_by_modality(tmp_path: Path) -> None:
    assert presets_for("CT") == [Computed.AUTO, *CT_PRESETS]
    assert presets_for("MR") == list(Computed)
    stack = Stack(ct_series(tmp_path, count=2))
    source, frame = stack.source(0)
    low, high = source.stored(0).min(), source.stored(0).max()
    assert preset_window(Computed.MIN_MAX, source, frame) == Window(
        (float(low) + float(high)) / 2, float(high) - float(low) + 1
    )
    assert preset_window(Computed.FULL_RANGE, source, frame) == Window(-0.5, 4096)  # 12 bits
    assert preset_window("Lung −600/1500", source, frame) == Window(-600, 1500)
    assert preset_window(Computed.AUTO, source, frame) is None


def test_a_series_exports_as_one_video(tmp_path: Path) -> None:
    ct_series(tmp_path / "media", count=5, size=33)  # odd size: padded to even
    stack = series_stack([open_media(tmp_path / "media")])
    progress = list(export_mp4(stack, tmp_path / "s.mp4", fps=5))
    assert progress[-1].done == progress[-1].total == 5
    with av.open(str(tmp_path / "s.mp4")) as video:
        frames = list(video.decode(video=0))
    assert len(frames) == 5 and (frames[0].width, frames[0].height) == (34, 34)


def test_choosing_a_series(tmp_path: Path) -> None:
    study = StudySpec(
        "T",
        "Two^Series",
        "20240101",
        "two",
        (SeriesSpec("CT", "a", count=2), SeriesSpec("MR", "b", count=3)),
    )
    write_files(tmp_path, (study,))
    tree = open_media(tmp_path)
    with pytest.raises(ExportError, match="2 series there; say which"):
        series_stack([tree])
    mr = tree.patients[0].studies[0].series[1].series_instance_uid
    assert len(series_stack([tree], series_uid=mr)) == 3
    with pytest.raises(ExportError, match=r"no series 1\.2\.3 there"):
        series_stack([tree], series_uid="1.2.3")


def test_a_series_over_two_media_has_one_image_of_each_instance_the_readable_one(
    tmp_path: Path,
) -> None:
    [first, *_] = [i.path for i in ct_series(tmp_path / "good", count=3)]
    assert first is not None
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / first.name).write_bytes(first.read_bytes()[:-1000])
    trees = [open_media(tmp_path / "bad"), open_media(tmp_path / "good")]
    stack = series_stack(trees)
    assert len(stack) == 3
    assert all(image.instance.status is InstanceStatus.OK for image in stack.images)


@pytest.mark.parametrize("signed", [False, True])
def test_frames_read_straight_from_disk_equal_pydicom(tmp_path: Path, signed: bool) -> None:
    """The fast path for uncompressed files (what makes scrolling a CT series quick) gives
    pydicom's values, including junk above Bits Stored masked or sign-extended."""
    from pydicom import dcmread
    from pydicom.pixels import pixel_array

    [path] = write_files(
        tmp_path, (StudySpec("N", "Native^Read", "20240101", "x", (SeriesSpec("MR", "m"),)),)
    )
    dataset = dcmread(path)
    dataset.PixelRepresentation = int(signed)
    raw = np.frombuffer(dataset.PixelData, np.uint16).copy()
    raw[::7] |= 0xB000  # junk in the 4 unused high bits
    raw[::5] |= 0x0800  # the sign bit of 12-bit data
    dataset.PixelData = raw.tobytes()
    dataset.save_as(path)
    source = FrameSource(path)
    assert source.native is not None
    expected = pixel_array(path, index=0)
    assert source.stored(0).dtype == expected.dtype
    assert np.array_equal(source.stored(0), expected)
