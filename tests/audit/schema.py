"""The DICOM Audit Message Schema (PS3.15 A.5.1, tests/data) and a check against it."""

from pathlib import Path

from lxml import etree

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "data" / "dicom-audit-message.rng"
_schema = etree.RelaxNG(etree.parse(str(SCHEMA_PATH)))


def schema_errors(xml: str | bytes) -> list[str]:
    """The schema's complaints about ``xml``; empty when it validates."""
    document = etree.fromstring(xml.encode("utf-8") if isinstance(xml, str) else xml)
    if _schema.validate(document):
        return []
    return [str(error) for error in _schema.error_log]
