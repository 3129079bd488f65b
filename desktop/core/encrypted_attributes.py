"""The plaintext side of the Encrypted Attributes Sequence (0400,0500), PS3.3 C.12.1.1.4.

An item holds Encrypted Content Transfer Syntax UID (0400,0510) and Encrypted Content
(0400,0520): a CMS EnvelopedData (made by the security layer) of a data set, encoded in that
transfer syntax, whose Modified Attributes Sequence (0400,0550) has one item with the original
values of the attributes changed or removed. Here: that data set's bytes, the item, and
putting the original values back.
"""

import io

from pydicom import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from desktop.core.errors import HeaderError


def modified_attributes(originals: Dataset) -> bytes:
    """The data set to encrypt: a Modified Attributes Sequence holding ``originals``, in
    Explicit VR Little Endian."""
    holder = Dataset()
    holder.ModifiedAttributesSequence = Sequence([originals])
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_dataset(buffer, holder)
    return buffer.getvalue()


def encrypted_attributes_item(encrypted: bytes) -> Dataset:
    """An Encrypted Attributes Sequence item for ``encrypted`` (DER CMS EnvelopedData)."""
    item = Dataset()
    item.EncryptedContentTransferSyntaxUID = ExplicitVRLittleEndian
    item.EncryptedContent = encrypted
    return item


def encrypted_contents(dataset: Dataset) -> list[bytes]:
    """The Encrypted Content of each item this data set's Encrypted Attributes Sequence holds
    in a transfer syntax that can be read (one item per recipient, usually)."""
    contents = []
    for item in dataset.get("EncryptedAttributesSequence", []):
        syntax = item.get("EncryptedContentTransferSyntaxUID", "")
        if syntax != ExplicitVRLittleEndian:
            raise HeaderError(
                f"encrypted attributes in transfer syntax {syntax or '(none)'}: only Explicit VR "
                "Little Endian is read"
            )
        contents.append(_der(bytes(item.EncryptedContent)))
    return contents


def _der(value: bytes) -> bytes:
    """The DER structure at the start of ``value``, without what follows it: an odd-length
    envelope is padded to even length in a file (PS3.5 §7.1.1), a byte DER does not allow."""
    if len(value) < 2 or value[0] != 0x30:  # not a SEQUENCE: left for the CMS reader to refuse
        return value
    size = value[1]
    if size < 0x80:
        end = 2 + size
    else:
        count = size & 0x7F
        end = 2 + count + int.from_bytes(value[2 : 2 + count], "big")
    return value[:end] if end < len(value) else value


def restore(dataset: Dataset, decrypted: bytes) -> int:
    """Put the original values of ``decrypted`` (the data set of ``modified_attributes``) back
    into ``dataset``, which then no longer says its identity was removed; the number of
    attributes restored."""
    try:
        holder = read_dataset(io.BytesIO(decrypted), is_implicit_VR=False, is_little_endian=True)
        [originals] = holder.ModifiedAttributesSequence
    except (ValueError, AttributeError, EOFError) as error:
        raise HeaderError(
            "the decrypted attributes are not one Modified Attributes Sequence item"
        ) from error
    for element in originals:
        dataset[element.tag] = element
    if getattr(dataset, "file_meta", None) is not None and "SOPInstanceUID" in dataset:
        dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    if "PatientIdentityRemoved" in dataset:
        dataset.PatientIdentityRemoved = "NO"
    return len(originals)
