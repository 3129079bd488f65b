"""Orthanc moves a study holding an MPEG-4 video instance into our TLS listener: every
instance arrives, the video stored byte for byte as Orthanc sent it."""

import io
from pathlib import Path

import av
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import generate_uid

from desktop.core.synthetic import SeriesSpec, StudySpec, write_files
from tests.helpers import cli
from tests.orthanc import Orthanc

MPEG4 = "1.2.840.10008.1.2.4.102"  # MPEG-4 AVC/H.264 High Profile / Level 4.1
VIDEO_PHOTOGRAPHIC = "1.2.840.10008.5.1.4.1.1.77.1.4.1"


def h264(frames: int = 8, size: int = 64) -> bytes:
    """A short real H.264 elementary stream (PyAV's libx264)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="h264") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for number in range(frames):
            image = np.full((size, size, 3), number * 30 % 256, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def video_instance(reference: Path, folder: Path) -> Path:
    """An MPEG-4 Video Photographic instance in the same study as ``reference``."""
    study = pydicom.dcmread(reference, stop_before_pixels=True)
    dataset = Dataset()
    for keyword in ("PatientID", "PatientName", "StudyInstanceUID", "StudyDate", "StudyID"):
        setattr(dataset, keyword, getattr(study, keyword, ""))
    dataset.SOPClassUID = VIDEO_PHOTOGRAPHIC
    dataset.SOPInstanceUID = generate_uid()
    dataset.SeriesInstanceUID = generate_uid()
    dataset.Modality = "XC"
    dataset.Rows = dataset.Columns = 64
    dataset.SamplesPerPixel = 3
    dataset.PhotometricInterpretation = "YBR_PARTIAL_420"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 8, 8, 7
    dataset.PixelRepresentation = 0
    dataset.PlanarConfiguration = 0
    dataset.NumberOfFrames = 8
    dataset.FrameTime = 40
    dataset.PixelData = encapsulate([h264()])
    dataset["PixelData"].VR = "OB"
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = MPEG4
    dataset.file_meta.MediaStorageSOPClassUID = VIDEO_PHOTOGRAPHIC
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    path = folder / "video.dcm"
    dataset.save_as(path, enforce_file_format=True)
    return path


def test_orthanc_moves_a_study_with_an_mpeg4_instance_into_our_listener(
    orthanc: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = StudySpec("VID-1", "Video^Study", "20240301", "video", (SeriesSpec("CT", "a", 2),))
    files = write_files(tmp_path / "study", (study,))
    files.append(video_instance(files[0], tmp_path))
    for path in files:  # straight into Orthanc's store over REST, as received
        orthanc.upload(path)
    study_uid = str(pydicom.dcmread(files[0]).StudyInstanceUID)
    inbox = tmp_path / "inbox"
    status, out, err = cli(
        capsys, "move", "orthanc", "--study", study_uid, "--listen", "--port", orthanc.move_port,
        "--out", inbox,
    )  # fmt: skip
    assert status == 0, out + err
    assert "completed 3, failed 0" in out
    received = {str(pydicom.dcmread(p).SOPInstanceUID): p for p in inbox.rglob("*.dcm")}
    assert len(received) == 3
    video = pydicom.dcmread(received[str(pydicom.dcmread(files[-1]).SOPInstanceUID)])
    assert video.file_meta.TransferSyntaxUID == MPEG4
    assert video.PixelData == pydicom.dcmread(files[-1]).PixelData
