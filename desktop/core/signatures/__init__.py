"""DICOM digital signatures (PS3.15 Annex C, PS3.3 C.12.1.1.3) at the byte level.

What is hashed, how signature items are encoded and where they go; no key ever comes here
(signing and certificate checks belong to ``desktop.security.signing``).
"""
