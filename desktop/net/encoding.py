"""Encoding a data set in an uncompressed transfer syntax, and decoding one received."""

from io import BytesIO

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.uid import ImplicitVRLittleEndian

from desktop.net.link import ProtocolError


def encode(dataset: Dataset, syntax: str) -> bytes:
    """The data set's bytes in implicit or explicit VR little endian."""
    buffer = DicomBytesIO()
    buffer.is_little_endian = True
    buffer.is_implicit_VR = syntax == ImplicitVRLittleEndian
    write_dataset(buffer, dataset)
    return buffer.getvalue()


def decode(data: bytes, syntax: str) -> Dataset:
    """A received data set, every value parsed now: bytes that do not make one raise
    ProtocolError rather than fail later in the caller's hands."""
    try:
        dataset = read_dataset(BytesIO(data), syntax == ImplicitVRLittleEndian, True)
        for element in dataset.iterall():
            _ = element.value
    except Exception as error:  # pydicom raises many kinds on malformed bytes
        raise ProtocolError(f"a response's data set cannot be read: {error}") from error
    return dataset


def transcode(dataset: Dataset, target: str) -> bytes:
    """``dataset`` (read from a file) decompressed if needed and encoded in ``target``, an
    uncompressed syntax, for a peer that accepts no other."""
    from pydicom.uid import JPEGLSTransferSyntaxes

    syntax = dataset.file_meta.TransferSyntaxUID
    if syntax.is_compressed:
        # CharLS alone for JPEG-LS: libjpeg spins for minutes on some corrupt frames
        plugin = "pyjpegls" if syntax in JPEGLSTransferSyntaxes else ""
        dataset.decompress(decoding_plugin=plugin, generate_instance_uid=False)  # same instance
    return encode(dataset, target)
