"""The cine rate comes from the attribute the standard prefers, and stays sane."""

from pathlib import Path

import pytest
from deid_data.data import get_dataset
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from desktop.core.cine import DEFAULT_FPS, cine_rate
from desktop.core.frames import FrameSource
from tests.helpers import sample_file


def dataset(**attributes: object) -> Dataset:
    """A dataset as read from a file: values stay raw until used, as malformed ones would."""
    result = Dataset()
    for keyword, value in attributes.items():
        tag = Tag(keyword)
        values = value if isinstance(value, list) else [value]
        raw = "\\".join(str(v) for v in values).encode()
        result[tag] = RawDataElement(tag, dictionary_VR(tag), len(raw), raw, 0, False, True)
    return result


@pytest.mark.parametrize(
    ("attributes", "fps"),
    [
        ({"FrameTime": "40"}, 25.0),
        ({"FrameTime": "40", "CineRate": 10, "RecommendedDisplayFrameRate": 5}, 25.0),
        ({"FrameTimeVector": ["0", "50", "50", "50"]}, 20.0),
        ({"FrameTimeVector": ["0", "50"], "CineRate": 10}, 20.0),
        ({"CineRate": 12, "RecommendedDisplayFrameRate": 5}, 12.0),
        ({"RecommendedDisplayFrameRate": 5}, 5.0),
        ({"FrameTime": "0", "CineRate": 15}, 15.0),
        ({"FrameTime": "0.001"}, DEFAULT_FPS),
        ({"FrameTime": "garbage"}, DEFAULT_FPS),
        ({}, DEFAULT_FPS),
    ],
)
def test_rate_preference_and_sanity(attributes: dict[str, object], fps: float) -> None:
    assert cine_rate(dataset(**attributes)) == pytest.approx(fps)


def test_real_cine_rate() -> None:
    assert FrameSource(sample_file("color3d_jpeg_baseline.dcm")).fps == pytest.approx(30, rel=1e-3)


def test_real_ultrasound_cine_prefers_frame_time_over_cine_rate() -> None:
    """deid-data's ultrasound: Frame Time 54.241 ms (18.4 fps) and Cine Rate 18."""
    path = Path(get_dataset("ultrasounds")) / "ultrasound-multiframe.dcm"
    source = FrameSource(path)
    assert source.frame_count == 30
    assert source.fps == pytest.approx(1000 / 54.241)
    assert source.display(29).shape == (source.rows, source.columns, 3)
