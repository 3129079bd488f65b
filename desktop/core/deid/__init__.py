"""De-identification of DICOM headers: PS3.15 Annex E, the Basic Application Level
Confidentiality Profile and its options."""
