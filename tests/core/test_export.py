"""PNG and MP4 export: what is written is what is shown, and nothing half-written is left."""

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from desktop.core.display import Window
from desktop.core.errors import ExportError, FrameError, OutputError
from desktop.core.export import ExportProgress, export_mp4, export_png
from desktop.core.frames import FrameSource
from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from tests.helpers import sample_file


def test_png_holds_the_displayed_frame(tmp_path: Path) -> None:
    source = FrameSource(sample_file("emri_small.dcm"))
    export_png(source, tmp_path / "f.png", frame=4, window=Window(300, 600))
    assert np.array_equal(
        np.asarray(Image.open(tmp_path / "f.png")), source.display(4, Window(300, 600))
    )


def test_png_of_colour_frame(tmp_path: Path) -> None:
    source = FrameSource(sample_file("color3d_jpeg_baseline.dcm"))
    export_png(source, tmp_path / "c.png", frame=119)
    image = Image.open(tmp_path / "c.png")
    assert (image.mode, image.size) == ("RGB", (640, 480))


def test_16bit_png_keeps_signed_stored_values(tmp_path: Path) -> None:
    source = FrameSource(sample_file("CT_small.dcm"))
    export_png(source, tmp_path / "s.png", stored_16bit=True)
    image = Image.open(tmp_path / "s.png")
    offset = int(image.text["StoredValueOffset"])
    assert offset == 32768 and image.text["RescaleIntercept"] == "-1024"
    recovered = np.asarray(image).astype(np.int64) - offset
    assert np.array_equal(recovered, source.stored(0))


def test_16bit_png_refuses_colour(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="this image is colour"):
        export_png(FrameSource(sample_file("SC_rgb.dcm")), tmp_path / "x.png", stored_16bit=True)


def test_png_frame_out_of_range(tmp_path: Path) -> None:
    with pytest.raises(FrameError, match="out of range"):
        export_png(FrameSource(sample_file("CT_small.dcm")), tmp_path / "x.png", frame=1)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="does not exist"):
        export_png(FrameSource(sample_file("CT_small.dcm")), tmp_path / "no" / "x.png")


def test_mp4_has_every_frame_at_the_files_rate(tmp_path: Path) -> None:
    source = FrameSource(sample_file("color3d_jpeg_baseline.dcm"))
    progress = list(export_mp4(source, tmp_path / "c.mp4"))
    assert progress[-1] == ExportProgress(120, 120) and len(progress) == 120
    with av.open(str(tmp_path / "c.mp4")) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        assert (stream.codec_context.name, stream.average_rate) == ("h264", 30)
    assert len(frames) == 120 and (frames[0].width, frames[0].height) == (640, 480)
    first = frames[0].to_ndarray(format="rgb24").astype(int)
    assert np.abs(first - source.display(0).astype(int)).mean() < 6  # lossy, but the same picture


def test_mp4_pads_odd_sizes_and_takes_a_rate(tmp_path: Path) -> None:
    study = StudySpec(
        "P",
        "Odd^Size",
        "20240101",
        "odd",
        (SeriesSpec("XA", "cine", rows=33, columns=47, frames=6),),
    )
    [path] = write_files(tmp_path, (study,))
    list(export_mp4(FrameSource(path), tmp_path / "odd.mp4", fps=12.5))
    with av.open(str(tmp_path / "odd.mp4")) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height, stream.average_rate) == (48, 34, 12.5)
        assert sum(1 for _ in container.decode(stream)) == 6


def test_cancelled_mp4_leaves_nothing(tmp_path: Path) -> None:
    exporter = export_mp4(FrameSource(sample_file("color3d_jpeg_baseline.dcm")), tmp_path / "x.mp4")
    next(exporter)
    exporter.close()
    assert list(tmp_path.iterdir()) == []
