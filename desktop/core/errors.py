"""The exceptions the core raises: each carries a message fit to show a user as it is."""


class CourierError(Exception):
    """Base of every error DICOM Courier reports to a user."""


class MediaError(CourierError):
    """A path cannot be opened as DICOM media."""


class NoDicomError(MediaError):
    """A path exists but holds no readable DICOM instance."""


class HeaderError(CourierError):
    """A file's DICOM header cannot be read; the message says why."""


class TruncatedHeaderError(HeaderError):
    """A header ends inside an element: the data stops before the element does."""


class NotDicomError(HeaderError):
    """A file is not a DICOM Part 10 file at all."""


class FrameError(CourierError):
    """A frame cannot be produced: no pixel data, an index out of range, a decoder failure."""


class OutputError(CourierError):
    """A file cannot be written where it was asked for."""


class ExportError(OutputError):
    """An export cannot be made (wrong kind of image, encoder failure, unwritable output)."""
