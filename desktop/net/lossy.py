"""Lossy copies for the wire, made only when a user picks a lossy codec: what PS3.3 asks of
them and what must never be compressed with loss.

PS3.3 C.7.6.1.1.5: Lossy Image Compression (0028,2110) is 01 once an image has been lossy
compressed, and stays so; the ratio (0028,2112) and method (0028,2114) of each compression
are appended to those already there. A lossy compressed image is a new instance with a new
SOP Instance UID (its pixels are no longer the original's): the UID is derived from the
original's and the codec's settings, so a retry sends the same copy again, and Source
Image Sequence (0008,2112) names the original with the purpose "Uncompressed predecessor"
(DCM 121320, or 121321 when the original was itself lossy once), with Derivation Description
and Derivation Code (DCM 113040 "Lossy Compression") saying how. Mammograms are never
compressed with loss here (MQSA: the FDA does not accept lossy mammograms for primary reading):
they go without loss. Not done: other objects of the same send that reference an original
(key objects, reports, presentation states) are sent as they are, still naming the original.

Runs in the packing workers, which import pydicom for it.
"""

import uuid
from typing import TYPE_CHECKING, Any

from desktop.net.compression import Codec

if TYPE_CHECKING:
    from pydicom import Dataset

#: Digital mammography (for presentation, for processing) and breast tomosynthesis.
MAMMOGRAPHY = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.1.2",
        "1.2.840.10008.5.1.4.1.1.1.2.1",
        "1.2.840.10008.5.1.4.1.1.13.1.3",
        "1.2.840.10008.5.1.4.1.1.13.1.4",
        "1.2.840.10008.5.1.4.1.1.13.1.5",
    }
)
UNCOMPRESSED_PREDECESSOR = ("121320", "Uncompressed predecessor")
LOSSY_PREDECESSOR = ("121321", "Lossy compressed predecessor")
LOSSY_COMPRESSION = ("113040", "Lossy Compression")
DESCRIPTION_LIMIT = 1024  # Derivation Description is ST


def compress_lossy(dataset: "Dataset", codec: Codec) -> str:
    """Compress ``dataset``'s uncompressed pixel data with ``codec`` and make it the lossy
    copy PS3.3 describes; returns why it was left alone instead ('' once compressed)."""
    source_class, source_uid = str(dataset.SOPClassUID), str(dataset.SOPInstanceUID)
    if source_class in MAMMOGRAPHY:
        return "sent without loss: mammograms are never compressed lossily here (MQSA)"
    was_lossy = dataset.get("LossyImageCompression") == "01"
    before = len(dataset.PixelData)
    options: dict[str, Any] = {
        name: list(value) if isinstance(value, tuple) else value for name, value in codec.options
    }
    dataset.compress(
        codec.syntax, encoding_plugin=codec.plugin, generate_instance_uid=False, **options
    )
    ratio = before / max(len(dataset.PixelData), 1)
    dataset.LossyImageCompression = "01"
    dataset.LossyImageCompressionRatio = [
        *_values(dataset, "LossyImageCompressionRatio"),
        f"{ratio:.2f}"[:16],
    ]
    dataset.LossyImageCompressionMethod = [
        *_values(dataset, "LossyImageCompressionMethod"),
        codec.method,
    ]
    from pydicom.uid import UID

    new_uid = UID(derived_uid(source_uid, codec))
    dataset.SOPInstanceUID = new_uid
    dataset.file_meta.MediaStorageSOPInstanceUID = new_uid
    _record_source(dataset, source_class, source_uid, was_lossy)
    text = f"Lossy compression with {codec.name} ({codec.loss}), {ratio:.1f}:1, of {source_uid}"
    old = str(dataset.get("DerivationDescription", ""))
    dataset.DerivationDescription = (f"{old}; {text}" if old else text)[:DESCRIPTION_LIMIT]
    _append_code(dataset, "DerivationCodeSequence", LOSSY_COMPRESSION)
    return ""


def derived_uid(source_uid: str, codec: Codec) -> str:
    """The lossy copy's UID: 2.25 and a name-based UUID (RFC 9562 version 5) of the original's
    UID and the codec's settings (PS3.5 B.2), the same for every retry."""
    name = f"{source_uid} {codec.syntax} {codec.options!r}"
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, name).int}"


def _values(dataset: "Dataset", keyword: str) -> list[str]:
    value = dataset.get(keyword)
    if value is None or value == "":
        return []
    return [str(v) for v in value] if not isinstance(value, str | float | int) else [str(value)]


def _record_source(dataset: "Dataset", sop_class: str, sop_uid: str, was_lossy: bool) -> None:
    from pydicom import Dataset
    from pydicom.sequence import Sequence

    item = Dataset()
    item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = sop_class, sop_uid
    _append_code(
        item,
        "PurposeOfReferenceCodeSequence",
        LOSSY_PREDECESSOR if was_lossy else UNCOMPRESSED_PREDECESSOR,
    )
    if "SourceImageSequence" not in dataset:
        dataset.SourceImageSequence = Sequence()
    dataset.SourceImageSequence.append(item)


def _append_code(dataset: "Dataset", keyword: str, code: tuple[str, str]) -> None:
    from pydicom import Dataset
    from pydicom.sequence import Sequence

    if keyword not in dataset:
        setattr(dataset, keyword, Sequence())
    sequence = getattr(dataset, keyword)
    if any(item.get("CodeValue") == code[0] for item in sequence):
        return
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code[0], "DCM", code[1]
    sequence.append(item)
