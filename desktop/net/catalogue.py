"""What our storage SCP negotiates: every standard storage SOP class and transfer syntax.

Instances are stored as received, so any standard transfer syntax can be accepted, compressed
or video alike; private SOP classes only when the listener is told to accept them.
"""

from functools import cache

VERIFICATION = "1.2.840.10008.1.1"
# Query/retrieve SOP classes (PS3.4 C.6): Patient Root and Study Root, FIND, MOVE and GET.
PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"
PATIENT_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.1.2"
PATIENT_ROOT_GET = "1.2.840.10008.5.1.4.1.2.1.3"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3"
MODELS = {  # SOP class → information model (the Archive's name for it)
    PATIENT_ROOT_FIND: "PATIENT",
    PATIENT_ROOT_MOVE: "PATIENT",
    PATIENT_ROOT_GET: "PATIENT",
    STUDY_ROOT_FIND: "STUDY",
    STUDY_ROOT_MOVE: "STUDY",
    STUDY_ROOT_GET: "STUDY",
}
STORAGE_ROOT = "1.2.840.10008.5.1.4.1.1."  # every composite image/object storage class
STANDARD_ROOT = "1.2.840.10008."
DEFLATED = frozenset(
    {"1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.4.95", "1.2.840.10008.1.2.4.205"}
)
IMPLICIT_LITTLE = "1.2.840.10008.1.2"
IMPLICIT = frozenset({IMPLICIT_LITTLE, "1.2.840.10008.1.20"})  # the second: retired Papyrus 3
EXPLICIT_BIG = "1.2.840.10008.1.2.2"
EXPLICIT_LITTLE = "1.2.840.10008.1.2.1"
NATIVE = IMPLICIT | {EXPLICIT_LITTLE, EXPLICIT_BIG, "1.2.840.10008.1.2.1.99"}
# Not data-set encodings a storage SCP can store: MIME, XML and real-time streams (SMPTE 2110).
UNSTORABLE = frozenset(
    {
        "1.2.840.10008.1.2.6.1",
        "1.2.840.10008.1.2.6.2",
        "1.2.840.10008.1.2.7.1",
        "1.2.840.10008.1.2.7.2",
        "1.2.840.10008.1.2.7.3",
    }
)


@cache
def transfer_syntaxes() -> frozenset[str]:
    """Every transfer syntax of the standard (retired ones too) we can store as received."""
    from pydicom._uid_dict import UID_dictionary  # deferred: pydicom takes ~0.5 s to import

    return frozenset(
        uid
        for uid, entry in UID_dictionary.items()
        if entry[1] == "Transfer Syntax" and uid not in UNSTORABLE
    )


@cache
def _named_storage_classes() -> frozenset[str]:
    from pydicom._uid_dict import UID_dictionary

    return frozenset(
        uid
        for uid, (name, kind, *_) in UID_dictionary.items()
        if kind == "SOP Class"
        and "Storage" in name
        and "Commitment" not in name
        and "Directory" not in name
    )


def is_storage_class(uid: str, *, accept_private: bool) -> bool:
    """A standard storage SOP class, or (when allowed) a non-standard one."""
    if uid.startswith(STORAGE_ROOT) or uid in _named_storage_classes():
        return True
    return accept_private and not uid.startswith(STANDARD_ROOT)


# The storage classes a C-GET proposes first (at most 127 contexts fit beside the C-GET's own).
COMMON_STORAGE = (
    "CTImageStorage",
    "EnhancedCTImageStorage",
    "MRImageStorage",
    "EnhancedMRImageStorage",
    "ComputedRadiographyImageStorage",
    "DigitalXRayImageStorageForPresentation",
    "DigitalXRayImageStorageForProcessing",
    "DigitalMammographyXRayImageStorageForPresentation",
    "UltrasoundImageStorage",
    "UltrasoundMultiFrameImageStorage",
    "SecondaryCaptureImageStorage",
    "MultiFrameGrayscaleByteSecondaryCaptureImageStorage",
    "MultiFrameGrayscaleWordSecondaryCaptureImageStorage",
    "MultiFrameTrueColorSecondaryCaptureImageStorage",
    "NuclearMedicineImageStorage",
    "PositronEmissionTomographyImageStorage",
    "XRayAngiographicImageStorage",
    "XRayRadiofluoroscopicImageStorage",
    "RTImageStorage",
    "RTDoseStorage",
    "RTStructureSetStorage",
    "RTPlanStorage",
    "BasicTextSRStorage",
    "EnhancedSRStorage",
    "ComprehensiveSRStorage",
    "KeyObjectSelectionDocumentStorage",
    "GrayscaleSoftcopyPresentationStateStorage",
    "EncapsulatedPDFStorage",
    "VLPhotographicImageStorage",
)


@cache
def retrieve_classes(limit: int = 127) -> tuple[str, ...]:
    """Storage SOP classes a C-GET offers to receive: the common ones first, then the other
    current (not retired) standard ones, ``limit`` at most."""
    from pydicom._uid_dict import UID_dictionary

    by_keyword = {entry[4]: uid for uid, entry in UID_dictionary.items()}
    first = [by_keyword[k] for k in COMMON_STORAGE if k in by_keyword]
    rest = sorted(
        uid
        for uid in _named_storage_classes()
        if uid not in first and UID_dictionary[uid][3] != "Retired"
    )
    return tuple((first + rest)[:limit])
