"""A generated set of ultrasound and secondary capture images with names, IDs and dates burned
in (several fonts, sizes, colours and positions, drawn with Pillow and DejaVu fonts), each with
the truth: where each text lies, its ink, and whether it identifies the patient.

Used by tests/core/deid/test_burned_in.py (a few images) and bench/ocr_bench.py (hundreds).
"""

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid

from desktop.core.deid.boxes import Box

FONT_FOLDER = Path("/usr/share/fonts/truetype/dejavu")
FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSansCondensed.ttf",
    "DejaVuSansMono-Bold.ttf",
)
COLOURS = (
    (255, 255, 255),
    (255, 255, 0),
    (0, 255, 0),
    (0, 220, 255),
    (230, 230, 230),
    (255, 160, 0),
)
FAMILIES = ("NGUYEN", "OKAFOR", "SCHMIDT", "GARCIA", "JOHANSSON", "KOWALSKI", "TANAKA", "MORRIS")
GIVEN = ("AMELIA", "OMAR", "LENA", "PIETER", "SOFIA", "KWAME", "YUKI", "MARTIN")
#: Annotations that identify nobody (left unmasked when the reader gets it right).
HARMLESS = ("5 cm", "MI 0.8", "TIS 0.4", "GAIN 52", "L12-5", "ABD", "Depth 16", "FR 32Hz", "C5-1")
US_CLASS = "1.2.840.10008.5.1.4.1.1.6.1"
SC_CLASS = "1.2.840.10008.5.1.4.1.1.7"
ROWS, COLUMNS = 480, 640


@dataclass(frozen=True, slots=True)
class Text:
    """One burned-in text: its words, the box of its ink, its ink pixels, and whether it
    identifies the patient."""

    words: str
    box: Box
    ink: NDArray[np.bool_] = field(repr=False)
    identifying: bool


@dataclass(frozen=True, slots=True)
class Sample:
    dataset: Dataset
    texts: tuple[Text, ...]


def samples(count: int, seed: int = 11) -> Iterator[Sample]:
    """``count`` images, half ultrasound (RGB, some multi-frame, some with regions), half
    secondary captures (grey or RGB)."""
    chance = random.Random(seed)
    for number in range(count):
        yield _sample(chance, number)


