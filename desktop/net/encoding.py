"""Encoding a data set in an uncompressed transfer syntax, and decoding one received."""

from io import BytesIO

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.uid import ImplicitVRLittleEndian


def encode(dataset: Dataset, syntax: str) -> bytes:
    """The data set's bytes in implicit or explicit VR little endian."""
    buffer = DicomBytesIO()
    buffer.is_little_endian = True
    buffer.is_implicit_VR = syntax == ImplicitVRLittleEndian
    write_dataset(buffer, dataset)
    return buffer.getvalue()


def decode(data: bytes, syntax: str) -> Dataset:
    return read_dataset(BytesIO(data), syntax == ImplicitVRLittleEndian, True)
