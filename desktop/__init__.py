"""DICOM Courier: move medical images between hospitals, securely."""

__version__ = "0.1.0"