def write_samples(folder: Path, count: int, seed: int = 11) -> list[tuple[Path, Sample]]:
    """Write ``count`` samples as files under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for number, sample in enumerate(samples(count, seed)):
        path = folder / f"burned-{number:04d}.dcm"
        sample.dataset.save_as(path, enforce_file_format=True)
        written.append((path, sample))
    return written


def _sample(chance: random.Random, number: int) -> Sample:
    ultrasound = number % 2 == 0
    family, given = chance.choice(FAMILIES), chance.choice(GIVEN)
    patient_id = chance.choice(("", "MRN", "H")) + str(chance.randrange(100000, 99999999))
    birth = (
        f"{chance.randrange(1930, 2020)}{chance.randrange(1, 13):02d}{chance.randrange(1, 29):02d}"
    )
    study = (
        f"20{chance.randrange(10, 27)}{chance.randrange(1, 13):02d}{chance.randrange(1, 29):02d}"
    )
    accession = f"A{chance.randrange(1000000, 9999999)}"
    dataset = _header(ultrasound, family, given, patient_id, birth, study, accession, number)
    background = _ultrasound_background(chance) if ultrasound else _capture_background(chance)
    image = Image.fromarray(background, "RGB")
    draw = ImageDraw.Draw(image)
    identifying = [
        chance.choice(
            (
                f"{family}^{given}",
                f"{family}, {given}",
                f"{given} {family}",
                f"Name: {family} {given}",
            )
        ),
        chance.choice((f"ID: {patient_id}", patient_id, f"PID {patient_id}")),
        chance.choice((_date(birth, chance), f"DOB {_date(birth, chance)}")),
        _date(study, chance)
        + chance.choice(("", f" {chance.randrange(0, 24):02d}:{chance.randrange(0, 60):02d}")),
        chance.choice((f"Acc {accession}", accession)),
        "RIVERSIDE GENERAL HOSPITAL",
    ]
    chosen = chance.sample(identifying, k=chance.randrange(3, 6))
    harmless = chance.sample(HARMLESS, k=chance.randrange(1, 4))
    texts = _draw_all(draw, chance, [(t, True) for t in chosen] + [(t, False) for t in harmless])
    pixels = np.asarray(image)
    grey = not ultrasound and number % 4 == 1
    frames = 3 if ultrasound and number % 6 == 0 else 1
    _set_pixels(dataset, pixels, grey=grey, frames=frames, rle=number % 5 == 0)
    return Sample(dataset, tuple(texts))


def _header(
    ultrasound: bool,
    family: str,
    given: str,
    patient_id: str,
    birth: str,
    study: str,
    accession: str,
    number: int,
) -> Dataset:
    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.SOPClassUID = US_CLASS if ultrasound else SC_CLASS
    dataset.SOPInstanceUID = generate_uid()
    dataset.file_meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.StudyInstanceUID, dataset.SeriesInstanceUID = generate_uid(), generate_uid()
    dataset.Modality = "US" if ultrasound else "OT"
    dataset.PatientName = f"{family}^{given}"
    dataset.PatientID = patient_id
    dataset.PatientBirthDate = birth
    dataset.StudyDate = study
    dataset.AccessionNumber = accession
    dataset.InstitutionName = "Riverside General Hospital"
    dataset.InstanceNumber = number + 1
    if ultrasound and number % 4 == 2:
        region = Dataset()
        region.RegionLocationMinX0, region.RegionLocationMinY0 = 120, 60
        region.RegionLocationMaxX1, region.RegionLocationMaxY1 = 519, 419
        dataset.SequenceOfUltrasoundRegions = [region]
    return dataset


def _ultrasound_background(chance: random.Random) -> NDArray[np.uint8]:
    """A speckled fan on black."""
    rows, columns = np.mgrid[0:ROWS, 0:COLUMNS]
    angle = np.arctan2(columns - COLUMNS / 2, rows + 40)
    radius = np.hypot(columns - COLUMNS / 2, rows + 40)
    fan = (np.abs(angle) < 0.6) & (radius > 100) & (radius < 440)
    noise = np.random.default_rng(chance.randrange(1 << 30)).rayleigh(40, (ROWS, COLUMNS))
    grey = np.where(fan, np.clip(noise + 30 * np.sin(radius / 25), 0, 200), 0).astype(np.uint8)
    return np.dstack([grey] * 3)


def _capture_background(chance: random.Random) -> NDArray[np.uint8]:
    """A dark screen with a grey gradient panel and a round shape (a captured viewer)."""
    rows, columns = np.mgrid[0:ROWS, 0:COLUMNS]
    panel = (rows > 70) & (rows < 410) & (columns > 90) & (columns < 550)
    level = (columns - 90) / 460 * 120 + 30
    disc = np.hypot(rows - 240 - chance.randrange(-40, 40), columns - 320) < 90
    grey = np.where(panel, np.where(disc, 170.0, level), 10).astype(np.uint8)
    return np.dstack([grey] * 3)


def _day(chance: random.Random, first_year: int, last_year: int) -> str:
    year = chance.randrange(first_year, last_year)
    return f"{year}{chance.randrange(1, 13):02d}{chance.randrange(1, 29):02d}"


def _date(value: str, chance: random.Random) -> str:
    year, month, day = value[:4], value[4:6], value[6:]
    months = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
    return chance.choice(
        (
            f"{year}-{month}-{day}",
            f"{day}/{month}/{year}",
            f"{month}/{day}/{year}",
            f"{day}.{month}.{year}",
            f"{year}{month}{day}",
            f"{day}-{months[int(month) - 1]}-{year}",
        )
    )


def _draw_all(
    draw: ImageDraw.ImageDraw, chance: random.Random, wanted: list[tuple[str, bool]]
) -> list[Text]:
    """Draw each text where it overlaps no other: the top bar, corners, the bottom, or free."""
    taken: list[Box] = []
    texts = []
    for words, identifying in wanted:
        font = ImageFont.truetype(str(FONT_FOLDER / chance.choice(FONTS)), chance.randrange(12, 25))
        left, top, right, bottom = draw.textbbox((0, 0), words, font=font)
        width, height = right - left, bottom - top
        for _ in range(50):
            x = chance.choice(
                (6, 6, COLUMNS - width - 6, chance.randrange(6, max(COLUMNS - width - 6, 7)))
            )
            y = chance.choice((4, 4, ROWS - height - 6, chance.randrange(4, ROWS - height - 6)))
            box = Box(x + left, y + top, width, height)
            if (
                box.right <= COLUMNS
                and box.bottom <= ROWS
                and not any(_overlap(_grown(box, 6), t) for t in taken)
            ):
                break
        else:
            continue
        taken.append(box)
        ink = Image.new("L", (COLUMNS, ROWS), 0)
        ImageDraw.Draw(ink).text((x, y), words, font=font, fill=255)
        draw.text((x, y), words, font=font, fill=chance.choice(COLOURS))
        texts.append(Text(words, box, np.asarray(ink) > 96, identifying))
    return texts


def _grown(box: Box, margin: int) -> Box:
    return Box(box.x - margin, box.y - margin, box.width + 2 * margin, box.height + 2 * margin)


def _overlap(a: Box, b: Box) -> bool:
    return a.x < b.right and b.x < a.right and a.y < b.bottom and b.y < a.bottom


def _set_pixels(
    dataset: Dataset, rgb: NDArray[np.uint8], *, grey: bool, frames: int, rle: bool
) -> None:
    pixels = np.asarray(Image.fromarray(rgb).convert("L")) if grey else rgb
    if frames > 1:
        pixels = np.stack([pixels] * frames)
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.set_pixel_data(pixels, "MONOCHROME2" if grey else "RGB", 8, generate_instance_uid=False)
    if rle:
        dataset.compress(RLELossless, generate_instance_uid=False)


@dataclass(slots=True)
class Score:
    """Identifying texts masked (of all), and clean pixels masked by mistake (of all clean)."""

    identifying: int = 0
    masked: int = 0
    clean_pixels: int = 0
    clean_masked: int = 0

    @property
    def recall(self) -> float:
        return self.masked / self.identifying if self.identifying else 1.0

    @property
    def false_area(self) -> float:
        return self.clean_masked / self.clean_pixels if self.clean_pixels else 0.0

    def add(self, sample: Sample, boxes: Iterable[Box]) -> None:
        """Count one image masked in ``boxes``."""
        masked = np.zeros((ROWS, COLUMNS), bool)
        for box in boxes:
            inside = box.clipped(COLUMNS, ROWS)
            if inside is not None:
                masked[inside.y : inside.bottom, inside.x : inside.right] = True
        self.add_mask(sample, masked)

    def add_mask(self, sample: Sample, masked: NDArray[np.bool_]) -> None:
        """Count one image whose ``masked`` pixels are: a text is masked when MASKED_INK of
        its ink is; the clean area is the image less the identifying texts' boxes (grown by
        CLEAN_MARGIN)."""
        clean = np.ones((ROWS, COLUMNS), bool)
        for text in sample.texts:
            if text.identifying:
                self.identifying += 1
                self.masked += int(masked[text.ink].mean() >= MASKED_INK)
                grown = _grown(text.box, CLEAN_MARGIN).clipped(COLUMNS, ROWS)
                if grown is not None:
                    clean[grown.y : grown.bottom, grown.x : grown.right] = False
        self.clean_pixels += int(clean.sum())
        self.clean_masked += int((clean & masked).sum())


MASKED_INK = 0.99
CLEAN_MARGIN = 4
