"""DICOM media, frames and export: plain Python, never Qt."""
