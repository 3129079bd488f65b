"""Burned-in text, end to end with the real OCR engine: a small generated set of ultrasound
and secondary capture images de-identified with ``--pixels auto``; the identifying texts are
masked in the copies, little else is, nothing is recoloured, and the copies say so."""

import sys
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.pixels.utils import pixel_array
from pydicom.uid import RLELossless

from desktop.core.deid.batch import deidentify_files
from desktop.core.deid.mapping import KeyedMapping
from desktop.core.deid.pixels import PixelPolicy
from desktop.core.deid.profile import Profile
from tests.burned_in import Score, samples, write_samples

KEY = bytes(range(32))
#: The bench (bench/ocr_bench.py, 240 images) asks 98 % and 5 %; on 6 images one miss in ~25
#: texts is 96 %.
MIN_RECALL = 0.95
MAX_FALSE_AREA = 0.05


@pytest.fixture(scope="module")
def cleaned(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, Path, object]]:
    """Six generated images (a 3-frame ultrasound cine, an RLE one, grey and RGB captures) and
    their de-identified copies."""
    folder = tmp_path_factory.mktemp("burned")
    written = write_samples(folder / "in", 6, seed=3)
    profile = Profile(KeyedMapping(KEY))
    done = list(deidentify_files([folder / "in"], folder / "out", profile, pixels=PixelPolicy()))
    assert all(d.copy is not None for d in done), [d.error for d in done]
    copies = {d.source: d.copy for d in done}
    return [(path, copies[path], sample) for path, sample in written]  # type: ignore[misc]


def test_identifying_text_is_masked_and_little_else(cleaned: list) -> None:  # type: ignore[type-arg]
    score = Score()
    for source, copy, sample in cleaned:
        before = pixel_array(dcmread(source), as_rgb=False)
        after = pixel_array(dcmread(copy), as_rgb=False)
        changed = before != after
        if int(dcmread(source).get("NumberOfFrames", 1)) > 1:
            assert (changed == changed[0]).all(), "every frame is masked alike"
            changed = changed[0]
        if changed.ndim == 3:  # colour samples
            changed = changed.any(axis=-1)
        score.add_mask(sample, changed)
    assert score.identifying >= 20
    assert score.recall >= MIN_RECALL, f"{score.masked} of {score.identifying} masked"
    assert score.false_area <= MAX_FALSE_AREA


def test_copies_say_the_pixels_were_cleaned_and_keep_their_encoding(cleaned: list) -> None:  # type: ignore[type-arg]
    for source, copy, _ in cleaned:
        original, result = dcmread(source), dcmread(copy)
        assert result.BurnedInAnnotation == "NO"
        codes = [item.CodeValue for item in result.DeidentificationMethodCodeSequence]
        assert codes == ["113100", "113101"]
        assert "Clean Pixel Data Option" in result.DeidentificationMethod
        assert result.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
        assert result.PhotometricInterpretation == original.PhotometricInterpretation
        assert result.get("NumberOfFrames") == original.get("NumberOfFrames")
        assert "LossyImageCompression" not in result
    syntaxes = {dcmread(copy).file_meta.TransferSyntaxUID for _, copy, _ in cleaned}
    assert RLELossless in syntaxes


def test_a_flagged_image_without_identifying_text_is_left_as_it_was(tmp_path: Path) -> None:
    [sample] = list(samples(1, seed=3))
    dataset = sample.dataset
    blank = np.zeros_like(pixel_array(dataset))
    dataset.set_pixel_data(blank, "RGB", 8, generate_instance_uid=False)
    dataset.BurnedInAnnotation = "YES"
    source = tmp_path / "in" / "blank.dcm"
    source.parent.mkdir()
    dataset.save_as(source, enforce_file_format=True)
    profile = Profile(KeyedMapping(KEY))
    [done] = deidentify_files([source], tmp_path / "out", profile, pixels=PixelPolicy())
    assert done.copy is not None
    copy = dcmread(done.copy)
    assert copy.BurnedInAnnotation == "YES"  # nothing was cleaned, so nothing is claimed
    assert [item.CodeValue for item in copy.DeidentificationMethodCodeSequence] == ["113100"]
    assert not pixel_array(copy).any()


def test_the_ocr_engine_needs_no_network(tmp_path: Path) -> None:
    """A fresh process that may not open a socket loads the engine and reads a frame."""
    import subprocess

    script = (
        "import sys\n"
        "def refuse(event, args):\n"
        "    if event.startswith(('socket.connect', 'socket.getaddrinfo')):\n"
        "        raise OSError('no network: ' + event)\n"
        "sys.addaudithook(refuse)\n"
        "from PIL import Image, ImageDraw, ImageFont\n"
        "import numpy as np\n"
        "from desktop.core.deid.ocr import read_lines\n"
        "image = Image.new('L', (320, 120))\n"
        "font = ImageFont.truetype('/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', 20)\n"
        "ImageDraw.Draw(image).text((10, 40), 'GARCIA 1987', font=font, fill=255)\n"
        "print([line.text for line in read_lines(np.asarray(image))])\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert shown.returncode == 0, shown.stderr
    assert "GARCIA 1987" in shown.stdout
